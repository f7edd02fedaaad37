"""The local queue keeps Cloudflare Queues' promises: at-least-once, attempts counted from 1,
retry with a delay, dead-lettering after max_retries, redelivery after a crash, and up to
max_concurrency batches at once, never one message in two."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from ig.adapters.local.queue import SqliteQueue
from ig.completion.consumer import Ack, Retry
from ig.settings import DEAD_LETTER_QUEUE, JOBS_QUEUE, Settings


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


async def _run_until(queue, handler, stop, **options):
    await asyncio.wait_for(queue.run(handler, stop, idle_seconds=0.05, **options), timeout=10)


async def test_up_to_max_concurrency_batches_are_handled_at_once_and_never_one_message_twice(tmp_path):
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    for i in range(7):
        await queue.send({"job_id": str(i)})
    stop = asyncio.Event()
    in_flight: set[str] = set()
    peak, delivered, three_at_once = 0, [], asyncio.Event()

    async def slow(name, body, attempts):
        nonlocal peak
        assert body["job_id"] not in in_flight  # no message is handled by two batches at once
        in_flight.add(body["job_id"])
        peak = max(peak, len(in_flight))
        if len(in_flight) == 3:
            three_at_once.set()
        await three_at_once.wait()  # a consumer handling one batch at a time never gets past here
        await asyncio.sleep(0.01)
        in_flight.discard(body["job_id"])
        delivered.append((body["job_id"], attempts))
        if len(delivered) == 7:
            stop.set()
        return Ack()

    await _run_until(queue, slow, stop, max_concurrency=3, batch_size=1)
    assert peak == 3
    assert sorted(delivered) == [(str(i), 1) for i in range(7)]
    assert queue.pending() == 0


async def test_a_failed_batch_among_concurrent_ones_is_delivered_again(tmp_path):
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    for name in ("a", "b", "c"):
        await queue.send({"job_id": name})
    stop = asyncio.Event()
    delivered: list[tuple[str, int]] = []
    both_started = asyncio.Event()

    async def fail_a_once(name, body, attempts):
        delivered.append((body["job_id"], attempts))
        if len(delivered) == 2:
            both_started.set()
        await both_started.wait()
        if body["job_id"] == "a" and attempts == 1:
            return Retry("soon")  # settling this raises inside the queue: the batch fails
        if sorted(delivered)[-1:] == [("c", 1)] and ("a", 2) in delivered:
            stop.set()
        return Ack()

    await _run_until(queue, fail_a_once, stop, max_concurrency=2, batch_size=1)
    assert sorted(delivered) == [("a", 1), ("a", 2), ("b", 1), ("c", 1)]
    assert queue.pending() == 0


async def test_a_batch_that_dies_takes_the_consumer_down_and_releases_the_others(tmp_path):
    """A batch dying (the process going down) ends the whole consumer with that exception; the
    batches beside it are cancelled, and every message not settled is released for redelivery."""
    path = tmp_path / "q.sqlite3"
    queue = SqliteQueue(path)
    for name in ("dies", "waits-1", "waits-2", "later"):
        await queue.send({"job_id": name})
    others_started = asyncio.Event()
    cancelled: list[str] = []
    started: list[str] = []

    async def handler(name, body, attempts):
        started.append(body["job_id"])
        if len(started) == 3:
            others_started.set()
        if body["job_id"] == "dies":
            await others_started.wait()
            raise WorkerCrash()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(body["job_id"])
            raise
        return Ack()

    with pytest.raises(WorkerCrash):
        await _run_until(queue, handler, asyncio.Event(), max_concurrency=3, batch_size=1)
    assert sorted(started) == ["dies", "waits-1", "waits-2"]
    assert sorted(cancelled) == ["waits-1", "waits-2"]
    rows = sqlite3.connect(path).execute("SELECT body, attempts, leased FROM messages ORDER BY id").fetchall()
    assert [(json.loads(body)["job_id"], attempts, leased) for body, attempts, leased in rows] == [
        ("dies", 1, 0),
        ("waits-1", 1, 0),
        ("waits-2", 1, 0),
        ("later", 0, 0),
    ]


async def test_on_stop_the_batches_being_handled_finish_and_no_more_are_claimed(tmp_path):
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    for name in ("a", "b", "c"):
        await queue.send({"job_id": name})
    stop = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []

    async def stop_midway(name, body, attempts):
        started.append(body["job_id"])
        if len(started) == 2:
            stop.set()  # asked to stop while two messages are being handled
        await asyncio.sleep(0.01 if body["job_id"] == "a" else 0.2)  # b still runs when the consumer stops
        finished.append(body["job_id"])
        return Ack()

    await _run_until(queue, stop_midway, stop, max_concurrency=2, batch_size=1)
    assert sorted(finished) == ["a", "b"]  # finished and acked, not cut short
    rows = queue._conn.execute("SELECT body, attempts, leased FROM messages").fetchall()
    assert [(json.loads(body)["job_id"], attempts, leased) for body, attempts, leased in rows] == [("c", 0, 0)]


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 1), ("8", 8), ("32", 32), ("250", 250), ("0", None), ("251", None), ("x", None)]
)
def test_the_number_of_concurrent_batches_is_a_setting(value, expected):
    env = {} if value is None else {"IG_QUEUE_MAX_CONCURRENCY": value}
    if expected is None:
        with pytest.raises(ValueError, match="IG_QUEUE_MAX_CONCURRENCY"):
            Settings.from_mapping(env)
    else:
        assert Settings.from_mapping(env).queue_max_concurrency == expected
