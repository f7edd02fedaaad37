"""Consumer callbacks, sent: a job may name a ``callback_url`` and the events it wants, and ig POSTs
a small signed JSON event to it (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), retried through the queue with exponential backoff for over a day.

The events themselves are written by ``ig.jobs.callback_outbox``, in the same batch as the change
they report. Every attempt is logged for ``GET /v1/jobs/{id}/deliveries``."""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta
from functools import partial
from typing import Any

from ig import addresses, standard_webhooks
from ig.deps import Deps, isoformat
from ig.errors import NotFound
from ig.jobs.callback_outbox import REQUEUE_AFTER_SECONDS
from ig.library import content
from ig.library.views import job_view
from ig.ports import HttpResponse, Row

SEND_TIMEOUT_SECONDS = 15.0
"""Consumers should answer fast and work afterwards; a slow endpoint is a failed attempt."""
URL_SECONDS = 7 * 24 * 3600
"""Signed content URLs in events stay valid this long, beyond the whole retry schedule."""
ERROR_SNIPPET = 300

SELECT_CALLBACK = "SELECT * FROM callbacks WHERE id = ?1"
CLAIM_ATTEMPT = """
UPDATE callbacks SET attempts = attempts + 1, next_attempt_at = ?3, updated_at = ?4
WHERE id = ?1 AND status = 'pending' AND attempts = ?2
"""
FREEZE_BODY = "UPDATE callbacks SET body = ?2 WHERE id = ?1 AND body IS NULL"
INSERT_ATTEMPT = """
INSERT INTO callback_attempts (callback_id, attempt, job_id, attempted_at, status_code, latency_ms, error)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT DO NOTHING
"""
MARK_DELIVERED = "UPDATE callbacks SET status = 'delivered', delivered_at = ?2, updated_at = ?2 WHERE id = ?1"
SCHEDULE_RETRY = "UPDATE callbacks SET next_attempt_at = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'pending'"
MARK_FAILED = "UPDATE callbacks SET status = 'failed', updated_at = ?2 WHERE id = ?1 AND status = 'pending'"
RESTART = """
UPDATE callbacks SET status = 'pending', schedule_start = attempts, next_attempt_at = ?2, updated_at = ?2
WHERE id = ?1
"""
SELECT_JOB_CALLBACKS = "SELECT * FROM callbacks WHERE job_id = ?1 ORDER BY created_at, rowid"
SELECT_JOB_ATTEMPTS = "SELECT * FROM callback_attempts WHERE job_id = ?1 ORDER BY attempted_at, attempt"
SELECT_LAST = "SELECT * FROM callbacks WHERE job_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1"


# --- the URL and the secret ----------------------------------------------------------------------


# --- sending -------------------------------------------------------------------------------------


async def deliver(deps: Deps, callback_id: str, attempt: int) -> None:
    """One delivery attempt. ``attempt`` is how many attempts the message expects to have been
    made; a duplicate or superseded message finds a different count and does nothing."""
    row = await deps.db.first(SELECT_CALLBACK, [callback_id])
    if row is None or row["status"] != "pending" or row["attempts"] != attempt:
        return
    moment = deps.clock()
    guard = isoformat(moment + timedelta(seconds=REQUEUE_AFTER_SECONDS))
    if not await deps.db.run(CLAIM_ATTEMPT, [callback_id, attempt, guard, isoformat(moment)]):
        return
    status, latency_ms, error = await _attempt(deps, row)
    now = deps.now()
    number = attempt + 1
    await deps.db.run(INSERT_ATTEMPT, [callback_id, number, row["job_id"], now, status, latency_ms, error])
    if status is not None and 200 <= status < 300:
        await deps.db.run(MARK_DELIVERED, [callback_id, now])
        return
    failures = number - row["schedule_start"]
    schedule = deps.settings.callback_retry_seconds
    if failures > len(schedule):
        await deps.db.run(MARK_FAILED, [callback_id, now])
        deps.log.warning("job %s: callback %s failed %d times; giving up", row["job_id"], callback_id, failures)
        return
    delay = round(schedule[failures - 1] * random.uniform(0.9, 1.1))
    due = isoformat(deps.clock() + timedelta(seconds=delay))
    await deps.db.run(SCHEDULE_RETRY, [callback_id, due, now])
    message = {"type": "callback", "job_id": row["job_id"], "callback_id": callback_id, "attempt": number}
    await deps.queue.send(message, delay_seconds=delay)


