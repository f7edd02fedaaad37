"""A circuit per provider, kept in D1 so every invocation sees the same one: repeated transient
failures (429, 5xx, no connection) within a window open it; while open, jobs that can fail over
leave the provider at once without trying it, and jobs with nowhere else to go keep retrying with
their own backoff (each retry a probe); after a pause one submit is let through as a probe, and
any answer from the provider closes the circuit (a failure reopens it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ig.deps import Deps, isoformat
from ig.errors import ProviderErrorInfo
from ig.ports import Database

RECORD_FAILURE = """
INSERT INTO provider_circuits (provider, failures, window_start, last_error) VALUES (?1, 1, ?2, ?4)
ON CONFLICT (provider) DO UPDATE SET
    failures = CASE WHEN window_start < ?3 THEN 1 ELSE failures + 1 END,
    window_start = CASE WHEN window_start < ?3 THEN ?2 ELSE window_start END,
    last_error = ?4,
    probe_at = NULL,
    opened_at = CASE
        WHEN opened_at IS NOT NULL THEN ?2  -- a failed probe reopens it for another pause
        WHEN (CASE WHEN window_start < ?3 THEN 1 ELSE failures + 1 END) >= ?5 THEN ?2
        ELSE NULL END
"""
CLOSE = "UPDATE provider_circuits SET failures = 0, opened_at = NULL, probe_at = NULL WHERE provider = ?1"
# One submit may probe an open circuit once its pause is over (and again if a probe goes unanswered).
CLAIM_PROBE = """
UPDATE provider_circuits SET probe_at = ?2
WHERE provider = ?1 AND opened_at IS NOT NULL AND opened_at < ?3 AND (probe_at IS NULL OR probe_at < ?3)
"""
SELECT_CIRCUIT = "SELECT * FROM provider_circuits WHERE provider = ?1"
SELECT_ALL = "SELECT * FROM provider_circuits"


@dataclass(frozen=True)
class Gate:
    open: bool
    """Shut: no submit may go to the provider now."""
    retry_in: int = 0
    troubled: bool = False
    """The provider has failures on record: a success should reset them."""


async def gate(deps: Deps, provider: str) -> Gate:
    """Whether a submit to ``provider`` may go now (closed, or the probe of an open circuit)."""
    row = await deps.db.first(SELECT_CIRCUIT, [provider])
    if row is None or row["opened_at"] is None:
        return Gate(False, troubled=row is not None and row["failures"] > 0)
    moment = deps.clock()
    pause_over = isoformat(moment - timedelta(seconds=deps.settings.circuit_open_seconds))
    if await deps.db.run(CLAIM_PROBE, [provider, isoformat(moment), pause_over]):
        deps.log.info("provider %s: circuit open; letting one submit through as a probe", provider)
        return Gate(False, troubled=True)
    return Gate(True, retry_in=deps.settings.circuit_open_seconds, troubled=True)


async def failed(deps: Deps, provider: str, error: ProviderErrorInfo) -> None:
    moment = deps.clock()
    window_start = isoformat(moment - timedelta(seconds=deps.settings.circuit_window_seconds))
    params = [provider, isoformat(moment), window_start, json.dumps(error.to_json()), deps.settings.circuit_failures]
    await deps.db.run(RECORD_FAILURE, params)


async def succeeded(deps: Deps, provider: str) -> None:
    await deps.db.run(CLOSE, [provider])


async def states(db: Database) -> dict[str, dict[str, Any]]:
    """Each provider's circuit as ``GET /v1/providers`` shows it."""
    found = {}
    for row in await db.all(SELECT_ALL):
        state = "closed" if row["opened_at"] is None else ("probing" if row["probe_at"] else "open")
        found[row["provider"]] = {
            "state": state,
            "failures": row["failures"],
            "opened_at": row["opened_at"],
            "last_error": json.loads(row["last_error"]) if row["last_error"] else None,
        }
    return found
