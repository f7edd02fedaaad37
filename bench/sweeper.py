"""What one sweep costs as the backlog grows, on both runtimes, from one run:

    uv run python bench/sweeper.py [--sizes 100,1000,3000] [--runtime local,worker] [--max-sweeps 40]
                                   [--src DIR]

For each N the database gets N *quiet* jobs (submitted, ``next_check_at`` an hour ago: their
webhooks were lost), N *overdue* jobs (submitted, deadline an hour ago, each with a callback URL
that wants ``job.failed``) and N *lost callbacks* (pending ``job.succeeded`` events of finished
jobs, due an hour ago, whose queue message never came), written straight into the tables. Then
``ig.completion.sweeper.sweep`` runs again and again until a sweep finds nothing left, and for
each N the first sweep and the whole series are reported:

* **statements**: calls to the ``Database`` port (``all``/``first``/``run``, and each ``batch``
  as one call) and the SQL statements they ran (a batch counts each of its statements);
* **messages** sent and **send calls** (``send`` plus ``send_batch``) on the queue port;
* **wall** and **CPU** time of the sweep.

Every sweep of a series runs at the moment the backlog was written (the sweeper's clock is
held there), so however long a series takes, a job polled or an event re-queued early in it is not
due again by its end. ``--src DIR`` measures another copy of ig's ``src/``
against the same backlog (say the code before a change: ``git archive <commit> src | tar -x -C
/tmp/before``, then ``--src /tmp/before/src``), for a before/after comparison.

Counting happens in wrappers around the two ports (``CountingDatabase``, ``CountingQueue``): the
sweeper itself runs unchanged on real storage.

* ``local``: the local runtime's ports, SQLite (``SqliteDatabase``) and the SQLite-backed queue
  (``SqliteQueue``) in a temporary directory; CPU is this process's (``time.process_time``).
* ``worker``: ig's Worker under the test harness (``tests/worker/harness.mjs``: Pyodide 0.28 in
  Node, Miniflare's D1 and Queues), the sweep run inside the Worker's interpreter on the ports the
  cron handler gets (``bootstrap.deps_from_env``); messages go through Queues' real
  ``send``/``sendBatch``. Wall time is measured inside the Worker. CPU is the harness process's
  (``process.cpuUsage``, as the harness reports it per command) less the part spent in
  Miniflare's binding proxies, which on Cloudflare is I/O outside the isolate: what counts
  against the cron's CPU limit, or a little more. The proxies' share and the CPU of the workerd
  process serving D1 and Queues (from ``/proc``) are printed beside it.

The machine (CPU model, cores, Python, SQLite, Node, Pyodide) is printed with the figures. Other
work on the same cores moves single figures by ±30 %."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def _src() -> Path:
    """``--src DIR``: run another copy of ig's ``src/`` (the code before a change, say, from
    ``git archive``) against the same backlog, for a before/after comparison."""
    if "--src" in sys.argv[:-1]:
        return Path(sys.argv[sys.argv.index("--src") + 1]).resolve()
    return ROOT / "src"


SRC = _src()
sys.path[:0] = [str(SRC), str(ROOT / "tests")]

from ig.adapters.local.files import FileBlobStore  # noqa: E402
from ig.adapters.local.queue import SqliteQueue  # noqa: E402
from ig.adapters.local.sqlite_db import SqliteDatabase  # noqa: E402
from ig.completion import sweeper  # noqa: E402
from ig.deps import Deps, isoformat  # noqa: E402
from ig.settings import Settings  # noqa: E402

CALLBACK_URL = "https://hooks.example.com/ig"


# --- the machine --------------------------------------------------------------------------------


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"{platform.python_implementation()} {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


# --- the backlog --------------------------------------------------------------------------------


def seed_sql(n: int, moment: datetime) -> str:
    """N quiet jobs, N overdue jobs and N lost callbacks (of N finished jobs), as plain SQL that
    SQLite and D1 both run (one statement per table and kind, rows made by a recursive CTE)."""
    past = isoformat(moment - timedelta(hours=1))
    long_past = isoformat(moment - timedelta(hours=2))
    future = isoformat(moment + timedelta(days=1))
    columns = (
        "id, status, provider, task, model, params, metadata, request, provider_request, provider_task_id,"
        " webhook_token, expected_results, created_at, submitted_at, completed_at, deadline_at, next_check_at,"
        " updated_at, timeout_seconds, callback_url, callback_events"
    )
    numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})"
    events = """'["job.succeeded", "job.failed"]'"""

    def jobs(prefix: str, status: str, completed: str, deadline: str, check: str, callback: bool) -> str:
        job_id = f"printf('{prefix}-0000-4000-8000-%012d', i)"
        wants = f"'{CALLBACK_URL}', {events}" if callback else "NULL, NULL"
        return (
            f"{numbers} INSERT INTO jobs ({columns}) SELECT {job_id}, '{status}', 'runware', 'imageInference',"
            f" 'runware:100@1', '{{}}', '{{}}', '{{}}', '{{}}', {job_id}, 'token', 1, '{long_past}', '{long_past}',"
            f" {completed}, '{deadline}', '{check}', '{long_past}', 600,"
            f" {wants} FROM n;\n"
        )

    return (
        jobs("10000000", "submitted", "NULL", future, past, callback=False)  # quiet
        + jobs("20000000", "submitted", "NULL", past, future, callback=True)  # overdue
        + jobs("30000000", "succeeded", f"'{long_past}'", future, future, callback=True)  # their callbacks were lost
        + f"{numbers} INSERT INTO callbacks (id, job_id, event, url, status, attempts, created_at, next_attempt_at,"
        f" updated_at) SELECT printf('msg_%032d', i), printf('30000000-0000-4000-8000-%012d', i), 'job.succeeded',"
        f" '{CALLBACK_URL}', 'pending', 1, '{long_past}', '{past}', '{past}' FROM n;\n"
    )


# --- counting wrappers around the ports ---------------------------------------------------------

# One source for both runtimes: run here, and inside the Worker's interpreter.
WRAPPERS = """
import time


