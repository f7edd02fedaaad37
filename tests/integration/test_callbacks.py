"""Consumer callbacks: signed per Standard Webhooks (checked with the reference library and with
the README's few lines), sent only once the artifacts are stored, retried with backoff, never
redirected, logged attempt by attempt, and redeliverable."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sqlite3
import threading
from dataclasses import replace

import pytest
from fixtures.callback_receiver import SECRET, Received
from fixtures.payloads import IMAGE_JOB
from fixtures.readme import readme_verify
from standardwebhooks import Webhook

from ig import addresses
from ig.adapters.local.http_client import HttpxClient
from ig.completion import callbacks
from ig.completion.sweeper import sweep
from ig.jobs import records


def with_callback(url: str, events: list[str] | None = None, results: int = 2) -> dict:
    body = {**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": results}, "callback_url": url}
    if events is not None:
        body["callback_events"] = events
    return body


async def test_callbacks_are_signed_small_and_sent_only_after_the_artifacts_are_stored(
    start_ig, fake_runware, receiver
):
    ig = await start_ig(fake_runware, callback_secret=SECRET)
    stored_when_called: dict[bytes, set[str]] = {}

    def note_store(got: Received) -> None:
        stored_when_called[got.body] = {p.name.removesuffix(".blob") for p in ig.blob_files()}

    receiver.on_receive = note_store
    events = ["job.succeeded", "job.failed", "artifact.stored"]
    job_id = (await ig.submit(with_callback(receiver.url, events))).json()["id"]
    assert (await ig.wait(job_id))["status"] == "succeeded"
    got = await receiver.wait_for(3)
    await ig.drained()  # every callback ig queued has been sent
    assert len(receiver.received) == 3  # two artifacts, one job: nothing twice

    verify = readme_verify()
    reference = Webhook(SECRET)
    artifacts = {r["id"]: r for r in ig.rows("SELECT * FROM artifacts WHERE job_id = ?", (job_id,))}
    for call in got:
        payload = reference.verify(call.body, call.headers)  # raises unless the signature is right
        assert verify(SECRET, call.headers, call.body)
        assert not verify(SECRET, call.headers, call.body + b" ")
        assert call.headers["webhook-id"].startswith("msg_") and call.headers["content-type"] == "application/json"
        assert len(call.body) < 4096  # metadata and links, never file bytes
        assert payload["data"]["job"]["id"] == job_id and "params" not in payload["data"]["job"]
        for artifact in payload["data"]["artifacts"]:
            row = artifacts[artifact["id"]]
            assert (artifact["sha256"], artifact["size"], artifact["content_type"]) == (
                row["sha256"],
                row["size"],
                row["content_type"],
            )
            content = await ig.client.get(artifact["url"])  # a signed URL, absolute
            assert hashlib.sha256(content.content).hexdigest() == row["sha256"]
    kinds = sorted(c.json()["type"] for c in got)
    assert kinds == ["artifact.stored", "artifact.stored", "job.succeeded"]
    succeeded = next(c.json() for c in got if c.json()["type"] == "job.succeeded")
    assert {a["id"] for a in succeeded["data"]["artifacts"]} == set(artifacts)
    assert succeeded["data"]["job"]["status"] == "succeeded"
    for call in got:  # every artifact an event names was in the blob store before ig called
        named = {a["id"] for a in call.json()["data"]["artifacts"]}
        assert named and named <= stored_when_called[call.body]

    deliveries = (await ig.client.get(f"/v1/jobs/{job_id}/deliveries")).json()["items"]
    assert sorted(d["event"] for d in deliveries) == kinds
    assert all(d["status"] == "delivered" and d["attempts"][0]["status_code"] == 204 for d in deliveries)
    assert {d["id"] for d in deliveries} == {c.headers["webhook-id"] for c in got}


async def test_by_default_only_job_events_are_sent_and_a_failure_is_one(start_ig, fake_runware, receiver):
    ig = await start_ig(fake_runware, callback_secret=SECRET)
    fake_runware.result_error = {"code": "invalidPositivePrompt", "message": "prompt refused by the model"}
    job_id = (await ig.submit(with_callback(receiver.url))).json()["id"]
    assert (await ig.wait(job_id))["status"] == "failed"
    [call] = await receiver.wait_for(1)
    payload = Webhook(SECRET).verify(call.body, call.headers)
    assert payload["type"] == "job.failed" and payload["data"]["artifacts"] == []
    assert payload["data"]["job"]["error"]["code"] == "invalidPositivePrompt"
    assert ig.rows("SELECT event FROM callbacks") == [{"event": "job.failed"}]


async def test_a_failing_consumer_is_retried_with_backoff_and_every_attempt_is_logged(start_ig, fake_runware, receiver):
    ig = await start_ig(fake_runware, callback_secret=SECRET, callback_retry_seconds=(1, 2, 1))
    receiver.answers = [500, 503]
    job_id = (await ig.submit(with_callback(receiver.url, results=1))).json()["id"]
    first, second, third = await receiver.wait_for(3, seconds=30)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    assert first.body == second.body == third.body  # the event is fixed once; only the signature is fresh
    assert 0.85 <= second.at - first.at <= 3.0  # about 1 s, with jitter
    assert 1.75 <= third.at - second.at <= 4.0  # about 2 s
    for _ in range(50):
        [delivery] = (await ig.client.get(f"/v1/jobs/{job_id}/deliveries")).json()["items"]
        if delivery["status"] == "delivered":
            break
        await asyncio.sleep(0.1)
    assert delivery["status"] == "delivered" and delivery["delivered_at"]
    attempts = delivery["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 503, 204]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert attempts[0]["error"] == "HTTP 500: answered 500" and attempts[2]["error"] is None
    assert all(isinstance(a["latency_ms"], int) and a["latency_ms"] >= 0 for a in attempts)


async def test_redirects_are_never_followed_and_the_event_fails_after_the_schedule(start_ig, fake_runware, receiver):
    ig = await start_ig(fake_runware, callback_secret=SECRET, callback_retry_seconds=(1,))
    receiver.answers = [302, 307]
    job_id = (await ig.submit(with_callback(receiver.url, results=1))).json()["id"]
    await receiver.wait_for(2, seconds=20)
    for _ in range(50):
        [delivery] = (await ig.client.get(f"/v1/jobs/{job_id}/deliveries")).json()["items"]
        if delivery["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    assert delivery["status"] == "failed"
    assert [a["status_code"] for a in delivery["attempts"]] == [302, 307]
    assert "redirects are not followed" in delivery["attempts"][0]["error"]
    assert [r.path for r in receiver.received] == ["/hooks/ig", "/hooks/ig"]  # Location never requested


async def test_redeliver_sends_the_last_event_again_under_the_same_id(start_ig, fake_runware, receiver):
    ig = await start_ig(fake_runware, callback_secret=SECRET)
    job_id = (await ig.submit(with_callback(receiver.url, results=1))).json()["id"]
    [first] = await receiver.wait_for(1)
    answer = await ig.client.post(f"/v1/jobs/{job_id}/deliveries/redeliver")
    assert answer.status_code == 202 and answer.json()["id"] == first.headers["webhook-id"]
    _, again = await receiver.wait_for(2)
    assert again.headers["webhook-id"] == first.headers["webhook-id"] and again.body == first.body
    Webhook(SECRET).verify(again.body, again.headers)
    for _ in range(50):
        [delivery] = (await ig.client.get(f"/v1/jobs/{job_id}/deliveries")).json()["items"]
        if len(delivery["attempts"]) == 2:
            break
        await asyncio.sleep(0.05)
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2] and delivery["status"] == "delivered"
    plain = (await ig.submit(IMAGE_JOB)).json()["id"]
    assert (await ig.client.post(f"/v1/jobs/{plain}/deliveries/redeliver")).status_code == 404


async def test_a_callback_whose_queue_message_was_lost_is_sent_by_the_sweeper(start_ig, fake_runware, receiver):
    ig = await start_ig(fake_runware, callback_secret=SECRET, callback_retry_seconds=(3600,))
    receiver.answers = [503]
    job_id = (await ig.submit(with_callback(receiver.url, results=1))).json()["id"]
    await receiver.wait_for(1)
    for _ in range(50):
        if ig.rows("SELECT * FROM callback_attempts"):
            break
        await asyncio.sleep(0.05)
    # The retry waits an hour in the queue; lose that message and make the event overdue.
    with sqlite3.connect(ig.data_dir / "queue.sqlite3") as queue:
        queue.execute("DELETE FROM messages")
    with sqlite3.connect(ig.data_dir / "ig.sqlite3") as db:
        db.execute("UPDATE callbacks SET next_attempt_at = '2000-01-01T00:00:00.000Z'")
    assert (await sweep(ig.runtime.deps)).callbacks_requeued == 1
    await receiver.wait_for(2)
    for _ in range(50):
        [delivery] = (await ig.client.get(f"/v1/jobs/{job_id}/deliveries")).json()["items"]
        if delivery["status"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 204]


async def test_callback_urls_must_be_https_and_need_the_secret(start_ig, fake_runware):
    ig = await start_ig(fake_runware, callback_secret=SECRET)
    for url, why in (
        ("http://example.com/hook", "plain http is allowed only to localhost"),
        ("ftp://example.com/hook", "must be an https:// URL"),
        ("https://user:pw@example.com/hook", "may not carry credentials"),
        ("https://example.com:99999/hook", "not a valid URL"),
    ):
        problem = (await ig.submit(with_callback(url))).json()
        assert problem["status"] == 422 and why in problem["errors"][0]["message"], problem
    events_alone = {**IMAGE_JOB, "callback_events": ["job.failed"]}
    assert (await ig.submit(events_alone)).json()["errors"][0]["field"] == "callback_events"
    unknown = (await ig.submit(with_callback("https://example.com/hook", ["job.exploded"]))).json()
    assert unknown["errors"][0]["field"] == "callback_events.0"
    no_secret = await start_ig(fake_runware)
    problem = (await no_secret.submit(with_callback("https://example.com/hook"))).json()
    assert "IG_CALLBACK_SECRET" in problem["errors"][0]["message"]
    assert ig.rows("SELECT * FROM jobs") == [] and no_secret.rows("SELECT * FROM jobs") == []
    assert fake_runware.tasks == {}
    # Outside local mode (the Worker in production) not even localhost may be plain http.
    assert addresses.url_problem("http://127.0.0.1:9/hook", local_mode=False) is not None
    assert addresses.url_problem("http://127.0.0.1:9/hook", local_mode=True) is None


# --- receivers that misbehave, and addresses ig must not call -----------------------------------


class RawReceiver:
    """A loopback TCP endpoint that answers every connection with the same bytes, whatever was
    asked, then closes; it records what each connection sent first."""

    def __init__(self, answer: bytes = b"") -> None:
        self.answer = answer
        self.connections: list[bytes] = []
        self._marked = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.02)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.connections.append(conn.recv(65536))
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def mark(self) -> list[bytes]:
        """Connect, say ``MARK`` and wait for the answer: connections are handled one at a time,
        in order, so once this returns every connection made before it has been recorded.
        Returns what each connection since the previous mark sent first."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(MARK)
            while conn.recv(65536):
                pass
        assert self.connections[-1] == MARK
        since, self._marked = self.connections[self._marked : -1], len(self.connections)
        return since

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()


