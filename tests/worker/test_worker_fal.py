"""fal on the Worker: src/entry.py on Pyodide with Miniflare's D1, R2 and Queues runs fal jobs
against the fake fal (``fixtures/fake_fal.py``) over loopback. The Worker has no port the fake
could call, so the fake drops its webhooks and the test delivers them, signed with the fake's
key, to the URL fal was given; the Worker checks the signature with WebCrypto against the JWKS it
fetches from the fake. Rows and blobs are read back from Node, not through ig."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fixtures.fake_fal import FakeFal, FalRequest

from .ig_worker import BASE, IgWorker

PROMPT = "a lighthouse at dusk"
SCHNELL = {"model": "flux-schnell", "provider": "fal", "params": {"prompt": PROMPT, "num_outputs": 2}}
ENDPOINT = "fal-ai/flux/schnell"


@pytest.fixture
def fal(ig: IgWorker, fake_fal: FakeFal) -> FakeFal:
    """The session's Worker (emptied by ``ig``) pointed at this test's fake fal, in webhook mode."""
    fake_fal.drop_webhooks = True  # nothing could reach http://ig.test: the test delivers them
    ig.configure(
        FAL_KEY=fake_fal.api_key,
        FAL_QUEUE_URL=fake_fal.queue_url,
        FAL_API_URL=fake_fal.api_url,
        FAL_JWKS_URL=fake_fal.jwks_url,
    )
    return fake_fal


def wait_for(check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def only_request(fake: FakeFal) -> FalRequest:
    [request] = fake.requests.values()
    return request


def post_webhook(ig: IgWorker, url: str, raw: bytes, headers: dict[str, str]) -> Any:
    """POST a webhook to the Worker at the URL fal was given, as fal would (the harness stands in
    for the network between them)."""
    assert url.startswith(BASE + "/webhooks/fal/"), url
    return ig.fetch("POST", url.removeprefix(BASE), body=raw, headers={"content-type": "application/json", **headers})


def events(ig: IgWorker, job_id: str, source: str) -> list[dict[str, Any]]:
    return ig.rows("SELECT * FROM provider_events WHERE job_id = ? AND source = ? ORDER BY received_at", job_id, source)


def assert_stored_as_fal_made_them(ig: IgWorker, fake: FakeFal, job_id: str, request: FalRequest) -> None:
    """Both images in R2 byte for byte, one billed result priced at the fake's units and unit price."""
    job = ig.job(job_id)
    assert job["status"] == "succeeded", (job["error"], job["last_error"])
    assert job["provider"] == "fal" and job["model"] == ENDPOINT and job["model_alias"] == "flux-schnell"
    assert job["provider_task_id"] == request.request_id and job["completed_at"] is not None

    units = fake.billed[request.request_id]
    price = fake.prices[ENDPOINT][0]
    assert units == 2
    [result] = ig.results(job_id)
    assert result["result_key"] == f"request:{request.request_id}" and result["stored_at"] is not None
    assert (result["cost_source"], result["cost_currency"]) == ("billed", "USD")
    assert result["cost"] == pytest.approx(units * price)
    assert result["seed"] == str(request.output["seed"])
    assert json.loads(result["raw"])["ig_billing"] == {
        "units": units,
        "unit_price": price,
        "unit": "image",
        "currency": "USD",
    }

    artifacts = ig.artifacts(job_id)
    assert [a["output_name"] for a in artifacts] == ["images[0]", "images[1]"]
    for artifact, image in zip(artifacts, request.output["images"], strict=True):
        served = fake.media[image["url"].rsplit("/", 1)[1]]
        assert artifact["source_url"] == image["url"]
        assert (artifact["kind"], artifact["content_type"]) == ("image", "image/png")
        assert artifact["size"] == len(served) and artifact["sha256"] == hashlib.sha256(served).hexdigest()
        assert (artifact["width"], artifact["height"]) == (image["width"], image["height"])
        blob = ig.blob(artifact["blob_key"])
        assert blob["body"] == served and blob["httpMetadata"] == {"contentType": "image/png"}
    assert sorted(ig.h.r2_keys()) == sorted(a["blob_key"] for a in artifacts)


# ---------------------------------------------------------------------------------------------- webhooks


def test_a_fal_job_completes_through_a_signed_webhook_and_the_queue(ig, fal):
    r = ig.submit(SCHNELL)
    assert r.status == 202, r.text
    job_id = r.json()["id"]
    request = only_request(fal)
    # ig's common names became fal's own, with the alias's defaults, sent to the full endpoint id.
    assert request.endpoint_id == ENDPOINT
    assert request.body == {
        "prompt": PROMPT,
        "num_images": 2,
        "image_size": {"width": 1024, "height": 1024},
        "num_inference_steps": 4,
    }
    assert request.headers["authorization"] == f"Key {fal.api_key}"
    token = ig.job(job_id)["webhook_token"]
    assert token and request.webhook_url == f"{BASE}/webhooks/fal/{job_id}/{token}"
    row = ig.job(job_id)
    assert row["status"] == "submitted" and row["provider_task_id"] == request.request_id
    assert token not in row["provider_request"]
    assert ig.h.queue_sent() == []  # webhook mode: nothing polls until fal says it is done

    wait_for(lambda: request.request_id in fal.dropped_webhooks, "fal to finish the request")
    raw = json.dumps(fal.webhook_body(request)).encode()
    answered = post_webhook(ig, request.webhook_url, raw, fal.sign(raw, request.request_id))
    assert answered.status == 200, answered.text
    assert fal.jwks_fetches == 1  # the Worker fetched fal's keys to check the signature

    [webhook] = events(ig, job_id, "webhook")
    assert webhook["body"] == raw.decode() and webhook["body_sha256"] == hashlib.sha256(raw).hexdigest()
    assert webhook["processed_at"] is None
    [message] = ig.h.queue_sent(clear=True)
    assert message["body"] == {"type": "event", "job_id": job_id, "event_id": webhook["id"]}

    # The webhook only announces the end: from the queue, the consumer asks fal for the result and
    # what it billed (in the event's own handling or in poll messages it sends; either is fine).
    asked_before = len(fal.calls)
    report = ig.drain()
    handled = [m["body"]["type"] for b in report["batches"] for m in b["messages"]]
    assert handled[0] == "event" and set(handled[1:]) <= {"poll"}
    asked = [path.split("?")[0] for _, path, _ in fal.calls[asked_before:]]
    queue_path = f"/queue/fal-ai/flux/requests/{request.request_id}"
    assert queue_path + "/status" in asked and queue_path in asked and "/v1/models/pricing" in asked
    assert_stored_as_fal_made_them(ig, fal, job_id, request)
    [webhook] = events(ig, job_id, "webhook")
    assert webhook["processed_at"] is not None
    [poll] = events(ig, job_id, "poll")
    assert poll["http_status"] == 200 and json.loads(poll["body"]) == request.output
    assert fal.billed_for(ENDPOINT) == {request.request_id: 2}


