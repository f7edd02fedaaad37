"""The Python client (``ig_client``) against ig's local runtime on loopback with the mock provider:
the core flow, the library calls, and real failures put between the two by a flaky proxy
(``fixtures/flaky_proxy.py``): 429s and 503s, connections refused, answers lost, downloads cut and
corrupted. Every test runs with the sync client (on a worker thread) and with the async client,
which share one core: both must behave the same."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fixtures.callback_receiver import SECRET
from fixtures.flaky_proxy import FlakyProxy
from fixtures.media_samples import wav
from fixtures.servers import serve_in_background
from fixtures.waiting import until
from ig_client import (
    ApiError,
    AsyncClient,
    CancelledJob,
    ChecksumMismatch,
    Client,
    Conflict,
    ConnectionFailed,
    Gone,
    IgError,
    Job,
    JobFailed,
    NotFound,
    RateLimited,
    ServerError,
    TimedOut,
    ValidationError,
)
from ig_client._transfer import CHUNK_SIZE
from ig_client.webhooks import WebhookVerificationError, verify_callback
from standardwebhooks import Webhook

MOCK = {"model": "flux-schnell", "provider": "mock"}
SMALL = {"width": 64, "height": 64}
CONTENT = r"/v1/artifacts/[^/]+/content"
JOB = r"/v1/jobs/[^/]+"


class EitherClient:
    """The sync or the async client behind one awaitable face: ``await client(lambda c: c.jobs.get(id))``
    runs the sync call on a worker thread (ig's event loop goes on) or awaits the async one."""

    def __init__(self, flavour: str, url: str, **options: Any) -> None:
        self.flavour = flavour
        self.client: Client | AsyncClient = (Client if flavour == "sync" else AsyncClient)(url, **options)

    async def __call__(self, call: Callable[[Any], Any]) -> Any:
        if self.flavour == "sync":
            return await asyncio.to_thread(call, self.client)
        return await call(self.client)

    async def all(self, listing: Callable[[Any], Any]) -> list[Any]:
        if self.flavour == "sync":
            return await asyncio.to_thread(lambda: list(listing(self.client)))
        return [item async for item in listing(self.client)]

    async def close(self) -> None:
        if isinstance(self.client, AsyncClient):
            await self.client.close()
        else:
            self.client.close()


@pytest.fixture(params=["sync", "async"])
async def connect(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., EitherClient]]:
    made: list[EitherClient] = []

    def make(url: str, **options: Any) -> EitherClient:
        made.append(EitherClient(request.param, url, **options))
        return made[-1]

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def proxies() -> Iterator[Callable[[str], FlakyProxy]]:
    started: list[FlakyProxy] = []

    def start(upstream: str) -> FlakyProxy:
        started.append(FlakyProxy(upstream).start())
        return started[-1]

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A directory for the client's files, beside (not around) ig's data directory."""
    made = tmp_path / "out"
    made.mkdir()
    return made


def stored_bytes(ig: Any, artifact_id: str) -> bytes:
    [row] = ig.rows("SELECT blob_key FROM artifacts WHERE id = ?", (artifact_id,))
    return (ig.data_dir / "blobs" / row["blob_key"]).read_bytes()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the core flow ---------------------------------------------------------------------------------


async def test_generate_waits_reporting_progress_and_downloads_verified_files(start_ig, connect, out):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    seen: list[Job] = []
    job = await client(
        lambda c: c.generate(
            **MOCK,
            prompt="a fox in snow",
            params={**SMALL, "num_outputs": 2},
            tags=["user:42"],
            on_progress=seen.append,
        )
    )
    assert job.status == "succeeded" and len(job.artifacts) == 2
    assert [j.status for j in seen] == ["submitted", "succeeded"]
    assert job.params["positivePrompt"] == "a fox in snow"  # the prompt went to the task's own parameter
    assert [row["id"] for row in ig.rows("SELECT id FROM jobs")] == [job.id]
    progress: list[tuple[int, int | None]] = []
    for artifact in job.artifacts:
        path = await client(
            lambda c, a=artifact: c.artifacts.download(
                a, f"{out}/fresh/", on_progress=lambda done, total: progress.append((done, total))
            )
        )
        assert path == out / "fresh" / f"{artifact.id}.png"  # a directory written as one is made
        assert path.read_bytes() == stored_bytes(ig, artifact.id)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact.sha256
        assert progress[-1] == (artifact.size, artifact.size)
    assert sorted(os.listdir(out / "fresh")) == sorted(f"{a.id}.png" for a in job.artifacts)  # no temporary files


async def test_a_prompt_goes_to_prompt_for_a_task_without_positive_prompt(start_ig, connect):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    job = await client(
        lambda c: c.generate(
            task="promptEnhance", model="mock", provider="mock", prompt="a fox", params={"promptMaxLength": 100}
        )
    )
    assert job.params["prompt"] == "a fox" and "positivePrompt" not in job.params


async def test_bytes_are_read_into_memory_verified(start_ig, connect):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    job = await client(lambda c: c.generate(**MOCK, prompt="x", params=SMALL))
    data = await client(lambda c: c.artifacts.read(job.artifacts[0].id))
    assert data == stored_bytes(ig, job.artifacts[0].id)


async def test_a_bad_request_is_a_validation_error_naming_every_field_and_records_nothing(start_ig, connect):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    with pytest.raises(ValidationError) as raised:
        await client(lambda c: c.submit(**MOCK, params={"width": 3}))
    assert raised.value.status == 422 and raised.value.code == "validation_error"
    assert [e.field for e in raised.value.errors] == ["params.width", "params.positivePrompt"]
    assert raised.value.problem["errors"][0]["field"] == "params.width"
    assert ig.rows("SELECT id FROM jobs") == []


async def test_unknown_ids_are_not_found_and_cancelling_a_finished_job_is_a_conflict(start_ig, connect):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    with pytest.raises(NotFound):
        await client(lambda c: c.jobs.get("no-such-job"))
    with pytest.raises(NotFound):
        await client(lambda c: c.artifacts.get("no-such-artifact"))
    job = await client(lambda c: c.generate(**MOCK, prompt="x", params=SMALL))
    with pytest.raises(Conflict):
        await client(lambda c: c.jobs.cancel(job))
    assert ig.rows("SELECT status FROM jobs WHERE id = ?", (job.id,)) == [{"status": "succeeded"}]


async def test_wait_gives_up_at_its_timeout_and_a_cancel_ends_a_generate(start_ig, connect):
    ig = await start_ig(None, webhooks=False, background=False)  # no consumer: jobs stay submitted
    client = connect(ig.url)
    job = await client(lambda c: c.submit(**MOCK, prompt="x", params=SMALL))
    with pytest.raises(TimedOut) as raised:
        await client(lambda c: c.wait(job.id, timeout=0.5))
    assert raised.value.job.id == job.id and raised.value.job.status == "submitted"

    generating = asyncio.ensure_future(client(lambda c: c.generate(**MOCK, prompt="y", params=SMALL)))
    waiting = await until(lambda: ig.rows("SELECT id FROM jobs WHERE id != ?", (job.id,)), what="the second job")
    cancelled = await client(lambda c: c.jobs.cancel(waiting[0]["id"]))
    assert isinstance(cancelled, CancelledJob) and cancelled.status == "cancelled"
    with pytest.raises(JobFailed) as failed:
        await generating
    assert failed.value.job.id == waiting[0]["id"] and failed.value.job.status == "cancelled"


# --- the library -----------------------------------------------------------------------------------


async def test_listings_follow_their_cursors_to_the_last_page(start_ig, connect, proxies):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    first = await client(lambda c: c.generate(**MOCK, prompt="a", params={**SMALL, "num_outputs": 3}, tags=["set:1"]))
    second = await client(lambda c: c.generate(**MOCK, prompt="b", params={**SMALL, "num_outputs": 2}, tags=["set:1"]))
    listed = await client.all(lambda c: c.artifacts.list(tag="set:1", limit=2))
    rows = ig.rows("SELECT id FROM artifacts ORDER BY seq DESC")
    assert [a.id for a in listed] == [row["id"] for row in rows] and len(rows) == 5
    pages = proxy.requests_to("/v1/artifacts")
    assert len(pages) == 3 and ["cursor=" in p.path for p in pages] == [False, True, True]
    jobs = await client.all(lambda c: c.jobs.list(limit=1, status="succeeded"))
    assert [j.id for j in jobs] == [second.id, first.id]
    tags = await client.all(lambda c: c.tags(prefix="set:", limit=1))
    assert [(t.tag, t.artifacts) for t in tags] == [("set:1", 5)]


async def test_tags_are_edited_and_a_deleted_artifact_is_gone(start_ig, connect, out):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    job = await client(lambda c: c.generate(**MOCK, prompt="x", params=SMALL, tags=["draft"]))
    artifact = job.artifacts[0]
    assert await client(lambda c: c.artifacts.tag(artifact, add=["best"], remove=["draft"])) == ["best"]
    assert await client(lambda c: c.jobs.tag(job.id, add=["reviewed"])) == ["draft", "reviewed"]
    assert ig.rows(
        "SELECT tag FROM artifact_tags JOIN artifacts ON seq = artifact_seq WHERE id = ?", (artifact.id,)
    ) == [{"tag": "best"}]
    await client(lambda c: c.artifacts.delete(artifact.id))
    assert ig.rows("SELECT deleted_at IS NOT NULL AS gone FROM artifacts WHERE id = ?", (artifact.id,)) == [{"gone": 1}]
    assert (await client(lambda c: c.artifacts.get(artifact.id))).deleted_at is not None
    with pytest.raises(Gone):
        await client(lambda c: c.artifacts.download(artifact, out / "x.png"))
    assert os.listdir(out) == []


async def test_uploads_stream_from_a_path_and_from_a_file_object_and_identical_bytes_are_stored_once(
    start_ig, connect, out
):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    sound = wav(seconds=20, sample_rate=48000, channels=2)
    assert len(sound) > 3 * CHUNK_SIZE
    path = out / "voice.wav"
    path.write_bytes(sound)
    progress: list[tuple[int, int | None]] = []
    uploaded = await client(
        lambda c: c.artifacts.upload(
            path, tags=["user:42"], on_progress=lambda done, total: progress.append((done, total))
        )
    )
    assert uploaded.role == "input" and uploaded.tags == ["user:42"] and uploaded.provenance.filename == "voice.wav"
    assert uploaded.size == len(sound) and uploaded.sha256 == hashlib.sha256(sound).hexdigest()
    assert stored_bytes(ig, uploaded.id) == sound
    assert progress[-1] == (len(sound), len(sound))
    again = await client(lambda c: c.artifacts.upload(io.BytesIO(sound), media_type="audio/wav"))
    assert again.id == uploaded.id
    assert len(ig.rows("SELECT id FROM artifacts WHERE role = 'input'")) == 1


async def test_presets_catalogue_usage_and_health(start_ig, connect):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    body = {"model": "flux-schnell", "provider": "mock", "params": {"positivePrompt": "Sign: {headline}", **SMALL}}
    made = await client(lambda c: c.presets.put("sign", body))
    assert (made.version, made.variables) == (1, ["headline"])
    assert (await client(lambda c: c.presets.put("sign", body))).version == 1  # unchanged: no new version
    changed = await client(lambda c: c.presets.put("sign", body, description="Signs"))
    assert changed.version == 2 and changed.description == "Signs"
    assert (await client(lambda c: c.presets.get("sign", version=1))).description == ""
    assert [p.name for p in await client(lambda c: c.presets.list())] == ["sign"]
    job = await client(lambda c: c.generate(preset="sign", variables={"headline": "Sale"}))
    assert job.params["positivePrompt"] == "Sign: Sale" and job.preset is not None and job.preset.version == 2
    await client(lambda c: c.presets.delete("sign"))
    with pytest.raises(NotFound):
        await client(lambda c: c.presets.get("sign"))

    assert "flux-schnell" in [m.name for m in await client(lambda c: c.models(task="imageInference"))]
    assert "imageInference" in [t.task for t in await client(lambda c: c.tasks())]
    mock = [p for p in await client(lambda c: c.providers()) if p.name == "mock"]
    assert mock and mock[0].available
    usage = await client(lambda c: c.usage(group_by="provider"))
    assert [(row.key, row.jobs, row.succeeded) for row in usage.items] == [("mock", 1, 1)]
    assert (await client(lambda c: c.health())).status == "ok"


async def test_a_batch_answers_each_item(start_ig, connect):
    ig = await start_ig(None, webhooks=False)
    client = connect(ig.url)
    answer = await client(
        lambda c: c.submit_batch([{**MOCK, "params": {**SMALL, "prompt": "a"}}, {**MOCK, "params": {"width": 3}}])
    )
    first, second = answer.items
    assert first.job.status in ("queued", "submitted")
    assert second.error.status == 422 and second.error.instance == "/v1/jobs/batch#/jobs/1"
    assert [row["id"] for row in ig.rows("SELECT id FROM jobs")] == [first.job.id]


class NotIg(BaseHTTPRequestHandler):
    """A website where ig was expected: a page at ``/healthz``, a redirect everywhere else."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        page = b"<html>welcome</html>"
        self.send_response(200 if self.path.startswith("/healthz") else 301)
        self.send_header("location", "https://ig.example.com" + self.path)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


