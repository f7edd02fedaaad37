"""Submitting a job: validate, record it first, then send the provider one request. A submit whose
outcome is unknown (the connection failed after the request may have arrived) is sent again only
where the provider makes that safe (Runware: the same taskUUID); elsewhere the job waits for the
sweeper to reconcile it with the provider, so no request is ever billed twice."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ig import logs
from ig.deps import Deps, isoformat
from ig.errors import ProviderErrorInfo, ProviderRejected, ValidationFailed
from ig.job_states import is_terminal
from ig.jobs import callback_outbox, circuits, failover, idempotency, limits, records
from ig.jobs.provider_events import INLINE_BODY_LIMIT, one_chunk, record_reply
from ig.jobs.provider_requests import redacted_webhook_url, request_for
from ig.jobs.resolution import resolve_job
from ig.library import lineage
from ig.ports import Row, Statement
from ig.providers.base import Outcome
from ig.providers.registry import provider_for


def backoff_seconds(attempt: int, retry_after: float | None = None, cap: int = 300) -> int:
    """Exponential backoff with jitter (2, 4, 8 ... seconds, capped), never sooner than Retry-After."""
    base = min(cap, 2 ** max(1, attempt))
    delay = base * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(1, round(delay))


@dataclass(frozen=True)
class Submitted:
    job_id: str
    replayed: bool = False
    """An earlier request with the same Idempotency-Key made this job; nothing new was sent."""


async def submit_job(deps: Deps, data: Any, request_text: str, key: idempotency.Key | None = None) -> Submitted:
    """``POST /v1/jobs``: resolve and validate (nothing is recorded or spent on bad input),
    record the job, send the task. ``data`` is the decoded body, ``request_text`` the body as
    received (kept for provenance). Raises ``ValidationFailed`` or ``ProviderRejected``."""
    body_digest = idempotency.digest(data) if key else ""
    if key:
        found = await idempotency.earlier(deps.db, key, body_digest, deps.now())
        if found:
            return Submitted(found["job_id"], replayed=True)
    job = await resolve_job(deps.db, deps.settings, data)
    provider = provider_for(job.provider, deps)
    job_id = deps.new_id()
    logs.working_on(job_id)
    moment = deps.clock()
    now = isoformat(moment)
    token = deps.new_token() if provider.capabilities.webhooks and deps.settings.webhooks_enabled else None
    # Stored with the webhook token redacted; ``request_for`` puts it back for each send.
    stored_request = provider.build_request(
        job_id=job_id,
        task=job.task,
        model=job.model,
        params=job.params,
        webhook_url=redacted_webhook_url(deps, provider.name, job_id) if token else None,
        timeout_seconds=job.timeout_seconds,
    )
    row = {
        "id": job_id,
        "provider": job.provider,
        "task": job.task,
        "model": job.model,
        "params": job.params,
        "metadata": job.metadata,
        "request": request_text,
        "provider_request": stored_request,
        "search_text": provider.searchable_text(job.params),
        "webhook_token": token,
        "expected_results": provider.expected_results(job.task, job.params),
        "created_at": now,
        "deadline_at": isoformat(moment + timedelta(seconds=job.timeout_seconds)),
        "next_check_at": isoformat(moment + timedelta(seconds=deps.settings.quiet_seconds)),
        "model_alias": job.model_alias,
        "preset": job.preset,
        "preset_version": job.preset_version,
        "timeout_seconds": job.timeout_seconds,
        "callback_url": job.callback_url,
        "callback_events": job.callback_events,
        "candidates": [c.to_json() for c in job.candidates],
        "attempts": [
            {"provider": i["provider"], "outcome": "ineligible", "reason": i["reason"]} for i in job.ineligible
        ],
        "failover_after_accept": job.failover_after_accept,
    }
    inputs = await lineage.check_references(deps, job_id, job.params)
    raw_request = request_text.encode("utf-8")
    if len(raw_request) > INLINE_BODY_LIMIT:  # kept beside the row, as large provider bodies are
        row["request"], row["request_blob_key"] = "", f"requests/{job_id}.json"
        await deps.blobs.put(
            row["request_blob_key"],
            one_chunk(raw_request),
            content_type="application/json",
            metadata={"job_id": job_id},
        )
    statements = [*records.insert_job(row, job.tags), *inputs]
    try:
        found = await _record(deps, statements, key, body_digest, job_id, moment)
    except BaseException:
        await _drop_kept_request(deps, row)
        raise
    if found:
        await _drop_kept_request(deps, row)  # the racing request's job is the one that stays
        return Submitted(found["job_id"], replayed=True)
    recorded = await records.load_job(deps.db, job_id)
    assert recorded is not None
    await attempt_submit(deps, recorded, raise_rejection=True)
    return Submitted(job_id)


async def _record(
    deps: Deps, statements: list[Statement], key: idempotency.Key | None, body_digest: str, job_id: str, moment: Any
) -> Row | None:
    """Write the job; with a key, None when this request claimed it, or the earlier request's
    record when a racing request made the job first (then nothing was written)."""
    if key:
        return await idempotency.claim_with(deps.db, key, body_digest, job_id, moment, statements)
    await deps.db.batch(statements)
    return None


async def _drop_kept_request(deps: Deps, row: dict[str, Any]) -> None:
    if row.get("request_blob_key"):
        await deps.blobs.delete(row["request_blob_key"])


async def attempt_submit(deps: Deps, job: Row, *, raise_rejection: bool = False) -> Outcome:
    """Send the job's request once and record what happened. Transient failures schedule a retry
    through the queue; an unknown outcome does too where resending is safe, and otherwise waits
    for reconciliation; rejections fail the job (and, for a fresh API call, reach the caller)."""
    provider = provider_for(job["provider"], deps)
    gate = await circuits.gate(deps, job["provider"])
    if gate.open and failover.has_next(job):
        # Somewhere else to go: leave now. A job with nowhere else keeps its own backoff, each
        # retry one more probe of the provider.
        info = ProviderErrorInfo("circuit_open", f"{job['provider']} kept failing: its circuit is open")
        if await failover.move_on(deps, job, "unavailable", info):
            return await _submit_moved(deps, job["id"], raise_rejection)
    if not await _claim_send(deps, job, provider.capabilities.safe_resubmission):
        return Outcome.TRANSIENT  # another invocation is sending it (or its send must be reconciled)
    room = await limits.take_room(deps, job)
    if not room.granted:
        return await _wait(deps, job, room.retry_in)
    began = isoformat(deps.clock())
    exchange = await provider.submit(await lineage.resolve(deps, request_for(job)))
    now_moment = deps.clock()
    now = isoformat(now_moment)
    if exchange.reply.read_whole:
        await record_reply(deps, job["id"], "submit", exchange.reply)
    outcome, info = exchange.outcome, exchange.error
    if outcome in (Outcome.TRANSIENT, Outcome.UNKNOWN) and info is not None:
        await circuits.failed(deps, job["provider"], info)
    elif gate.troubled:
        await circuits.succeeded(deps, job["provider"])  # it answered: the trouble is over
    if outcome is Outcome.ACCEPTED:
        quiet = isoformat(now_moment + timedelta(seconds=deps.settings.quiet_seconds))
        handle = json.dumps(exchange.handle) if exchange.handle is not None else None
        await deps.db.run(records.MARK_SUBMITTED, [job["id"], now, quiet, exchange.provider_id or "", handle])
        if not (provider.capabilities.webhooks and job["webhook_token"]):
            await start_polling(deps, job["id"], provider.first_poll_delay)
        return outcome
    assert info is not None
    if outcome is Outcome.UNKNOWN and not provider.capabilities.safe_resubmission:
        # Sending again could run (and bill) the request twice: the sweeper asks the provider
        # first, once it has had time to list the request (a webhook naming it adopts it sooner).
        deps.log.warning("job %s: submit outcome unknown (%s); reconciling before any resend", job["id"], info.code)
        later = isoformat(now_moment + timedelta(seconds=deps.settings.quiet_seconds))
        await deps.db.run(records.NOTE_SUBMIT_UNKNOWN, [job["id"], json.dumps(info.to_json()), now, later, began])
        return outcome
    if outcome is Outcome.TRANSIENT and job["submit_attempts"] + 1 >= failover.TRANSIENT_BEFORE_FAILOVER:
        if await failover.move_on(deps, job, "unavailable", info):
            return await _submit_moved(deps, job["id"], raise_rejection)
    if outcome in (Outcome.TRANSIENT, Outcome.UNKNOWN):
        attempt = job["submit_attempts"] + 1
        delay = backoff_seconds(attempt, info.retry_after)
        deps.log.warning("job %s: submit attempt %d failed (%s), retrying in %ds", job["id"], attempt, info.code, delay)
        next_check = isoformat(now_moment + timedelta(seconds=delay + deps.settings.quiet_seconds))
        await deps.db.run(records.NOTE_SUBMIT_RETRY, [job["id"], json.dumps(info.to_json()), now, next_check])
        await deps.queue.send({"type": "submit", "job_id": job["id"]}, delay_seconds=delay)
        return outcome
    fields = provider.field_errors(info)
    # A refusal of the consumer's parameters would fail everywhere; any other refusal moves on.
    if fields is None and await failover.move_on(deps, job, "refused", info):
        return await _submit_moved(deps, job["id"], raise_rejection)
    await records.fail_job(deps.db, job["id"], info.to_json(), now)
    await callback_outbox.enqueue_new(deps, job["id"])
    if raise_rejection:
        if fields:
            raise ValidationFailed(fields, job_id=job["id"], provider_error=info.to_json())
        raise ProviderRejected(info, job["id"])
    return outcome


SEND_LEASE_SECONDS = 180
"""Longer than any send takes (the provider call times out after 60 s): an older lease's
invocation died mid-send."""


async def _claim_send(deps: Deps, job: Row, safe_to_resend: bool) -> bool:
    moment = deps.clock()
    stale = isoformat(moment - timedelta(seconds=SEND_LEASE_SECONDS))
    params = [job["id"], isoformat(moment), stale, int(safe_to_resend), job["provider"]]
    if await deps.db.run(records.CLAIM_SEND, params):
        return True
    if not safe_to_resend and await deps.db.run(records.STALE_SEND_UNKNOWN, [job["id"], isoformat(moment), stale]):
        deps.log.warning("job %s: a send died midway; its outcome is unknown and will be reconciled", job["id"])
    return False


async def _wait(deps: Deps, job: Row, seconds: int) -> Outcome:
    """The job cannot be sent now (its provider's circuit is open, or it is at its limits): it
    stays queued, its deadline still running, and asks again."""
    later = isoformat(deps.clock() + timedelta(seconds=seconds + deps.settings.quiet_seconds))
    await deps.db.run(records.NOTE_WAITING, [job["id"], isoformat(deps.clock()), later])
    await deps.queue.send({"type": "submit", "job_id": job["id"]}, delay_seconds=seconds)
    return Outcome.TRANSIENT


async def _submit_moved(deps: Deps, job_id: str, raise_rejection: bool) -> Outcome:
    """Submit a job that has just moved to its next provider."""
    moved = await records.load_job(deps.db, job_id)
    assert moved is not None
    return await attempt_submit(deps, moved, raise_rejection=raise_rejection)


async def adopt_request(deps: Deps, job_id: str, provider_id: str, handle: dict[str, Any] | None) -> bool:
    """A queued job whose submit outcome was unknown takes the provider's request it turned out to
    have (a webhook named it, or reconciliation found it): submitted, with that id. False when
    the job had already moved on."""
    moment = deps.clock()
    later = isoformat(moment + timedelta(seconds=deps.settings.quiet_seconds))
    params = [job_id, isoformat(moment), later, provider_id, json.dumps(handle) if handle is not None else None]
    adopted = await deps.db.run(records.ADOPT_REQUEST, params) == 1
    if adopted:
        deps.log.info("job %s: adopted the provider's request %s", job_id, provider_id)
    return adopted


async def start_polling(deps: Deps, job_id: str, delay: int) -> None:
    """Begin (or restart) the getResponse chain: claim the next sequence number, then enqueue it."""
    job = await records.load_job(deps.db, job_id)
    if job is None or is_terminal(job):
        return
    seq = job["poll_seq"] + 1
    moment = deps.clock()
    next_check = isoformat(moment + timedelta(seconds=delay + deps.settings.quiet_seconds))
    claimed = await deps.db.run(records.ADVANCE_POLL, [job_id, job["poll_seq"], seq, next_check, isoformat(moment)])
    if claimed:
        await deps.queue.send({"type": "poll", "job_id": job_id, "seq": seq}, delay_seconds=delay)
