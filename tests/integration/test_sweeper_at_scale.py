"""The sweeper at scale, on the local runtime's real SQLite and queue: one sweep takes on hundreds
of overdue jobs, quiet jobs and lost callbacks with the same few statements as it does a handful,
and changes exactly the rows it should, each once, even when a job finishes while it works."""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ig.adapters.local.runtime import LocalRuntime
from ig.completion.sweeper import FAILED_AT, SWEEP_BATCH, SweepReport, sweep
from ig.deps import Deps, isoformat
from ig.jobs import callback_outbox, records
from ig.ports import MAX_SEND_BATCH
from ig.settings import Settings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
QUIET_SECONDS = 120
URL = "https://hooks.example.com/ig"
BOTH = ["job.succeeded", "job.failed"]


def at(seconds: float) -> str:
    return isoformat(NOW + timedelta(seconds=seconds))


def job(job_id: str, **changes: Any) -> dict[str, Any]:
    """A job row: submitted an hour ago, deadline and next check an hour ahead, unless changed."""
    row = {
        "id": job_id,
        "status": "submitted",
        "provider": "runware",
        "task": "imageInference",
        "model": "runware:100@1",
        "params": "{}",
        "metadata": "{}",
        "request": "{}",
        "provider_request": "{}",
        "provider_task_id": job_id,
        "webhook_token": "token",
        "expected_results": 1,
        "poll_seq": 0,
        "created_at": at(-3600),
        "submitted_at": at(-3600),
        "deadline_at": at(3600),
        "next_check_at": at(3600),
        "updated_at": at(-3600),
        "timeout_seconds": 7200,
        "callback_url": None,
        "callback_events": None,
        "submit_unknown_at": None,
    }
    return {**row, **changes}


def callback(callback_id: str, job_id: str, **changes: Any) -> dict[str, Any]:
    row = {
        "id": callback_id,
        "job_id": job_id,
        "event": "job.succeeded",
        "url": URL,
        "status": "pending",
        "attempts": 1,
        "created_at": at(-3600),
        "next_attempt_at": at(-3600),
        "updated_at": at(-3600),
    }
    return {**row, **changes}


