"""Reliability and ingest figures for ig's local runtime, all from one run:

    uv run python bench/reliability.py [--jobs 200] [--results 5] [--requests 2000] [--repeats 5]

Every measurement talks to a real ``ig serve`` (``python -m ig.adapters.local.cli``, what
``uv run ig serve`` runs) in its own process, over HTTP on loopback, with SQLite and files in a
temporary data directory. Runware is ``tests/fixtures/fake_runware.py``'s ``FakeRunware`` (the real
protocol: task acks, webhook URLs with per-job tokens, result items in Runware's shape), running
in this process. Large outputs come from ``bench/media_server.py``, a separate process that
streams deterministic bytes, so neither ig nor a plain download shares an interpreter with the
server it downloads from.

1. **Ingest throughput** (100 KB outputs): ``--jobs`` imageInference jobs of ``--results``
   results each are submitted (``POST /v1/jobs/batch``) with webhook delivery held back. Then
   one webhook per result is POSTed to ig (flat Runware bodies from ``FakeRunware.results_for``,
   16 jobs at a time, each job's results in order, as Runware does), and the clock runs from the
   first webhook POST until every job is ``succeeded`` in ig's database (polled every 10 ms):
   each result's 100 KB output downloaded from FakeRunware's media path, hashed, probed, written
   and fsynced to the blob store, and committed. Reported as results per second, with the CPU
   time the ig process spent per result (``/proc/<pid>/stat``), which a busy machine disturbs less.
   ``ig serve`` runs with ``IG_QUEUE_MAX_CONCURRENCY`` set to ``--consumers`` (8; the setting's
   default is 1), so its queue consumer handles up to that many batches at once. The webhooks go
   out through aiohttp, the cheapest client per request: the load generator (this process: the
   webhook POSTs, FakeRunware serving the outputs, the polling) shares the cores with ig, and the
   CPU it, ig and every other process used during the run is printed beside what the cores could
   give in that time (``/proc/stat``).

2. **Large-output overhead** (200 MB): ig ingesting a job whose one result names a 200 MB URL,
   from the webhook POST until the job is ``succeeded`` (download, sha256, probe, file write,
   fsync, rename, commit), against the fastest plain transfer of the same bytes: a stdlib loop
   (``http.client``, no HTTP client library) that reads the body into a 1 MiB buffer, writes it
   to a file and fsyncs it. Two more references: a streaming httpx GET with the bytes discarded,
   and httpx GET + write + fsync. ``--repeats`` rounds, interleaved; medians; the ratio is ig /
   the stdlib loop, against a 1.3x target. The CPU ig used for the transfer and the CPU of the
   thread that ran the stdlib loop are printed too: on a busy machine the wall times swing, and
   the CPU says what each costs.

3. **Peak memory while storing 1 GB**: a fresh ``ig serve`` ingests a 1 MB output first (so
   imports and connection pools exist), then its resident set (``VmRSS`` in
   ``/proc/<pid>/status``) is the baseline; the peak is ``VmHWM`` (reset through
   ``/proc/<pid>/clear_refs`` when allowed) and ``VmRSS`` sampled every 2 ms while it ingests a
   1 GB output. Growth = peak − baseline; the target is under 64 MB. The table also gives the
   peak above the RSS of the idle server before the warm-up (what the first ingest's imports add).

4. **Read latency**: ``GET /v1/jobs/{id}`` (a job from step 1 with its ``--results``
   artifacts) against ``GET /healthz``, interleaved one for one (the order alternating), on one
   keep-alive ``httpx.Client``, ``--requests`` each after 200 of each as warm-up. p50 and p99
   (nearest rank) and the ratio job / healthz.

The machine (CPU model, cores, RAM, kernel, Python, SQLite) is printed with the figures. The
benchmark runs next to the server on the same cores, so treat single figures as ±30 % on a
shared machine."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import math
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from fixtures.fake_runware import FakeRunware  # noqa: E402
from machine import cpu_model  # noqa: E402
from media_server import body as media_body  # noqa: E402

MB = 1024 * 1024
TARGET_GROWTH_MB = 64
TARGET_TRANSFER_RATIO = 1.3
BATCH = 50
WEBHOOK_CONCURRENCY = 16


# --- the machine --------------------------------------------------------------------------------


def machine() -> str:
    cpu = cpu_model()
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
        cpu += " (VM)" if " hypervisor" in flags else ""
    except (OSError, StopIteration):
        pass
    ram = "?"
    try:
        kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
        ram = f"{kb / MB:.1f} GB"
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram} RAM, Linux {platform.release()}, "
        f"{platform.python_implementation()} {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (``/proc/stat``: user, nice, system, irq and
    softirq; not idle, iowait, or steal, the time the hypervisor gave to others)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time this process (the load generator, FakeRunware's threads) has used."""
    times = os.times()
    return times.user + times.system


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MediaServer:
    """``bench/media_server.py`` in its own process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "media_server.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"media server did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"

    def url(self, size: int, name: str) -> str:
        return f"{self.base}/bytes/{size}/{name}.bin"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class IgServer:
    """``ig serve`` in its own process, pointed at a FakeRunware, with webhooks enabled."""

    def __init__(self, data_dir: Path, fake: FakeRunware, consumers: int) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IG_", "RUNWARE_"))}
        env.update(
            RUNWARE_API_KEY=fake.api_key,
            RUNWARE_API_URL=fake.url,
            IG_PUBLIC_URL=self.url,
            IG_MEDIA_HOSTS="127.0.0.1",
            IG_QUEUE_MAX_CONCURRENCY=str(consumers),
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        )
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self._log = open(self.log_path, "wb")
        command = [sys.executable, "-m", "ig.adapters.local.cli", "--port", str(port)]
        command += ["--data-dir", str(data_dir), "--sweep-interval", "3600"]
        self.proc = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ig serve did not start; see {self.log_path}")
            time.sleep(0.05)
        self._db = sqlite3.connect(data_dir / "ig.sqlite3", check_same_thread=False)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read ig's database directly (WAL: readers never block ig's writer)."""
        return self._db.execute(sql, params).fetchall()

    def memory_kb(self) -> dict[str, int]:
        found = {}
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    found[name] = int(value.split()[0])
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time ig has used so far (``/proc/<pid>/stat`` utime + stime)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False when not allowed."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as refs:
                refs.write("5")
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self._db.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# --- ig helpers ---------------------------------------------------------------------------------


