"""What goes wrong on the Worker and what ig does about it: a download that fails once (retried
with a delay, then redelivered and completed without duplicates), one that always fails (retried
up to max_retries, dead-lettered, the job failed by the DLQ consumer), bearer auth, and bodies
over the limits. Everything is checked in Miniflare's D1/R2/queues, read from Node."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fixtures.callback_receiver import SECRET
from fixtures.servers import serve_in_background

from .ig_worker import IMAGE_JOB, image_job

AUTH = {"authorization": "Bearer s3cret-token"}


def _messages(report: dict) -> list[dict]:
    return [m for b in report["batches"] for m in b["messages"]]


def test_a_failed_download_is_retried_with_a_delay_then_completes_without_duplicates(ig):
    job_id = ig.submitted(image_job(1))
    ig.deliver_results(job_id)
    served = dict(ig.fake.media)
    ig.fake.media.clear()  # the media host now answers 404

    first = ig.h.queue()
    [m] = first["messages"]
    assert first["exception"] is None
    assert (m["attempts"], m["call"], m["outcome"], m["fate"]) == (1, "retried", "retried", "requeued")
    assert m["retry_delay_seconds"] > 0  # backoff, not an immediate redelivery
    job = ig.job(job_id)
    assert job["status"] == "submitted" and job["error"] is None
    last = json.loads(job["last_error"])
    assert last["code"] == "processing_error" and "HTTP 404" in last["message"] and last["attempts"] == 1
    assert ig.artifacts(job_id) == [] and ig.h.r2_keys() == []
    [result] = ig.results(job_id)
    assert result["stored_at"] is None  # recorded, not yet stored

    assert ig.h.queue(respect_delays=True) is None  # not redelivered before its delay is up
    ig.fake.media.update(served)  # the host recovers
    second = ig.h.queue()  # (the test does not wait the delay out)
    [m] = second["messages"]
    assert (m["attempts"], m["call"], m["outcome"], m["fate"]) == (2, "acked", "acked", "done")
    assert ig.h.queue() is None

    assert ig.job(job_id)["status"] == "succeeded"
    [result] = ig.results(job_id)
    assert result["stored_at"] is not None
    [artifact] = ig.artifacts(job_id)
    assert ig.h.r2_keys() == [artifact["blob_key"]]
    assert ig.blob(artifact["blob_key"])["body"] == ig.fake.served_bytes(artifact["source_url"])
    assert len(ig.rows("SELECT * FROM provider_events WHERE source = 'webhook'")) == 1


def test_a_message_that_always_fails_is_dead_lettered_and_fails_its_job(ig):
    job_id = ig.submitted(image_job(1))
    ig.deliver_results(job_id)
    ig.fake.media.clear()  # every download answers 404, forever

    report = ig.drain()
    main = [m for b in report["batches"] if b["queue"] == "ig-jobs" for m in b["messages"]]
    dlq = [m for b in report["batches"] if b["queue"] == "ig-jobs-dlq" for m in b["messages"]]
    assert [m["attempts"] for m in main] == [1, 2, 3, 4, 5, 6]  # max_retries = 5
    assert all(m["call"] == "retried" and m["retry_delay_seconds"] > 0 for m in main)
    assert [m["fate"] for m in main] == ["requeued"] * 5 + ["dead_lettered:ig-jobs-dlq"]
    [dead] = dlq
    assert dead["body"] == main[0]["body"] and dead["body"]["type"] == "event"
    assert (dead["call"], dead["fate"]) == ("acked", "done")

    job = ig.job(job_id)
    assert job["status"] == "failed" and job["completed_at"] is not None
    error = ig.error(job_id)
    assert error["code"] == "dead_lettered"
    assert error["last_error"]["code"] == "processing_error"
    assert "HTTP 404" in error["last_error"]["message"] and error["last_error"]["attempts"] == 6
    assert ig.artifacts(job_id) == [] and ig.h.r2_keys() == []
    view = ig.fetch("GET", f"/v1/jobs/{job_id}").json()
    assert view["status"] == "failed" and view["error"]["code"] == "dead_lettered"


def test_a_dead_lettered_message_for_a_finished_job_changes_nothing(ig):
    job_id = ig.complete_by_webhooks(image_job(1))
    ig.h.queue_send({"type": "event", "job_id": job_id, "event_id": "x"}, queue="ig-jobs-dlq")
    [m] = ig.h.queue("ig-jobs-dlq")["messages"]
    assert m["outcome"] == "acked"
    assert ig.job(job_id)["status"] == "succeeded" and ig.error(job_id) is None


# D1 fails every read of one callback row (a port fault): its queue message raises each time.
FAIL_CALLBACK_READS = """
from ig.completion import callbacks
from ig.adapters.cloudflare import d1

