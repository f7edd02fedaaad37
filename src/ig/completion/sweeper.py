"""The sweeper, run by cron on the Worker and on a timer locally: it fails jobs past their
deadline, asks the provider about jobs that have gone quiet (lost webhooks), resubmits jobs
whose submission retry was lost, reconciles jobs whose submit outcome was unknown, re-queues
callbacks whose message was lost, asks again for thumbnails that are due (retries, and the
backfill of artifacts from before thumbnails), and forgets idempotency keys past their 24 hours. All of it
goes through the same queue and code paths.

Each kind of work is done as a set, up to ``SWEEP_BATCH`` rows of it per sweep: one guarded
statement claims the rows (or one finds them and one batch changes them), and the messages go
out ``MAX_SEND_BATCH`` at a time. So a sweep makes the same few round trips, at most eight
statements, whether it finds ten jobs or a thousand."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ig.deps import Deps, isoformat
from ig.job_states import OPEN_SQL, JobStatus
from ig.jobs import callback_outbox, idempotency, records
from ig.library import thumbnails
from ig.ports import MAX_SEND_BATCH

SWEEP_BATCH = 1000
"""Rows of each kind (overdue jobs, quiet jobs, lost callbacks, expired keys) one sweep takes on:
about what D1 advises one statement to change, and at most about 3,000 messages a sweep, under
the 5,000 a second one queue takes. The rest wait for the next sweep."""

THUMBNAIL_BATCH = 100
"""Thumbnails one sweep asks for: each is a decode and an encode (an Images transformation on the
Worker), so a backfill goes a hundred a sweep rather than flooding the consumer."""

# Named: SQLite would rather walk every open job by status than the overdue ones by deadline.
OVERDUE = f"""
SELECT id FROM jobs INDEXED BY jobs_overdue WHERE status IN {OPEN_SQL} AND deadline_at < ?1 LIMIT ?2
"""
# Which of the jobs of ?1 this sweep failed, when some had finished before it could (each found by
# its id: see records.TIME_OUT_JOBS).
FAILED_AT = """
SELECT j.id FROM json_each(?1) e CROSS JOIN jobs j ON j.id = e.value WHERE j.status = 'failed' AND j.completed_at = ?2
"""
# Claims the quiet jobs, each in the same statement that finds it: a submitted one's poll chain
# moves to its next link (as start_polling's ADVANCE_POLL), a queued one is postponed a quiet
# period. The rows returned are this sweep's to send messages for.
CLAIM_QUIET = f"""
UPDATE jobs SET next_check_at = ?2,
                poll_seq = CASE WHEN status = 'submitted' THEN poll_seq + 1 ELSE poll_seq END,
                updated_at = CASE WHEN status = 'submitted' THEN ?1 ELSE updated_at END
WHERE seq IN (SELECT seq FROM jobs WHERE status IN {OPEN_SQL} AND next_check_at < ?1 LIMIT ?3)
RETURNING id, status, poll_seq, submit_unknown_at
"""


@dataclass(frozen=True)
class SweepReport:
    timed_out: int
    polled: int
    resubmitted: int
    callbacks_requeued: int = 0
    keys_expired: int = 0
    reconciled: int = 0
    """Queued jobs whose submit outcome was unknown, sent to be reconciled with their provider."""
    thumbnails_requested: int = 0
    """Thumbnails asked for again: retries, lost messages, artifacts from before thumbnails."""


async def sweep(deps: Deps) -> SweepReport:
    moment = deps.clock()
    now = isoformat(moment)
    timed_out = await _time_out(deps, now)

    polled = resubmitted = reconciled = 0
    later = isoformat(moment + timedelta(seconds=deps.settings.quiet_seconds))
    messages: list[dict[str, Any]] = []
    for row in await deps.db.all(CLAIM_QUIET, [now, later, SWEEP_BATCH]):
        if row["status"] == JobStatus.SUBMITTED:
            messages.append({"type": "poll", "job_id": row["id"], "seq": row["poll_seq"]})
            polled += 1
        elif row["submit_unknown_at"] is not None:
            messages.append({"type": "reconcile", "job_id": row["id"]})
            reconciled += 1
        else:
            messages.append({"type": "submit", "job_id": row["id"]})
            resubmitted += 1
    await _send_all(deps, messages)

    stuck = await callback_outbox.claim_stuck(deps, SWEEP_BATCH)
    await _send_all(deps, stuck)
    thumbnail_requests = await thumbnails.claim_due(deps, THUMBNAIL_BATCH)
    await _send_all(deps, thumbnail_requests)
    return SweepReport(
        timed_out=timed_out,
        polled=polled,
        resubmitted=resubmitted,
        reconciled=reconciled,
        callbacks_requeued=len(stuck),
        thumbnails_requested=len(thumbnail_requests),
        keys_expired=await idempotency.sweep_expired(deps.db, now, SWEEP_BATCH),
    )


async def _time_out(deps: Deps, now: str) -> int:
    """Fail the jobs past their deadline and queue their ``job.failed`` callbacks. A job that
    finished between the read and the write is left as it is (the write is guarded)."""
    job_ids = [row["id"] for row in await deps.db.all(OVERDUE, [now, SWEEP_BATCH])]
    if not job_ids:
        return 0
    timed_out = await records.time_out_jobs(deps.db, job_ids, now)
    if timed_out:
        # Each job changes once: when all changed, they are the ones; otherwise ask which.
        failed = job_ids if timed_out == len(job_ids) else await _failed_at(deps, job_ids, now)
        for job_id in failed:
            deps.log.warning("job %s timed out", job_id)
        # Also the events of jobs that ended by another path meanwhile: whoever claims an event
        # first sends it, so each is sent once.
        await _send_all(deps, await callback_outbox.claim_new_of(deps, job_ids))
    return timed_out


async def _failed_at(deps: Deps, job_ids: list[str], now: str) -> list[str]:
    return [row["id"] for row in await deps.db.all(FAILED_AT, [json.dumps(job_ids), now])]


async def _send_all(deps: Deps, bodies: Sequence[Mapping[str, Any]]) -> None:
    """Send the messages ``MAX_SEND_BATCH`` at a time (one round trip each on Queues)."""
    for start in range(0, len(bodies), MAX_SEND_BATCH):
        await deps.queue.send_batch(bodies[start : start + MAX_SEND_BATCH])
