"""A durable queue in SQLite with Cloudflare Queues' semantics: at-least-once delivery in
batches, per-message ack or retry with a delay, ``attempts`` counted from 1, and after
``max_retries`` retries (asked for, or deliveries whose batch died) a message moves to the
dead-letter queue, which is consumed too, one message per batch. Up to ``max_concurrency`` batches
are handled at once (wrangler.toml's ``max_concurrency``), each message by one of them only.

A message being handled is leased. When a batch ends early (the handler was cancelled or
interrupted, or settling failed), the messages it had not settled are released at once, as
Queues redelivers the unacknowledged messages of a failed batch; a lease left by a process that
died is released when the next process starts. Either way a crash redelivers, never loses."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ig.completion.consumer import Ack, Decision, Retry
from ig.ports import MAX_SEND_BATCH
from ig.settings import DEAD_LETTER_QUEUE, JOBS_QUEUE

log = logging.getLogger("ig.queue")

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    leased INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (leased, visible_at);
"""

MessageHandler = Callable[[str, Any, int], Awaitable[Decision]]

INSERT_MESSAGE = "INSERT INTO messages (queue, body, visible_at, created_at) VALUES (?, ?, ?, ?)"


def _message_row(queue: str, body: str, delay_seconds: float) -> tuple[str, str, float, float]:
    now = time.time()
    return queue, body, now + max(0.0, delay_seconds), now


BATCH_SIZE = 10
"""Messages per batch at most (wrangler.toml's ``max_batch_size``)."""