MARK = b"the test's own connection"


CUT_SHORT = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000\r\n\r\n0123456789"
NOT_GZIP = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Encoding: gzip\r\nContent-Length: 24\r\n"
    b"Connection: close\r\n\r\nthis is not gzip at all!"
)


@pytest.mark.parametrize(("answer", "broken"), [(CUT_SHORT, "RemoteProtocolError"), (NOT_GZIP, "DecodingError")])
async def test_an_answer_that_breaks_off_or_does_not_decode_is_a_logged_attempt_that_counts(
    start_ig, fake_runware, answer, broken
):
    raw = RawReceiver(answer)
    try:
        ig = await start_ig(fake_runware, callback_secret=SECRET, callback_retry_seconds=(1, 1))
        job_id = (await ig.submit(with_callback(f"http://127.0.0.1:{raw.port}/hook", results=1))).json()["id"]
        assert (await ig.wait(job_id))["status"] == "succeeded"
        for _ in range(150):
            [callback] = ig.rows("SELECT * FROM callbacks WHERE job_id = ?", (job_id,))
            if callback["status"] != "pending":
                break
            await asyncio.sleep(0.05)
        assert callback["status"] == "failed" and callback["attempts"] == 3  # 1 + the 2 retries
        attempts = ig.rows("SELECT * FROM callback_attempts WHERE callback_id = ? ORDER BY attempt", (callback["id"],))
        assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 500), (3, 500)]
        for attempt in attempts:
            assert attempt["error"].startswith("HTTP 500, then ConnectionError: " + broken), attempt["error"]
        assert len(raw.connections) == 3 and all(c.startswith(b"POST /hook ") for c in raw.connections)
        [job] = ig.rows("SELECT status, error, last_error FROM jobs WHERE id = ?", (job_id,))
        assert job == {"status": "succeeded", "error": None, "last_error": None}  # callback trouble is not the job's
    finally:
        raw.stop()


