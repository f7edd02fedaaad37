"""The sweeper, run by cron on the Worker and on a timer locally: it fails jobs past their
deadline, asks the provider about jobs that have gone quiet (lost webhooks), resubmits jobs
whose submission retry was lost, reconciles jobs whose submit outcome was unknown, re-queues
callbacks whose message was lost, and forgets idempotency keys past their 24 hours. All of it
goes through the same queue and code paths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ig.deps import Deps, isoformat
from ig.job_states import OPEN_SQL, JobStatus
from ig.jobs import callback_outbox, idempotency, records
from ig.jobs.submission import start_polling

SWEEP_BATCH = 100

OVERDUE = f"""
SELECT id, timeout_seconds FROM jobs WHERE status IN {OPEN_SQL} AND deadline_at < ?1 LIMIT ?2
"""
DUE_FOR_CHECK = f"""
SELECT id, status, submit_unknown_at FROM jobs WHERE status IN {OPEN_SQL} AND next_check_at < ?1 LIMIT ?2
"""
POSTPONE_CHECK = "UPDATE jobs SET next_check_at = ?2 WHERE id = ?1 AND status = 'queued'"


@dataclass(frozen=True)
class SweepReport:
    timed_out: int
    polled: int
    resubmitted: int
    callbacks_requeued: int = 0
    keys_expired: int = 0
    reconciled: int = 0
    """Queued jobs whose submit outcome was unknown, sent to be reconciled with their provider."""


async def sweep(deps: Deps) -> SweepReport:
    moment = deps.clock()
    now = isoformat(moment)
    timed_out = 0
    for row in await deps.db.all(OVERDUE, [now, SWEEP_BATCH]):
        error = {"code": "timeout", "message": f"no result within {row['timeout_seconds']} seconds"}
        if await records.fail_job(deps.db, row["id"], error, now):
            timed_out += 1
            deps.log.warning("job %s timed out", row["id"])
            await callback_outbox.enqueue_new(deps, row["id"])
    polled = resubmitted = reconciled = 0
    for row in await deps.db.all(DUE_FOR_CHECK, [now, SWEEP_BATCH]):
        if row["status"] == JobStatus.SUBMITTED:
            await start_polling(deps, row["id"], 0)
            polled += 1
        else:
            later = isoformat(moment + timedelta(seconds=deps.settings.quiet_seconds))
            await deps.db.run(POSTPONE_CHECK, [row["id"], later])
            if row["submit_unknown_at"] is not None:
                await deps.queue.send({"type": "reconcile", "job_id": row["id"]})
                reconciled += 1
            else:
                await deps.queue.send({"type": "submit", "job_id": row["id"]})
                resubmitted += 1
    return SweepReport(
        timed_out=timed_out,
        polled=polled,
        resubmitted=resubmitted,
        reconciled=reconciled,
        callbacks_requeued=await callback_outbox.requeue_stuck(deps, SWEEP_BATCH),
        keys_expired=await idempotency.sweep_expired(deps.db, now),
    )