def test_forged_fal_webhooks_are_401_and_write_nothing(ig, fal):
    fal.hold_new = True  # the request stays queued: only the forgeries speak of it
    job_id = ig.submitted(SCHNELL)
    request = only_request(fal)
    raw = json.dumps({"request_id": request.request_id, "status": "OK", "payload": {"images": []}}).encode()
    forgeries = {
        "wrong key": fal.sign(raw, request.request_id, key=Ed25519PrivateKey.generate()),
        "stale": fal.sign(raw, request.request_id, timestamp=int(time.time()) - 301),
    }
    for forgery, headers in forgeries.items():
        answered = post_webhook(ig, request.webhook_url, raw, headers)
        assert answered.status == 401, (forgery, answered.status, answered.text)
        assert answered.header("content-type") == "application/problem+json"
    assert events(ig, job_id, "webhook") == []
    assert ig.h.queue_sent() == [] and ig.job(job_id)["status"] == "submitted"

    # The same body signed with fal's key is taken: the 401s were the signatures' doing.
    assert post_webhook(ig, request.webhook_url, raw, fal.sign(raw, request.request_id)).status == 200
    assert len(events(ig, job_id, "webhook")) == 1


# ---------------------------------------------------------------------------------------------- polling


def test_without_a_public_url_a_fal_job_completes_by_queue_driven_polls(ig, fal):
    ig.configure(IG_PUBLIC_URL=None)
    job_id = ig.submitted(SCHNELL)
    request = only_request(fal)
    assert request.webhook_url is None and fal.submissions[0].webhook_url is None
    assert ig.job(job_id)["webhook_token"] is None
    assert [(m["body"], m["delaySeconds"]) for m in ig.h.queue_sent()] == [
        ({"type": "poll", "job_id": job_id, "seq": 1}, 2)
    ]

    report = ig.drain()  # delays are not waited for
    polls = [m for b in report["batches"] for m in b["messages"]]
    assert [m["body"]["seq"] for m in polls] == [1, 2] and {m["outcome"] for m in polls} == {"acked"}
    assert request.polls == 2  # IN_PROGRESS, then COMPLETED and the result fetched
    assert ig.job(job_id)["poll_seq"] == 2
    assert [e["http_status"] for e in events(ig, job_id, "poll")] == [202, 200]
    assert_stored_as_fal_made_them(ig, fal, job_id, request)
    assert fal.jwks_fetches == 0


# ---------------------------------------------------------------------------------------------- unknown submit


def test_an_unknown_submit_is_reconciled_by_the_cron_sweeper_and_billed_once(ig, fal):
    ig.configure(IG_PUBLIC_URL=None, IG_QUIET_SECONDS=0)
    fal.drop_submits(create=True)  # fal makes the request, and the Worker never hears so
    r = ig.submit(SCHNELL)
    assert r.status == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["status"] == "queued"
    row = ig.job(job_id)
    assert row["status"] == "queued" and row["submit_unknown_at"] is not None and row["provider_task_id"] == ""
    assert json.loads(row["last_error"])["code"] == "connection"
    assert ig.h.queue_sent() == []  # never blindly resent
    request = only_request(fal)
    assert len(fal.submissions) == 1 and fal.submissions[0].answered is None

    time.sleep(0.005)  # next_check_at (+ 0 s) is in the past
    run = ig.h.scheduled(cron="* * * * *", scheduled_time=time.time() * 1000)
    assert run["exception"] is None, run["exception"]
    assert [m["body"] for m in ig.h.queue_sent()] == [{"type": "reconcile", "job_id": job_id}]

    report = ig.drain()
    handled = [m["body"]["type"] for b in report["batches"] for m in b["messages"]]
    assert handled[0] == "reconcile" and set(handled[1:]) == {"poll"}
    listings = [path for method, path, _ in fal.calls if path.startswith("/v1/models/requests/by-endpoint")]
    assert len(listings) == 1 and "expand=payloads" in listings[0]
    row = ig.job(job_id)
    assert row["submit_unknown_at"] is None and row["provider_task_id"] == request.request_id
    assert_stored_as_fal_made_them(ig, fal, job_id, request)
    assert len(fal.submissions) == 1 and len(fal.requests) == 1

    fal.settle()
    assert fal.billed_for(ENDPOINT) == {request.request_id: 2}
    ig.h.queue_sent(clear=True)
    assert ig.h.scheduled()["exception"] is None and ig.h.queue_sent() == []  # nothing left to sweep
