"""Provider webhooks, received: the per-job token checked in constant time, the body stored as a
provider event, a queue message sent, 200. Nothing slow happens here: Runware waits for the answer."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from ig import logs
from ig.deps import Deps
from ig.errors import BadRequest, NotFound, PayloadTooLarge
from ig.jobs import records
from ig.jobs.provider_events import store_event
from ig.ports import Row
from ig.safe_json import decode_json, json_too_deep, too_deeply_nested


async def receive_webhook(deps: Deps, job_id: str, token: str, raw: bytes) -> Row:
    """A Runware webhook: the per-job token must match (in constant time) or nothing is written.
    Unknown job and wrong token answer the same 404 so jobs cannot be enumerated."""
    if len(raw) > deps.settings.max_webhook_bytes:
        raise PayloadTooLarge("webhook body too large")
    job = await records.load_job(deps.db, job_id) if _is_uuid(job_id) else None
    expected = (job or {}).get("webhook_token") or ""
    if not hmac.compare_digest(token.encode(), expected.encode()) or job is None:
        raise NotFound("no such webhook")
    logs.working_on(job_id)
    if json_too_deep(raw):
        raise too_deeply_nested()
    body = decode_json(raw)
    if not isinstance(body, dict | list):
        raise BadRequest("webhook body is not a JSON object")
    task_ids = {item.get("taskUUID") for item in _items(body)} - {None}
    if task_ids - {job_id}:
        raise BadRequest("webhook body names another task")
    event = await store_event(deps, job_id, "webhook", raw, None)
    if event["processed_at"] is None:
        await deps.queue.send({"type": "event", "job_id": job_id, "event_id": event["id"]})
    return event


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [i for i in body if isinstance(i, dict)]
    found = [body]
    for key in ("data", "errors", "error"):
        value = body.get(key)
        if isinstance(value, dict):
            found.append(value)
        elif isinstance(value, list):
            found.extend(i for i in value if isinstance(i, dict))
    return found


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