def job_request(prompt: str, results: int) -> dict[str, Any]:
    return {
        "task": "imageInference",
        "model": "runware:100@1",
        "params": {"positivePrompt": prompt, "width": 512, "height": 512, "numberResults": results},
        "tags": ["bench:reliability"],
    }


async def submit(client: httpx.AsyncClient, count: int, results: int) -> list[str]:
    ids: list[str] = []
    for first in range(0, count, BATCH):
        jobs = [job_request(f"bench job {i}", results) for i in range(first, min(first + BATCH, count))]
        response = await client.post("/v1/jobs/batch", json={"jobs": jobs})
        assert response.status_code == 200, response.text[:500]
        for item in response.json()["items"]:
            assert "job" in item and item["job"]["status"] == "submitted", item
            ids.append(item["job"]["id"])
    return ids


async def wait_terminal(ig: IgServer, ids: list[str], poll: float, timeout: float) -> float:
    """Poll ig's database until every job is terminal; return the moment (perf_counter)."""
    marks = ",".join("?" * len(ids))
    deadline = time.perf_counter() + timeout
    while True:
        done = ig.rows(f"SELECT status, count(*) FROM jobs WHERE id IN ({marks}) GROUP BY status", tuple(ids))
        counts = dict(done)
        if counts.get("succeeded", 0) + counts.get("failed", 0) == len(ids):
            moment = time.perf_counter()
            if counts.get("failed"):
                errors = ig.rows(f"SELECT error FROM jobs WHERE status = 'failed' AND id IN ({marks})", tuple(ids))
                raise RuntimeError(f"{counts['failed']} jobs failed, e.g. {errors[0][0]}")
            return moment
        if time.perf_counter() > deadline:
            raise TimeoutError(f"jobs not finished after {timeout} s: {counts}")
        await asyncio.sleep(poll)