@pytest.fixture
def not_ig() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotIg)
    serve_in_background(server)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_an_answer_that_is_not_igs_is_a_clear_error(connect, not_ig):
    client = connect(not_ig)
    with pytest.raises(IgError, match=r"not ig's Health \(is IG_URL right\?\).*<html>welcome"):
        await client(lambda c: c.health())
    with pytest.raises(ApiError, match="301: redirected to https://ig.example.com/v1/models: set IG_URL") as raised:
        await client(lambda c: c.models())
    assert raised.value.status == 301


# --- retries ---------------------------------------------------------------------------------------


async def test_a_429_is_retried_no_sooner_than_its_retry_after(start_ig, connect, proxies):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    job = await client(lambda c: c.submit(**MOCK, prompt="x", params=SMALL))
    proxy.answer(JOB, 429, retry_after="1", method="GET")
    assert (await client(lambda c: c.jobs.get(job.id))).id == job.id
    refused, retried = proxy.requests_to(JOB, "GET")
    assert refused.action == "answer" and retried.action is None
    assert retried.at - refused.at >= 1.0


async def test_429s_past_max_retries_raise_rate_limited_with_the_wait_asked(start_ig, connect, proxies):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url, max_retries=1)
    proxy.answer("/v1/presets", 429, retry_after="0", times=5)
    with pytest.raises(RateLimited) as raised:
        await client(lambda c: c.presets.list())
    assert raised.value.retry_after == 0.0 and len(proxy.requests_to("/v1/presets")) == 2


