"""The library grid (``/``) and one artifact's page (``/artifacts/{id}``)."""

from __future__ import annotations

from ig.api.http import ApiResponse
from ig.gallery.layout import PageContext, page
from ig.gallery.markup import html


async def library(context: PageContext) -> ApiResponse:
    return page(context, "Library", html("<h1>Library</h1>"), active="library")


async def artifact(context: PageContext, artifact_id: str) -> ApiResponse:
    return page(context, "Artifact", html("<h1>Artifact {}</h1>", artifact_id), active="library")
