"""ig's HTTP handlers (the route table is ``ig.api.routes``). Handlers parse the request, call one
service function and render the answer; they never touch a runtime directly."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

from ig.api import bounds, catalogue_lists, multipart
from ig.api.http import ApiRequest, ApiResponse, json_response, problem_body, require_bearer
from ig.completion import callbacks, webhooks
from ig.deps import Deps, isoformat
from ig.errors import FieldError, Forbidden, Gone, IgError, NotFound, RangeNotSatisfiable, ValidationFailed
from ig.job_states import TERMINAL_STATUSES
from ig.jobs import batches, cancellation, circuits, idempotency, presets, records, submission
from ig.jobs.requests import PRESET_NAME_PATTERN, BatchRequest, provider_errors
from ig.library import artifacts, content, lineage, uploads, usage
from ig.library.filters import parse_filters
from ig.library.views import job_view
from ig.providers.registry import PROVIDERS, provider_for
from ig.safe_json import decode_json_body, parse_json_body
from ig.validation import parse_model


async def healthz(deps: Deps, request: ApiRequest) -> ApiResponse:
    """``?deep=1`` also checks each configured provider's credentials with its cheapest call (it
    reaches the providers, so it needs the API token when the service has one)."""
    if request.arg("deep") not in ("1", "true"):
        return json_response(200, {"status": "ok"})
    require_bearer(deps, request)
    checks = {}
    for name in PROVIDERS:
        if name == "mock" or provider_errors(name, deps.settings):
            continue
        started = time.perf_counter()
        problem = await provider_for(name, deps).check_credentials()
        checks[name] = {"ok": problem is None, "detail": problem, "ms": round((time.perf_counter() - started) * 1000)}
    healthy = all(check["ok"] for check in checks.values())
    return json_response(200 if healthy else 503, {"status": "ok" if healthy else "degraded", "providers": checks})


async def create_job(deps: Deps, request: ApiRequest) -> ApiResponse:
    """202 with the job; 200 with the finished job when ``Prefer: wait=N`` saw it finish."""
    key = idempotency.key_from(request.headers)
    wait = _preferred_wait(request.headers.get("prefer"))
    body = decode_json_body(request.body)
    submitted = await submission.submit_job(deps, body.value, body.text, idempotency.Key("jobs", key) if key else None)
    headers = {"location": f"/v1/jobs/{submitted.job_id}"}
    if submitted.replayed:
        headers["idempotent-replayed"] = "true"
    if wait is not None:
        headers["preference-applied"] = f"wait={wait}"
    view = await _await_job(deps, submitted.job_id, request.base_url, wait or 0)
    finished = wait is not None and view["status"] in TERMINAL_STATUSES
    return json_response(200 if finished else 202, view, headers)


def _preferred_wait(header: str | None) -> int | None:
    """``wait=N`` from a Prefer header (RFC 7240), capped at 60 s; other preferences are ignored."""
    for preference in (header or "").split(","):
        name, _, value = preference.split(";")[0].strip().partition("=")
        if name.strip().lower() == "wait":
            seconds = value.strip().strip('"')
            if seconds.isdigit():
                return min(int(seconds), bounds.WAIT_SECONDS.high)
    return None


async def create_jobs(deps: Deps, request: ApiRequest) -> ApiResponse:
    """Each item succeeds or fails on its own; the answer lists them in request order."""
    key = idempotency.key_from(request.headers)
    batch = parse_model(BatchRequest, parse_json_body(request.body))
    items = []
    for index, outcome in enumerate(await batches.submit_batch(deps, batch.jobs, key)):
        if isinstance(outcome, IgError):
            items.append({"error": problem_body(outcome, f"{request.path}#/jobs/{index}")})
        else:
            items.append({"job": await job_view(deps.db, outcome.job_id, request.base_url)})
    return json_response(200, {"items": items})


async def cancel_job(deps: Deps, request: ApiRequest, job_id: str) -> ApiResponse:
    """Stop waiting for the job, and stop it at the provider where the provider can. Results that
    still come are stored, flagged ``arrived_after: cancelled``."""
    at_provider = await cancellation.cancel(deps, job_id)
    view = await job_view(deps.db, job_id, request.base_url)
    return json_response(200, {**(view or {}), "provider_cancel": at_provider})


async def list_deliveries(deps: Deps, request: ApiRequest, job_id: str) -> ApiResponse:
    if await records.load_job(deps.db, job_id) is None:
        raise NotFound(f"no job {job_id}")
    return json_response(200, await callbacks.deliveries_view(deps, job_id))


async def redeliver(deps: Deps, request: ApiRequest, job_id: str) -> ApiResponse:
    if await records.load_job(deps.db, job_id) is None:
        raise NotFound(f"no job {job_id}")
    return json_response(202, await callbacks.redeliver_last(deps, job_id))


async def list_providers(deps: Deps, request: ApiRequest) -> ApiResponse:
    unavailable = {}
    for name in PROVIDERS:
        problems = provider_errors(name, deps.settings)
        if problems:
            unavailable[name] = problems[0].message
    activity = await records.provider_activity(deps.db, PROVIDERS)
    for name, circuit in (await circuits.states(deps.db)).items():
        activity.setdefault(name, {})["circuit"] = circuit
    return json_response(200, catalogue_lists.provider_list(unavailable, deps.settings, activity))


async def list_tasks(deps: Deps, request: ApiRequest) -> ApiResponse:
    return json_response(200, catalogue_lists.task_list())


async def list_models(deps: Deps, request: ApiRequest) -> ApiResponse:
    return json_response(200, catalogue_lists.model_list(request.arg("task"), request.arg("provider")))


def _preset_name(name: str) -> str:
    if not re.fullmatch(PRESET_NAME_PATTERN, name):
        raise ValidationFailed(
            [FieldError("name", "1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", "invalid_name")]
        )
    return name


async def put_preset(deps: Deps, request: ApiRequest, name: str) -> ApiResponse:
    view, created = await presets.put_preset(
        deps.db, _preset_name(name), parse_json_body(request.body), deps.now(), deps.settings
    )
    status = 201 if created and view["version"] == 1 else 200
    return json_response(status, view, {"location": f"/v1/presets/{name}"})


async def get_preset(deps: Deps, request: ApiRequest, name: str) -> ApiResponse:
    version = request.arg("version")
    number = int(_number(request, "version", bounds.PRESET_VERSION)) if version is not None else None
    return json_response(200, await presets.get_preset(deps.db, name, number))


async def list_presets(deps: Deps, request: ApiRequest) -> ApiResponse:
    return json_response(200, await presets.list_presets(deps.db))


async def delete_preset(deps: Deps, request: ApiRequest, name: str) -> ApiResponse:
    await presets.delete_preset(deps.db, name)
    return ApiResponse(204)


def _number(request: ApiRequest, name: str, bound: bounds.Bound) -> float:
    raw = request.arg(name)
    if raw is None:
        return bound.default
    try:
        value = float(raw)
    except ValueError:
        value = bound.low - 1
    if not bound.low <= value <= bound.high:
        raise ValidationFailed([FieldError(name, f"a number from {bound.low:g} to {bound.high:g}", "out_of_range")])
    return value


async def get_job(deps: Deps, request: ApiRequest, job_id: str) -> ApiResponse:
    wait = _number(request, "wait", bounds.WAIT_SECONDS)
    return json_response(200, await _await_job(deps, job_id, request.base_url, wait))


async def _await_job(deps: Deps, job_id: str, base_url: str, seconds: float) -> dict[str, Any]:
    """The job's view once it has finished, or when ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    pause = 0.1
    while True:
        view = await job_view(deps.db, job_id, base_url)
        if view is None:
            raise NotFound(f"no job {job_id}")
        remaining = deadline - time.monotonic()
        if view["status"] in TERMINAL_STATUSES or remaining <= 0:
            return view
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 1.0)