class CountingDatabase:
    # The Database port, counting calls, the statements they run and the time spent in them.

    def __init__(self, inner):
        self.inner, self.calls, self.statements, self.ms = inner, 0, 0, 0.0

    async def _timed(self, statements, call):
        self.calls += 1
        self.statements += statements
        started = time.perf_counter()
        try:
            return await call
        finally:
            self.ms += (time.perf_counter() - started) * 1000

    async def all(self, sql, params=()):
        return await self._timed(1, self.inner.all(sql, params))

    async def first(self, sql, params=()):
        return await self._timed(1, self.inner.first(sql, params))

    async def run(self, sql, params=()):
        return await self._timed(1, self.inner.run(sql, params))

    async def batch(self, statements):
        return await self._timed(len(statements), self.inner.batch(statements))


class CountingQueue:
    # The MessageQueue port, counting messages, the calls that sent them and the time they took.

    def __init__(self, inner):
        self.inner, self.messages, self.calls, self.ms = inner, 0, 0, 0.0

    async def _timed(self, messages, call):
        self.calls += 1
        self.messages += messages
        started = time.perf_counter()
        try:
            await call
        finally:
            self.ms += (time.perf_counter() - started) * 1000

    async def send(self, body, *, delay_seconds=0):
        await self._timed(1, self.inner.send(body, delay_seconds=delay_seconds))

    async def send_batch(self, bodies, *, delay_seconds=0):
        await self._timed(len(bodies), self.inner.send_batch(bodies, delay_seconds=delay_seconds))
