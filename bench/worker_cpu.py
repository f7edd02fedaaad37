"""CPU per operation on the Worker, beside the same operation on the local CPython runtime, and
CPU per megabyte stored on the Worker, beside a plain fetch piped into R2.

The Worker is ig's real ``src/entry.py`` on Pyodide 0.28 in Node with Miniflare's local D1, R2
and Queues: the harness the worker tests use (``tests/worker/harness.mjs``). Its figure for an
operation is the Node process's CPU (user + system, ``process.cpuUsage``) while the harness
handled that one command: the Worker's Python and JS work, plus the Node side of Miniflare's
binding calls (workerd, which serves D1 and R2 from its own process, is not counted; on
Cloudflare that work is not billed to the Worker either). The local figure is the CPU of the
thread running ig's event loop (``time.thread_time``) around the same operation, called on ig's
ASGI app and queue handler in this process; the fake Runware answers from other threads, and the
fsync of each stored file runs in a helper thread (kernel time, not counted).

Operations, each averaged over ``--jobs`` calls (reads over ``--reads``):
``POST /v1/jobs`` (which validates, records and sends the task to the fake Runware), a Runware
webhook, the queue message that stores its result (a ``--output-kb`` output downloaded from the
fake), ``GET /v1/jobs/{id}``, a 50-item ``GET /v1/artifacts?tag=...`` and the gallery's library
page of the same 50 artifacts (``GET /?tag=...&limit=50``, HTML with a session cookie).

Then ``--big-mb`` outputs on the Worker, three ways, ``--repeats`` times each (median):
ig storing a download that declares its length (piped into R2 by the runtime), ig storing the
same bytes sent without a length (they pass through Python: multipart), and the reference, a
plain ``fetch`` whose body is handed to ``R2.put`` with no ig code involved.

Run: ``uv run python bench/worker_cpu.py`` (about 3 minutes; ``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from fixtures.fake_runware import FakeRunware  # noqa: E402
from fixtures.payloads import IMAGE_JOB  # noqa: E402
from machine import cpu_model  # noqa: E402
from worker.ig_worker import IgWorker, start_harness  # noqa: E402
from worker.runtime_cache import ensure_worker_runtime  # noqa: E402

from ig.adapters.local.runtime import LocalRuntime  # noqa: E402
from ig.completion.consumer import handle_message  # noqa: E402
from ig.settings import JOBS_QUEUE, Settings  # noqa: E402

BASE = "http://ig.test"
TAG = "bench"
OPERATIONS = (
    "POST /v1/jobs",
    "Runware webhook",
    "store message (one result)",
    "GET /v1/jobs/{id}",
    "GET /v1/artifacts?tag= (50 items)",
    "GET /?tag= (the gallery's library page, 50 tiles)",
    "GET /healthz (the runtime's floor: no D1, no R2)",
)
FLOOR = OPERATIONS[-1]
GALLERY = OPERATIONS[-2]


def job_body() -> dict[str, Any]:
    return {**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}, "tags": [TAG]}


def webhook_path(fake: FakeRunware, job_id: str) -> tuple[str, dict[str, Any]]:
    task = fake.tasks[job_id]
    [item] = fake.results_for(task)
    return urlsplit(task["webhookURL"]).path, item


# ------------------------------------------------------------------------------------- the Worker


class WorkerSide:
    def __init__(self, fake: FakeRunware) -> None:
        self.h = start_harness(ensure_worker_runtime())
        self.ig = IgWorker(self.h, fake)
        self.fake = fake
        self.binding_ms: dict[str, list[float]] = {name: [] for name in OPERATIONS}
        self.binding_calls: dict[str, list[int]] = {name: [] for name in OPERATIONS}
        self.statements: dict[str, list[int]] = {name: [] for name in OPERATIONS}
        self.ig.reset()

    def record(self, figures: dict[str, list[float]], name: str) -> None:
        """The last command's CPU, less what Miniflare's binding proxies spent in it."""
        binding = self.h.last_binding_cpu_us / 1000
        figures[name].append(self.h.last_cpu_us / 1000 - binding)
        self.binding_ms[name].append(binding)
        self.binding_calls[name].append(self.h.last_binding_calls)
        self.statements[name].append(self.h.last_d1_statements)

    def fetch(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.ig.fetch(method, path, **kwargs)
        assert r.status < 300, (method, path, r.status, r.text)
        return r

    def one_message(self, kind: str) -> None:
        batch = self.h.queue(JOBS_QUEUE, max_batch_size=1)
        assert batch is not None and batch["exception"] is None, batch
        [message] = batch["messages"]
        assert message["body"]["type"] == kind and message["outcome"] == "acked", message

    def operations(self, jobs: int, reads: int) -> dict[str, list[float]]:
        figures: dict[str, list[float]] = {name: [] for name in OPERATIONS}
        job_ids = []
        for _ in range(jobs):
            job_id = self.fetch("POST", "/v1/jobs", json=job_body()).json()["id"]
            self.record(figures, "POST /v1/jobs")
            job_ids.append(job_id)
            path, item = webhook_path(self.fake, job_id)
            self.fetch("POST", path, json=item)
            self.record(figures, "Runware webhook")
            self.one_message("event")
            self.record(figures, "store message (one result)")
        assert all(self.ig.job(j)["status"] == "succeeded" for j in job_ids[-3:])
        for index in range(reads):
            self.fetch("GET", f"/v1/jobs/{job_ids[index % len(job_ids)]}")
            self.record(figures, "GET /v1/jobs/{id}")
            r = self.fetch("GET", f"/v1/artifacts?tag={TAG}&limit=50")
            assert len(r.json()["items"]) == min(50, jobs)
            self.record(figures, "GET /v1/artifacts?tag= (50 items)")
            page = self.fetch("GET", f"/?tag={TAG}&limit=50")
            assert page.text.count('data-testid="tile"') == min(50, jobs)
            self.record(figures, GALLERY)
            self.fetch("GET", "/healthz")
            self.record(figures, FLOOR)
        return figures

    def store(self, size: int, *, chunked: bool) -> tuple[float, float, str]:
        """The whole CPU of the message that stores one ``size``-byte output, the part of it
        spent while no binding call was in flight, and the output's URL."""
        self.ig.reset()
        self.fake.large_output_bytes = size
        self.fake.media_chunked = chunked
        try:
            job_id = self.ig.submitted(job_body())
            path, item = webhook_path(self.fake, job_id)
            self.fetch("POST", path, json=item)
            self.one_message("event")
            cpu = self.h.last_cpu_us / 1000
            outside = (self.h.last_cpu_us - self.h.last_binding_cpu_us) / 1000
            [artifact] = self.ig.artifacts(job_id)
            assert artifact["size"] == size
            return cpu, outside, artifact["source_url"]
        finally:
            self.fake.large_output_bytes, self.fake.media_chunked = 0, False

    def plain_pipe(self, url: str) -> float:
        """The whole CPU of ``R2.put(key, (await fetch(url)).body)``, with no ig code."""
        self.h.request("r2_put_url", url=url, key="bench/plain", timeout=600)
        return self.h.last_cpu_us / 1000

    def per_megabyte(self, small: int, big: int) -> dict[str, float]:
        """CPU per MB of each way of storing, from the difference between a ``big`` and a
        ``small`` output (what the message costs whatever the size cancels out)."""
        cpu: dict[str, dict[int, float]] = {way: {} for way in (*WAYS, *OUTSIDE)}
        for size in (small, big):
            cpu[WAYS[0]][size], cpu[OUTSIDE[0]][size], url = self.store(size, chunked=False)
            cpu[WAYS[2]][size] = self.plain_pipe(url)  # the same bytes from the same server
            cpu[WAYS[1]][size], cpu[OUTSIDE[1]][size], _ = self.store(size, chunked=True)
            self.fake.media.clear()
        megabytes = (big - small) / 1_000_000
        return {way: (values[big] - values[small]) / megabytes for way, values in cpu.items()}

    def close(self) -> None:
        self.h.close()