async def post_webhook(client: httpx.AsyncClient, url: str, item: dict[str, Any]) -> None:
    response = await client.post(url, content=json.dumps(item).encode(), headers={"content-type": "application/json"})
    assert response.status_code == 200, (response.status_code, response.text[:300])


# --- 1. ingest throughput -----------------------------------------------------------------------


async def throughput(ig: IgServer, fake: FakeRunware, jobs: int, results: int, size: int) -> dict[str, Any]:
    fake.drop_webhooks = True
    fake.large_output_bytes = size
    async with httpx.AsyncClient(base_url=ig.url, timeout=60, trust_env=False) as client:
        ids = await submit(client, jobs, results)
    deliveries = [(fake.tasks[i]["webhookURL"], fake.results_for(fake.tasks[i])) for i in ids]
    gate = asyncio.Semaphore(WEBHOOK_CONCURRENCY)
    # The webhooks go out through aiohttp: it costs this process a quarter of httpx's CPU per
    # request, and this process shares the cores with the ig it measures.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def deliver(url: str, items: list[dict[str, Any]]) -> None:
            async with gate:
                for item in items:
                    body = json.dumps(item).encode()
                    async with session.post(url, data=body, headers={"content-type": "application/json"}) as answer:
                        assert answer.status == 200, (answer.status, (await answer.text())[:300])

        cpu_before, own_before, busy_before = ig.cpu_seconds(), own_cpu_seconds(), machine_busy_seconds()
        started = time.perf_counter()
        waiter = asyncio.create_task(wait_terminal(ig, ids, poll=0.01, timeout=600))
        await asyncio.gather(*(deliver(url, items) for url, items in deliveries))
        posted = time.perf_counter() - started
        finished = await waiter
        cpu = ig.cpu_seconds() - cpu_before
        own, busy = own_cpu_seconds() - own_before, machine_busy_seconds() - busy_before
    fake.large_output_bytes = 0
    marks = ",".join("?" * len(ids))
    stored, total = ig.rows(f"SELECT count(*), sum(size) FROM artifacts WHERE job_id IN ({marks})", tuple(ids))[0]
    assert stored == jobs * results and total == stored * size, (stored, total)
    seconds = finished - started
    return {
        "ids": ids,
        "results": stored,
        "seconds": seconds,
        "posted": posted,
        "per_second": stored / seconds,
        "cpu_ms": cpu / stored * 1000,
        "cpu": cpu,
        "bench_cpu": own,
        "others_cpu": max(0.0, busy - cpu - own),
        "capacity": (os.cpu_count() or 1) * seconds,
    }


# --- 2 and 3. large outputs ---------------------------------------------------------------------


def expected_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for piece in media_body(size):
        digest.update(piece)
    return digest.hexdigest()


async def ingest_large(ig: IgServer, fake: FakeRunware, media: MediaServer, size: int) -> tuple[float, str, float]:
    """Submit one job, POST its webhook with a result naming a ``size``-byte URL, wait until the
    job is succeeded. Returns (seconds from the webhook POST, stored sha256, CPU seconds ig used)."""
    async with httpx.AsyncClient(base_url=ig.url, timeout=600, trust_env=False) as client:
        response = await client.post("/v1/jobs", json=job_request("one large output", 1))
        assert response.status_code == 202, response.text[:500]
        job_id = response.json()["id"]
        task = fake.tasks[job_id]
        fake.extra_result_fields = {"imageURL": media.url(size, job_id)}  # the result names the large URL
        try:
            (item,) = fake.results_for(task)
        finally:
            fake.extra_result_fields = {}
        started, cpu = time.perf_counter(), ig.cpu_seconds()
        await post_webhook(client, task["webhookURL"], item)
        finished = await wait_terminal(ig, [job_id], poll=0.005, timeout=600)
        cpu = ig.cpu_seconds() - cpu
    ((stored_size, sha),) = ig.rows("SELECT size, sha256 FROM artifacts WHERE job_id = ?", (job_id,))
    assert stored_size == size, (stored_size, size)
    return finished - started, sha, cpu


