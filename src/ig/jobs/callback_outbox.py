"""The callback outbox: an event row written in the same database batch as the change it reports
(artifacts stored, job succeeded, job failed), so an event exists exactly when its change does,
and the first queue message that sends each one. Sending itself is ``ig.completion.callbacks``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ig.deps import Deps, isoformat
from ig.ports import Row, Statement

EVENTS = ("job.succeeded", "job.failed", "artifact.stored")
DEFAULT_EVENTS = ("job.succeeded", "job.failed")
CALLBACK_NAMESPACE = uuid.UUID("0c9b1a5e-6f0e-4d1e-9a57-4b8d2f3e7c21")
REQUEUE_AFTER_SECONDS = 300
"""An event with no attempt under way this long after it was due is re-queued by the sweeper."""
Message = dict[str, Any]
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
# The same event for each job of ?1, a JSON object of job id to its event id. CROSS JOIN keeps the
# list the outer loop: each job is found by its id, never by walking every job in the state.
INSERT_JOB_EVENTS = """
INSERT INTO callbacks (id, job_id, event, artifact_id, url, status, created_at, next_attempt_at, updated_at)
SELECT e.value, j.id, ?2, NULL, j.callback_url, 'pending', ?3, ?3, ?3
FROM json_each(?1) e CROSS JOIN jobs j ON j.id = e.key
WHERE j.callback_url IS NOT NULL AND j.status = ?4
  AND EXISTS (SELECT 1 FROM json_each(j.callback_events) WHERE value = ?2)
ON CONFLICT (id) DO NOTHING
"""
SELECT_UNSENT = """
SELECT id, job_id, attempts, next_attempt_at FROM callbacks
WHERE job_id = ?1 AND status = 'pending' AND attempts = 0 AND next_attempt_at <= ?2
"""
# Whoever moves next_attempt_at on from the value it read sends the message; others send nothing.
CLAIM_SEND = "UPDATE callbacks SET next_attempt_at = ?3 WHERE id = ?1 AND status = 'pending' AND next_attempt_at = ?2"
# The same claims for many events, each in one statement that finds and moves them: the events
# it returns are this caller's to send (a concurrent caller finds them no longer due).
CLAIM_UNSENT_OF_JOBS = """
UPDATE callbacks SET next_attempt_at = ?3
WHERE rowid IN (
    SELECT c.rowid FROM json_each(?1) e CROSS JOIN callbacks c ON c.job_id = e.value
    WHERE c.status = 'pending' AND c.attempts = 0 AND c.next_attempt_at <= ?2
)
RETURNING id, job_id, attempts
"""
CLAIM_STUCK = """
UPDATE callbacks SET next_attempt_at = ?3
WHERE id IN (
    SELECT id FROM callbacks WHERE status = 'pending' AND next_attempt_at < ?1 ORDER BY next_attempt_at LIMIT ?2
)
RETURNING id, job_id, attempts
"""


def event_id(job_id: str, event: str, artifact_id: str | None = None) -> str:
    """Derived, so writing the same event twice (a redelivered message) is one event."""
    return "msg_" + uuid.uuid5(CALLBACK_NAMESPACE, f"{job_id}/{event}/{artifact_id or ''}").hex


def job_event(job_id: str, status: str, now: str) -> Statement:
    """The ``job.<status>`` event, written only if the job is in that state and wants it."""
    event = f"job.{status}"
    return (INSERT_EVENT, [event_id(job_id, event), job_id, event, None, now, status])


def jobs_event(job_ids: Sequence[str], status: str, now: str) -> Statement:
    """``job_event`` for many jobs in one statement."""
    event = f"job.{status}"
    ids = {job_id: event_id(job_id, event) for job_id in job_ids}
    return (INSERT_JOB_EVENTS, [json.dumps(ids), event, now, status])


def artifact_event(job_id: str, artifact_id: str, now: str) -> Statement:
    return (
        INSERT_ARTIFACT_EVENT,
        [event_id(job_id, "artifact.stored", artifact_id), job_id, "artifact.stored", artifact_id, now, None],
    )


async def enqueue_new(deps: Deps, job_id: str) -> None:
    """Queue the first attempt of the job's events that have none yet. A send lost to a crash is
    re-queued by the sweeper."""
    moment = deps.clock()
    await _claim_and_send(deps, await deps.db.all(SELECT_UNSENT, [job_id, isoformat(moment)]), moment)


async def claim_new_of(deps: Deps, job_ids: Sequence[str]) -> list[Message]:
    """Sweeper: ``enqueue_new`` for many jobs, claimed in one statement; the caller sends the
    messages returned (a send lost to a crash is re-queued by ``claim_stuck``)."""
    moment = deps.clock()
    params = [json.dumps(list(job_ids)), isoformat(moment), _requeue_at(moment)]
    return [_message(row) for row in await deps.db.all(CLAIM_UNSENT_OF_JOBS, params)]


async def claim_stuck(deps: Deps, limit: int = 100) -> list[Message]:
    """Sweeper: claim the next attempt of up to ``limit`` events whose attempt is overdue (their
    message was lost), oldest first, in one statement; the caller sends the messages returned."""
    moment = deps.clock()
    overdue = isoformat(moment - timedelta(seconds=60))
    return [_message(row) for row in await deps.db.all(CLAIM_STUCK, [overdue, limit, _requeue_at(moment)])]


async def _claim_and_send(deps: Deps, rows: list[Row], moment: datetime) -> int:
    """Send each event's next attempt once, however many callers found it due."""
    later = _requeue_at(moment)
    sent = 0
    for row in rows:
        if await deps.db.run(CLAIM_SEND, [row["id"], row["next_attempt_at"], later]):
            await deps.queue.send(_message(row))
            sent += 1
    return sent


def _requeue_at(moment: datetime) -> str:
    return isoformat(moment + timedelta(seconds=REQUEUE_AFTER_SECONDS))


def _message(row: Row) -> Message:
    """The queue message for the event's next attempt (``attempt``: attempts made so far)."""
    return {"type": "callback", "job_id": row["job_id"], "callback_id": row["id"], "attempt": row["attempts"]}
