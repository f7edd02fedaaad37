"""The local queue keeps Cloudflare Queues' promises: at-least-once, attempts counted from 1,
retry with a delay, dead-lettering after max_retries, redelivery after a crash."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from ig.adapters.local.queue import SqliteQueue
from ig.completion.consumer import Ack, Retry
from ig.settings import DEAD_LETTER_QUEUE, JOBS_QUEUE


def _fast_forward(path):
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET visible_at = 0")
    conn.commit()
    conn.close()


async def test_retries_count_attempts_then_dead_letter(tmp_path):
    path = tmp_path / "q.sqlite3"
    queue = SqliteQueue(path, max_retries=2)
    await queue.send({"job_id": "j", "type": "poll"})
    seen: list[tuple[str, int]] = []

    async def always_retry(name, body, attempts):
        seen.append((name, attempts))
        return Retry(60) if name == JOBS_QUEUE else Ack()

    for _ in range(5):
        _fast_forward(path)
        await queue.consume_once(always_retry)
    assert seen == [(JOBS_QUEUE, 1), (JOBS_QUEUE, 2), (JOBS_QUEUE, 3), (DEAD_LETTER_QUEUE, 1)]
    assert queue.pending() == 0


async def test_delays_hold_messages_back(tmp_path):
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    await queue.send({"job_id": "later"}, delay_seconds=3600)
    await queue.send({"job_id": "now"})
    bodies = []

    async def record(name, body, attempts):
        bodies.append(body["job_id"])
        return Ack()

    assert await queue.consume_once(record) == 1
    assert bodies == ["now"] and queue.pending() == 1


async def test_a_crash_mid_batch_redelivers_what_was_not_settled(tmp_path):
    path = tmp_path / "q.sqlite3"
    first = SqliteQueue(path)
    for i in range(3):
        await first.send({"job_id": str(i)})
    first._claim(3)  # leased by a process that then dies without settling
    first.close()

    second = SqliteQueue(path)
    assert second.release_leases() == 3
    delivered = []

    async def record(name, body, attempts):
        delivered.append((body["job_id"], attempts))
        return Ack()

    await second.consume_once(record)
    assert sorted(delivered) == [("0", 2), ("1", 2), ("2", 2)]
    assert second.pending() == 0


class WorkerCrash(BaseException):
    """The consumer dies mid-batch (KeyboardInterrupt, cancellation): not an error it handles."""


async def test_a_batch_that_dies_midway_releases_what_it_did_not_settle(tmp_path):
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    for i in range(5):
        await queue.send({"job_id": str(i)})
    delivered: list[tuple[str, int]] = []

    async def crash_on_third(name, body, attempts):
        delivered.append((body["job_id"], attempts))
        if len(delivered) == 3:
            raise WorkerCrash()
        return Ack()

    with pytest.raises(WorkerCrash):
        await queue.consume_once(crash_on_third)
    assert queue._conn.execute("SELECT count(*) FROM messages WHERE leased = 1").fetchone()[0] == 0
    assert await queue.consume_once(crash_on_third) == 3  # the same process takes them up again
    assert delivered == [("0", 1), ("1", 1), ("2", 1), ("2", 2), ("3", 2), ("4", 2)]
    assert queue.pending() == 0


async def test_the_consumer_outlives_a_batch_that_fails_to_settle(tmp_path):
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    await queue.send({"job_id": "a"})
    await queue.send({"job_id": "b"})
    delivered: list[tuple[str, int]] = []
    stop = asyncio.Event()

    async def bad_decision_once(name, body, attempts):
        delivered.append((body["job_id"], attempts))
        if len(delivered) == 1:
            return Retry("soon")  # settling this raises inside the queue, not in the handler
        if len(delivered) == 3:
            stop.set()
        return Ack()

    await asyncio.wait_for(queue.run(bad_decision_once, stop, idle_seconds=0.05), timeout=5)
    assert delivered == [("a", 1), ("a", 2), ("b", 2)]
    assert queue.pending() == 0


async def test_a_killer_message_is_dead_lettered_and_dead_letters_come_one_per_batch(tmp_path):
    """A message that kills every batch it is in takes its batch-mates to the dead-letter queue
    (deliveries that die count as failures, as on Cloudflare); there each message is delivered
    alone, so the healthy ones are handled, and the killer is dropped after its own retries."""
    queue = SqliteQueue(tmp_path / "q.sqlite3", max_retries=1)
    for name in ("killer", "healthy-1", "healthy-2"):
        await queue.send({"job_id": name})
    batches: list[list[tuple[str, str, int]]] = []

    async def handler(name, body, attempts):
        batches[-1].append((name, body["job_id"], attempts))
        if body["job_id"] == "killer":
            raise WorkerCrash()  # the whole batch dies, as an isolate out of memory does
        return Ack()

    for _ in range(10):
        batches.append([])
        try:
            if not await queue.consume_once(handler):
                break
        except WorkerCrash:
            pass
    assert [b for b in batches if b] == [
        [(JOBS_QUEUE, "killer", 1)],
        [(JOBS_QUEUE, "killer", 2)],
        [(DEAD_LETTER_QUEUE, "killer", 1)],
        [(DEAD_LETTER_QUEUE, "killer", 2)],
        [(DEAD_LETTER_QUEUE, "healthy-1", 1)],
        [(DEAD_LETTER_QUEUE, "healthy-2", 1)],
    ]
    assert queue.pending() == 0