async def download(url: str, into: Path | None = None) -> float:
    """A plain streaming GET, bytes discarded (or written to ``into`` and fsynced)."""
    async with httpx.AsyncClient(timeout=600, trust_env=False) as client:
        started = time.perf_counter()
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
            if into is None:
                async for _ in response.aiter_bytes():
                    pass
            else:
                with open(into, "wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
        seconds = time.perf_counter() - started
    if into is not None:
        into.unlink()
    return seconds


def stdlib_transfer(url: str, into: Path, size: int) -> tuple[float, float]:
    """The fastest plain transfer of the body: ``http.client`` reads it into a 1 MiB buffer, each
    read is written to ``into``, then fsync. No HTTP client library, no hashing. Returns (seconds,
    CPU seconds of the thread that ran it)."""
    parts = urlsplit(url)
    started, cpu = time.perf_counter(), time.thread_time()
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        assert response.status == 200, response.status
        buffer = memoryview(bytearray(MB))
        with open(into, "wb", buffering=0) as out:
            while read := response.readinto(buffer):
                out.write(buffer[:read])
            os.fsync(out.fileno())
    finally:
        connection.close()
    seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu
    assert into.stat().st_size == size
    into.unlink()
    return seconds, cpu


async def overhead(
    ig: IgServer, fake: FakeRunware, media: MediaServer, size: int, repeats: int, scratch: Path
) -> dict[str, Any]:
    expected = expected_sha256(size)
    loop, loop_cpu, plain, to_file, through_ig, ig_cpu = [], [], [], [], [], []
    await download(media.url(size, "warm-up"))
    await asyncio.to_thread(stdlib_transfer, media.url(size, "warm-up"), scratch / "direct.bin", size)
    for round_ in range(repeats):
        direct = scratch / "direct.bin"
        seconds, cpu = await asyncio.to_thread(stdlib_transfer, media.url(size, f"loop-{round_}"), direct, size)
        loop.append(seconds)
        loop_cpu.append(cpu)
        plain.append(await download(media.url(size, f"plain-{round_}")))
        to_file.append(await download(media.url(size, f"file-{round_}"), scratch / "direct.bin"))
        seconds, sha, cpu = await ingest_large(ig, fake, media, size)
        assert sha == expected, "ig stored other bytes than the server sent"
        through_ig.append(seconds)
        ig_cpu.append(cpu)
    return {
        "loop": statistics.median(loop),
        "loop_cpu": statistics.median(loop_cpu),
        "plain": statistics.median(plain),
        "file": statistics.median(to_file),
        "ig": statistics.median(through_ig),
        "ig_cpu": statistics.median(ig_cpu),
        "ig_runs": through_ig,
        "loop_runs": loop,
    }


async def peak_memory(ig: IgServer, fake: FakeRunware, media: MediaServer, size: int) -> dict[str, Any]:
    idle = ig.memory_kb()["VmRSS"]
    await ingest_large(ig, fake, media, MB)  # warm-up: imports, pools, first blob
    await asyncio.sleep(0.5)
    baseline = ig.memory_kb()["VmRSS"]
    reset = ig.reset_peak()
    sampled = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                sampled.append(ig.memory_kb()["VmRSS"])
            except (OSError, KeyError):
                return
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds, _, _ = await ingest_large(ig, fake, media, size)
    finally:
        stop.set()
        sampler.join()
    after = ig.memory_kb()
    peak = max(max(sampled), after["VmHWM"]) if reset else max(sampled)
    return {
        "baseline_mb": baseline / 1024,
        "peak_mb": peak / 1024,
        "growth_mb": (peak - baseline) / 1024,
        "idle_mb": idle / 1024,
        "after_mb": after["VmRSS"] / 1024,
        "hwm_reset": reset,
        "samples": len(sampled),
        "seconds": seconds,
    }


# --- 4. read latency ----------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def latency(ig: IgServer, job_id: str, requests: int) -> dict[str, dict[str, float]]:
    paths = {"job": f"/v1/jobs/{job_id}", "healthz": "/healthz"}
    times: dict[str, list[float]] = {"job": [], "healthz": []}
    with httpx.Client(base_url=ig.url, timeout=30, trust_env=False) as client:
        for _ in range(200):
            for path in paths.values():
                assert client.get(path).status_code == 200
        for i in range(requests):
            order = ("job", "healthz") if i % 2 == 0 else ("healthz", "job")
            for name in order:
                started = time.perf_counter()
                response = client.get(paths[name])
                times[name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
    return {name: {"p50": percentile(t, 0.50), "p99": percentile(t, 0.99)} for name, t in times.items()}


# --- the run ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, scratch: Path) -> None:
    print(f"machine: {machine()}", flush=True)
    fake = FakeRunware().start()
    media = MediaServer()
    servers: list[IgServer] = []
    try:
        ig = IgServer(scratch / "ig-main", fake, args.consumers)
        servers.append(ig)
        step = f"1. ingest throughput: {args.jobs} jobs x {args.results} results of {args.output_kb} KB, "
        step += f"IG_QUEUE_MAX_CONCURRENCY={args.consumers}"
        print(step + " ...", flush=True)
        tp = await throughput(ig, fake, args.jobs, args.results, args.output_kb * 1024)
        print(
            f"   {tp['results']} results in {tp['seconds']:.2f} s = {tp['per_second']:.0f} results/s, "
            f"ig CPU {tp['cpu_ms']:.2f} ms per result",
            flush=True,
        )

        print(f"2. {args.big_mb} MB output: stdlib loop vs ig ingest, {args.repeats} rounds ...", flush=True)
        ov = await overhead(ig, fake, media, args.big_mb * MB, args.repeats, scratch)
        print(f"   stdlib loop {ov['loop']:.2f} s, ig {ov['ig']:.2f} s ({ov['ig'] / ov['loop']:.2f}x)", flush=True)

        print(f"3. peak memory of a fresh ig serve while storing {args.huge_mb} MB ...", flush=True)
        fresh = IgServer(scratch / "ig-memory", fake, args.consumers)
        servers.append(fresh)
        mem = await peak_memory(fresh, fake, media, args.huge_mb * MB)
        print(f"   baseline {mem['baseline_mb']:.1f} MB, peak {mem['peak_mb']:.1f} MB", flush=True)
        fresh.stop()
        servers.remove(fresh)

        print(f"4. read latency: {args.requests} x GET /v1/jobs/{{id}} and /healthz, interleaved ...", flush=True)
        lat = latency(ig, tp["ids"][0], args.requests)
        j, h = lat["job"], lat["healthz"]
        print(f"   job p50 {j['p50']:.2f} ms, healthz p50 {h['p50']:.2f} ms", flush=True)
    finally:
        for server in servers:
            server.stop()
        media.stop()
        fake.stop()

    big, huge = args.big_mb, args.huge_mb
    job, health = lat["job"], lat["healthz"]
    ratio = ov["ig"] / ov["loop"]
    rows = [
        (
            f"ingest throughput, {args.output_kb} KB outputs",
            f"{tp['per_second']:.0f} results/s",
            f"{tp['results']} results ({args.jobs} jobs x {args.results}) in {tp['seconds']:.2f} s, "
            f"{tp['per_second'] * args.output_kb / 1024:.1f} MB/s; IG_QUEUE_MAX_CONCURRENCY={args.consumers}; "
            f"webhooks all answered after {tp['posted']:.2f} s",
        ),
        (
            "ig CPU per result",
            f"{tp['cpu_ms']:.2f} ms",
            "webhook, event, queue, download, hash, write, fsync, commit (ig serve's user + system time)",
        ),
        (
            "CPU during the throughput run",
            f"{tp['cpu']:.2f} s ig",
            f"load generator {tp['bench_cpu']:.2f} s, other processes {tp['others_cpu']:.2f} s, "
            f"of {tp['capacity']:.2f} s the {os.cpu_count()} cores could give",
        ),
        (
            f"{big} MB: stdlib loop (read, write, fsync)",
            f"{ov['loop']:.2f} s",
            f"{big / ov['loop']:.0f} MB/s (median), CPU {ov['loop_cpu']:.2f} s; runs "
            + ", ".join(f"{s:.2f}" for s in ov["loop_runs"]),
        ),
        (f"{big} MB: httpx streaming GET, discarded", f"{ov['plain']:.2f} s", f"{big / ov['plain']:.0f} MB/s (median)"),
        (f"{big} MB: httpx GET + write + fsync", f"{ov['file']:.2f} s", f"{big / ov['file']:.0f} MB/s (median)"),
        (
            f"{big} MB: ig, webhook -> stored",
            f"{ov['ig']:.2f} s",
            f"{big / ov['ig']:.0f} MB/s (median), ig CPU {ov['ig_cpu']:.2f} s; runs "
            + ", ".join(f"{s:.2f}" for s in ov["ig_runs"]),
        ),
        (
            f"{big} MB: ig / stdlib loop",
            f"{ratio:.2f}x",
            f"target <= {TARGET_TRANSFER_RATIO}x: {'met' if ratio <= TARGET_TRANSFER_RATIO else 'MISSED'}; "
            f"ig / httpx GET + write + fsync = {ov['ig'] / ov['file']:.2f}x",
        ),
        (
            f"{huge} MB: RSS baseline -> peak",
            f"{mem['baseline_mb']:.1f} -> {mem['peak_mb']:.1f} MB",
            f"{mem['samples']} samples, VmHWM reset: {'yes' if mem['hwm_reset'] else 'no'}; "
            f"stored in {mem['seconds']:.1f} s ({huge / mem['seconds']:.0f} MB/s)",
        ),
        (
            f"{huge} MB: peak RSS growth",
            f"{mem['growth_mb']:.1f} MB",
            f"target < {TARGET_GROWTH_MB} MB: {'met' if mem['growth_mb'] < TARGET_GROWTH_MB else 'MISSED'}; "
            f"{mem['peak_mb'] - mem['idle_mb']:.1f} MB above the idle server before its first ingest",
        ),
        (
            "GET /v1/jobs/{id} p50 / p99",
            f"{job['p50']:.2f} / {job['p99']:.2f} ms",
            f"{args.requests} requests, job with {args.results} artifacts",
        ),
        ("GET /healthz p50 / p99", f"{health['p50']:.2f} / {health['p99']:.2f} ms", f"{args.requests} requests"),
        ("ratio job / healthz", f"{job['p50'] / health['p50']:.2f}x / {job['p99'] / health['p99']:.2f}x", "p50 / p99"),
    ]
    print()
    print(f"machine: {machine()}")
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value:>{value_width}}  {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs for the throughput run")
    parser.add_argument("--results", type=int, default=5, help="numberResults of each throughput job")
    parser.add_argument("--output-kb", type=int, default=100, help="size of each throughput output")
    parser.add_argument("--big-mb", type=int, default=200, help="the large output of the overhead run")
    parser.add_argument("--huge-mb", type=int, default=1024, help="the output of the memory run")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the overhead run")
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint for latency")
    parser.add_argument("--consumers", type=int, default=8, help="IG_QUEUE_MAX_CONCURRENCY of ig serve")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ig-reliability-"))
    started = time.perf_counter()
    try:
        asyncio.run(run(args, scratch))
    finally:
        if args.keep:
            print(f"data and logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
