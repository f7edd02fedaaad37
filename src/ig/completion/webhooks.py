"""Provider webhooks, received: the per-job token checked in constant time, the provider's own
proof checked (fal's Ed25519 signature), the body stored as a provider event, a queue message
sent, 200. Nothing slow happens here: the provider waits for the answer."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping

from ig import logs
from ig.deps import Deps
from ig.errors import BadRequest, BadSignature, NotFound, PayloadTooLarge
from ig.jobs import records
from ig.jobs.provider_events import store_event
from ig.jobs.submission import adopt_request
from ig.ports import Row
from ig.providers.registry import provider_for
from ig.safe_json import decode_json, json_too_deep, too_deeply_nested


async def receive_webhook(
    deps: Deps, provider: str, job_id: str, token: str, raw: bytes, headers: Mapping[str, str] | None = None
) -> Row:
    """A provider's webhook about one job: ig's per-job token must match (in constant time) and
    the job must be that provider's, or nothing is written; then the provider has its own say
    (a bad signature is a 401, a body about another request a 400, and nothing is written).
    Unknown job, another provider's job and a wrong token answer the same 404, so jobs cannot be
    enumerated. A webhook naming the request of a job whose submit outcome was unknown settles
    it: the job adopts that request."""
    if len(raw) > deps.settings.max_webhook_bytes:
        raise PayloadTooLarge("webhook body too large")
    job = await records.load_job(deps.db, job_id) if _is_uuid(job_id) else None
    expected = (job or {}).get("webhook_token") or ""
    if not hmac.compare_digest(token.encode(), expected.encode()) or job is None or job["provider"] != provider:
        raise NotFound("no such webhook")
    logs.working_on(job_id)
    if json_too_deep(raw):
        raise too_deeply_nested()
    body = decode_json(raw)
    if not isinstance(body, dict | list):
        raise BadRequest("webhook body is not a JSON object")
    check = await provider_for(provider, deps).check_webhook(
        job_id=job_id, provider_id=job["provider_task_id"], headers=headers or {}, raw=raw, body=body
    )
    if check.problem is not None:
        deps.log.warning("job %s: refused a %s webhook: %s", job_id, provider, check.problem)
        raise (BadSignature if check.status == 401 else BadRequest)(check.problem)
    if check.provider_id and not job["provider_task_id"]:
        await adopt_request(deps, job_id, check.provider_id, check.handle)
    event = await store_event(deps, job_id, "webhook", raw, None)
    if event["processed_at"] is None:
        await deps.queue.send({"type": "event", "job_id": job_id, "event_id": event["id"]})
    return event


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
