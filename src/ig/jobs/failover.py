"""Failing over: a job that named several providers moves to the next one, only where that cannot
bill twice. It moves when its provider refused the request for good (auth, credits, the model
unavailable; never a refusal of the consumer's parameters, which would fail everywhere), when it
kept failing transiently before accepting, or, if the job asked for it (``failover_after_accept``),
when the provider failed it after accepting. Never from an unknown submit outcome."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ig.deps import Deps, isoformat
from ig.errors import ProviderErrorInfo
from ig.jobs import records
from ig.jobs.provider_requests import redacted_webhook_url
from ig.ports import Row
from ig.providers.registry import provider_for

TRANSIENT_BEFORE_FAILOVER = 3
"""Submits that failed transiently (429, 5xx, no connection) before a job with another provider
left moves on, rather than retrying the same one with backoff."""


def has_next(job: Row) -> bool:
    return bool(json.loads(job["candidates"] or "[]"))


async def move_on(deps: Deps, job: Row, outcome: str, error: ProviderErrorInfo) -> bool:
    """Move the job to its next provider, recording how the one it leaves ended (``outcome``:
    ``refused``, ``unavailable``, ``failed``). False when it has none left, or already moved."""
    candidates: list[dict[str, Any]] = json.loads(job["candidates"] or "[]")
    if not candidates:
        return False
    following, rest = candidates[0], candidates[1:]
    provider = provider_for(following["provider"], deps)
    moment = deps.clock()
    now = isoformat(moment)
    token = deps.new_token() if provider.capabilities.webhooks and deps.settings.webhooks_enabled else None
    request = provider.build_request(
        job_id=job["id"],
        task=following["task"],
        model=following["model"],
        params=following["params"],
        webhook_url=redacted_webhook_url(deps, provider.name, job["id"]) if token else None,
        timeout_seconds=job["timeout_seconds"] or 1800,
    )
    attempt = {
        "provider": job["provider"],
        "model": job["model"],
        "provider_task_id": job["provider_task_id"] or None,
        "outcome": outcome,
        "error": error.to_json(),
        "ended_at": now,
    }
    params = [
        job["id"],
        following["provider"],
        following["model"],
        following["task"],
        json.dumps(following["params"]),
        json.dumps(request),
        token,
        provider.expected_results(following["task"], following["params"]),
        json.dumps(error.to_json()),
        json.dumps(rest),
        json.dumps(attempt),
        isoformat(moment + timedelta(seconds=deps.settings.quiet_seconds)),
        now,
        job["provider"],
    ]
    if not await deps.db.run(records.MOVE_ON, params):
        return False
    deps.log.warning(
        "job %s: %s %s (%s); moving on to %s", job["id"], job["provider"], outcome, error.code, following["provider"]
    )
    return True