WAYS = (
    "ig, length declared (the runtime pipes it into R2)",
    "ig, no length declared (the bytes pass through Python)",
    "plain fetch body handed to R2.put, no ig code",
)
OUTSIDE = ("outside binding calls, length declared", "outside binding calls, no length declared")


# ------------------------------------------------------------------------------- the local runtime


class LocalSide:
    def __init__(self, fake: FakeRunware, data_dir: Path) -> None:
        settings = Settings(
            runware_api_key=fake.api_key,
            runware_api_url=fake.url,
            media_hosts=("127.0.0.1",),
            public_url=BASE,
        )
        self.runtime = LocalRuntime(data_dir, settings)
        self.fake = fake

    async def call(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes, float]:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"ig.test"), (b"content-type", b"application/json")],
            "server": ("ig.test", 80),
            "client": ("127.0.0.1", 50000),
        }
        delivered = False
        answer: dict[str, Any] = {"status": 0, "body": bytearray()}

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await asyncio.Event().wait()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        started = time.thread_time()
        await self.runtime.app(scope, receive, send)
        cpu = (time.thread_time() - started) * 1000
        assert answer["status"] < 300, (method, target, answer)
        return answer["status"], bytes(answer["body"]), cpu

    async def one_message(self, kind: str) -> float:
        spent: list[float] = []

        async def handler(queue: str, body: Any, attempts: int) -> Any:
            if body["type"] != kind:  # a thumbnail's message (the Worker side has no Images binding): not timed
                return await handle_message(self.runtime.deps, queue, body, attempts)
            started = time.thread_time()
            decision = await handle_message(self.runtime.deps, queue, body, attempts)
            spent.append((time.thread_time() - started) * 1000)
            return decision

        while not spent:
            handled = await self.runtime.queue.consume_once(handler, batch_size=1)
            assert handled == 1, (kind, handled, self.runtime.queue.pending())
        return spent[0]

    async def operations(self, jobs: int, reads: int) -> dict[str, list[float]]:
        import json

        figures: dict[str, list[float]] = {name: [] for name in OPERATIONS}
        job_ids = []
        for _ in range(jobs):
            _, answer, cpu = await self.call("POST", "/v1/jobs", json.dumps(job_body()).encode())
            figures["POST /v1/jobs"].append(cpu)
            job_id = json.loads(answer)["id"]
            job_ids.append(job_id)
            path, item = webhook_path(self.fake, job_id)
            _, _, cpu = await self.call("POST", path, json.dumps(item).encode())
            figures["Runware webhook"].append(cpu)
            figures["store message (one result)"].append(await self.one_message("event"))
        for index in range(reads):
            _, _, cpu = await self.call("GET", f"/v1/jobs/{job_ids[index % len(job_ids)]}")
            figures["GET /v1/jobs/{id}"].append(cpu)
            _, answer, cpu = await self.call("GET", f"/v1/artifacts?tag={TAG}&limit=50")
            assert len(json.loads(answer)["items"]) == min(50, jobs)
            figures["GET /v1/artifacts?tag= (50 items)"].append(cpu)
            _, page, cpu = await self.call("GET", f"/?tag={TAG}&limit=50")
            assert page.decode().count('data-testid="tile"') == min(50, jobs)
            figures[GALLERY].append(cpu)
            _, _, cpu = await self.call("GET", "/healthz")
            figures[FLOOR].append(cpu)
        return figures

    async def close(self) -> None:
        await self.runtime.stop()