async def list_jobs(deps: Deps, request: ApiRequest) -> ApiResponse:
    filters = parse_filters(request.query, for_jobs=True)
    return json_response(200, await artifacts.list_jobs(deps.db, filters, request.base_url))


async def list_artifacts(deps: Deps, request: ApiRequest) -> ApiResponse:
    filters = parse_filters(request.query)
    return json_response(200, await artifacts.list_artifacts(deps.db, filters, request.base_url))


async def get_artifact(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    view = await artifacts.artifact_view(deps.db, artifact_id, request.base_url)
    if view is None:
        raise NotFound(f"no artifact {artifact_id}")
    return json_response(200, view)


async def delete_artifact(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    await artifacts.delete_artifact(deps.db, deps.blobs, artifact_id, deps.now())
    return ApiResponse(204)


async def artifact_tags(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    tags = await artifacts.edit_tags(deps.db, artifacts.ARTIFACT_TAG_EDIT, artifact_id, parse_json_body(request.body))
    return json_response(200, {"tags": tags})


async def job_tags(deps: Deps, request: ApiRequest, job_id: str) -> ApiResponse:
    tags = await artifacts.edit_tags(deps.db, artifacts.JOB_TAG_EDIT, job_id, parse_json_body(request.body))
    return json_response(200, {"tags": tags})


async def list_tags(deps: Deps, request: ApiRequest) -> ApiResponse:
    limit = int(_number(request, "limit", bounds.TAG_PAGE))
    return json_response(
        200, await artifacts.list_tags(deps.db, request.arg("prefix") or "", limit, request.arg("cursor"))
    )


async def get_artifact_content(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    return await _deliver(deps, request, artifact_id, "content")


async def get_artifact_thumbnail(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    return await _deliver(deps, request, artifact_id, "thumbnail")


async def _deliver(deps: Deps, request: ApiRequest, artifact_id: str, rendition: content.Rendition) -> ApiResponse:
    if request.arg("sig") is not None:
        now = int(deps.clock().timestamp())
        expires, sig = request.arg("expires"), request.arg("sig")
        if not content.signature_valid(deps.settings, artifact_id, expires, sig, now, rendition):
            raise Forbidden("the signature is wrong or has expired")
    row = await artifacts.artifact_record(deps.db, artifact_id)
    if row is None:
        raise NotFound(f"no artifact {artifact_id}")
    if row["deleted_at"] is not None:
        raise Gone(f"artifact {artifact_id} was deleted at {row['deleted_at']}")
    found = content.delivered(row, rendition)
    headers = content.content_headers(artifact_id, found.content_type, found.sha256)
    etag = headers["etag"]
    if etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")) or (
        request.headers.get("if-none-match", "").strip() == "*"
    ):
        return ApiResponse(304, headers)
    size = found.size
    try:
        wanted = content.parse_range(request.headers.get("range"), size)
    except content.Unsatisfiable:
        raise RangeNotSatisfiable(
            f"the {rendition} has {size} bytes", headers={"content-range": f"bytes */{size}"}
        ) from None
    status = 200 if wanted is None else 206
    headers["content-length"] = str(size if wanted is None else wanted.length)
    if wanted is not None:
        headers["content-range"] = wanted.content_range(size)
    if request.method == "HEAD":
        return ApiResponse(status, headers)  # the row knows the size; no need to open the blob
    blob = await deps.blobs.get(found.blob_key, (wanted.offset, wanted.length) if wanted else None)
    if blob is None:
        raise NotFound(f"no {rendition} for artifact {artifact_id}")
    return ApiResponse(status, headers, blob)


async def artifact_url(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    seconds = int(_number(request, "expires_in", bounds.URL_LIFETIME_SECONDS))
    rendition = request.arg("rendition") or "content"
    if rendition not in content.RENDITIONS:
        raise ValidationFailed([FieldError("rendition", f"one of {', '.join(content.RENDITIONS)}", "invalid_choice")])
    row = await artifacts.artifact_record(deps.db, artifact_id)
    if row is None or row["deleted_at"] is not None:
        raise NotFound(f"no artifact {artifact_id}")
    content.delivered(row, rendition)  # a thumbnail URL only for a thumbnail there is
    moment = deps.clock()
    expires = int(moment.timestamp()) + seconds
    url = content.signed_url(deps.settings, request.base_url, artifact_id, expires, rendition)
    return json_response(200, {"url": url, "expires_at": isoformat(moment + timedelta(seconds=seconds))})


async def create_upload(deps: Deps, request: ApiRequest) -> ApiResponse:
    tags = parse_filters({"tag": request.query.get("tag", [])}).tags
    declared, filename, body = await multipart.upload_body(request, deps.settings.max_upload_bytes)
    artifact, created = await uploads.store_upload(deps, body, declared, filename, tags)
    view = await artifacts.artifact_view(deps.db, artifact, request.base_url)
    return json_response(201 if created else 200, view, {"location": f"/v1/artifacts/{artifact}"})


async def artifact_lineage(deps: Deps, request: ApiRequest, artifact_id: str) -> ApiResponse:
    return json_response(200, await lineage.lineage_view(deps.db, artifact_id, request.base_url))


async def get_usage(deps: Deps, request: ApiRequest) -> ApiResponse:
    return json_response(200, await usage.usage_report(deps.db, request.query))


async def _webhook(deps: Deps, request: ApiRequest, provider: str, job_id: str, token: str) -> ApiResponse:
    await webhooks.receive_webhook(deps, provider, job_id, token, request.body, request.headers)
    return json_response(200, {"received": True})


async def runware_webhook(deps: Deps, request: ApiRequest, job_id: str, token: str) -> ApiResponse:
    return await _webhook(deps, request, "runware", job_id, token)


async def fal_webhook(deps: Deps, request: ApiRequest, job_id: str, token: str) -> ApiResponse:
    return await _webhook(deps, request, "fal", job_id, token)


async def replicate_webhook(deps: Deps, request: ApiRequest, job_id: str, token: str) -> ApiResponse:
    return await _webhook(deps, request, "replicate", job_id, token)
