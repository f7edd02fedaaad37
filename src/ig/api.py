"""ig's HTTP API: the route table and its handlers. Handlers parse the request, call one
service function and render the answer; they never touch a runtime directly."""

from __future__ import annotations

import asyncio
import time

from ig import events, library, submission
from ig.deps import Deps
from ig.errors import FieldError, NotFound, ValidationFailed
from ig.jobs import TERMINAL_STATUSES
from ig.views import job_view
from ig.web import ApiRequest, ApiResponse, Route, Router, json_response

MAX_WAIT_SECONDS = 60


async def healthz(deps: Deps, request: ApiRequest) -> ApiResponse:
    return json_response(200, {"status": "ok"})


async def create_job(deps: Deps, request: ApiRequest) -> ApiResponse:
    job = await submission.submit_job(deps, request.body)
    view = await job_view(deps.db, job["id"], request.base_url)
    return json_response(202, view, {"location": f"/v1/jobs/{job['id']}"})


def _wait_seconds(request: ApiRequest) -> float:
    raw = request.arg("wait")
    if raw is None:
        return 0
    try:
        wait = float(raw)
    except ValueError:
        wait = -1
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise ValidationFailed([FieldError("wait", f"seconds from 0 to {MAX_WAIT_SECONDS}", "out_of_range")])
    return wait


async def get_job(deps: Deps, request: ApiRequest, job_id: str) -> ApiResponse:
    wait = _wait_seconds(request)
    deadline = time.monotonic() + wait
    pause = 0.1
    while True:
        view = await job_view(deps.db, job_id, request.base_url)
        if view is None:
            raise NotFound(f"no job {job_id}")
        remaining = deadline - time.monotonic()
        if view["status"] in TERMINAL_STATUSES or remaining <= 0:
            return json_response(200, view)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 1.0)


async def list_artifacts(deps: Deps, request: ApiRequest) -> ApiResponse:
    page = await library.list_artifacts(
        deps.db,
        tags=library.parse_tags(request.query.get("tag", [])),
        limit=library.parse_limit(request.query.get("limit", [])),
        cursor=request.arg("cursor"),
        base_url=request.base_url,
    )
    return json_response(200, page)


async def get_artifact(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    view = await library.artifact_view(deps.db, artifact_id, request.base_url)
    if view is None:
        raise NotFound(f"no artifact {artifact_id}")
    return json_response(200, view)


async def get_artifact_content(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    row = await library.artifact_blob(deps.db, artifact_id)
    blob = await deps.blobs.get(row["blob_key"]) if row else None
    if row is None or blob is None:
        raise NotFound(f"no content for artifact {artifact_id}")
    etag = f'"{row["sha256"]}"'
    headers = {
        "content-type": row["content_type"],
        "etag": etag,
        "cache-control": "public, max-age=31536000, immutable",
    }
    if etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return ApiResponse(304, headers)
    headers["content-length"] = str(blob.size)
    return ApiResponse(200, headers, blob)


async def runware_webhook(deps: Deps, request: ApiRequest, job_id: str, token: str) -> ApiResponse:
    await events.receive_webhook(deps, job_id, token, request.body)
    return json_response(200, {"received": True})


ROUTER = Router(
    [
        Route("GET", "/healthz", healthz),
        Route("POST", "/v1/jobs", create_job),
        Route("GET", "/v1/jobs/{job_id}", get_job),
        Route("GET", "/v1/artifacts", list_artifacts),
        Route("GET", "/v1/artifacts/{artifact_id}", get_artifact),
        Route("GET", "/v1/artifacts/{artifact_id}/content", get_artifact_content),
        Route("POST", "/webhooks/runware/{job_id}/{token}", runware_webhook),
    ]
)


def body_limit(path: str, deps: Deps) -> int:
    """The largest request body a route accepts; adapters stop reading past it (413)."""
    return deps.settings.max_webhook_bytes if path.startswith("/webhooks/") else deps.settings.max_request_bytes