# ------------------------------------------------------------------------------------------ report


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores; CPython {platform.python_version()}"


def mean(values: list[float]) -> float:
    # The first calls pay for lazily built models and warm caches: they are left out of both sides.
    return statistics.fmean(values[len(values) // 10 :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--output-kb", type=int, default=100)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 jobs, 40 reads, a 50 MB output once")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.reads, args.big_mb, args.repeats = 20, 40, 50, 1

    print(f"machine: {machine()}")
    fake = FakeRunware().start()
    fake.drop_webhooks = True
    fake.large_output_bytes = args.output_kb * 1000
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = LocalSide(fake, Path(tmp))

            async def run_local() -> dict[str, list[float]]:
                try:
                    return await local.operations(args.jobs, args.reads)
                finally:
                    await local.close()

            print(f"local runtime: {args.jobs} jobs with {args.output_kb} KB outputs, {args.reads} reads ...")
            local_figures = asyncio.run(run_local())
        print("Worker (Pyodide + Miniflare): the same ...")
        worker = WorkerSide(fake)
        ready = worker.h.ready or {}
        print(f"Worker runtime: Node {ready.get('node')}, Pyodide {ready.get('pyodide')}")
        try:
            fake.large_output_bytes = args.output_kb * 1000
            worker_figures = worker.operations(args.jobs, args.reads)
            fake.large_output_bytes = 0
            print(f"Worker: storing 1 MB and {args.big_mb} MB outputs, {args.repeats} times each way ...")
            rounds = [worker.per_megabyte(1_000_000, args.big_mb * 1_000_000) for _ in range(args.repeats)]
        finally:
            worker.close()
    finally:
        fake.stop()

    print()
    print("CPU per operation (mean after the first tenth of the calls). Worker: Node's CPU for the")
    print("command less the part spent in Miniflare's binding proxies (shown apart, with the calls).")
    print("| operation | Worker (ig) | local CPython | Worker / local | D1 statements | binding proxies (calls) |")
    print("|---|---|---|---|---|---|")
    for name in OPERATIONS:
        on_worker, on_local = mean(worker_figures[name]), mean(local_figures[name])
        binding, calls = mean(worker.binding_ms[name]), mean(worker.binding_calls[name])
        statements = mean(worker.statements[name])
        print(
            f"| {name} | {on_worker:.2f} ms | {on_local:.2f} ms | {on_worker / on_local:.1f}x "
            f"| {statements:.1f} | {binding:.1f} ms ({calls:.0f}) |"
        )
    print()
    print(f"Worker CPU per MB stored, from 1 MB and {args.big_mb} MB outputs (median of {args.repeats} rounds;")
    print("the excess is taken round by round, against the plain pipe of the same round):")
    print("| way | CPU per MB | above the plain pipe | not inside a binding call |")
    print("|---|---|---|---|")
    for way, outside in zip(WAYS, (*OUTSIDE, None), strict=True):
        per_mb = statistics.median(r[way] for r in rounds)
        excess = statistics.median(r[way] - r[WAYS[2]] for r in rounds)
        alone = f"{statistics.median(r[outside] for r in rounds):.2f} ms" if outside else "-"
        print(f"| {way} | {per_mb:.2f} ms | {excess:+.2f} ms | {alone} |")
    print()
    print("'Not inside a binding call': CPU spent while no D1/R2/queue call was in flight, i.e. ig's")
    print("Python and what it drives itself. With the length declared the bytes are pumped by the")
    print("runtime inside R2's put (here Node's JS streams emulating workerd's native ones).")


if __name__ == "__main__":
    main()