async def test_a_name_that_resolves_to_a_non_public_address_is_refused_at_send_time(start_ig, fake_runware):
    """Outside local mode, a callback host whose name resolves to loopback (or to any address
    that is not public, among public ones) is a failed attempt and no connection is made; the
    same name in local mode connects to the very address that was checked."""
    raw = RawReceiver()
    names = {"hooks.example.test": ["127.0.0.1"], "mixed.example.test": ["93.184.215.14", "10.0.0.7"]}
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return names[host]

    client = HttpxClient(resolve=resolve)
    try:
        ig = await start_ig(fake_runware, callback_secret=SECRET, background=False)
        url = f"https://hooks.example.test:{raw.port}/hook"
        job_ids = [
            (await ig.submit(with_callback(target))).json()["id"] for target in (url, "https://mixed.example.test/h")
        ]
        for job_id in job_ids:  # each job's event, written as a real failure writes it
            await records.fail_job(ig.runtime.deps.db, job_id, {"code": "test", "message": "x"}, ig.runtime.deps.now())
        public_only = replace(
            ig.runtime.deps, http=client, settings=replace(ig.runtime.deps.settings, local_mode=False)
        )
        callback_ids = [ig.rows("SELECT id FROM callbacks WHERE job_id = ?", (j,))[0]["id"] for j in job_ids]
        for callback_id in callback_ids:
            await callbacks.deliver(public_only, callback_id, 0)
        assert asked == [("hooks.example.test", raw.port), ("mixed.example.test", 443)]
        first, mixed = (ig.rows("SELECT * FROM callback_attempts WHERE callback_id = ?", (c,)) for c in callback_ids)
        assert [(a["attempt"], a["status_code"]) for a in first] == [(1, None)]
        assert (
            first[0]["error"] == "AddressRefused: hooks.example.test resolves to 127.0.0.1, an address ig does not call"
        )
        assert (
            mixed[0]["error"] == "AddressRefused: mixed.example.test resolves to 10.0.0.7, an address ig does not call"
        )
        assert raw.mark() == []  # no connection was made

        await callbacks.deliver(replace(public_only, settings=ig.runtime.deps.settings), callback_ids[0], 1)
        [hello] = raw.mark()  # a TLS ClientHello, to the checked address, naming the host
        assert b"hooks.example.test" in hello
        second = ig.rows("SELECT * FROM callback_attempts WHERE callback_id = ? AND attempt = 2", (callback_ids[0],))
        assert second[0]["status_code"] is None and second[0]["error"].startswith("ConnectionError")
    finally:
        await client.aclose()
        raw.stop()
