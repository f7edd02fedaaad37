"""Guarantee 6, crash and restart: ``ig serve`` runs as a real process against the fake Runware,
is SIGKILLed with 20 jobs in flight (outputs being downloaded, events queued, webhooks still to
come), and restarted on the same data directory. Webhooks Runware sent while ig was down are
lost; the sweeper's polling recovers them. Afterwards every job has exactly its artifacts, no
row, submission or blob file exists twice or without its owner, and every stored byte is the
byte the fake served."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.fake_runware import FakeRunware, SubmitScript
from fixtures.payloads import IMAGE_JOB

from ig.adapters.local.runtime import LocalRuntime
from ig.completion.sweeper import SweepReport, sweep
from ig.settings import Settings

JOBS = 20
RESULTS = 2  # per job: 40 artifacts in all
# What the fake does with each job's two webhooks, by the job's seed:
DELIVERED = range(0, 8)  # both sent at once: processed, being processed or queued at the kill
HALF_LOST = range(8, 12)  # the first sent at once, the second while ig is down (lost)
LOST = range(12, 16)  # both sent while ig is down (lost)
LATE = range(16, 20)  # both sent after the restart
RESUBMITTED = (16, 17)  # the submit answer is a 503 though Runware took the task: ig resubmits


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class IgProcess:
    """``ig serve`` in a subprocess; its log goes to a file (a pipe nobody reads would block it)."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str], log: Path) -> None:
        self.data_dir, self.port, self.env, self.log = data_dir, port, env, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> IgProcess:
        command = [sys.executable, "-m", "ig.adapters.local.cli", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir), "--sweep-interval", "0.5"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, f"ig serve exited:\n{self.tail()}"
            assert time.monotonic() < deadline, f"ig serve did not start in {timeout}s:\n{self.tail()}"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, "ig serve died before the kill"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


def _rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def _files(root: Path) -> list[str]:
    """Every file under ``root``, hidden ones (temporary ``.partial`` files) included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _half_written(names: list[str]) -> list[str]:
    """The blob store's temporary files (``.partial/<id>``, formerly ``.<name>.<id>.partial``)."""
    return [n for n in names if n.startswith(".partial/") or n.endswith(".partial")]


def _wait_for(what: str, check: Callable[[], bool], timeout: float, ig: IgProcess) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{ig.tail()}"
        time.sleep(0.05)


async def _sweep_once(data: Path, env: dict[str, str]) -> SweepReport:
    """One sweep over ig serve's data directory, with its settings, from this process."""
    runtime = LocalRuntime(data, Settings.from_mapping(env))
    try:
        return await sweep(runtime.deps)
    finally:
        await runtime.stop()


@pytest.fixture
def gates(fake_runware: FakeRunware) -> Iterator[dict[str, threading.Event]]:
    """Events the fake's webhook threads wait on; all set at the end so its threads finish."""
    found = {"down": threading.Event(), "restarted": threading.Event()}
    yield found
    for event in found.values():
        event.set()


