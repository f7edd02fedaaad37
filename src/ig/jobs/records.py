"""The job record: every change to it as a guarded (compare-and-set) SQL write,
so duplicated or reordered work can never move a job backwards."""

from __future__ import annotations

import json
from typing import Any

from ig.errors import Conflict, NotFound
from ig.job_states import OPEN_SQL, JobStatus
from ig.jobs import callback_outbox
from ig.ports import Database, Row, Statement

INSERT_JOB = """
INSERT INTO jobs (id, status, provider, task, model, params, metadata, request, provider_request,
                  provider_task_id, webhook_token, expected_results, created_at, deadline_at,
                  next_check_at, updated_at, model_alias, preset, preset_version, timeout_seconds, callback_url,
                  callback_events, request_blob_key, candidates, attempts, failover_after_accept)
VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', ?9, ?10, ?11, ?12, ?13, ?11, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
        ?21, ?22, ?23)
"""
INSERT_JOB_TAGS = "INSERT OR IGNORE INTO job_tags (job_id, tag) SELECT ?1, value FROM json_each(?2)"
INDEX_JOB_TEXT = "INSERT INTO job_search (rowid, body) SELECT seq, ?2 FROM jobs WHERE id = ?1"
SELECT_JOB = "SELECT * FROM jobs WHERE id = ?1"

# The provider's id (and handle) are written with the transition, so a submitted job always has them.
MARK_SUBMITTED = """
UPDATE jobs SET status = 'submitted', submitted_at = ?2, updated_at = ?2, next_check_at = ?3,
                submit_attempts = submit_attempts + 1, last_error = NULL, provider_task_id = ?4,
                provider_handle = ?5, submit_unknown_at = NULL, sending_at = NULL
WHERE id = ?1 AND status = 'queued'
"""
# The request was found at the provider (a webhook named it, or reconciliation did): adopted
# without counting a submit attempt.
ADOPT_REQUEST = """
UPDATE jobs SET status = 'submitted', submitted_at = coalesce(submitted_at, ?2), updated_at = ?2, next_check_at = ?3,
                last_error = NULL, provider_task_id = ?4, provider_handle = ?5, submit_unknown_at = NULL
WHERE id = ?1 AND status = 'queued' AND provider_task_id = ''
"""
# Waiting for room under its provider's limits (not a failed try: it never leads to failover).
NOTE_WAITING = """
UPDATE jobs SET updated_at = ?2, next_check_at = ?3, sending_at = NULL WHERE id = ?1 AND status = 'queued'
"""
# One invocation at a time sends a job's request: the rest of a duplicated or concurrent submit
# find the lease taken and send nothing. A lease older than any send can take (its invocation
# died) may be taken over only where resending is safe (?4); elsewhere it becomes an unknown
# outcome, reconciled (STALE_SEND_UNKNOWN).
CLAIM_SEND = """
UPDATE jobs SET sending_at = ?2
WHERE id = ?1 AND status = 'queued' AND submit_unknown_at IS NULL AND provider = ?5
  AND (sending_at IS NULL OR (?4 AND sending_at < ?3))
"""
STALE_SEND_UNKNOWN = """
UPDATE jobs SET submit_unknown_at = sending_at, sending_at = NULL, updated_at = ?2
WHERE id = ?1 AND status = 'queued' AND submit_unknown_at IS NULL AND sending_at < ?3
"""
# The job moves to its next provider: a fresh attempt (new request, token and counters) under the
# same job id; guarded by the provider it leaves, so two racing moves cannot both happen.
MOVE_ON = f"""
UPDATE jobs SET provider = ?2, model = ?3, task = ?4, params = ?5, provider_request = ?6, webhook_token = ?7,
                expected_results = ?8, provider_task_id = '', provider_handle = NULL, submit_attempts = 0,
                submit_unknown_at = NULL, status = 'queued', error = NULL, submitted_at = NULL, last_error = ?9,
                slot_at = NULL, sending_at = NULL,
                candidates = ?10, attempts = json_insert(coalesce(attempts, '[]'), '$[#]', json(?11)),
                next_check_at = ?12, updated_at = ?13
WHERE id = ?1 AND provider = ?14 AND status IN {OPEN_SQL}
"""
# The submit's outcome is unknown: the sweeper reconciles at next_check_at instead of resending.
NOTE_SUBMIT_UNKNOWN = """
UPDATE jobs SET submit_attempts = submit_attempts + 1, last_error = ?2, updated_at = ?3, next_check_at = ?4,
                submit_unknown_at = coalesce(submit_unknown_at, ?5), sending_at = NULL
WHERE id = ?1 AND status = 'queued'
"""
# Reconciliation found nothing at the provider: the job may be submitted once more.
CLEAR_SUBMIT_UNKNOWN = "UPDATE jobs SET submit_unknown_at = NULL, updated_at = ?2 WHERE id = ?1 AND status = 'queued'"
# The provider ids among ?2 (a JSON list) that jobs of provider ?1 already own.
CLAIMED_IDS = """
SELECT provider_task_id FROM jobs
WHERE provider = ?1 AND provider_task_id IN (SELECT value FROM json_each(?2))
"""
NOTE_SUBMIT_RETRY = """
UPDATE jobs SET submit_attempts = submit_attempts + 1, last_error = ?2, updated_at = ?3, next_check_at = ?4,
                sending_at = NULL
WHERE id = ?1 AND status = 'queued'
"""
FAIL_JOB = f"""
UPDATE jobs SET status = 'failed', error = ?2, completed_at = ?3, updated_at = ?3
WHERE id = ?1 AND status IN {OPEN_SQL}
"""
# The jobs of ?1 (a JSON list) still open past their deadline fail, each with its own timeout error:
# the JSON text the sweeper's fail_job wrote (json.dumps, and "None" where the job predates
# timeout_seconds). CROSS JOIN keeps the list the outer loop, so each job is found by its id
# (SQLite would otherwise walk an index of every job in the state, however few the ids).
TIME_OUT_JOBS = f"""
UPDATE jobs SET status = 'failed', completed_at = ?2, updated_at = ?2,
                error = '{{"code": "timeout", "message": "no result within '
                        || coalesce(timeout_seconds, 'None') || ' seconds"}}'
WHERE seq IN (
    SELECT j.seq FROM json_each(?1) e CROSS JOIN jobs j ON j.id = e.value
    WHERE j.status IN {OPEN_SQL} AND j.deadline_at < ?2
)
"""
# Succeeds the job once every expected result is stored; a no-op until then, and after. Results
# can beat the provider's answer to the submit (a slow ack): then they date the submission.
COMPLETE_JOB = f"""
UPDATE jobs SET status = 'succeeded', completed_at = ?2, updated_at = ?2, submitted_at = coalesce(submitted_at, ?2)
WHERE id = ?1 AND status IN {OPEN_SQL}
  AND (SELECT count(*) FROM results WHERE job_id = ?1 AND stored_at IS NOT NULL) >= expected_results
"""
CANCEL_JOB = f"""
UPDATE jobs SET status = 'cancelled', cancelled_at = ?2, completed_at = ?2, updated_at = ?2
WHERE id = ?1 AND status IN {OPEN_SQL}
"""
NOTE_ERROR = "UPDATE jobs SET last_error = ?2, updated_at = ?3 WHERE id = ?1"
NOTE_ACTIVITY = f"""
UPDATE jobs SET next_check_at = ?2, updated_at = ?3 WHERE id = ?1 AND status IN {OPEN_SQL}
"""
# Claims the next link of the poll chain; zero rows changed means another message owns it.
ADVANCE_POLL = f"""
UPDATE jobs SET poll_seq = ?3, next_check_at = ?4, updated_at = ?5
WHERE id = ?1 AND poll_seq = ?2 AND status IN {OPEN_SQL}
"""