async def give_up(deps: Deps, callback_id: str, job_id: str) -> None:
    """Mark an event failed whose queue message was dead-lettered. Its job is not touched: a
    consumer's endpoint (or ig's delivery of it) failing says nothing about the job."""
    if await deps.db.run(MARK_FAILED, [callback_id, deps.now()]):
        deps.log.error("job %s: callback %s failed: its queue message was dead-lettered", job_id, callback_id)


async def _attempt(deps: Deps, row: Row) -> tuple[int | None, int, str | None]:
    """Make the claimed attempt; (status, latency in ms, error). It never raises for anything
    the receiver or the network does: every claimed attempt is logged and counts toward the
    give-up, or the schedule would restart with each sweeper re-queue and never end."""
    body = row["body"]
    if body is None:
        try:
            await deps.db.run(FREEZE_BODY, [row["id"], await event_body(deps, row)])
        except Exception as exc:  # noqa: BLE001 - recorded as the attempt's error
            deps.log.exception("job %s: could not build callback %s", row["job_id"], row["id"])
            return None, 0, f"could not build the event: {_describe(exc)}"[:ERROR_SNIPPET]
        frozen = await deps.db.first(SELECT_CALLBACK, [row["id"]])
        assert frozen is not None
        body = frozen["body"]
    return await _post(deps, row, body.encode("utf-8"))