class SqliteQueue:
    def __init__(self, path: str | Path, *, queue: str = JOBS_QUEUE, max_retries: int = 5) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        # As ig's database: a commit survives the process dying at once, and a power loss can
        # only roll the queue back to an earlier moment, never corrupt it. Messages it loses that
        # way are a job gone quiet, which the sweeper asks the provider about; messages it brings
        # back are delivered again, which every handler takes. FULL would wait on the disk (an
        # fdatasync on the event loop) three times per message: at its send, claim and ack.
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._conn.executescript(SCHEMA)
        self.queue = queue
        self.max_retries = max_retries
        self._wake = asyncio.Event()

    async def send(self, body: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        self._insert(self.queue, json.dumps(dict(body)), delay_seconds)
        self._wake.set()

    async def send_batch(self, bodies: Sequence[Mapping[str, Any]], *, delay_seconds: int = 0) -> None:
        if len(bodies) > MAX_SEND_BATCH:
            raise ValueError(f"at most {MAX_SEND_BATCH} messages per batch")
        rows = [_message_row(self.queue, json.dumps(dict(body)), delay_seconds) for body in bodies]
        # One transaction: the batch is queued whole or not at all, with one commit (autocommit
        # would commit each message on its own).
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(INSERT_MESSAGE, rows)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        self._wake.set()

    def _insert(self, queue: str, body: str, delay_seconds: float) -> None:
        self._conn.execute(INSERT_MESSAGE, _message_row(queue, body, delay_seconds))

    def release_leases(self) -> int:
        """Make messages leased by a previous (dead) process deliverable again."""
        return self._conn.execute("UPDATE messages SET leased = 0 WHERE leased = 1").rowcount

    def pending(self, queue: str | None = None) -> int:
        row = self._conn.execute("SELECT count(*) FROM messages WHERE queue = coalesce(?, queue)", (queue,)).fetchone()
        return row[0]

    def _claim(self, limit: int) -> list[tuple[int, str, str, int]]:
        """Lease the next batch: up to ``limit`` messages of the queue whose message is due first.
        Dead letters come one per batch (wrangler.toml's ``max_batch_size = 1`` for the DLQ), so
        a message that kills its batch can only take itself down."""
        now = time.time()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            # A message whose last allowed delivery ended without being settled (its batch died)
            # has failed as often as one that asked to be retried: on to the dead-letter queue,
            # or, already there, dropped, as Cloudflare does.
            self._conn.execute(
                "UPDATE messages SET queue = ?, attempts = 0, visible_at = ?"
                " WHERE leased = 0 AND queue = ? AND attempts > ?",
                (DEAD_LETTER_QUEUE, now, self.queue, self.max_retries),
            )
            self._conn.execute(
                "DELETE FROM messages WHERE leased = 0 AND queue = ? AND attempts > ?",
                (DEAD_LETTER_QUEUE, self.max_retries),
            )
            first = self._conn.execute(
                "SELECT queue FROM messages WHERE leased = 0 AND visible_at <= ? ORDER BY visible_at, id LIMIT 1",
                (now,),
            ).fetchone()
            queue = first[0] if first else self.queue
            rows = self._conn.execute(
                "SELECT id, queue, body, attempts FROM messages WHERE leased = 0 AND visible_at <= ? AND queue = ?"
                " ORDER BY visible_at, id LIMIT ?",
                (now, queue, 1 if queue == DEAD_LETTER_QUEUE else limit),
            ).fetchall()
            self._conn.executemany(
                "UPDATE messages SET leased = 1, attempts = attempts + 1 WHERE id = ?",
                [(r[0],) for r in rows],
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return [(r[0], r[1], r[2], r[3] + 1) for r in rows]

    def _release(self, message_ids: list[int]) -> None:
        self._conn.executemany(
            "UPDATE messages SET leased = 0 WHERE id = ? AND leased = 1", [(i,) for i in message_ids]
        )

    def _settle(self, message_id: int, queue: str, body: str, attempts: int, decision: Decision) -> None:
        if isinstance(decision, Ack):
            self._conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        elif attempts > self.max_retries:
            # Out of retries: to the dead-letter queue (a dead letter that fails is dropped, as
            # Cloudflare does for a DLQ without its own DLQ).
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
                if queue != DEAD_LETTER_QUEUE:
                    self._insert(DEAD_LETTER_QUEUE, body, 0)
            except BaseException:
                self._conn.execute("ROLLBACK")  # else every later BEGIN fails: the consumer stalls
                raise
            self._conn.execute("COMMIT")
        else:
            self._conn.execute(
                "UPDATE messages SET leased = 0, visible_at = ? WHERE id = ?",
                (time.time() + decision.delay_seconds, message_id),
            )

    async def consume_once(self, handler: MessageHandler, batch_size: int = BATCH_SIZE) -> int:
        """Deliver one batch; return how many messages it held."""
        batch = self._claim(batch_size)
        await self._deliver(handler, batch)
        return len(batch)

    async def _deliver(self, handler: MessageHandler, batch: list[tuple[int, str, str, int]]) -> None:
        unsettled = [message[0] for message in batch]
        try:
            for message_id, queue, body, attempts in batch:
                try:
                    decision = await handler(queue, json.loads(body), attempts)
                except Exception:  # the handler should not raise; if it does, retry like workerd would
                    log.exception("queue handler raised on message %s", message_id)
                    decision = Retry(1)
                self._settle(message_id, queue, body, attempts, decision)
                unsettled.remove(message_id)
        finally:
            if unsettled:
                # The batch ended early (cancelled, interrupted, or a settle failed): what it did
                # not settle is delivered again, its attempt counted, as Queues does.
                try:
                    self._release(unsettled)
                except Exception:  # noqa: BLE001 - the next process start releases them instead
                    log.exception("could not release messages %s", unsettled)

    async def run(
        self,
        handler: MessageHandler,
        stop: asyncio.Event,
        idle_seconds: float = 0.5,
        *,
        max_concurrency: int = 1,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        """Consume until ``stop``: claim a batch whenever fewer than ``max_concurrency`` are being
        handled, each in its own task, as Queues invokes a consumer up to ``max_concurrency``
        times at once. A batch that fails (an exception) is logged and its unsettled messages
        are delivered again; one that dies (a ``BaseException``: the process going down) takes
        the consumer with it, its other batches cancelled and their messages released. On
        ``stop`` the batches being handled are finished first."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        running: set[asyncio.Task[None]] = set()
        died: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def ended(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if task.cancelled():
                return
            error = task.exception()
            if isinstance(error, Exception):  # a batch must not end the consumer for good
                log.error("queue batch failed; its unsettled messages will be delivered again", exc_info=error)
            elif error is not None and not died.done():
                died.set_exception(error)

        try:
            while not stop.is_set() and not died.done():
                if len(running) >= max_concurrency:
                    await asyncio.wait([*running, died], return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    batch = self._claim(batch_size)
                except Exception:  # noqa: BLE001 - the database may recover; look again shortly
                    log.exception("could not claim a queue batch")
                    batch = []
                if batch:
                    task = asyncio.create_task(self._deliver(handler, batch), name="ig-queue-batch")
                    running.add(task)
                    task.add_done_callback(ended)
                    continue
                # No await between the empty claim and this clear: a message sent in between
                # would otherwise leave the consumer asleep until the idle timeout.
                self._wake.clear()
                # Woken by a new message, the stop, or a batch dying, whichever comes first; else
                # look again soon (a delayed message becomes visible without anyone sending).
                wake = asyncio.ensure_future(self._wake.wait())
                halt = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait([wake, halt, died], timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    wake.cancel()
                    halt.cancel()
            if running and not died.done():
                await asyncio.wait(running)  # stopped: the batches being handled finish
            if died.done():
                died.result()  # raises what killed a batch
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
            if died.done():
                died.exception()  # retrieved: no "never retrieved" warning when already raised

    def close(self) -> None:
        self._conn.close()