real = getattr(d1.D1Database, "_real_first", d1.D1Database.first)


async def first(self, sql, params=()):
    if sql == callbacks.SELECT_CALLBACK:
        raise RuntimeError("D1_ERROR: callbacks unavailable")
    return await real(self, sql, params)


d1.D1Database._real_first = real
d1.D1Database.first = first
"""
UNPATCH_FIRST = """
from ig.adapters.cloudflare import d1

d1.D1Database.first = d1.D1Database.__dict__.get("_real_first", d1.D1Database.first)
"""


def test_a_dead_lettered_callback_fails_the_callback_never_its_running_job(ig, receiver):
    ig.configure(IG_CALLBACK_SECRET=SECRET, IG_LOCAL_MODE="1")
    body = {**image_job(2), "callback_url": receiver.url, "callback_events": ["artifact.stored", "job.succeeded"]}
    job_id = ig.submitted(body)
    first, second = ig.fake.results_for(ig.task(job_id))
    assert ig.webhook(job_id, first).status == 200
    ig.h.eval_python(FAIL_CALLBACK_READS)
    try:
        report = ig.drain()
    finally:
        ig.h.eval_python(UNPATCH_FIRST)
    sent = [m for b in report["batches"] for m in b["messages"] if m["body"]["type"] == "callback"]
    assert [(m["attempts"], m["fate"]) for m in sent] == [(n, "requeued") for n in range(1, 6)] + [
        (6, "dead_lettered:ig-jobs-dlq"),
        (1, "done"),  # its last attempt in the dead-letter queue failed too
    ]
    job = ig.job(job_id)
    assert (job["status"], job["error"], job["last_error"]) == ("submitted", None, None)
    [dead] = ig.rows("SELECT * FROM callbacks WHERE job_id = ?", job_id)
    assert (dead["event"], dead["status"], dead["attempts"]) == ("artifact.stored", "failed", 0)
    assert receiver.received == []

    assert ig.webhook(job_id, second).status == 200  # the job goes on, and so do its other events
    ig.drain()
    job = ig.job(job_id)
    assert (job["status"], job["error"], job["last_error"]) == ("succeeded", None, None)
    assert [a["arrived_after"] for a in ig.artifacts(job_id)] == [None, None]
    assert sorted(r.json()["type"] for r in receiver.received) == ["artifact.stored", "job.succeeded"]
    statuses = {(r["event"], r["status"]) for r in ig.rows("SELECT * FROM callbacks WHERE job_id = ?", job_id)}
    assert statuses == {("artifact.stored", "failed"), ("artifact.stored", "delivered"), ("job.succeeded", "delivered")}


def test_malformed_queue_messages_are_acked_and_dropped(ig):
    for body in ({"type": "event"}, "just text", {"type": "nonsense", "job_id": "x"}):
        ig.h.queue_send(body, content_type="text" if isinstance(body, str) else "json")
    batch = ig.h.queue()
    assert batch["exception"] is None
    assert [m["outcome"] for m in batch["messages"]] == ["acked"] * 3
    assert ig.h.queue() is None


@pytest.fixture
def redirector():
    """A loopback server answering GET /to?<url> with a 302 to <url>."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            body = b"moved"
            self.send_response(302)
            self.send_header("location", self.path.partition("?")[2])
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serve_in_background(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_output_redirects_are_followed_only_to_allowed_hosts(ig, redirector):
    base, seen = redirector
    job_id = ig.submitted(image_job(1))
    [item] = ig.fake.results_for(ig.task(job_id))
    target = item["imageURL"]
    assert ig.webhook(job_id, {**item, "imageURL": f"{base}/to?{target}"}).status == 200
    ig.drain()
    assert ig.job(job_id)["status"] == "succeeded"
    [artifact] = ig.artifacts(job_id)
    assert artifact["source_url"] == f"{base}/to?{target}" and len(seen) == 1
    assert ig.blob(artifact["blob_key"])["body"] == ig.fake.served_bytes(target)

    other = ig.submitted(image_job(1))
    [item] = ig.fake.results_for(ig.task(other))
    assert ig.webhook(other, {**item, "imageURL": f"{base}/to?http://evil.example/x.png"}).status == 200
    ig.drain()
    assert ig.job(other)["status"] == "failed" and ig.error(other)["code"] == "media_refused"
    assert ig.artifacts(other) == [] and len(ig.h.r2_keys()) == 1


def test_outputs_on_hosts_outside_the_allow_list_fail_the_job_without_a_fetch(ig):
    ig.fake.output_host = "evil.example"
    job_id = ig.submitted(image_job(1))
    ig.deliver_results(job_id)
    ig.drain()
    assert ig.job(job_id)["status"] == "failed" and ig.error(job_id)["code"] == "media_refused"
    assert ig.fake.media_gets == [] and ig.h.r2_keys() == []


# ---------------------------------------------------------------------------------------------- auth


def test_with_ig_api_token_the_api_needs_the_bearer_token_and_webhooks_do_not(ig):
    ig.configure(IG_API_TOKEN="s3cret-token")

    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret-token"}):
        r = ig.submit(IMAGE_JOB, headers=headers)
        assert r.status == 401, r.text
        assert r.header("content-type") == "application/problem+json"
        assert r.header("www-authenticate") == 'Bearer realm="ig"'
        problem = r.json()
        assert problem["status"] == 401 and problem["code"] == "unauthorized" and problem["instance"] == "/v1/jobs"
    assert ig.rows("SELECT id FROM jobs") == [] and ig.fake.requests == []
    assert ig.fetch("GET", "/v1/artifacts").status == 401
    assert ig.fetch("GET", "/healthz").status == 200  # not under /v1

    r = ig.submit(image_job(1), headers=AUTH)
    assert r.status == 202, r.text
    job_id = r.json()["id"]
    ig.deliver_results(job_id)  # no Authorization header: Runware cannot send one
    assert ig.rows("SELECT count(*) AS n FROM provider_events WHERE source = 'webhook'") == [{"n": 1}]
    ig.drain()
    assert ig.job(job_id)["status"] == "succeeded"
    assert ig.fetch("GET", f"/v1/jobs/{job_id}", headers=AUTH).json()["status"] == "succeeded"


# ---------------------------------------------------------------------------------------------- limits


def _oversized_job(size: int) -> bytes:
    """A valid job of ``size`` bytes: JSON may end in any amount of whitespace."""
    body = json.dumps(IMAGE_JOB).encode()
    return body + b" " * (size - len(body))


def test_a_request_body_over_one_megabyte_is_413_and_nothing_is_written(ig):
    body = _oversized_job(1024 * 1024 + 1)
    assert len(body) == 1024 * 1024 + 1
    # with a Content-Length the Worker refuses before reading; without one, after reading 1 MiB
    for headers in (
        {"content-type": "application/json", "content-length": str(len(body))},
        {"content-type": "application/json"},
    ):
        r = ig.fetch("POST", "/v1/jobs", body=body, headers=headers)
        assert r.status == 413, r.text
        problem = r.json()
        assert r.header("content-type") == "application/problem+json" and problem["status"] == 413
    assert ig.rows("SELECT id FROM jobs") == [] and ig.rows("SELECT id FROM provider_events") == []
    assert ig.fake.requests == [] and ig.h.queue_sent() == []

    # one byte less is accepted, and the body is kept whole, in R2 (over 64 KiB it leaves the job's D1 row)
    body = _oversized_job(1024 * 1024)
    r = ig.fetch("POST", "/v1/jobs", body=body, headers={"content-type": "application/json"})
    assert r.status == 202, r.text
    [row] = ig.rows("SELECT request, request_blob_key FROM jobs")
    assert row["request"] == "" and ig.blob(row["request_blob_key"])["body"] == body


def test_a_webhook_over_ig_max_webhook_bytes_is_413_and_nothing_is_written(ig):
    ig.configure(IG_MAX_WEBHOOK_BYTES=2000)
    job_id = ig.submitted(image_job(1))
    item = ig.fake.results_for(ig.task(job_id))[0]
    r = ig.webhook(job_id, {**item, "pad": "x" * 2000})
    assert r.status == 413
    assert ig.rows("SELECT id FROM provider_events WHERE source = 'webhook'") == [] and ig.h.queue_sent() == []
    assert ig.webhook(job_id, item).status == 200