async def _post(deps: Deps, row: Row, body: bytes) -> tuple[int | None, int, str | None]:
    """POST the event. Redirects are answers, never followed; an answer that breaks off or does
    not decode is a failed attempt with the status that was received."""
    started = time.monotonic()
    problem = addresses.url_problem(row["url"], local_mode=deps.settings.local_mode)
    if problem is not None:
        return None, 0, f"callback_url refused: {problem}"
    timestamp = int(deps.clock().timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "ig-callbacks/1",
        "webhook-id": row["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhooks.signature(deps.settings.callback_keys, row["id"], timestamp, body),
    }
    allow = partial(addresses.is_allowed, allow_loopback=deps.settings.local_mode)
    try:
        response = await deps.http.send(
            "POST", row["url"], headers=headers, body=body, timeout=SEND_TIMEOUT_SECONDS, allow_address=allow
        )
    except Exception as exc:  # noqa: BLE001 - recorded as the attempt's error
        _log_unexpected(deps, row, exc)
        return None, _ms_since(started), _describe(exc)[:ERROR_SNIPPET]
    try:
        error = None if 200 <= response.status < 300 else await _answer_error(response)
    except Exception as exc:  # noqa: BLE001 - recorded as the attempt's error
        _log_unexpected(deps, row, exc)
        error = f"HTTP {response.status}, then {_describe(exc)}"
    finally:
        try:
            await response.aclose()
        except Exception:  # noqa: BLE001 - the answer already decided the attempt
            deps.log.warning(
                "job %s: closing the answer to callback %s failed", row["job_id"], row["id"], exc_info=True
            )
    return response.status, _ms_since(started), error if error is None else error[:ERROR_SNIPPET]


async def _answer_error(response: HttpResponse) -> str:
    """``HTTP <status>`` and the start of the answer, for the delivery log."""
    snippet = bytearray()
    async for chunk in response.iter_bytes():
        snippet += chunk
        if len(snippet) >= ERROR_SNIPPET:
            break
    text = bytes(snippet[:ERROR_SNIPPET]).decode("utf-8", "replace")
    error = f"HTTP {response.status}" + (" (redirects are not followed)" if 300 <= response.status < 400 else "")
    return error + (f": {text}" if text else "")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _log_unexpected(deps: Deps, row: Row, exc: Exception) -> None:
    """Network trouble is the receiver's business (it is in the delivery log); anything else is
    a fault in ig worth a traceback."""
    if not isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        deps.log.error("job %s: callback %s attempt raised", row["job_id"], row["id"], exc_info=exc)


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


# --- what an event says --------------------------------------------------------------------------

_JOB_FIELDS = (
    "id",
    "status",
    "provider",
    "task",
    "model",
    "model_alias",
    "preset",
    "tags",
    "metadata",
    "created_at",
    "completed_at",
    "cancelled_at",
    "cost",
    "error",
    "expected_results",
)
_ARTIFACT_FIELDS = (
    "id",
    "kind",
    "content_type",
    "size",
    "sha256",
    "width",
    "height",
    "duration_seconds",
    "seed",
    "cost",
    "nsfw",
    "arrived_after",
    "created_at",
)


async def event_body(deps: Deps, row: Row) -> str:
    """The event as JSON (``{type, timestamp, data: {job, artifacts}}``): ids, status and
    artifact metadata with signed content URLs; never file bytes, never the job's params."""
    base = deps.settings.public_url or ""
    view = await job_view(deps.db, row["job_id"], base)
    if view is None:
        raise NotFound(f"no job {row['job_id']}")
    moment = deps.clock()
    expires = int(moment.timestamp()) + URL_SECONDS
    chosen = [a for a in view["artifacts"] if row["artifact_id"] in (None, a["id"])]
    artifacts = []
    for artifact in chosen:
        item = {name: artifact.get(name) for name in _ARTIFACT_FIELDS}
        item["url"] = content.signed_url(deps.settings, base, artifact["id"], expires)
        item["url_expires_at"] = isoformat(moment + timedelta(seconds=URL_SECONDS))
        artifacts.append(item)
    payload = {
        "type": row["event"],
        "timestamp": isoformat(moment),
        "data": {"job": {name: view.get(name) for name in _JOB_FIELDS}, "artifacts": artifacts},
    }
    return json.dumps(payload, separators=(",", ":"))


# --- the deliveries endpoints ---------------------------------------------------------------------


def _delivery(row: Row, attempts: list[Row]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": row["event"],
        "artifact_id": row["artifact_id"],
        "url": row["url"],
        "status": row["status"],
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
        "attempts": [
            {
                "attempt": a["attempt"],
                "attempted_at": a["attempted_at"],
                "status_code": a["status_code"],
                "latency_ms": a["latency_ms"],
                "error": a["error"],
            }
            for a in attempts
            if a["callback_id"] == row["id"]
        ],
    }


async def deliveries_view(deps: Deps, job_id: str) -> dict[str, Any]:
    rows = await deps.db.all(SELECT_JOB_CALLBACKS, [job_id])
    attempts = await deps.db.all(SELECT_JOB_ATTEMPTS, [job_id]) if rows else []
    return {"items": [_delivery(r, attempts) for r in rows]}


async def redeliver_last(deps: Deps, job_id: str) -> dict[str, Any]:
    """Send the job's latest event again, now, with a fresh retry schedule and the same id."""
    row = await deps.db.first(SELECT_LAST, [job_id])
    if row is None:
        raise NotFound(f"job {job_id} has no callback events to redeliver")
    await deps.db.run(RESTART, [row["id"], deps.now()])
    message = {"type": "callback", "job_id": job_id, "callback_id": row["id"], "attempt": row["attempts"]}
    await deps.queue.send(message)
    fresh = await deps.db.first(SELECT_CALLBACK, [row["id"]])
    assert fresh is not None
    return _delivery(fresh, await deps.db.all(SELECT_JOB_ATTEMPTS, [job_id]))