def insert(path: Path, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    with sqlite3.connect(path) as conn:
        conn.executemany(sql, [[row[c] for c in columns] for row in rows])


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


class Backlog:
    """``n`` of each kind of sweeper work, plus rows the sweep must leave alone."""

    def __init__(self, data: Path, n: int) -> None:
        self.db = data / "ig.sqlite3"
        # Overdue: deadlines of their own; some want no job.failed callback, some no callbacks at all.
        self.overdue = [
            job(
                f"overdue-{i}",
                status="queued" if i % 7 == 0 else "submitted",
                deadline_at=at(-1 - i),
                timeout_seconds=300 * (1 + i % 3),
                callback_url=None if i % 5 == 0 else URL,
                callback_events=None if i % 5 == 0 else json.dumps(["job.succeeded"] if i % 5 == 1 else BOTH),
            )
            for i in range(n)
        ]
        self.quiet = [job(f"quiet-{i}", poll_seq=i % 4, next_check_at=at(-1 - i)) for i in range(n)]
        self.resubmit = [job(f"resubmit-{i}", status="queued", next_check_at=at(-5)) for i in range(n // 10)]
        self.reconcile = [
            job(f"reconcile-{i}", status="queued", next_check_at=at(-5), submit_unknown_at=at(-600))
            for i in range(n // 10)
        ]
        self.finished = [
            job(f"finished-{i}", status="succeeded", completed_at=at(-3000), callback_url=URL, callback_events="[]")
            for i in range(n)
        ]
        self.lost = [
            callback(f"msg_lost{i}", f"finished-{i}", attempts=i % 3, next_attempt_at=at(-61 - i)) for i in range(n)
        ]
        # Left alone: an open job not yet due, a finished job past its deadline, an event due
        # less than a minute ago (its message may be on its way), a delivered one.
        self.untouched_jobs = [
            job("not-due", next_check_at=at(1)),
            job("done-late", status="failed", deadline_at=at(-10), next_check_at=at(-10), completed_at=at(-20)),
            job("done-2", status="succeeded", callback_url=URL, callback_events="[]"),
        ]
        self.untouched_callbacks = [
            callback("msg_recent", "done-2", next_attempt_at=at(-59)),
            callback("msg_delivered", "done-2", status="delivered", next_attempt_at=at(-3600)),
        ]
        jobs = self.overdue + self.quiet + self.resubmit + self.reconcile + self.finished + self.untouched_jobs
        insert(self.db, "jobs", jobs)
        insert(self.db, "callbacks", self.lost + self.untouched_callbacks)

    def wants_failed(self, row: dict[str, Any]) -> bool:
        return row["callback_url"] is not None and "job.failed" in json.loads(row["callback_events"])

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in rows(self.db, "SELECT * FROM jobs")}

    def callbacks(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in rows(self.db, "SELECT * FROM callbacks")}


class CountingDatabase:
    """The database port, counting calls and keeping the statements they run."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.seen: list[tuple[str, Any]] = []

    @property
    def statements(self) -> int:
        return len(self.seen)

    async def all(self, sql: str, params: Any = ()) -> Any:
        self.calls += 1
        self.seen.append((sql, params))
        return await self.inner.all(sql, params)

    async def first(self, sql: str, params: Any = ()) -> Any:
        self.calls += 1
        self.seen.append((sql, params))
        return await self.inner.first(sql, params)

    async def run(self, sql: str, params: Any = ()) -> int:
        self.calls += 1
        self.seen.append((sql, params))
        return await self.inner.run(sql, params)

    async def batch(self, statements: Any) -> list[int]:
        self.calls += 1
        self.seen.extend(statements)
        return await self.inner.batch(statements)


class CountingQueue:
    """The queue port, recording each call and how many messages it carried."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sends: list[int] = []
        self.batches: list[int] = []

    async def send(self, body: Any, *, delay_seconds: int = 0) -> None:
        self.sends.append(1)
        await self.inner.send(body, delay_seconds=delay_seconds)

    async def send_batch(self, bodies: Any, *, delay_seconds: int = 0) -> None:
        self.batches.append(len(bodies))
        await self.inner.send_batch(bodies, delay_seconds=delay_seconds)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    """The local runtime's ports on a fresh data directory; nothing consumes the queue."""
    made = LocalRuntime(tmp_path / "ig", Settings(quiet_seconds=QUIET_SECONDS))
    yield made
    made.queue.close()
    made.deps.db.close()  # type: ignore[attr-defined]


def fixed_clock(deps: Deps, **ports: Any) -> Deps:
    return replace(deps, clock=lambda: NOW, **ports)


def messages(data: Path) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in rows(data / "queue.sqlite3", "SELECT body FROM messages ORDER BY id")]


def as_counter(bodies: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(body, sort_keys=True) for body in bodies)


async def test_one_sweep_handles_hundreds_of_each_kind_and_changes_exactly_the_right_rows(runtime):
    n = 250
    data = runtime.data_dir
    backlog = Backlog(data, n)
    jobs_before, callbacks_before = backlog.jobs(), backlog.callbacks()

    report = await sweep(fixed_clock(runtime.deps))

    assert report == SweepReport(
        timed_out=n, polled=n, resubmitted=n // 10, reconciled=n // 10, callbacks_requeued=n, keys_expired=0
    )
    jobs, callbacks = backlog.jobs(), backlog.callbacks()
    later = at(QUIET_SECONDS)
    changed: dict[str, dict[str, Any]] = {}
    for row in backlog.overdue:
        message = f"no result within {row['timeout_seconds']} seconds"
        error = json.dumps({"code": "timeout", "message": message})  # the text fail_job writes
        changed[row["id"]] = {"status": "failed", "error": error, "completed_at": at(0), "updated_at": at(0)}
    for row in backlog.quiet:
        changed[row["id"]] = {"poll_seq": row["poll_seq"] + 1, "next_check_at": later, "updated_at": at(0)}
    for row in backlog.resubmit + backlog.reconcile:
        changed[row["id"]] = {"next_check_at": later}
    for job_id, row in jobs_before.items():
        assert jobs[job_id] == {**row, **changed.get(job_id, {})}, job_id
    assert len(jobs) == len(jobs_before)

    # One job.failed event for each timed-out job that wants it, its first attempt claimed;
    # lost events claimed again; nothing else touched.
    requeue_at = at(callback_outbox.REQUEUE_AFTER_SECONDS)
    new = {cid: row for cid, row in callbacks.items() if cid not in callbacks_before}
    wanting = [row["id"] for row in backlog.overdue if backlog.wants_failed(row)]
    assert sorted(new) == sorted(callback_outbox.event_id(job_id, "job.failed") for job_id in wanting)
    for row in new.values():
        assert row["job_id"] in wanting and row["event"] == "job.failed" and row["url"] == URL
        assert (row["status"], row["attempts"], row["created_at"], row["next_attempt_at"]) == (
            "pending",
            0,
            at(0),
            requeue_at,
        )
    lost = {row["id"] for row in backlog.lost}
    for cid, row in callbacks_before.items():
        assert callbacks[cid] == ({**row, "next_attempt_at": requeue_at} if cid in lost else row), cid

    # Exactly one message for each: a poll naming the claimed link, a submit or reconcile, a callback.
    expected = (
        [{"type": "poll", "job_id": row["id"], "seq": row["poll_seq"] + 1} for row in backlog.quiet]
        + [{"type": "submit", "job_id": row["id"]} for row in backlog.resubmit]
        + [{"type": "reconcile", "job_id": row["id"]} for row in backlog.reconcile]
        + [{"type": "callback", "job_id": row["job_id"], "callback_id": cid, "attempt": 0} for cid, row in new.items()]
        + [
            {"type": "callback", "job_id": row["job_id"], "callback_id": row["id"], "attempt": row["attempts"]}
            for row in backlog.lost
        ]
    )
    assert as_counter(messages(data)) == as_counter(expected)

    # Swept again at the same moment: nothing is left to do, nothing is sent twice.
    assert await sweep(fixed_clock(runtime.deps)) == SweepReport(timed_out=0, polled=0, resubmitted=0)
    assert backlog.jobs() == jobs and backlog.callbacks() == callbacks
    assert len(messages(data)) == len(expected)


async def sweep_counted(tmp_path: Path, n: int) -> tuple[CountingDatabase, CountingQueue, SweepReport]:
    made = LocalRuntime(tmp_path / f"ig-{n}", Settings(quiet_seconds=QUIET_SECONDS))
    try:
        Backlog(made.data_dir, n)
        db, queue = CountingDatabase(made.deps.db), CountingQueue(made.deps.queue)
        report = await sweep(fixed_clock(made.deps, db=db, queue=queue))
    finally:
        made.queue.close()
        made.deps.db.close()  # type: ignore[attr-defined]
    return db, queue, report


async def test_the_statements_of_a_sweep_do_not_grow_with_the_work_it_finds(tmp_path):
    small_db, small_queue, small = await sweep_counted(tmp_path, 10)
    large_db, large_queue, large = await sweep_counted(tmp_path, 300)
    assert (small.timed_out, small.polled, small.callbacks_requeued) == (10, 10, 10)
    assert (large.timed_out, large.polled, large.callbacks_requeued) == (300, 300, 300)
    assert large_db.calls == small_db.calls and large_db.statements == small_db.statements
    assert large_db.statements <= 8
    # Messages go in batches of at most MAX_SEND_BATCH, never one by one: 180 job.failed events,
    # 360 polls, submits and reconciles, and 300 lost callbacks make 2 + 4 + 3 calls.
    assert small_queue.sends == large_queue.sends == []
    assert large_queue.batches == [100, 80, 100, 100, 100, 60, 100, 100, 100]
    assert len(large_queue.batches) == sum(math.ceil(k / MAX_SEND_BATCH) for k in (180, 360, 300))
    assert small_queue.batches == [6, 12, 10]


async def test_every_statement_of_a_sweep_finds_its_rows_by_index_never_by_walking_a_table(runtime):
    """A sweep's cost must follow the work it finds, not the size of the database: no statement
    scans a table, or walks every job (or event) in a state to find the few it names."""
    Backlog(runtime.data_dir, 20)
    db = CountingDatabase(runtime.deps.db)
    report = await sweep(fixed_clock(runtime.deps, db=db))
    assert report.timed_out == 20 and db.statements >= 6
    db.seen.append((FAILED_AT, [json.dumps(["overdue-1"]), at(0)]))  # run only when a job finished meanwhile
    conn = sqlite3.connect(runtime.data_dir / "ig.sqlite3")
    try:
        for sql, params in db.seen:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, list(params))]
            for step in plan:
                assert not re.match(r"SCAN (?!\w+ VIRTUAL TABLE)", step), (sql, plan)
                assert not re.search(r"\((status|event|attempts)=\?\)", step), (sql, plan)
    finally:
        conn.close()