def insert_job(row: dict[str, Any], tags: list[str]) -> list[Statement]:
    return [
        (
            INSERT_JOB,
            [
                row["id"],
                row["provider"],
                row["task"],
                row["model"],
                json.dumps(row["params"]),
                json.dumps(row["metadata"]),
                row["request"],
                json.dumps(row["provider_request"]),
                row["webhook_token"],
                row["expected_results"],
                row["created_at"],
                row["deadline_at"],
                row["next_check_at"],
                row.get("model_alias"),
                row.get("preset"),
                row.get("preset_version"),
                row["timeout_seconds"],
                row.get("callback_url"),
                json.dumps(row["callback_events"]) if row.get("callback_url") else None,
                row.get("request_blob_key"),
                json.dumps(row.get("candidates") or []),
                json.dumps(row.get("attempts") or []),
                int(bool(row.get("failover_after_accept"))),
            ],
        ),
        (INSERT_JOB_TAGS, [row["id"], json.dumps(tags)]),
        (INDEX_JOB_TEXT, [row["id"], row["search_text"]]),
    ]


async def load_job(db: Database, job_id: str) -> Row | None:
    return await db.first(SELECT_JOB, [job_id])


async def fail_job(db: Database, job_id: str, error: dict[str, Any], now: str) -> bool:
    """Fail an open job with ``error``, and record its ``job.failed`` callback in the same
    write; False when it was already finished."""
    failed = (FAIL_JOB, [job_id, json.dumps(error), now])
    changed = await db.batch([failed, callback_outbox.job_event(job_id, "failed", now)])
    return changed[0] == 1


async def time_out_jobs(db: Database, job_ids: list[str], now: str) -> int:
    """Fail those of ``job_ids`` still open past their deadline with the timeout error, and record
    each one's ``job.failed`` callback in the same write, in two statements however many there
    are; the number failed (those that had finished meanwhile are left as they are)."""
    timed_out = (TIME_OUT_JOBS, [json.dumps(job_ids), now])
    changed = await db.batch([timed_out, callback_outbox.jobs_event(job_ids, "failed", now)])
    return changed[0]


async def cancel_job(db: Database, job_id: str, now: str) -> None:
    """Cancel an open job; cancelling a cancelled job is a no-op, a finished one a ``Conflict``."""
    if await db.run(CANCEL_JOB, [job_id, now]):
        return
    job = await load_job(db, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    if job["status"] != JobStatus.CANCELLED:
        raise Conflict(f"job {job_id} has already {job['status']}", job_id=job_id)


async def note_error(db: Database, job_id: str, error: dict[str, Any], now: str) -> None:
    await db.run(NOTE_ERROR, [job_id, json.dumps(error), now])


IN_FLIGHT = "SELECT provider, count(*) AS jobs FROM jobs WHERE status = 'submitted' GROUP BY provider"
LAST_FAILURE = """
SELECT id, error, completed_at FROM jobs WHERE provider = ?1 AND status = 'failed' ORDER BY completed_at DESC LIMIT 1
"""


async def provider_activity(db: Database, providers: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per provider: jobs it has accepted and not finished, and its latest failed job's error."""
    in_flight = {r["provider"]: r["jobs"] for r in await db.all(IN_FLIGHT)}
    found = {}
    for name in providers:
        last = await db.first(LAST_FAILURE, [name])
        found[name] = {
            "in_flight": in_flight.get(name, 0),
            "last_error": {"job_id": last["id"], "at": last["completed_at"], **json.loads(last["error"] or "{}")}
            if last
            else None,
        }
    return found
