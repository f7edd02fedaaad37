"""``POST /v1/jobs/batch``: up to 50 jobs in one call, each submitted exactly as a single
``POST /v1/jobs`` would be, each answered on its own, so one bad item never sinks the rest."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ig.deps import Deps
from ig.errors import IgError
from ig.jobs import idempotency
from ig.jobs.submission import Submitted, submit_job

CONCURRENCY = 4
"""Submits in flight at once: Runware advises steady, low single-digit concurrency."""
log = logging.getLogger("ig")


async def submit_batch(deps: Deps, items: list[dict[str, Any]], key: str | None = None) -> list[Submitted | IgError]:
    """Each item's job, or the error that refused it, in request order. With an Idempotency-Key,
    the whole body is fingerprinted under the key (a different body is a 422) and each item is
    submitted under ``<key>#<index>``: a retried batch answers with the jobs already made and
    makes only the ones that were not."""
    if key is not None:
        await _claim_batch_key(deps, key, items)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int, item: Any) -> Submitted | IgError:
        async with gate:
            try:
                item_key = idempotency.Key("batch-item", f"{key}#{index}") if key is not None else None
                return await submit_job(deps, item, json.dumps(item, ensure_ascii=False), item_key)
            except IgError as error:
                return error
            except Exception:
                log.exception("batch item %d failed unexpectedly", index)
                return IgError("an unexpected error occurred; it has been logged")

    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))


async def _claim_batch_key(deps: Deps, key: str, items: list[dict[str, Any]]) -> None:
    """Record the whole body under the key; a 422 if the key was used with another body."""
    batch_key, body_digest = idempotency.Key("batch", key), idempotency.digest(items)
    if await idempotency.earlier(deps.db, batch_key, body_digest, deps.now()) is None:
        await idempotency.claim_with(deps.db, batch_key, body_digest, None, deps.clock(), [])