async def test_503s_are_retried_for_a_read(start_ig, connect, proxies):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    proxy.answer("/v1/models", 503, times=2)
    assert await client(lambda c: c.models())
    assert [s.action for s in proxy.requests_to("/v1/models")] == ["answer", "answer", None]


async def test_a_503_is_not_retried_for_a_post_that_must_not_run_twice(start_ig, connect, proxies):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    proxy.answer(r"/v1/jobs/[^/]+/deliveries/redeliver", 503, times=3)
    with pytest.raises(ServerError) as raised:
        await client(lambda c: c.jobs.redeliver("any-job"))
    assert raised.value.status == 503
    assert len(proxy.requests_to(r"/v1/jobs/[^/]+/deliveries/redeliver")) == 1


async def test_a_refused_connection_is_retried_then_connection_failed(connect):
    client = connect(f"http://127.0.0.1:{closed_port()}", max_retries=2)
    with pytest.raises(ConnectionFailed, match="ConnectError.*after 2 retries"):
        await client(lambda c: c.health())


async def test_a_read_whose_answer_was_lost_is_sent_again(start_ig, connect, proxies):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    proxy.cut_before_answer("/v1/tasks")
    assert await client(lambda c: c.tasks())
    assert [s.action for s in proxy.requests_to("/v1/tasks")] == ["cut_before_answer", None]