"""
_wrappers: dict[str, Any] = {}
exec(WRAPPERS, _wrappers)  # noqa: S102 - the bench's own source, above
CountingDatabase, CountingQueue = _wrappers["CountingDatabase"], _wrappers["CountingQueue"]


# --- figures ------------------------------------------------------------------------------------


@dataclass
class Sweep:
    handled: dict[str, int]
    calls: int
    statements: int
    messages: int
    send_calls: int
    wall_ms: float
    db_ms: float
    """Wall time spent waiting on the database port."""
    queue_ms: float
    """Wall time spent waiting on the queue port."""
    cpu_ms: float
    """Local: this process's CPU. Worker: the harness process's, less its binding proxies (below)."""
    binding_cpu_ms: float | None = None
    """Worker: CPU the harness's Node spent in Miniflare's binding proxies (D1, Queues), which on
    Cloudflare is I/O outside the isolate, not the Worker's CPU."""
    d1_cpu_ms: float | None = None
    """Worker: CPU of the workerd process that serves D1 and Queues."""

    @property
    def total(self) -> int:
        return sum(self.handled.values())


@dataclass
class Series:
    runtime: str
    n: int
    sweeps: list[Sweep] = field(default_factory=list)
    check: str = ""

    @property
    def busy(self) -> list[Sweep]:
        return [s for s in self.sweeps if s.total]


REPORT_FIELDS = ("timed_out", "polled", "resubmitted", "reconciled", "callbacks_requeued", "keys_expired")


# --- local runtime ------------------------------------------------------------------------------


async def local_series(n: int, max_sweeps: int) -> Series:
    series = Series("local", n)
    moment = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="ig-bench-sweeper-") as tmp:
        data = Path(tmp)
        db = SqliteDatabase(data / "ig.sqlite3")
        db.migrate()
        with sqlite3.connect(data / "ig.sqlite3") as conn:
            conn.executescript(seed_sql(n, moment))
        queue = SqliteQueue(data / "queue.sqlite3", max_retries=5)
        blobs = FileBlobStore(data / "blobs")
        settings = Settings()
        while len(series.sweeps) < max_sweeps:
            counting_db, counting_queue = CountingDatabase(db), CountingQueue(queue)
            # The sweeper makes no HTTP calls.
            deps = Deps(
                db=counting_db,
                blobs=blobs,
                queue=counting_queue,
                http=None,  # type: ignore[arg-type]
                settings=settings,
                clock=lambda: moment,
            )
            wall, cpu = time.perf_counter(), time.process_time()
            report = await sweeper.sweep(deps)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            series.sweeps.append(
                Sweep(
                    {name: getattr(report, name) for name in REPORT_FIELDS},
                    counting_db.calls,
                    counting_db.statements,
                    counting_queue.messages,
                    counting_queue.calls,
                    wall * 1000,
                    counting_db.ms,
                    counting_queue.ms,
                    cpu * 1000,
                )
            )
            if not series.sweeps[-1].total:
                break
        series.check = local_check(data, n, queue)
        db.close()
    return series


def local_check(data: Path, n: int, queue: SqliteQueue) -> str:
    """Whether every job and event was handled exactly once, read from the tables."""
    with sqlite3.connect(data / "ig.sqlite3") as conn:
        failed = conn.execute("SELECT count(*) FROM jobs WHERE id LIKE '2%' AND status = 'failed'").fetchone()[0]
        polled = conn.execute("SELECT count(*) FROM jobs WHERE id LIKE '1%' AND poll_seq = 1").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM callbacks WHERE event = 'job.failed'").fetchone()[0]
    with sqlite3.connect(data / "queue.sqlite3") as conn:
        kinds = dict(conn.execute("SELECT json_extract(body, '$.type'), count(*) FROM messages GROUP BY 1").fetchall())
    ok = failed == polled == events == n and kinds == {"poll": n, "callback": 2 * n}
    return f"{'ok' if ok else 'WRONG'}: {failed} failed, {events} job.failed events, {polled} polled, messages {kinds}"


# --- Worker runtime -----------------------------------------------------------------------------

