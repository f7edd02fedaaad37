"""``POST /v1/jobs/batch``: up to 50 jobs in one call, each submitted exactly as a single
``POST /v1/jobs`` would be, answered in request order with either the job or its problem, so
one bad item never sinks the rest."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ig.deps import Deps
from ig.errors import IgError
from ig.submission import submit_job
from ig.views import job_view
from ig.web import problem_body

CONCURRENCY = 4
"""Submits in flight at once: Runware advises steady, low single-digit concurrency."""
log = logging.getLogger("ig")


async def submit_batch(deps: Deps, items: list[dict[str, Any]], base_url: str, path: str) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int, item: Any) -> dict[str, Any]:
        instance = f"{path}#/jobs/{index}"
        async with gate:
            try:
                job_id = await submit_job(deps, item, json.dumps(item, ensure_ascii=False))
            except IgError as error:
                return {"error": problem_body(error, instance)}
            except Exception:
                log.exception("batch item %d failed unexpectedly", index)
                return {"error": problem_body(IgError("an unexpected error occurred; it has been logged"), instance)}
        return {"job": await job_view(deps.db, job_id, base_url)}

    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))