async def test_a_submit_whose_answer_was_lost_is_retried_with_its_key_and_makes_one_job(start_ig, connect, proxies):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    proxy.cut_before_answer("/v1/jobs", method="POST")
    job = await client(lambda c: c.submit(**MOCK, prompt="x", params=SMALL))
    first, retry = proxy.requests_to("/v1/jobs", "POST")
    assert first.action == "cut_before_answer" and retry.action is None
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert [row["id"] for row in ig.rows("SELECT id FROM jobs")] == [job.id]


async def test_an_upload_whose_answer_was_lost_is_sent_again_and_stored_once(start_ig, connect, proxies, out):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    sound = wav(seconds=3)
    (out / "a.wav").write_bytes(sound)
    proxy.cut_before_answer("/v1/uploads")
    uploaded = await client(lambda c: c.artifacts.upload(out / "a.wav"))
    assert len(proxy.requests_to("/v1/uploads")) == 2
    assert [row["id"] for row in ig.rows("SELECT id FROM artifacts")] == [uploaded.id]
    assert stored_bytes(ig, uploaded.id) == sound


# --- downloads that break --------------------------------------------------------------------------


async def _big_image(ig: Any, client: EitherClient) -> Any:
    job = await client(lambda c: c.generate(**MOCK, prompt="x", params={"width": 1024, "height": 1024}))
    [artifact] = job.artifacts
    assert artifact.size > 10_000
    return artifact


