"""Cancelling a job: it is marked ``cancelled`` at once, then its provider is asked to stop the
request where it can (fal removes a queued request, which is then never billed). Where it cannot
(Runware), the work runs on, and results that still come are stored, flagged."""

from __future__ import annotations

import json
from typing import Any

from ig.deps import Deps
from ig.job_states import is_terminal
from ig.jobs import records
from ig.jobs.provider_requests import request_for
from ig.providers.registry import provider_for


async def cancel(deps: Deps, job_id: str) -> dict[str, Any] | None:
    """Cancel an open job (a cancelled one again is a no-op; a finished one a ``Conflict``), and
    what its provider did about it: ``{"stopped", "requested", "detail"}``, or None when the
    provider was not asked (it cannot stop work, or the job was already cancelled)."""
    job = await records.load_job(deps.db, job_id)
    was_open = job is not None and not is_terminal(job)
    await records.cancel_job(deps.db, job_id, deps.now())
    if not was_open or job is None:
        return None
    provider = provider_for(job["provider"], deps)
    if not provider.capabilities.cancels or not job["provider_task_id"]:
        return None
    handle = json.loads(job["provider_handle"]) if job["provider_handle"] else None
    outcome = await provider.cancel(request_for(job), job["provider_task_id"], handle)
    deps.log.info("job %s: cancel at %s: %s", job_id, job["provider"], outcome.detail)
    return {"stopped": outcome.stopped, "requested": outcome.requested, "detail": outcome.detail}
