"""The cron sweeper at scale on the Worker (Pyodide, Miniflare's D1 and Queues): one run takes on
more jobs than a sweep used to (100 of each kind), with a fixed number of D1 statements, and its
messages reach the real queue through ``sendBatch``, at most 100 a call."""

from __future__ import annotations

import ast
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from ig.deps import isoformat
from ig.jobs import callback_outbox

from .ig_worker import IgWorker

N = 150
URL = "https://hooks.example.com/ig"
COLUMNS = (
    "id, status, provider, task, model, params, metadata, request, provider_request, provider_task_id,"
    " webhook_token, expected_results, created_at, submitted_at, completed_at, deadline_at, next_check_at,"
    " updated_at, timeout_seconds, callback_url, callback_events"
)


def backlog_sql(n: int) -> str:
    """``n`` quiet jobs (``quiet-…``), ``n`` overdue jobs that want ``job.failed`` (``overdue-…``)
    and ``n`` pending events of finished jobs whose message was lost, due an hour ago."""
    moment = datetime.now(UTC)
    past, future = isoformat(moment - timedelta(hours=1)), isoformat(moment + timedelta(days=1))
    numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})"
    wants = """'https://hooks.example.com/ig', '["job.succeeded", "job.failed"]'"""

    def jobs(kind: str, status: str, completed: str, deadline: str, check: str, callback: str) -> str:
        return (
            f"{numbers} INSERT INTO jobs ({COLUMNS}) SELECT '{kind}-' || i, '{status}', 'runware',"
            f" 'imageInference', 'runware:100@1', '{{}}', '{{}}', '{{}}', '{{}}', '{kind}-' || i, 'token', 1,"
            f" '{past}', '{past}', {completed}, '{deadline}', '{check}', '{past}', 60 + i, {callback} FROM n;\n"
        )

    return (
        jobs("quiet", "submitted", "NULL", future, past, "NULL, NULL")
        + jobs("overdue", "submitted", "NULL", past, future, wants)
        + jobs("finished", "succeeded", f"'{past}'", future, future, wants)
        + f"{numbers} INSERT INTO callbacks (id, job_id, event, url, status, attempts, created_at, next_attempt_at,"
        f" updated_at) SELECT 'msg_lost' || i, 'finished-' || i, 'job.succeeded', '{URL}', 'pending', 2,"
        f" '{past}', '{past}', '{past}' FROM n;\n"
    )


def expected_messages(n: int) -> Counter[str]:
    bodies = (
        [{"type": "poll", "job_id": f"quiet-{i}", "seq": 1} for i in range(1, n + 1)]
        + [
            {
                "type": "callback",
                "job_id": f"overdue-{i}",
                "callback_id": callback_outbox.event_id(f"overdue-{i}", "job.failed"),
                "attempt": 0,
            }
            for i in range(1, n + 1)
        ]
        + [
            {"type": "callback", "job_id": f"finished-{i}", "callback_id": f"msg_lost{i}", "attempt": 2}
            for i in range(1, n + 1)
        ]
    )
    return Counter(json.dumps(b, sort_keys=True) for b in bodies)


def sent(ig: IgWorker) -> Counter[str]:
    return Counter(json.dumps(m["body"], sort_keys=True) for m in ig.h.queue_sent())


def assert_swept(ig: IgWorker, n: int) -> None:
    """Every overdue job failed once with its own timeout error and one job.failed event; every
    quiet job's poll chain at its next link; one message each, through the real queue."""
    failed = ig.rows("SELECT id, error, timeout_seconds FROM jobs WHERE id LIKE 'overdue-%' AND status = 'failed'")
    assert len(failed) == n
    for row in failed:
        assert row["error"] == json.dumps(
            {"code": "timeout", "message": f"no result within {row['timeout_seconds']} seconds"}
        )
    events = ig.rows("SELECT job_id, attempts FROM callbacks WHERE event = 'job.failed'")
    assert sorted(e["job_id"] for e in events) == sorted(f"overdue-{i}" for i in range(1, n + 1))
    polled = ig.rows("SELECT count(*) AS c FROM jobs WHERE id LIKE 'quiet-%' AND poll_seq = 1 AND status = 'submitted'")
    assert polled == [{"c": n}]
    assert sent(ig) == expected_messages(n)
    pending = ig.h.queue_pending("ig-jobs")["ig-jobs"]
    assert Counter(json.dumps(m["body"], sort_keys=True) for m in pending) == expected_messages(n)