async def test_a_download_cut_mid_body_resumes_with_range_and_matches_igs_bytes(start_ig, connect, proxies, out):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    artifact = await _big_image(ig, client)
    cut_at = artifact.size // 3
    proxy.cut_body(CONTENT, after_bytes=cut_at)
    progress: list[tuple[int, int | None]] = []
    path = await client(
        lambda c: c.artifacts.download(
            artifact.id, out / "fox.png", on_progress=lambda done, total: progress.append((done, total))
        )
    )
    first, resumed = proxy.requests_to(CONTENT)
    assert "range" not in first.headers and resumed.headers["range"] == f"bytes={cut_at}-"
    assert path.read_bytes() == stored_bytes(ig, artifact.id)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact.sha256
    done = [d for d, _ in progress]
    assert done == sorted(done) and cut_at in done and progress[-1] == (artifact.size, artifact.size)


async def test_a_resume_with_other_bytes_is_a_checksum_mismatch_and_leaves_no_file(start_ig, connect, proxies, out):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url)
    artifact = await _big_image(ig, client)
    proxy.cut_body(CONTENT, after_bytes=artifact.size // 2)
    proxy.corrupt_body(CONTENT)
    with pytest.raises(ChecksumMismatch) as raised:
        await client(lambda c: c.artifacts.download(artifact, out / "fox.png"))
    assert raised.value.artifact_id == artifact.id and raised.value.path == out / "fox.png"
    assert [s.action for s in proxy.requests_to(CONTENT)] == ["cut_body", "corrupt_body"]
    assert os.listdir(out) == []


async def test_a_download_that_stops_making_progress_gives_up_and_leaves_no_file(start_ig, connect, proxies, out):
    ig = await start_ig(None, webhooks=False)
    proxy = proxies(ig.url)
    client = connect(proxy.url, max_retries=2)
    artifact = await _big_image(ig, client)
    proxy.cut_body(CONTENT, after_bytes=100, times=1)
    proxy.cut_body(CONTENT, after_bytes=0, times=10)
    with pytest.raises(ConnectionFailed, match="stopped at byte 100"):
        await client(lambda c: c.artifacts.download(artifact, out))
    assert len(proxy.requests_to(CONTENT)) == 1 + 3  # the first, then one try and two retries without progress
    assert os.listdir(out) == []


# --- callbacks -------------------------------------------------------------------------------------


async def test_a_callback_ig_sends_verifies_and_a_tampered_one_does_not(start_ig, connect, receiver):
    ig = await start_ig(None, webhooks=False, callback_secret=SECRET)
    client = connect(ig.url)
    job = await client(lambda c: c.generate(**MOCK, prompt="x", params=SMALL, callback_url=receiver.url))
    [call] = await receiver.wait_for(1)
    event = verify_callback(SECRET, call.headers, call.body)
    assert event["type"] == "job.succeeded" and event["data"]["job"]["id"] == job.id
    assert event == Webhook(SECRET).verify(call.body, call.headers)  # the reference library reads it the same
    tampered = json.dumps({**event, "type": "job.failed"}).encode()
    with pytest.raises(WebhookVerificationError):
        verify_callback(SECRET, call.headers, tampered)