def test_guarantee_6_a_sigkill_mid_flight_then_restart_loses_and_duplicates_nothing(
    fake_runware: FakeRunware, gates: dict[str, threading.Event], tmp_path: Path, figure
):
    fake = fake_runware
    port = _free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IG_", "RUNWARE_"))}
    env.update(
        RUNWARE_API_URL=fake.url,
        RUNWARE_API_KEY=fake.api_key,
        IG_PUBLIC_URL=f"http://127.0.0.1:{port}",
        IG_MEDIA_HOSTS="127.0.0.1",
        IG_QUIET_SECONDS="1",
    )
    ig = IgProcess(data, port, env, tmp_path / "ig.log")
    db, queue_db, blobs = data / "ig.sqlite3", data / "queue.sqlite3", data / "blobs"

    def hold(task: dict[str, Any], index: int) -> None:
        seed = task["seed"]
        if seed in LOST or (seed in HALF_LOST and index == 1):
            gates["down"].wait()
        elif seed in LATE:
            gates["restarted"].wait()

    fake.before_webhook = hold
    fake.media_pause = 1.0  # downloads take a second: the kill lands in one
    fake.polls_before_done = 10**9  # until the kill, getResponse says "processing"

    try:
        ig.start()
        ids: dict[int, str] = {}
        with httpx.Client(base_url=ig.url, timeout=30) as client:
            for seed in range(JOBS):
                if seed == RESUBMITTED[0]:
                    fake.submit_script = [SubmitScript(503, {"error": "busy"}, accept_anyway=True)] * 2
                params = {**IMAGE_JOB["params"], "numberResults": RESULTS, "seed": seed, "width": 64, "height": 64}
                response = client.post("/v1/jobs", json={**IMAGE_JOB, "params": params})
                assert response.status_code == 202, response.text
                ids[seed] = response.json()["id"]

        # The kill: outputs stored, one being written, webhooks queued and others not yet sent.
        def mid_flight() -> bool:
            stored = _rows(db, "SELECT count(*) AS n FROM artifacts")[0]["n"]
            partial = bool(_half_written(_files(blobs)))
            return stored >= 3 and fake.media_in_flight > 0 and partial

        _wait_for("outputs being stored", mid_flight, 90, ig)
        ig.kill()
        killed_at = time.monotonic()

        statuses = Counter(r["status"] for r in _rows(db, "SELECT status FROM jobs"))
        at_kill = {
            "in_flight": JOBS - statuses["succeeded"],
            "artifacts": _rows(db, "SELECT count(*) AS n FROM artifacts")[0]["n"],
            "queued_messages": _rows(queue_db, "SELECT count(*) AS n FROM messages")[0]["n"],
            "partial_files": len(_half_written(_files(blobs))),
        }
        assert at_kill["in_flight"] >= 12 and at_kill["partial_files"] >= 1 and at_kill["queued_messages"] >= 1

        # While ig is down: Runware finishes the rest, and the webhooks it sends now are lost.
        fake.media_pause = 0
        fake.polls_before_done = 0
        gates["down"].set()
        lost = len(HALF_LOST) + len(LOST) * RESULTS
        _wait_for("webhooks sent while ig is down", lambda: sum(s == 0 for _, s in fake.webhook_posts) >= lost, 30, ig)

        started = time.monotonic()
        ig.start()
        gates["restarted"].set()

        def finished() -> bool:
            rows = _rows(db, "SELECT status FROM jobs")
            return all(r["status"] in ("succeeded", "failed") for r in rows)

        _wait_for("every job to finish after the restart", finished, 120, ig)
        recovered = time.monotonic() - started
        _wait_for(
            "the queue to empty",
            lambda: _rows(queue_db, "SELECT count(*) AS n FROM messages")[0]["n"] == 0,
            60,
            ig,
        )
        # Nothing may change after the end: a sweep now (ig serve runs one every 0.5 s as well)
        # finds nothing overdue, quiet or stuck, and queues nothing.
        assert asyncio.run(_sweep_once(data, env)) == SweepReport(timed_out=0, polled=0, resubmitted=0)
        assert _rows(queue_db, "SELECT count(*) AS n FROM messages") == [{"n": 0}]

        jobs = {r["id"]: r for r in _rows(db, "SELECT * FROM jobs")}
        assert sorted(jobs) == sorted(ids.values())
        assert {(j["status"], j["error"]) for j in jobs.values()} == {("succeeded", None)}, ig.tail()

        # Provider submissions: one task per job, each taken as new once (a resubmit is answered
        # conflictTaskUUID); webhooks lost while ig was down were recovered by polling.
        submits = Counter(t["taskUUID"] for tasks in fake.requests for t in tasks if t["taskType"] != "getResponse")
        assert sorted(fake.tasks) == sorted(ids.values())
        for seed, job_id in ids.items():
            assert submits[job_id] == (2 if seed in RESUBMITTED else 1), (seed, submits[job_id])
        assert sum(s == 0 for _, s in fake.webhook_posts) == lost
        polled = {t["taskUUID"] for tasks in fake.requests for t in tasks if t["taskType"] == "getResponse"}
        assert {ids[s] for s in [*HALF_LOST, *LOST]} <= polled

        # Rows: exactly the expected results and artifacts, once each.
        artifacts = _rows(db, "SELECT * FROM artifacts ORDER BY job_id, result_key")
        results = _rows(db, "SELECT * FROM results ORDER BY job_id, result_key")
        assert len(artifacts) == len(results) == JOBS * RESULTS
        expected = {
            (job_id, f"imageUUID:{item['imageUUID']}", item["imageURL"])
            for job_id in ids.values()
            for item in fake.results_for(fake.tasks[job_id])
        }
        assert {(a["job_id"], a["result_key"], a["source_url"]) for a in artifacts} == expected
        assert {(r["job_id"], r["result_key"]) for r in results} == {(j, k) for j, k, _ in expected}
        assert all(r["stored_at"] is not None for r in results)
        assert len({a["id"] for a in artifacts}) == len({a["seq"] for a in artifacts}) == len(artifacts)
        tags = _rows(db, "SELECT tag, count(*) AS n FROM artifact_tags GROUP BY tag ORDER BY tag")
        assert tags == [{"tag": t, "n": len(artifacts)} for t in sorted(IMAGE_JOB["tags"])]
        counts = _rows(db, "SELECT tag, artifacts AS n FROM tag_counts WHERE artifacts > 0 ORDER BY tag")
        assert counts == tags
        assert _rows(db, "SELECT count(*) AS n FROM artifact_search")[0]["n"] == len(artifacts)
        assert _rows(queue_db, "SELECT count(*) AS n FROM messages") == [{"n": 0}]  # nothing dead-lettered either

        # Blob files: one per artifact (plus its sidecar), nothing half-written or orphaned, and the
        # bytes are the bytes the fake served, also as ig serves them.
        keys = {a["blob_key"] for a in artifacts}
        originals = {f for f in _files(blobs) if not f.startswith("thumbnails/")}  # thumbnails: test_thumbnails
        assert originals == keys | {k + ".meta.json" for k in keys}
        with httpx.Client(base_url=ig.url, timeout=30) as client:
            for a in artifacts:
                served = fake.served_bytes(a["source_url"])
                stored = (blobs / a["blob_key"]).read_bytes()
                assert stored == served and a["size"] == len(served)
                assert a["sha256"] == hashlib.sha256(served).hexdigest()
                assert client.get(f"/v1/artifacts/{a['id']}/content").content == served
    except BaseException:
        print(ig.tail(200))
        raise
    finally:
        ig.stop()
        fake.before_webhook = None

    figure(
        "guarantee 6",
        f"SIGKILL with {at_kill['in_flight']}/{JOBS} jobs in flight ({at_kill['artifacts']}/{JOBS * RESULTS} "
        f"artifacts stored, {at_kill['partial_files']} half-written, {at_kill['queued_messages']} queue messages, "
        f"{lost} webhooks lost while down); recovered {recovered:.1f} s after the restart "
        f"({started - killed_at:.1f} s down): {len(artifacts)} artifacts, 0 duplicate rows, submissions or files",
    )