# Runs inside the Worker's interpreter (the harness's eval_python): one sweep on the ports the cron
# handler builds, each wrapped to count. The last expression is the figures, as JSON.
SWEEP_IN_WORKER = (
    WRAPPERS
    + """
import dataclasses
import json
from datetime import datetime

from ig.adapters.cloudflare import bootstrap
from ig.completion import sweeper


deps = bootstrap.deps_from_env(env)
db, queue = CountingDatabase(deps.db), CountingQueue(deps.queue)
started = time.perf_counter()
moment = datetime.fromisoformat(MOMENT)
report = await sweeper.sweep(dataclasses.replace(deps, db=db, queue=queue, clock=lambda: moment))
wall = time.perf_counter() - started
json.dumps({"report": dataclasses.asdict(report), "calls": db.calls, "statements": db.statements,
            "messages": queue.messages, "send_calls": queue.calls, "wall_ms": wall * 1000,
            "db_ms": db.ms, "queue_ms": queue.ms})
"""
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def worker_series(sizes: list[int], max_sweeps: int) -> list[Series]:
    import ast

    from worker.ig_worker import IgWorker, wrangler_queue_settings
    from worker.runtime_cache import ensure_worker_runtime
    from worker.worker_harness import WorkerHarness

    h = WorkerHarness(SRC, paths=ensure_worker_runtime(), **wrangler_queue_settings()).start()
    try:
        for migration in sorted((SRC / "ig" / "migrations").glob("*.sql")):
            h.apply_sql(path=migration)
        about = f"Node {h.ready['node']}, Pyodide {h.ready['pyodide']}, Miniflare D1 and Queues"
        print(f"worker: {about}", flush=True)
        node = h.proc.pid  # type: ignore[union-attr]
        serving = [pid for pid in descendants(node) if "workerd" in Path(f"/proc/{pid}/cmdline").read_text()]
        tables = IgWorker(h, None).tables()  # type: ignore[arg-type]
        found = []
        for n in sizes:
            h.apply_sql(sql="".join(f"DELETE FROM {t};" for t in tables))
            h.queue_clear()
            moment = datetime.now(UTC)
            h.apply_sql(sql=seed_sql(n, moment))
            series = Series("worker", n)
            sent: list[dict[str, Any]] = []
            while len(series.sweeps) < max_sweeps:
                d1 = sum(cpu_seconds(pid) for pid in serving)
                code = f"MOMENT = {moment.isoformat()!r}\n" + SWEEP_IN_WORKER
                figures = json.loads(ast.literal_eval(h.eval_python(code)))
                d1 = sum(cpu_seconds(pid) for pid in serving) - d1
                # The harness's own count of the D1 statements prepared agrees with the wrapper's.
                assert h.last_d1_statements in (None, figures["statements"]), (h.last_d1_statements, figures)
                cpu_ms, binding_ms = h.last_cpu_us / 1000, h.last_binding_cpu_us / 1000
                sent += h.queue_sent(clear=True)
                h.queue_clear()
                series.sweeps.append(
                    Sweep(
                        {name: figures["report"][name] for name in REPORT_FIELDS},
                        figures["calls"],
                        figures["statements"],
                        figures["messages"],
                        figures["send_calls"],
                        figures["wall_ms"],
                        figures["db_ms"],
                        figures["queue_ms"],
                        cpu_ms - binding_ms,
                        binding_ms,
                        d1 * 1000 if serving else None,
                    )
                )
                if not series.sweeps[-1].total:
                    break
            series.check = worker_check(h, n, sent)
            found.append(series)
            print(details(series), flush=True)
        return found
    finally:
        h.close()


def worker_check(h: Any, n: int, sent: list[dict[str, Any]]) -> str:
    failed = h.d1_rows("SELECT count(*) AS c FROM jobs WHERE id LIKE '2%' AND status = 'failed'")[0]["c"]
    polled = h.d1_rows("SELECT count(*) AS c FROM jobs WHERE id LIKE '1%' AND poll_seq = 1")[0]["c"]
    events = h.d1_rows("SELECT count(*) AS c FROM callbacks WHERE event = 'job.failed'")[0]["c"]
    kinds: dict[str, int] = {}
    for message in sent:
        kinds[message["body"]["type"]] = kinds.get(message["body"]["type"], 0) + 1
    ok = failed == polled == events == n and kinds == {"poll": n, "callback": 2 * n}
    return f"{'ok' if ok else 'WRONG'}: {failed} failed, {events} job.failed events, {polled} polled, messages {kinds}"


# --- output -------------------------------------------------------------------------------------


def table(all_series: list[Series]) -> str:
    rows = [
        "| runtime | N of each | sweeps to clear | first sweep: handled | statements (calls) | messages (send calls)"
        " | wall | of it database / queue | CPU | all sweeps: statements | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in all_series:
        first = s.sweeps[0]
        busy = s.busy
        cpu = f"{first.cpu_ms:.0f} ms"
        rows.append(
            f"| {s.runtime} | {s.n:,} | {len(busy)} | {first.total:,} | {first.statements:,} ({first.calls:,})"
            f" | {first.messages:,} ({first.send_calls:,}) | {first.wall_ms:.0f} ms"
            f" | {first.db_ms:.0f} / {first.queue_ms:.0f} ms | {cpu}"
            f" | {sum(x.statements for x in busy):,} | {sum(x.wall_ms for x in busy):.0f} ms |"
        )
    return "\n".join(rows)


def details(s: Series) -> str:
    lines = [f"{s.runtime}, N = {s.n:,}: {s.check}"]
    for number, sweep in enumerate(s.sweeps, 1):
        if number > 3 and number < len(s.sweeps) - 1:
            if number == 4:
                lines.append("    ...")
            continue
        handled = ", ".join(f"{k} {v}" for k, v in sweep.handled.items() if v) or "nothing"
        lines.append(
            f"  sweep {number}: {handled}; {sweep.statements} statements in {sweep.calls} calls,"
            f" {sweep.messages} messages in {sweep.send_calls} send calls, {sweep.wall_ms:.1f} ms wall"
            f" (database {sweep.db_ms:.1f} ms, queue {sweep.queue_ms:.1f} ms),"
            f" {sweep.cpu_ms:.1f} ms CPU" + (worker_cpu(sweep) if sweep.binding_cpu_ms is not None else "")
        )
    return "\n".join(lines)


def worker_cpu(sweep: Sweep) -> str:
    d1 = f", workerd (D1, Queues) {sweep.d1_cpu_ms:.0f} ms" if sweep.d1_cpu_ms is not None else ""
    return f" (besides: Miniflare's binding proxies in Node {sweep.binding_cpu_ms:.0f} ms{d1})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,3000", help="N of each kind, comma-separated")
    parser.add_argument("--runtime", default="local,worker", help="local, worker or both")
    parser.add_argument("--max-sweeps", type=int, default=40, help="stop a series after this many sweeps")
    parser.add_argument("--src", help="another copy of ig's src/ to measure (default: this checkout's)")
    args = parser.parse_args()
    # The sweeper's log lines are made (as in production) but not printed.
    logging.getLogger("ig").addHandler(logging.NullHandler())
    sizes = [int(x) for x in args.sizes.split(",")]
    runtimes = args.runtime.split(",")
    print(f"machine: {machine()}")
    print(f"sweeper: {SRC / 'ig' / 'completion' / 'sweeper.py'}, SWEEP_BATCH = {sweeper.SWEEP_BATCH}")
    found: list[Series] = []
    if "local" in runtimes:
        for n in sizes:
            found.append(asyncio.run(local_series(n, args.max_sweeps)))
            print(details(found[-1]), flush=True)
    if "worker" in runtimes:
        found += worker_series(sizes, args.max_sweeps)
    print()
    print(table(found))


if __name__ == "__main__":
    main()
