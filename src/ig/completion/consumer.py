"""The completion consumer: one function that handles one queue message and says whether to
ack it or retry it later. Both runtimes (Cloudflare Queues, the local SQLite queue) call it per
message and apply the answer. Every message is safe to handle twice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ig import logs
from ig.completion import callbacks
from ig.completion.ingest import ingest
from ig.deps import Deps, isoformat
from ig.errors import MediaRefused, clipped
from ig.job_states import JobStatus, is_terminal
from ig.jobs import callback_outbox, limits, records
from ig.jobs.provider_events import event_body, load_event, mark_processed, record_reply
from ig.jobs.provider_requests import request_for
from ig.jobs.submission import adopt_request, attempt_submit, backoff_seconds, start_polling
from ig.library import thumbnails
from ig.ports import Row
from ig.providers.base import Outcome
from ig.providers.registry import provider_for
from ig.settings import DEAD_LETTER_QUEUE

POLL_DELAYS = (2, 3, 5, 8, 13, 20, 30)
"""Seconds between getResponse polls when there are no webhooks: quick first, then every 30 s."""


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Retry:
    delay_seconds: int


Decision = Ack | Retry


async def handle_message(deps: Deps, queue: str, body: Any, attempts: int) -> Decision:
    """Handle one message; never raises. Unexpected errors are logged with the job id, noted on
    the job (callback trouble never is: it lives in the delivery log), and the message is
    retried with backoff until the queue dead-letters it."""
    logs.working_on(body.get("job_id") if isinstance(body, dict) else None)
    if isinstance(body, dict) and body.get("type") == "thumbnail":
        return await _thumbnail(deps, queue, body, attempts)
    if not isinstance(body, dict) or not isinstance(body.get("job_id"), str):
        deps.log.error("dropping a malformed queue message: %r", body)
        return Ack()
    if queue == DEAD_LETTER_QUEUE:
        return await dead_letter(deps, body, attempts)
    job_id = body["job_id"]
    try:
        await _process(deps, body)
        return Ack()
    except Exception as exc:  # noqa: BLE001 - every failure is logged, recorded and retried
        deps.log.exception("job %s: %s message failed (attempt %d)", job_id, body.get("type"), attempts)
        if body.get("type") != "callback":
            error = {
                "code": "processing_error",
                "message": clipped(f"{type(exc).__name__}: {exc}"),
                "attempts": attempts,
            }
            try:
                await records.note_error(deps.db, job_id, error, deps.now())
            except Exception:  # noqa: BLE001 - the database itself may be what failed
                deps.log.exception("job %s: could not record the error", job_id)
        return Retry(backoff_seconds(attempts, cap=600))


async def _thumbnail(deps: Deps, queue: str, body: dict[str, Any], attempts: int) -> Decision:
    """A thumbnail message (an upload's has no job): its failures are the artifact's, recorded on
    it, never the job's. One that reaches the dead-letter queue is dropped: the sweeper asks again
    when the thumbnail is due."""
    if queue == DEAD_LETTER_QUEUE:
        return Ack()
    try:
        await thumbnails.make(deps, str(body.get("artifact_id")))
        return Ack()
    except Exception:  # noqa: BLE001 - the database or blob store failed: retried with backoff
        deps.log.exception("job %s: thumbnail of artifact %s failed", body.get("job_id"), body.get("artifact_id"))
        return Retry(backoff_seconds(attempts, cap=600))


async def _process(deps: Deps, body: dict[str, Any]) -> None:
    """What a message asks for, done once; raises what it could not do. A refused media host
    fails the job here, as retrying cannot change the answer."""
    job_id = body["job_id"]
    kind = body.get("type")
    try:
        if kind == "submit":
            await resubmit(deps, job_id)
        elif kind == "event":
            await process_event(deps, job_id, str(body.get("event_id")))
        elif kind == "poll":
            await poll(deps, job_id, int(body.get("seq", 0)))
        elif kind == "reconcile":
            await reconcile(deps, job_id)
        elif kind == "callback":
            await callbacks.deliver(deps, str(body.get("callback_id")), int(body.get("attempt", 0)))
        else:
            deps.log.error("job %s: dropping a queue message of unknown type %r", job_id, kind)
            return
    except MediaRefused as exc:
        deps.log.warning("job %s: %s", job_id, exc.detail)
        await records.fail_job(deps.db, job_id, {"code": exc.code, "message": exc.detail}, deps.now())
    await callback_outbox.enqueue_new(deps, job_id)
    await _free_slot(deps, job_id)


async def _free_slot(deps: Deps, job_id: str) -> None:
    """A job that held a slot of a capped provider and has ended lets the next waiting one in."""
    job = await records.load_job(deps.db, job_id)
    if job is not None and job["slot_at"] is not None and is_terminal(job):
        await limits.wake_waiting(deps, job["provider"])


async def resubmit(deps: Deps, job_id: str) -> None:
    job = await records.load_job(deps.db, job_id)
    # A job whose last submit had an unknown outcome is reconciled, never resent from a stale message.
    if job is not None and job["status"] == JobStatus.QUEUED and job["submit_unknown_at"] is None:
        await attempt_submit(deps, job)


async def reconcile(deps: Deps, job_id: str) -> None:
    """Ask the provider about a request whose submit outcome was unknown: adopt the request it
    has, or submit once more when it provably has none. When it cannot tell, the sweeper asks
    again after another quiet period."""
    job = await records.load_job(deps.db, job_id)
    if job is None or job["status"] != JobStatus.QUEUED or job["submit_unknown_at"] is None:
        return
    provider = provider_for(job["provider"], deps)

    async def claimed(ids: list[str]) -> set[str]:
        rows = await deps.db.all(records.CLAIMED_IDS, [job["provider"], json.dumps(ids)])
        return {r["provider_task_id"] for r in rows}

    sent_after = datetime.fromisoformat(job["submit_unknown_at"].replace("Z", "+00:00"))
    found = await provider.reconcile(request_for(job), sent_after, claimed)
    now = deps.now()
    if found.provider_id:
        if await adopt_request(deps, job_id, found.provider_id, found.handle):
            await start_polling(deps, job_id, 0)
        return
    if found.absent:
        deps.log.info("job %s: the provider has no request from the unknown submit; submitting once more", job_id)
        await deps.db.run(records.CLEAR_SUBMIT_UNKNOWN, [job_id, now])
        job = await records.load_job(deps.db, job_id)
        if job is not None and job["status"] == JobStatus.QUEUED and job["submit_unknown_at"] is None:
            await attempt_submit(deps, job)
        return
    assert found.problem is not None
    deps.log.warning("job %s: could not reconcile yet: %s", job_id, found.problem.message)
    await records.note_error(deps.db, job_id, found.problem.to_json(), now)


async def process_event(deps: Deps, job_id: str, event_id: str) -> None:
    job = await records.load_job(deps.db, job_id)
    event = await load_event(deps.db, event_id)
    if job is None or event is None or event["job_id"] != job_id or event["processed_at"] is not None:
        return
    answer = provider_for(job["provider"], deps).parse(await event_body(deps, event), job_id)
    if answer.fetch_result:
        # The webhook announces the result; the provider is asked for it (and what it billed).
        # Unanswered, the message is retried: a finished job is not polled by the sweeper.
        if await ask_provider(deps, job) is Outcome.TRANSIENT:
            raise ConnectionError(f"could not fetch the result the {job['provider']} webhook announced")
    else:
        await ingest(deps, job, answer, event_id, event["received_at"])
    await _note_activity(deps, job_id)
    await mark_processed(deps, event_id)


async def poll(deps: Deps, job_id: str, seq: int) -> None:
    """One link of the poll chain. A message whose sequence number is not the job's current one
    is a duplicate or was superseded by the sweeper, and does nothing."""
    job = await records.load_job(deps.db, job_id)
    if job is None or is_terminal(job) or job["poll_seq"] != seq or not _has_request(job):
        return
    await ask_provider(deps, job)
    job = await records.load_job(deps.db, job_id)
    # Ended, or moved to another provider that has not accepted yet (it starts its own chain).
    if job is None or is_terminal(job) or not _has_request(job):
        return
    if not job["webhook_token"]:
        # Polling is how this job completes: keep the chain going.
        await start_polling(deps, job_id, POLL_DELAYS[min(seq, len(POLL_DELAYS) - 1)])


def _has_request(job: Row) -> bool:
    """Whether the provider has accepted the job's current request (there is something to ask about)."""
    return job["status"] != JobStatus.QUEUED or bool(job["provider_task_id"])


async def ask_provider(deps: Deps, job: Row) -> Outcome:
    """Ask the provider how the job's request stands, keep the answer, and ingest what it holds.
    Also for a finished job: results that come after a cancel or a timeout are stored, flagged."""
    provider = provider_for(job["provider"], deps)
    handle = json.loads(job["provider_handle"]) if job["provider_handle"] else None
    exchange = await provider.poll(request_for(job), job["provider_task_id"], handle)
    reply, outcome, info = exchange.reply, exchange.outcome, exchange.error
    if reply.unread_over is not None:
        # Asking again gets the same answer: its results are beyond reach, and the job says so.
        assert info is not None
        deps.log.error("job %s failed: %s", job["id"], info.message)
        await records.fail_job(deps.db, job["id"], info.to_json(), deps.now())
        return Outcome.REJECTED
    if reply.read_whole:
        event = await record_reply(deps, job["id"], "poll", reply)
        if outcome is not Outcome.TRANSIENT:
            await ingest(deps, job, provider.parse(reply.body, job["id"]), event["id"], event["received_at"])
            await mark_processed(deps, event["id"])
    if info is not None and outcome is Outcome.TRANSIENT:
        await records.note_error(deps.db, job["id"], info.to_json(), deps.now())
    return outcome


async def dead_letter(deps: Deps, body: dict[str, Any], attempts: int) -> Decision:
    """A message the main queue gave up on. A message that killed its whole invocation (out of
    memory, the CPU limit) took the healthy messages of its batch down with it, so each gets one
    last attempt here, alone (the dead-letter consumer takes batches of one). Only if that
    raises, or died too (a second delivery here), is the message's work failed: a callback is
    marked failed, any other step fails its job with the last error recorded."""
    job_id = body["job_id"]
    if attempts == 1:
        try:
            await _process(deps, body)
            deps.log.warning("job %s: dead-lettered %s message succeeded on its last attempt", job_id, body.get("type"))
            return Ack()
        except Exception:  # noqa: BLE001 - logged; the message's work is failed below
            deps.log.exception("job %s: dead-lettered %s message failed its last attempt", job_id, body.get("type"))
    try:
        if body.get("type") == "callback":
            await callbacks.give_up(deps, str(body.get("callback_id")), job_id)
        else:
            await _fail_dead_lettered(deps, body)
    except Exception:  # noqa: BLE001 - retried until the dead-letter queue drops it
        deps.log.exception("job %s: could not settle a dead-lettered %s message", job_id, body.get("type"))
        return Retry(backoff_seconds(attempts, cap=600))
    return Ack()


async def _fail_dead_lettered(deps: Deps, body: dict[str, Any]) -> None:
    job = await records.load_job(deps.db, body["job_id"])
    if job is None or is_terminal(job):
        return
    last = json.loads(job["last_error"]) if job["last_error"] else None
    error = {
        "code": "dead_lettered",
        "message": f"ig gave up on the job's {body.get('type')} message after repeated failures",
        "last_error": last,
    }
    await records.fail_job(deps.db, job["id"], error, deps.now())
    deps.log.error("job %s failed: %s message dead-lettered (%s)", job["id"], body.get("type"), last)
    await callback_outbox.enqueue_new(deps, job["id"])


async def _note_activity(deps: Deps, job_id: str) -> None:
    moment = deps.clock()
    next_check = isoformat(moment + timedelta(seconds=deps.settings.quiet_seconds))
    await deps.db.run(records.NOTE_ACTIVITY, [job_id, next_check, isoformat(moment)])
