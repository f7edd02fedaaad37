"""Consumer callbacks: a job may name a ``callback_url`` and the events it wants, and ig POSTs a
small signed JSON event to it (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), retried through the queue with exponential backoff for over a day.

An event row is written in the same database batch as the change it reports (artifacts stored,
job succeeded, job failed), so an event exists exactly when its change does; a queue message
then delivers it. Every attempt is logged for ``GET /v1/jobs/{id}/deliveries``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from ig import addresses, delivery
from ig.deps import Deps, isoformat
from ig.errors import NotFound
from ig.ports import HttpResponse, Row, Statement
from ig.settings import Settings
from ig.views import job_view

EVENTS = ("job.succeeded", "job.failed", "artifact.stored")
DEFAULT_EVENTS = ("job.succeeded", "job.failed")
CALLBACK_NAMESPACE = uuid.UUID("0c9b1a5e-6f0e-4d1e-9a57-4b8d2f3e7c21")
SEND_TIMEOUT_SECONDS = 15.0
"""Consumers should answer fast and work afterwards; a slow endpoint is a failed attempt."""
REQUEUE_AFTER_SECONDS = 300
"""An event with no attempt under way this long after it was due is re-queued by the sweeper."""
URL_SECONDS = 7 * 24 * 3600
"""Signed content URLs in events stay valid this long, beyond the whole retry schedule."""
ERROR_SNIPPET = 300

INSERT_EVENT = """
INSERT INTO callbacks (id, job_id, event, artifact_id, url, status, created_at, next_attempt_at, updated_at)
SELECT ?1, j.id, ?3, ?4, j.callback_url, 'pending', ?5, ?5, ?5
FROM jobs j
WHERE j.id = ?2 AND j.callback_url IS NOT NULL AND j.status = ?6
  AND EXISTS (SELECT 1 FROM json_each(j.callback_events) WHERE value = ?3)
ON CONFLICT (id) DO NOTHING
"""
# Artifacts of any job state: late results of a cancelled job are still announced.
INSERT_ARTIFACT_EVENT = INSERT_EVENT.replace("AND j.status = ?6", "AND ?6 IS NULL")
SELECT_UNSENT = """
SELECT id, job_id, attempts, next_attempt_at FROM callbacks
WHERE job_id = ?1 AND status = 'pending' AND attempts = 0 AND next_attempt_at <= ?2
"""
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
SELECT_STUCK = """
SELECT id, job_id, attempts, next_attempt_at FROM callbacks
WHERE status = 'pending' AND next_attempt_at < ?1 ORDER BY next_attempt_at LIMIT ?2
"""
# Whoever moves next_attempt_at on from the value it read sends the message; others send nothing.
CLAIM_SEND = "UPDATE callbacks SET next_attempt_at = ?3 WHERE id = ?1 AND status = 'pending' AND next_attempt_at = ?2"
SELECT_JOB_CALLBACKS = "SELECT * FROM callbacks WHERE job_id = ?1 ORDER BY created_at, rowid"
SELECT_JOB_ATTEMPTS = "SELECT * FROM callback_attempts WHERE job_id = ?1 ORDER BY attempted_at, attempt"
SELECT_LAST = "SELECT * FROM callbacks WHERE job_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1"


def event_id(job_id: str, event: str, artifact_id: str | None = None) -> str:
    """Derived, so writing the same event twice (a redelivered message) is one event."""
    return "msg_" + uuid.uuid5(CALLBACK_NAMESPACE, f"{job_id}/{event}/{artifact_id or ''}").hex


def job_event(job_id: str, status: str, now: str) -> Statement:
    """The ``job.<status>`` event, written only if the job is in that state and wants it."""
    event = f"job.{status}"
    return (INSERT_EVENT, [event_id(job_id, event), job_id, event, None, now, status])


def artifact_event(job_id: str, artifact_id: str, now: str) -> Statement:
    return (
        INSERT_ARTIFACT_EVENT,
        [event_id(job_id, "artifact.stored", artifact_id), job_id, "artifact.stored", artifact_id, now, None],
    )


# --- the URL and the secret ----------------------------------------------------------------------


def url_problem(url: str, settings: Settings) -> str | None:
    """Why ig will not call ``url``, or None: https to a public host; in local mode also
    loopback, by plain http too (see ``ig.addresses`` for what counts as public)."""
    if any(c <= " " or c in "\\\x7f" for c in url):
        return "may not contain spaces, control characters or backslashes"  # parsers disagree on them
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "not a valid URL"
    if not parts.hostname or parts.scheme not in ("https", "http"):
        return "must be an https:// URL"
    if "@" in parts.netloc:
        return "may not carry credentials; put a secret in the path or verify the signature"
    raw_host = parts.netloc
    if ":" in raw_host and not raw_host.endswith("]"):
        raw_host = raw_host.rpartition(":")[0]  # the port, checked above
    try:
        host = addresses.parse_host(raw_host)
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    problem = addresses.host_problem(host, allow_loopback=settings.local_mode)
    if problem is not None:
        return problem
    if parts.scheme == "http":
        if not settings.local_mode:
            return "must be https (plain http only to localhost when ig runs locally)"
        if not host.is_loopback:
            return "plain http is allowed only to localhost"
    return None


def signature(keys: list[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>`` per key."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)


# --- sending -------------------------------------------------------------------------------------


async def enqueue_new(deps: Deps, job_id: str) -> None:
    """Queue the first attempt of the job's events that have none yet. A send lost to a crash is
    re-queued by the sweeper."""
    moment = deps.clock()
    await _claim_and_send(deps, await deps.db.all(SELECT_UNSENT, [job_id, isoformat(moment)]), moment)


async def requeue_stuck(deps: Deps, limit: int = 100) -> int:
    """Sweeper: queue again any event whose attempt is overdue (its message was lost)."""
    moment = deps.clock()
    overdue = isoformat(moment - timedelta(seconds=60))
    return await _claim_and_send(deps, await deps.db.all(SELECT_STUCK, [overdue, limit]), moment)


async def _claim_and_send(deps: Deps, rows: list[Row], moment: datetime) -> int:
    """Send each event's next attempt once, however many callers found it due."""
    later = isoformat(moment + timedelta(seconds=REQUEUE_AFTER_SECONDS))
    sent = 0
    for row in rows:
        if await deps.db.run(CLAIM_SEND, [row["id"], row["next_attempt_at"], later]):
            message = {"type": "callback", "job_id": row["job_id"], "callback_id": row["id"]}
            await deps.queue.send({**message, "attempt": row["attempts"]})
            sent += 1
    return sent


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
    problem = url_problem(row["url"], deps.settings)
    if problem is not None:
        return None, 0, f"callback_url refused: {problem}"
    timestamp = int(deps.clock().timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "ig-callbacks/1",
        "webhook-id": row["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(deps.settings.callback_keys, row["id"], timestamp, body),
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
        item["url"] = delivery.signed_url(deps.settings, base, artifact["id"], expires)
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
