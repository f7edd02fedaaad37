"""Per-provider limits (``IG_PROVIDER_LIMITS``): a job takes one of its provider's concurrency
slots before its first submit and keeps it until it ends, and each submit takes one of the
provider's requests in a sliding window of its rate. Both are single guarded SQL writes, so any
number of concurrent invocations (Worker isolates, local workers) can never exceed a limit; slots
go to the oldest waiting job first. A job that finds no room stays queued and is asked again."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ig.deps import Deps
from ig.job_states import OPEN_SQL
from ig.ports import Row

CLAIM_SLOT = f"""
UPDATE jobs SET slot_at = ?2
WHERE id = ?1 AND status = 'queued' AND slot_at IS NULL
  AND (SELECT count(*) FROM jobs h WHERE h.provider = ?3 AND h.slot_at IS NOT NULL AND h.status IN {OPEN_SQL}) < ?4
  AND NOT EXISTS (
      SELECT 1 FROM jobs w
      WHERE w.provider = ?3 AND w.status = 'queued' AND w.slot_at IS NULL
        AND w.seq < (SELECT seq FROM jobs WHERE id = ?1))
"""
TAKE_REQUEST = """
INSERT INTO provider_sends (provider, at, job_id)
SELECT ?1, ?2, ?5 WHERE (SELECT count(*) FROM provider_sends WHERE provider = ?1 AND at > ?3) < ?4
"""
NEXT_ROOM = "SELECT min(at) AS at FROM provider_sends WHERE provider = ?1 AND at > ?2"
FORGET_SENDS = "DELETE FROM provider_sends WHERE provider = ?1 AND at <= ?2"
OLDEST_WAITING = """
SELECT id FROM jobs WHERE provider = ?1 AND status = 'queued' AND slot_at IS NULL ORDER BY seq LIMIT ?2
"""
WAIT_SECONDS = 2
"""How soon a job that found no room asks again (it is also woken as soon as a slot frees)."""


@dataclass(frozen=True)
class Room:
    granted: bool
    retry_in: int = 0
    reason: str = ""


async def take_room(deps: Deps, job: Row) -> Room:
    """A concurrency slot (once per job) and a request of the rate window, or how long to wait."""
    limit = deps.settings.provider_limits.get(job["provider"])
    if limit is None:
        return Room(True)
    if limit.concurrency is not None and job["slot_at"] is None:
        params = [job["id"], deps.now(), job["provider"], limit.concurrency]
        if not await deps.db.run(CLAIM_SLOT, params):
            return Room(False, WAIT_SECONDS, "concurrency")
    if limit.rate is not None:
        count, seconds = limit.rate
        now = deps.clock().timestamp()
        # A sliding window: never more than ``count`` submits in any ``seconds``, not just per
        # calendar window (which lets twice as many through around a boundary).
        if not await deps.db.run(TAKE_REQUEST, [job["provider"], now, now - seconds, count, job["id"]]):
            oldest = await deps.db.first(NEXT_ROOM, [job["provider"], now - seconds])
            free_at = (oldest["at"] if oldest and oldest["at"] is not None else now) + seconds
            return Room(False, max(1, math.ceil(free_at - now)), "rate")
        # Kept a while longer than the window needs: a short record of what was sent when.
        await deps.db.run(FORGET_SENDS, [job["provider"], now - max(10 * seconds, 60)])
    return Room(True)


async def wake_waiting(deps: Deps, provider: str) -> None:
    """A slot may have freed: ask the oldest jobs waiting for one to try now."""
    limit = deps.settings.provider_limits.get(provider)
    if limit is None or limit.concurrency is None:
        return
    for row in await deps.db.all(OLDEST_WAITING, [provider, limit.concurrency]):
        await deps.queue.send({"type": "submit", "job_id": row["id"]})