async def test_a_sweep_takes_on_at_most_sweep_batch_of_each_kind_and_the_next_sweep_the_rest(runtime):
    n = SWEEP_BATCH + 20
    backlog = Backlog(runtime.data_dir, n)
    quiet = n + 2 * (n // 10)
    db = CountingDatabase(runtime.deps.db)
    first = await sweep(fixed_clock(runtime.deps, db=db))
    assert (first.timed_out, first.callbacks_requeued) == (SWEEP_BATCH, SWEEP_BATCH)
    assert first.polled + first.resubmitted + first.reconciled == SWEEP_BATCH
    assert db.statements <= 8
    second = await sweep(fixed_clock(runtime.deps))
    assert (second.timed_out, second.callbacks_requeued) == (20, 20)
    assert second.polled + second.resubmitted + second.reconciled == quiet - SWEEP_BATCH
    jobs = backlog.jobs()
    assert all(jobs[r["id"]]["status"] == "failed" for r in backlog.overdue)
    assert all(jobs[r["id"]]["poll_seq"] == r["poll_seq"] + 1 for r in backlog.quiet)
    wanting = sum(backlog.wants_failed(r) for r in backlog.overdue)
    assert len(messages(runtime.data_dir)) == quiet + wanting + n


class FinishingDuringTheSweep:
    """The database port, where two overdue jobs finish by other paths after the sweeper has read
    them and before its write: one succeeds (its results came), one fails with a provider error."""

    def __init__(self, inner: Any, succeeded: str, failed: str) -> None:
        self.inner, self.succeeded, self.failed = inner, succeeded, failed

    async def all(self, sql: str, params: Any = ()) -> Any:
        return await self.inner.all(sql, params)

    async def first(self, sql: str, params: Any = ()) -> Any:
        return await self.inner.first(sql, params)

    async def run(self, sql: str, params: Any = ()) -> int:
        return await self.inner.run(sql, params)

    async def batch(self, statements: Any) -> list[int]:
        if statements[0][0] == records.TIME_OUT_JOBS:
            success = "UPDATE jobs SET status = 'succeeded', completed_at = ?2, updated_at = ?2 WHERE id = ?1"
            await self.inner.batch(
                [(success, [self.succeeded, at(-1)]), callback_outbox.job_event(self.succeeded, "succeeded", at(-1))]
            )
            await records.fail_job(self.inner, self.failed, {"code": "provider_error", "message": "boom"}, at(-1))
        return await self.inner.batch(statements)


async def test_a_job_that_finishes_between_the_sweepers_read_and_write_is_left_as_it_ended(runtime, caplog):
    n = 40
    data = runtime.data_dir
    backlog = Backlog(data, n)
    wanting = [row["id"] for row in backlog.overdue if backlog.wants_failed(row)]
    succeeded, failed = wanting[0], wanting[1]
    db = FinishingDuringTheSweep(runtime.deps.db, succeeded, failed)

    with caplog.at_level(logging.WARNING, logger="ig"):
        report = await sweep(fixed_clock(runtime.deps, db=db))

    assert report.timed_out == n - 2
    jobs = backlog.jobs()
    assert (jobs[succeeded]["status"], jobs[succeeded]["error"]) == ("succeeded", None)
    assert jobs[failed]["status"] == "failed"
    assert json.loads(jobs[failed]["error"]) == {"code": "provider_error", "message": "boom"}
    timed_out = [r for r in backlog.overdue if r["id"] not in (succeeded, failed)]
    assert all(json.loads(jobs[r["id"]]["error"])["code"] == "timeout" for r in timed_out)
    logged = sorted(r.getMessage() for r in caplog.records if r.getMessage().endswith("timed out"))
    assert logged == sorted(f"job {r['id']} timed out" for r in timed_out)

    # One terminal event each: the success's, the failure's (written by its own path), and the
    # sweeper's for the rest; never a job.failed for the job that succeeded.
    events = Counter((r["job_id"], r["event"]) for r in backlog.callbacks().values() if r["job_id"] in wanting)
    assert events == Counter(
        {(succeeded, "job.succeeded"): 1, **{(job_id, "job.failed"): 1 for job_id in wanting if job_id != succeeded}}
    )
    # The other paths queue their events' first attempts after the sweep: each event is sent once.
    for job_id in (succeeded, failed):
        await callback_outbox.enqueue_new(fixed_clock(runtime.deps), job_id)
    sent = [m for m in messages(data) if m["type"] == "callback"]
    assert as_counter(sent) == as_counter(
        [{"type": "callback", "job_id": job_id, "callback_id": cid, "attempt": 0} for (job_id, cid) in _ids(events)]
        + [
            {"type": "callback", "job_id": row["job_id"], "callback_id": row["id"], "attempt": row["attempts"]}
            for row in backlog.lost
        ]
    )


def _ids(events: Counter[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(job_id, callback_outbox.event_id(job_id, event)) for job_id, event in events]