def test_one_cron_run_fails_polls_and_requeues_more_than_a_hundred_of_each(ig):
    ig.h.apply_sql(sql=backlog_sql(N))

    run = ig.h.scheduled(scheduled_time=time.time() * 1000)
    logs = ig.h.last_logs

    assert run["exception"] is None, run["exception"]
    assert_swept(ig, N)
    [line] = [line for line in logs if "sweeper: " in line]
    assert f"SweepReport(timed_out={N}, polled={N}, resubmitted=0, callbacks_requeued={N}," in line, line
    assert ig.h.scheduled()["exception"] is None
    assert sent(ig) == expected_messages(N)  # the next run finds nothing left


# Runs inside the Worker's interpreter (``eval_python``): one sweep on the ports the cron handler
# gets, each wrapped to count its calls. The last expression is the counts, as JSON.
COUNTED_SWEEP = """
import dataclasses
import json

from ig.adapters.cloudflare import bootstrap
from ig.completion.sweeper import sweep


class CountingDatabase:
    def __init__(self, inner):
        self.inner, self.statements = inner, 0

    async def all(self, sql, params=()):
        self.statements += 1
        return await self.inner.all(sql, params)

    async def first(self, sql, params=()):
        self.statements += 1
        return await self.inner.first(sql, params)

    async def run(self, sql, params=()):
        self.statements += 1
        return await self.inner.run(sql, params)

    async def batch(self, statements):
        self.statements += len(statements)
        return await self.inner.batch(statements)


class CountingQueue:
    def __init__(self, inner):
        self.inner, self.sends, self.batches = inner, 0, []

    async def send(self, body, *, delay_seconds=0):
        self.sends += 1
        await self.inner.send(body, delay_seconds=delay_seconds)

    async def send_batch(self, bodies, *, delay_seconds=0):
        self.batches.append(len(bodies))
        await self.inner.send_batch(bodies, delay_seconds=delay_seconds)


deps = bootstrap.deps_from_env(env)
db, queue = CountingDatabase(deps.db), CountingQueue(deps.queue)
report = await sweep(dataclasses.replace(deps, db=db, queue=queue))
json.dumps({"statements": db.statements, "sends": queue.sends, "batches": queue.batches,
            "timed_out": report.timed_out, "polled": report.polled, "requeued": report.callbacks_requeued})
"""


def counted_sweep(ig: IgWorker) -> dict[str, Any]:
    return json.loads(ast.literal_eval(ig.h.eval_python(COUNTED_SWEEP)))


def test_a_sweep_on_d1_makes_the_same_few_statements_for_ten_or_a_hundred_and_fifty_of_each(ig):
    ig.h.apply_sql(sql=backlog_sql(10))
    small = counted_sweep(ig)
    ig.reset()
    ig.h.apply_sql(sql=backlog_sql(N))
    large = counted_sweep(ig)

    assert (small["timed_out"], small["polled"], small["requeued"]) == (10, 10, 10)
    assert (large["timed_out"], large["polled"], large["requeued"]) == (N, N, N)
    assert large["statements"] == small["statements"] <= 8
    assert small["sends"] == large["sends"] == 0
    assert small["batches"] == [10, 10, 10] and large["batches"] == [100, 50, 100, 50, 100, 50]
    assert_swept(ig, N)
