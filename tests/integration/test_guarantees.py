"""ig's numbered guarantees, each measured on the local runtime over real HTTP on loopback against
the fake Runware: duplicate webhooks (1), a consumer that fails or dies mid-batch (2), a poison
message (3), lost webhooks (4), provider trouble (5), forged input (7) and limits (10). Each test
checks the rows, the blob files and their bytes, and reports what it measured through the
``figure`` fixture, so every run ends with a "guarantee figures" section.

Faults are injected at ig's ports (a blob store that fails after k puts, a queue that compresses
time, an HTTP client with a shorter timeout) or around the handler the queue is given, never by
replacing ig's own logic."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fixtures import media_samples
from fixtures.fake_runware import FakeRunware, SubmitScript
from fixtures.ports import CappedTimeout, HeldQueue, ScaledQueue, use_ports
from fixtures.waiting import until

from ig.settings import DEAD_LETTER_QUEUE, JOBS_QUEUE

# --- helpers ---------------------------------------------------------------------------------


def image_job(results: int = 1, seed: int = 1) -> dict[str, Any]:
    params = {"positivePrompt": "a lighthouse at dusk", "width": 128, "height": 128, "numberResults": results}
    return {
        "task": "imageInference",
        "model": "runware:101@1",
        "params": {**params, "seed": seed},
        "tags": ["guarantee", "run:test"],
    }


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def token_of(fake: FakeRunware, job_id: str) -> str:
    return fake.tasks[job_id]["webhookURL"].rsplit("/", 1)[-1]


def database_state(ig: Any) -> dict[str, list[str]]:
    """Every row of every table (FTS shadow tables included), read beside ig."""
    conn = sqlite3.connect(ig.data_dir / "ig.sqlite3")
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"'))) for name in names}
    finally:
        conn.close()


def blob_state(ig: Any) -> dict[str, str]:
    """Every file under the blob directory (hidden and partial files too), with its sha256."""
    root = ig.data_dir / "blobs"
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def queue_state(ig: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(ig.data_dir / "queue.sqlite3")
    try:
        return conn.execute("SELECT queue, body, attempts, leased FROM messages ORDER BY id").fetchall()
    finally:
        conn.close()


def everything(ig: Any) -> tuple[Any, ...]:
    return database_state(ig), blob_state(ig), queue_state(ig)


def partial_files(ig: Any) -> list[Path]:
    """Half-written blobs: ``*.partial`` files, or anything in a ``.partial`` directory."""
    found = ig.data_dir.rglob("*")
    return [p for p in found if p.is_file() and (p.name.endswith(".partial") or ".partial" in p.parts)]


def check_outputs(ig: Any, fake: FakeRunware, job_ids: list[str], per_job: int) -> list[dict[str, Any]]:
    """Exactly ``per_job`` results and artifacts per job, one blob file per artifact and no other,
    each holding the bytes the fake served for that output. Returns the artifact rows."""
    marks = ",".join("?" * len(job_ids))
    results = ig.rows(f"SELECT job_id, result_key, stored_at FROM results WHERE job_id IN ({marks})", tuple(job_ids))
    artifacts = ig.rows(f"SELECT * FROM artifacts WHERE job_id IN ({marks})", tuple(job_ids))
    assert Counter(r["job_id"] for r in results) == dict.fromkeys(job_ids, per_job)
    assert all(r["stored_at"] for r in results)
    assert Counter(a["job_id"] for a in artifacts) == dict.fromkeys(job_ids, per_job)
    outputs = [(a["job_id"], a["result_key"], a["output_name"]) for a in artifacts]
    assert len(set(outputs)) == len(outputs), "an output was stored twice"
    assert sorted(p.name for p in ig.blob_files()) == sorted(a["id"] for a in artifacts)
    for artifact in artifacts:
        stored = (ig.data_dir / "blobs" / artifact["blob_key"]).read_bytes()
        assert stored == fake.served_bytes(artifact["source_url"])
        assert artifact["sha256"] == hashlib.sha256(stored).hexdigest() and artifact["size"] == len(stored)
    searchable = ig.rows(f"SELECT count(*) AS n FROM artifact_search WHERE rowid IN (SELECT seq FROM artifacts "
                         f"WHERE job_id IN ({marks}))", tuple(job_ids))  # fmt: skip
    assert searchable == [{"n": len(artifacts)}]
    assert partial_files(ig) == []
    return artifacts


class FaultyBlobStore:
    """The blob store port, failing from put number ``ok + 1`` for ``failures`` puts. A failing put
    stores its blob completely and only then raises: the worst moment, a blob without its row."""

    def __init__(self, inner: Any, ok: int, failures: int, fault: type[BaseException]) -> None:
        self.inner, self.ok, self.failures, self.fault = inner, ok, failures, fault
        self.puts: list[str] = []

    async def put(self, key: str, chunks: AsyncIterable[bytes], **options: Any) -> Any:
        self.puts.append(key)
        stored = await self.inner.put(key, chunks, **options)
        if self.ok < len(self.puts) <= self.ok + self.failures:
            raise self.fault(f"injected fault on put {len(self.puts)}")
        return stored

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class WorkerCrash(BaseException):
    """The consumer dies mid-batch (interrupted, killed): nothing in ig may catch it."""


# --- 1. duplicate webhooks -------------------------------------------------------------------


async def test_guarantee_1_duplicate_webhooks_store_each_result_once(start_ig, fake_runware, figure):
    fake_runware.drop_webhooks = True  # the test delivers them
    ig = await start_ig(fake_runware)
    job_id = (await ig.submit(image_job(results=4, seed=10))).json()["id"]
    task = fake_runware.tasks[job_id]
    results = fake_runware.results_for(task)
    barrier = threading.Barrier(50, timeout=10)

    def deliver(index: int, together: bool) -> int:
        if together:
            barrier.wait()
        return fake_runware.post_webhook(task["webhookURL"], results[index % 4])

    started = time.monotonic()
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(50) as pool:
        statuses = await asyncio.gather(*(loop.run_in_executor(pool, deliver, i, True) for i in range(50)))
    for i in range(50, 60):
        statuses.append(await asyncio.to_thread(deliver, i, False))
    job = await ig.wait(job_id)
    await until(lambda: ig.runtime.queue.pending() == 0, what="the queue to drain")
    elapsed = time.monotonic() - started

    assert statuses == [200] * 60
    assert job["status"] == "succeeded" and len(job["artifacts"]) == 4
    artifacts = check_outputs(ig, fake_runware, [job_id], per_job=4)
    events = ig.rows("SELECT deliveries FROM provider_events WHERE job_id = ? AND source = 'webhook'", (job_id,))
    assert sorted(e["deliveries"] for e in events) == [15, 15, 15, 15]
    for artifact in job["artifacts"]:
        served = fake_runware.served_bytes(artifact["provenance"]["source_url"])
        assert (await ig.client.get(f"/v1/artifacts/{artifact['id']}/content")).content == served
    figure(
        "guarantee 1",
        f"60 deliveries (50 concurrent + 10 sequential) -> {statuses.count(200)} x 200; 4 results -> "
        f"{len(ig.rows('SELECT 1 FROM results WHERE job_id = ?', (job_id,)))} result rows, {len(artifacts)} "
        f"artifacts, {len(ig.blob_files())} blobs, bytes equal; 4 events counting 15 deliveries each; "
        f"settled in {elapsed:.2f} s",
    )


# --- 2. a consumer that fails or dies mid-batch ----------------------------------------------

BATCH, FAIL_AFTER = 8, 3


async def _queue_one_batch(ig: Any, fake: FakeRunware) -> str:
    """A job with BATCH results, whose webhooks queue BATCH messages while no consumer runs."""
    job_id = (await ig.submit(image_job(results=BATCH, seed=20))).json()["id"]
    task = fake.tasks[job_id]
    for result in fake.results_for(task):
        response = await ig.client.post(f"/webhooks/runware/{job_id}/{token_of(fake, job_id)}", json=result)
        assert response.status_code == 200
    assert ig.runtime.queue.pending() == BATCH
    return job_id


async def test_guarantee_2_an_exception_mid_batch_ends_with_every_artifact_once(start_ig, fake_runware, figure):
    fake_runware.drop_webhooks = True
    ig = await start_ig(fake_runware, background=False)
    job_id = await _queue_one_batch(ig, fake_runware)
    store = FaultyBlobStore(ig.runtime.deps.blobs, FAIL_AFTER, BATCH - FAIL_AFTER, OSError)
    use_ports(ig, blobs=store, thumbnailer=None)  # only the outputs' puts, counted and faulted

    started = time.monotonic()
    ig.runtime.start_background()  # one batch holds all eight messages
    job = await ig.wait(job_id, seconds=30)
    await until(lambda: ig.runtime.queue.pending() == 0, what="the queue to drain")
    elapsed = time.monotonic() - started

    assert job["status"] == "succeeded", job
    check_outputs(ig, fake_runware, [job_id], per_job=BATCH)
    put_counts = Counter(store.puts)
    assert len(put_counts) == BATCH and sorted(put_counts.values()) == [1] * FAIL_AFTER + [2] * (BATCH - FAIL_AFTER)
    [row] = ig.rows("SELECT last_error FROM jobs WHERE id = ?", (job_id,))
    noted = json.loads(row["last_error"])
    assert noted["code"] == "processing_error" and "injected fault" in noted["message"]
    figure(
        "guarantee 2 (exception)",
        f"{BATCH} messages in one batch, blob store raising after {FAIL_AFTER} -> {BATCH - FAIL_AFTER} retried "
        f"(blob rewritten under the same key) -> {BATCH} artifacts, {BATCH} result rows, {len(ig.blob_files())} "
        f"blobs, 0 duplicates, 0 partial files; done in {elapsed:.2f} s",
    )


async def test_guarantee_2_a_crash_mid_batch_is_redelivered_after_restart(start_ig, fake_runware, figure):
    fake_runware.drop_webhooks = True
    ig = await start_ig(fake_runware, background=False)
    job_id = await _queue_one_batch(ig, fake_runware)
    store = FaultyBlobStore(ig.runtime.deps.blobs, FAIL_AFTER, 1, WorkerCrash)
    use_ports(ig, blobs=store, thumbnailer=None)  # only the outputs' puts, counted and faulted

    ig.runtime.start_background()
    consumer = ig.runtime._tasks[0]
    await until(consumer.done, what="the consumer to die")
    assert isinstance(consumer.exception(), WorkerCrash)
    # The crash struck after the fourth blob was written and before its row: 3 artifacts, 4 blobs.
    assert len(ig.rows("SELECT 1 FROM artifacts WHERE job_id = ?", (job_id,))) == FAIL_AFTER
    assert len(ig.blob_files()) == FAIL_AFTER + 1
    left = queue_state(ig)
    assert len(left) == BATCH - FAIL_AFTER and all(leased == 0 for *_, leased in left)  # released, not stuck

    started = time.monotonic()
    restarted = await start_ig(fake_runware, data_dir=ig.data_dir)  # the process comes back
    job = await restarted.wait(job_id, seconds=30)
    await until(lambda: restarted.runtime.queue.pending() == 0, what="the queue to drain")
    elapsed = time.monotonic() - started

    assert job["status"] == "succeeded", job
    check_outputs(restarted, fake_runware, [job_id], per_job=BATCH)
    figure(
        "guarantee 2 (crash)",
        f"{BATCH} messages in one batch, consumer killed after {FAIL_AFTER} (4th blob written, row not) -> "
        f"{len(left)} messages released unleased -> after restart {BATCH} artifacts, {BATCH} result rows, "
        f"{len(restarted.blob_files())} blobs (the orphan overwritten, not doubled), 0 partial files; "
        f"restart to done {elapsed:.2f} s",
    )


# --- 3. a poison message ---------------------------------------------------------------------


async def test_guarantee_3_a_poison_message_is_dead_lettered_and_holds_nobody_up(start_ig, fake_runware, figure):
    retries = 2
    ig = await start_ig(fake_runware, queue_max_retries=retries, background=False)
    handled: list[tuple[str, str, int, Any]] = []  # (queue, job id, attempts, decision), as the queue saw them
    handle = ig.runtime._handle

    async def recording(queue: str, body: Any, attempts: int) -> Any:
        decision = await handle(queue, body, attempts)
        if body.get("type") != "thumbnail":  # the artifacts' own messages, not the jobs'
            handled.append((queue, body["job_id"], attempts, decision))
        return decision

    ig.runtime._handle = recording  # the handler the queue is given
    ig.runtime.start_background()
    fake_runware.drop_webhooks = True
    poison_id = (await ig.submit(image_job(seed=500))).json()["id"]
    others = [(await ig.submit(image_job(seed=600 + i))).json()["id"] for i in range(5)]
    [poison] = fake_runware.results_for(fake_runware.tasks[poison_id])
    poison_media = poison["imageURL"].rsplit("/", 1)[-1]
    del fake_runware.media[poison_media]  # its output answers 404, every time
    started = time.monotonic()
    for job_id in [poison_id, *others]:  # the poison first, the others queued behind it
        [result] = fake_runware.results_for(fake_runware.tasks[job_id]) if job_id != poison_id else [poison]
        response = await ig.client.post(f"/webhooks/runware/{job_id}/{token_of(fake_runware, job_id)}", json=result)
        assert response.status_code == 200

    finished = [await ig.wait(job_id) for job_id in others]
    others_done = time.monotonic() - started
    assert [job["status"] for job in finished] == ["succeeded"] * 5
    [row] = ig.rows("SELECT status, last_error FROM jobs WHERE id = ?", (poison_id,))
    assert row["status"] == "submitted" and json.loads(row["last_error"])["attempts"] == 1  # still retrying

    queue_db = sqlite3.connect(ig.data_dir / "queue.sqlite3", isolation_level=None)
    for _ in range(400):  # fast-forward the retry delays instead of sleeping through them
        queue_db.execute("UPDATE messages SET visible_at = 0 WHERE leased = 0")
        job = (await ig.client.get(f"/v1/jobs/{poison_id}")).json()
        if job["status"] == "failed":
            break
        await asyncio.sleep(0.05)
    queue_db.close()
    await until(lambda: ig.runtime.queue.pending() == 0, what="the dead letter to be consumed")

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "dead_lettered"
    assert job["error"]["last_error"]["attempts"] == retries + 1
    assert "HTTP 404" in job["error"]["last_error"]["message"]
    poison_path = [(queue, attempts, type(d).__name__) for queue, job_id, attempts, d in handled if job_id == poison_id]
    assert poison_path == [(JOBS_QUEUE, 1, "Retry"), (JOBS_QUEUE, 2, "Retry"), (JOBS_QUEUE, 3, "Retry"),
                           (DEAD_LETTER_QUEUE, 1, "Ack")]  # fmt: skip
    delays = [d.delay_seconds for _, job_id, _, d in handled if job_id == poison_id and hasattr(d, "delay_seconds")]
    assert delays[0] == 2 and 3 <= delays[1] <= 5  # backoff between the attempts
    assert [(job_id, type(d).__name__) for _, job_id, _, d in handled if job_id != poison_id] == [
        (job_id, "Ack") for job_id in others
    ]  # each other message handled once, first time
    assert others_done < delays[0]  # all done before the poison's first retry was due
    # Each delivery on the main queue, then one last lone attempt by the dead-letter consumer.
    assert fake_runware.media_gets.count(f"/media/{poison_media}") == retries + 2
    assert ig.rows("SELECT * FROM artifacts WHERE job_id = ?", (poison_id,)) == []
    check_outputs(ig, fake_runware, others, per_job=1)
    figure(
        "guarantee 3",
        f"poison message: attempts 1-{retries + 1} on {JOBS_QUEUE} (retry delays {delays[0]} s, {delays[1]} s, "
        f"fast-forwarded) -> {DEAD_LETTER_QUEUE} -> job failed dead_lettered, last error "
        f"{job['error']['last_error']['message']!r}; the 5 messages queued behind it were each handled once and "
        f"their jobs succeeded in {others_done:.2f} s, before its first retry was due; 5 artifacts, 5 blobs",
    )


# --- 4. lost webhooks ------------------------------------------------------------------------


async def test_guarantee_4_jobs_whose_webhooks_are_lost_complete_through_the_sweeper(start_ig, fake_runware, figure):
    interval, quiet, jobs, seed = 2.0, 1, 100, 2
    fake_runware.webhook_drop_ratio, fake_runware.webhook_drop_seed = 0.3, seed
    ig = await start_ig(fake_runware, sweep_interval=interval, quiet_seconds=quiet)
    gate = asyncio.Semaphore(10)

    async def submit(seed: int) -> str:
        async with gate:
            response = await ig.submit(image_job(seed=seed))
            assert response.status_code == 202, response.text
            return response.json()["id"]

    job_ids = await asyncio.gather(*(submit(1000 + i) for i in range(jobs)))

    def all_done() -> bool:
        rows = ig.rows("SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'submitted')")
        return rows[0]["n"] == 0

    await until(all_done, timeout=30, what="every job to finish")
    await ig.drained()  # and the thumbnails their artifacts asked for
    dropped = {task_uuid for task_uuid, _ in fake_runware.dropped_webhooks}
    rows = ig.rows("SELECT id, status, completed_at FROM jobs")
    assert {r["status"] for r in rows} == {"succeeded"} and len(rows) == jobs
    last_webhook = fake_runware.last_webhook_at
    lag = max(epoch(r["completed_at"]) for r in rows) - last_webhook
    check_outputs(ig, fake_runware, job_ids, per_job=1)
    sources = ig.rows("SELECT job_id, source, count(*) AS n FROM provider_events GROUP BY job_id, source")
    polled = {r["job_id"] for r in sources if r["source"] == "poll"}
    with_webhook = {r["job_id"] for r in sources if r["source"] == "webhook"}
    assert dropped <= polled and not dropped & with_webhook
    assert with_webhook == set(job_ids) - dropped
    assert lag <= 2 * interval, f"{lag:.2f} s from the last webhook to all complete"
    figure(
        "guarantee 4",
        f"{jobs} jobs, {len(dropped)} webhooks dropped (ratio 0.3, seed {seed}) -> {jobs} succeeded, {jobs} artifacts, "
        f"{len(ig.blob_files())} blobs; {len(dropped)} recovered by the sweeper's polls; last webhook -> all "
        f"complete {lag:.2f} s = {lag / interval:.2f} sweeper intervals (interval {interval:g} s, quiet {quiet} s)",
    )


# --- 5. provider trouble ---------------------------------------------------------------------

RETRY_AFTER = 7
TRANSIENT = [
    SubmitScript(429, {"errors": [{"code": "rateLimitExceeded", "message": "slow down"}]}, {"retry-after": "7"}),
    SubmitScript(503, {"errors": [{"code": "serviceUnavailable", "message": "busy"}]}),
    SubmitScript(504, {"errors": [{"code": "timeoutProvider", "message": "upstream timed out"}]}),
    SubmitScript(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
]


async def test_guarantee_5_transient_answers_are_retried_with_backoff_until_accepted(start_ig, fake_runware, figure):
    scale, jobs = 0.05, 6
    fake_runware.submit_policy = lambda task, seen: TRANSIENT[seen] if seen < len(TRANSIENT) else None
    ig = await start_ig(fake_runware)
    queue = ScaledQueue(ig.runtime.deps.queue, scale)
    use_ports(ig, queue=queue)

    answers = await asyncio.gather(*(ig.submit(image_job(seed=50 + i)) for i in range(jobs)))
    assert [(a.status_code, a.json()["status"]) for a in answers] == [(202, "queued")] * jobs
    job_ids = [a.json()["id"] for a in answers]
    finished = [await ig.wait(job_id, seconds=30) for job_id in job_ids]
    assert [job["status"] for job in finished] == ["succeeded"] * jobs

    sequences = []
    for job_id in job_ids:
        [row] = ig.rows("SELECT submit_attempts FROM jobs WHERE id = ?", (job_id,))
        assert row["submit_attempts"] == len(TRANSIENT) + 1
        events = ig.rows("SELECT http_status, body FROM provider_events WHERE job_id = ? AND source = 'submit'",
                         (job_id,))  # fmt: skip
        assert sorted(e["http_status"] for e in events) == [200, 429, 502, 503, 504]
        assert {e["http_status"]: e["body"] for e in events}[502] == TRANSIENT[3].body.decode()
        delays = queue.delays(job_id, "submit")
        assert delays[0] == RETRY_AFTER  # Retry-After wins over the 2 s backoff of attempt 1
        assert 3 <= delays[1] <= 5 and 6 <= delays[2] <= 10 and 13 <= delays[3] <= 19  # 2^n s, +-20 %
        times = [t for t, task_uuid in fake_runware.submit_times if task_uuid == job_id]
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert len(gaps) == len(delays) and all(g >= d * scale - 0.02 for g, d in zip(gaps, delays, strict=True))
        sequences.append(tuple(delays))
    assert len(set(sequences)) > 1, "no jitter: every job waited exactly as long"
    assert sorted(fake_runware.accepted) == sorted(job_ids)  # each taskUUID billed once
    check_outputs(ig, fake_runware, job_ids, per_job=1)
    figure(
        "guarantee 5 (transient)",
        f"{jobs} jobs x (429 Retry-After {RETRY_AFTER}, 503, 504, 502 HTML) -> all accepted on attempt 5, each "
        f"taskUUID billed once; requested delays {[list(map(int, s)) for s in sequences]} s (Retry-After honoured; "
        f"{len(set(sequences))} distinct sequences = jitter), applied x{scale}: every gap >= its delay",
    )


async def test_guarantee_5_refusals_fail_the_job_at_once_with_runwares_error(start_ig, fake_runware, figure):
    refusals = [
        (400, {"code": "invalidParameter", "message": "width must be a multiple of 64", "parameter": "width"}, 422),
        (401, {"code": "invalidApiKey", "message": "Invalid API key", "parameter": "apiKey"}, 502),
        (402, {"code": "insufficientCredits", "message": "Not enough credits"}, 502),
        (403, {"code": "forbidden", "message": "This key may not use runware:101@1"}, 502),
    ]
    ig = await start_ig(fake_runware)
    seen = []
    for status, error, answered in refusals:
        fake_runware.submit_script = [SubmitScript(status, {"errors": [error]})]
        response = await ig.submit(image_job())
        assert response.status_code == answered, response.text
        problem = response.json()
        job_id = problem["job_id"]
        [row] = ig.rows("SELECT status, error, submit_attempts FROM jobs WHERE id = ?", (job_id,))
        assert row["status"] == "failed" and row["submit_attempts"] == 0
        assert json.loads(row["error"])["provider_error"] == error
        assert (await ig.client.get(f"/v1/jobs/{job_id}")).json()["error"]["code"] == error["code"]
        events = ig.rows("SELECT http_status, body FROM provider_events WHERE job_id = ?", (job_id,))
        assert events == [{"http_status": status, "body": json.dumps({"errors": [error]})}]
        assert [task_uuid for _, task_uuid in fake_runware.submit_times].count(job_id) == 1
        seen.append(f"{status}->{answered}")
    # A retry would have been queued by the request that got the refusal, before it was answered.
    assert ig.runtime.queue.pending() == 0  # no retry was scheduled
    assert fake_runware.accepted == [] and fake_runware.tasks == {}
    figure(
        "guarantee 5 (refusals)",
        f"{', '.join(seen)}: each job failed on its only submit with Runware's error kept verbatim; "
        f"0 retries queued, 0 tasks billed",
    )


@pytest.mark.parametrize("webhooks", [False, True], ids=["polling", "webhooks"])
async def test_guarantee_5_a_timeout_after_acceptance_never_bills_twice(start_ig, fake_runware, figure, webhooks):
    hang, cap, scale = 3.0, 1.0, 0.25
    fake_runware.submit_script = [SubmitScript(200, None, accept_anyway=True, hang_seconds=hang)]
    ig = await start_ig(fake_runware, webhooks=webhooks)
    http = CappedTimeout(ig.runtime.deps.http, cap)
    # With webhooks the results come while the submit hangs; the resend ig schedules is held back
    # until they are stored, so it always comes second (as it would outside a loaded test machine).
    queue = HeldQueue(ScaledQueue(ig.runtime.deps.queue, scale), hold={"submit"} if webhooks else set())
    use_ports(ig, http=http, queue=queue)

    response = await ig.submit(image_job(results=2, seed=70))
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = await ig.wait(job_id, seconds=30)
    if webhooks:
        assert [body["type"] for body, _ in queue.held] == ["submit"]  # the resend was scheduled
        await queue.release()
    await ig.drained()

    assert job["status"] == "succeeded", job
    assert 60.0 in http.asked  # what ig asked of its HTTP client for the submit
    submits = [task_uuid for _, task_uuid in fake_runware.submit_times]
    assert set(submits) == {job_id} and fake_runware.accepted == [job_id]
    events = ig.rows("SELECT http_status, body FROM provider_events WHERE job_id = ? AND source = 'submit'", (job_id,))
    [row] = ig.rows("SELECT submit_attempts FROM jobs WHERE id = ?", (job_id,))
    if webhooks:  # the results beat the resend: the job is done, nothing is sent again
        assert len(submits) == 1 and events == []
    else:
        assert len(submits) == 2 and row["submit_attempts"] == 2
        [event] = events
        assert event["http_status"] == 400 and json.loads(event["body"])["errors"][0]["code"] == "conflictTaskUUID"
    check_outputs(ig, fake_runware, [job_id], per_job=2)
    figure(
        f"guarantee 5 (timeout, {'webhooks' if webhooks else 'polling'})",
        f"Runware accepted, then hung {hang:g} s past ig's timeout (60 s asked, capped to {cap:g} s) -> "
        f"{len(submits)} submit(s) of one taskUUID"
        + (", the resend answered conflictTaskUUID = accepted" if len(submits) == 2 else "")
        + f"; billed {fake_runware.accepted.count(job_id)} time; 2 artifacts, 2 blobs",
    )


# --- 7. forged input -------------------------------------------------------------------------


async def test_guarantee_7_forged_webhooks_are_refused_and_write_nothing(start_ig, fake_runware, figure):
    limit = 128 * 1024
    ig = await start_ig(fake_runware, max_webhook_bytes=limit)
    done_id = (await ig.submit(image_job(results=2, seed=80))).json()["id"]
    assert (await ig.wait(done_id))["status"] == "succeeded"
    fake_runware.drop_webhooks = True
    open_id = (await ig.submit(image_job(seed=81))).json()["id"]
    token, done_token = token_of(fake_runware, open_id), token_of(fake_runware, done_id)
    [result] = fake_runware.results_for(fake_runware.tasks[open_id])
    good = json.dumps(result).encode()
    huge = json.dumps({**result, "padding": "x" * limit}).encode()
    other_task = json.dumps({**result, "taskUUID": str(uuid.uuid4())}).encode()
    mixed = json.dumps([result, {**result, "taskUUID": done_id}]).encode()
    path = f"/webhooks/runware/{open_id}"
    forgeries: list[tuple[str, str, bytes]] = [  # (method, path, body)
        ("POST", f"{path}/wrong-token", good),
        ("POST", f"{path}/{done_token}", good),  # another job's token
        ("POST", f"{path}/{token[:-1]}", good),  # one character short
        ("POST", f"{path}/{'t' * 4096}", good),
        ("POST", f"/webhooks/runware/{uuid.uuid4()}/{token}", good),  # unknown job
        ("POST", f"/webhooks/runware/not-a-uuid/{token}", good),
        ("POST", f"{path}/{token}/extra", good),
        ("GET", f"{path}/{token}", b""),
        ("POST", f"{path}/wrong-token", huge),
        ("POST", f"{path}/{token}", huge),
        ("POST", f"{path}/{token}", b"{not json"),
        ("POST", f"{path}/{token}", b""),
        ("POST", f"{path}/{token}", b"null"),
        ("POST", f"{path}/{token}", b'"a string"'),
        ("POST", f"{path}/{token}", b"\xff\xfe\x00garbage"),
        ("POST", f"{path}/{token}", other_task),
        ("POST", f"{path}/{token}", mixed),
        ("POST", f"{path}/{token}", b"[" * 100_000),
        ("POST", f"{path}/{token}", b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ]
    before = everything(ig)
    requests_before, gets_before = len(fake_runware.requests), len(fake_runware.media_gets)
    gate = asyncio.Semaphore(20)

    async def forge(i: int) -> tuple[int, int]:
        method, target, body = forgeries[i % len(forgeries)]
        async with gate:
            response = await ig.client.request(method, target, content=body or None)
        assert response.headers["content-type"] == "application/problem+json", (i % len(forgeries), response.text)
        return i % len(forgeries), response.status_code

    started = time.monotonic()
    answers = await asyncio.gather(*(forge(i) for i in range(1000)))
    elapsed = time.monotonic() - started
    await ig.drained()  # anything a forgery had queued would have run by now

    by_kind = {kind: status for kind, status in answers}
    assert all(400 <= status < 500 for _, status in answers), sorted(set(answers))
    assert by_kind[8] == by_kind[9] == 413 and by_kind[17] == by_kind[18] == 422 and by_kind[7] == 405
    assert everything(ig) == before
    assert len(fake_runware.requests) == requests_before and len(fake_runware.media_gets) == gets_before
    assert (await ig.client.get(f"/v1/jobs/{open_id}")).json()["status"] == "submitted"
    counts = Counter(status for _, status in answers)
    figure(
        "guarantee 7 (forged webhooks)",
        f"1000 forged requests ({len(forgeries)} kinds) -> {len(answers)} x 4xx "
        f"({', '.join(f'{n} x {s}' for s, n in sorted(counts.items()))}) in {elapsed:.2f} s; every table's rows, "
        f"every blob file and the queue unchanged; 0 calls to Runware",
    )


async def test_guarantee_7_media_on_hosts_outside_the_allow_list_is_never_fetched(start_ig, fake_runware, figure):
    other = FakeRunware(host="127.0.0.2").start()  # another host, able to serve every output
    try:
        other.media = fake_runware.media
        elsewhere = f"127.0.0.2:{other.port}"
        ig = await start_ig(fake_runware)
        fake_runware.output_host = elsewhere  # results name the other host directly
        direct = (await ig.submit(image_job(seed=90))).json()["id"]
        assert (await ig.wait(direct))["status"] == "failed"
        fake_runware.output_host, fake_runware.drop_webhooks = None, True
        crafted = []
        for seed, how in enumerate(["redirect", "userinfo", "https"]):
            job_id = (await ig.submit(image_job(seed=91 + seed))).json()["id"]
            [result] = fake_runware.results_for(fake_runware.tasks[job_id])
            name = result["imageURL"].rsplit("/", 1)[-1]
            if how == "redirect":  # the allowed host answers 302 to the other one
                fake_runware.media_redirects[name] = f"http://{elsewhere}/media/{name}"
            elif how == "userinfo":
                result["imageURL"] = f"http://127.0.0.1:{fake_runware.port}@{elsewhere}/media/{name}"
            else:
                result["imageURL"] = f"https://{elsewhere}/media/{name}"
            token = token_of(fake_runware, job_id)
            assert (await ig.client.post(f"/webhooks/runware/{job_id}/{token}", json=result)).status_code == 200
            crafted.append(job_id)
        jobs = [await ig.wait(job_id) for job_id in [direct, *crafted]]

        assert [(j["status"], j["error"]["code"]) for j in jobs] == [("failed", "media_refused")] * 4
        assert other.media_gets == []
        assert ig.rows("SELECT * FROM artifacts") == [] and blob_state(ig) == {}
        redirected = [g for g in fake_runware.media_gets if g.rsplit("/", 1)[-1] in fake_runware.media_redirects]
        assert len(redirected) == 1  # the allowed host was asked, the redirect was not followed
    finally:
        other.stop()
    figure(
        "guarantee 7 (media hosts)",
        "4 jobs whose outputs live on 127.0.0.2 (named directly, 302 from the allowed host, userinfo trick, "
        f"https) -> 4 x failed media_refused, 0 artifacts, 0 blobs; the other host saw {len(other.media_gets)} "
        "requests",
    )


# --- 10. limits ------------------------------------------------------------------------------


async def test_guarantee_10_oversized_and_overdeep_input_is_refused_and_leaves_nothing(start_ig, fake_runware, figure):
    upload_limit = 64 * 1024
    ig = await start_ig(fake_runware, max_upload_bytes=upload_limit)
    png = media_samples.png(width=32, height=32, seed=3)
    source = (await ig.client.post("/v1/uploads", content=png, headers={"content-type": "image/png"})).json()
    fake_runware.drop_webhooks = True
    open_id = (await ig.submit(image_job(seed=100))).json()["id"]
    webhook = f"/webhooks/runware/{open_id}/{token_of(fake_runware, open_id)}"
    tags_path = f"/v1/artifacts/{source['id']}/tags"

    megabyte_plus = image_job()
    megabyte_plus["params"]["positivePrompt"] = "x" * (1024 * 1024)
    big_json = json.dumps(megabyte_plus).encode()
    big_png = png + bytes(upload_limit)
    boundary = "igbound"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + big_png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    many_tags = [f"t{i}" for i in range(51)]
    deep = b"[" * 100_000
    deep_params = json.dumps({**image_job(), "params": {"x": 1}}).encode().replace(b'{"x": 1}', b"[" * 65 + b"]" * 65)

    async def chunked(data: bytes):
        for offset in range(0, len(data), 64 * 1024):
            yield data[offset : offset + 64 * 1024]

    json_type = {"content-type": "application/json"}
    cases: list[tuple[str, str, str, Any, dict[str, str], dict[str, Any] | None, int]] = [
        # (what, method, path, body, headers, query, expected status)
        ("job > 1 MB", "POST", "/v1/jobs", big_json, json_type, None, 413),
        ("job > 1 MB, chunked", "POST", "/v1/jobs", chunked(big_json), json_type, None, 413),
        (
            "batch > 1 MB",
            "POST",
            "/v1/jobs/batch",
            json.dumps({"jobs": [megabyte_plus]}).encode(),
            json_type,
            None,
            413,
        ),
        ("preset > 1 MB", "PUT", "/v1/presets/big", big_json, json_type, None, 413),
        ("tag edit > 1 MB", "POST", tags_path, json.dumps({"add": ["x" * 2**20]}).encode(), json_type, None, 413),
        ("upload > limit", "POST", "/v1/uploads", big_png, {"content-type": "image/png"}, None, 413),
        ("upload > limit, chunked", "POST", "/v1/uploads", chunked(big_png), {"content-type": "image/png"}, None, 413),
        (
            "multipart > limit",
            "POST",
            "/v1/uploads",
            form,
            {"content-type": f"multipart/form-data; boundary={boundary}"},
            None,
            413,
        ),  # fmt: skip
        (
            "job, 51 tags",
            "POST",
            "/v1/jobs",
            json.dumps({**image_job(), "tags": many_tags}).encode(),
            json_type,
            None,
            422,
        ),  # fmt: skip
        (
            "preset, 51 tags",
            "PUT",
            "/v1/presets/tagged",
            json.dumps({"model": "runware:101@1", "tags": many_tags}).encode(),
            json_type,
            None,
            422,
        ),  # fmt: skip
        ("tag edit, 51 tags", "POST", tags_path, json.dumps({"add": many_tags}).encode(), json_type, None, 422),
        ("upload, 51 tags", "POST", "/v1/uploads", png, {"content-type": "image/png"}, {"tag": many_tags}, 422),
        ("job, 100000 levels", "POST", "/v1/jobs", deep, json_type, None, 422),
        ("job, params 65 levels", "POST", "/v1/jobs", deep_params, json_type, None, 422),
        ("batch, 100000 levels", "POST", "/v1/jobs/batch", deep, json_type, None, 422),
        ("preset, 100000 levels", "PUT", "/v1/presets/deep", deep, json_type, None, 422),
        ("tag edit, 100000 levels", "POST", tags_path, deep, json_type, None, 422),
        ("webhook, 100000 levels", "POST", webhook, deep, json_type, None, 422),
    ]
    tags_field = {  # where each route reads the tags it refuses
        ("POST", "/v1/jobs"): "tags",
        ("PUT", "/v1/presets/tagged"): "tags",
        ("POST", tags_path): "add",
        ("POST", "/v1/uploads"): "tag",
    }
    await ig.drained()  # ig's own work first (the upload above gets its thumbnail), so only the refusals count
    before = everything(ig)
    requests_before = len(fake_runware.requests)
    answers = []
    for what, method, path, body, headers, query, expected in cases:
        started = time.monotonic()
        response = await ig.client.request(method, path, content=body, headers=headers, params=query)
        answers.append((what, response.status_code, time.monotonic() - started))
        assert response.status_code == expected, (what, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json", what
        problem = response.json()
        if "levels" in what:
            assert problem["errors"][0]["code"] == "too_deeply_nested", (what, problem)
        if "tags" in what:
            assert [e["field"] for e in problem["errors"]] == [tags_field[method, path]], (what, problem)
    batch = await ig.client.post("/v1/jobs/batch", json={"jobs": [{**image_job(), "tags": many_tags}]})
    assert batch.status_code == 200 and batch.json()["items"][0]["error"]["status"] == 422

    assert everything(ig) == before
    assert partial_files(ig) == []
    assert len(fake_runware.requests) == requests_before
    deep_ms = max(seconds for what, _, seconds in answers if "100000" in what) * 1000
    counts = Counter(status for _, status, _ in answers)
    figure(
        "guarantee 10",
        f"{len(answers)} requests over the limits (bodies > 1 MB, uploads > {upload_limit // 1024} KiB, 51 tags, "
        f"JSON 65 and 100000 levels deep) -> {counts[413]} x 413, {counts[422]} x 422 (+ a batch item 422); "
        f"100000 levels refused in <= {deep_ms:.0f} ms as too_deeply_nested; rows, blob files and queue "
        f"unchanged, 0 partial files, 0 calls to Runware",
    )
