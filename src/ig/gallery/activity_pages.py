"""Recent jobs (``/jobs``, ``/jobs/{id}``), the create form (``/create``) and usage (``/usage``)."""

from __future__ import annotations

from ig.api.http import ApiResponse
from ig.gallery.layout import PageContext, page
from ig.gallery.markup import html


async def jobs(context: PageContext) -> ApiResponse:
    return page(context, "Jobs", html("<h1>Jobs</h1>"), active="jobs")


async def job(context: PageContext, job_id: str) -> ApiResponse:
    return page(context, "Job", html("<h1>Job {}</h1>", job_id), active="jobs")


async def create(context: PageContext) -> ApiResponse:
    return page(context, "Create", html("<h1>Create</h1>"), active="create")


async def usage(context: PageContext) -> ApiResponse:
    return page(context, "Usage", html("<h1>Usage</h1>"), active="usage")
