"""Replicate on the Worker: src/entry.py on Pyodide with Miniflare's D1, R2 and Queues runs
Replicate jobs against the fake Replicate (``fixtures/fake_replicate.py``) over loopback. The
Worker has no port the fake could call, so the fake drops its webhooks and the test delivers the
``completed`` one, signed by the fake's Standard Webhooks secret, to the URL Replicate was given;
the Worker checks the HMAC with the same pure-Python code as CPython. Rows and blobs are read back
from Node, not through ig."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

import pytest
from fixtures.fake_replicate import Creation, FakeReplicate, Prediction

from .ig_worker import BASE, IgWorker

PROMPT = "a lighthouse at dusk"
SCHNELL = {"model": "flux-schnell", "provider": "replicate", "params": {"prompt": PROMPT, "num_outputs": 2}}
MODEL = "black-forest-labs/flux-schnell"
PRICE = 0.003
"""USD per second of predict_time, as IG_REPLICATE_PRICES gives it: Replicate reports no cost."""
# ig's common names as Replicate's, with the alias's defaults.
INPUT = {"prompt": PROMPT, "num_outputs": 2, "aspect_ratio": "1:1", "num_inference_steps": 4}


@pytest.fixture
def replicate(ig: IgWorker, fake_replicate: FakeReplicate) -> FakeReplicate:
    """The session's Worker (emptied by ``ig``) pointed at this test's fake Replicate, in webhook
    mode (the secret is set, and IG_PUBLIC_URL is)."""
    fake_replicate.drop_webhooks = True  # nothing could reach http://ig.test: the test delivers them
    ig.configure(
        REPLICATE_API_TOKEN=fake_replicate.api_token,
        REPLICATE_API_URL=fake_replicate.api_url,
        REPLICATE_WEBHOOK_SECRET=fake_replicate.webhook_secret,
        IG_REPLICATE_PRICES=f"{MODEL}={PRICE}",
    )
    return fake_replicate


def wait_for(check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def only_creation(fake: FakeReplicate) -> tuple[Creation, Prediction]:
    [creation] = fake.creations
    assert creation.prediction_id is not None, creation
    return creation, fake.predictions[creation.prediction_id]


def post_webhook(ig: IgWorker, url: str, raw: bytes, headers: dict[str, str]) -> Any:
    """POST a webhook to the Worker at the URL Replicate was given, as Replicate would (the
    harness stands in for the network between them)."""
    assert url.startswith(BASE + "/webhooks/replicate/"), url
    return ig.fetch("POST", url.removeprefix(BASE), body=raw, headers={"content-type": "application/json", **headers})


def events(ig: IgWorker, job_id: str, source: str) -> list[dict[str, Any]]:
    return ig.rows("SELECT * FROM provider_events WHERE job_id = ? AND source = ? ORDER BY received_at", job_id, source)


def handled(report: dict[str, Any]) -> list[str]:
    return [m["body"]["type"] for b in report["batches"] for m in b["messages"]]


def assert_stored_as_replicate_made_them(
    ig: IgWorker, fake: FakeReplicate, job_id: str, prediction: Prediction
) -> None:
    """Both images in R2 byte for byte, one result whose cost is estimated from the seconds
    Replicate billed at the configured price, and the job naming the prediction."""
    job = ig.job(job_id)
    assert job["status"] == "succeeded", (job["error"], job["last_error"])
    assert job["provider"] == "replicate" and job["model"] == MODEL and job["model_alias"] == "flux-schnell"
    assert job["provider_task_id"] == prediction.id and job["completed_at"] is not None
    # Followed (and cancelled) by the URLs Replicate answered with, not ones ig made up.
    assert json.loads(job["provider_handle"]) == {
        "get": f"{fake.api_url}/predictions/{prediction.id}",
        "cancel": f"{fake.api_url}/predictions/{prediction.id}/cancel",
    }

    seconds = fake.billed[prediction.id]
    assert prediction.status == "succeeded" and seconds == fake.predict_time
    [result] = ig.results(job_id)
    assert result["result_key"] == f"prediction:{prediction.id}" and result["stored_at"] is not None
    assert (result["cost_source"], result["cost_currency"]) == ("estimated", "USD")
    assert result["cost"] == pytest.approx(seconds * PRICE)
    assert result["seed"] is None  # none was asked for, and Replicate reports none
    raw = json.loads(result["raw"])
    assert raw["id"] == prediction.id and raw["metrics"]["predict_time"] == seconds
    assert raw["output"] == prediction.output and "input" not in raw  # the input is the job's already

    artifacts = sorted(ig.artifacts(job_id), key=lambda a: a["output_name"])
    assert [a["output_name"] for a in artifacts] == ["output[0]", "output[1]"]
    assert len(prediction.output) == 2
    for artifact, url in zip(artifacts, prediction.output, strict=True):
        served = fake.media[url.split("/media/", 1)[1]]
        assert artifact["source_url"] == url and artifact["result_key"] == result["result_key"]
        assert (artifact["kind"], artifact["content_type"]) == ("image", "image/webp")
        assert (artifact["provider"], artifact["model"]) == ("replicate", MODEL)
        assert artifact["size"] == len(served) and artifact["sha256"] == hashlib.sha256(served).hexdigest()
        assert (artifact["width"], artifact["height"]) == (1024, 1024)
        blob = ig.blob(artifact["blob_key"])
        assert blob["body"] == served and blob["httpMetadata"] == {"contentType": "image/webp"}
    assert sorted(ig.h.r2_keys()) == sorted(a["blob_key"] for a in artifacts)


# ---------------------------------------------------------------------------------------------- webhooks


def test_a_replicate_job_completes_through_a_signed_webhook_and_the_queue(ig, replicate):
    r = ig.submit(SCHNELL)
    assert r.status == 202, r.text
    job_id = r.json()["id"]
    creation, prediction = only_creation(replicate)
    # By model, with Replicate's input names, only the final event asked for, and the job's
    # deadline (the alias's 600 s) as Cancel-After so Replicate stops it by itself.
    assert creation.path == f"/v1/models/{MODEL}/predictions"
    token = ig.job(job_id)["webhook_token"]
    assert token
    assert creation.body == {
        "input": INPUT,
        "webhook": f"{BASE}/webhooks/replicate/{job_id}/{token}",
        "webhook_events_filter": ["completed"],
    }
    assert creation.headers["cancel-after"] == f"{ig.job(job_id)['timeout_seconds']}s" == "600s"
    assert creation.answered == 201
    assert creation.headers["authorization"] == f"Bearer {replicate.api_token}"
    assert prediction.deadline_us is not None and prediction.webhook_events_filter == ["completed"]
    row = ig.job(job_id)
    assert row["status"] == "submitted" and row["provider_task_id"] == prediction.id
    assert token not in row["provider_request"]
    [submitted] = events(ig, job_id, "submit")
    assert submitted["http_status"] == 201 and json.loads(submitted["body"])["id"] == prediction.id
    assert ig.h.queue_sent() == []  # webhook mode: nothing polls until Replicate says it is done

    wait_for(lambda: (prediction.id, "completed") in replicate.dropped_webhooks, "Replicate to finish the prediction")
    assert replicate.dropped_webhooks == [(prediction.id, "completed")]  # no start, logs or output events
    raw = json.dumps(replicate.prediction_json(prediction)).encode()
    answered = post_webhook(ig, creation.body["webhook"], raw, replicate.sign(raw))
    assert answered.status == 200, answered.text

    [webhook] = events(ig, job_id, "webhook")
    assert webhook["body"] == raw.decode() and webhook["body_sha256"] == hashlib.sha256(raw).hexdigest()
    assert webhook["processed_at"] is None
    [message] = ig.h.queue_sent(clear=True)
    assert message["body"] == {"type": "event", "job_id": job_id, "event_id": webhook["id"]}

    # The completed webhook carries the whole prediction: from the queue, the consumer stores its
    # outputs without asking Replicate again; only the media host is fetched.
    asked_before = len(replicate.calls)
    report = ig.drain()
    assert handled(report) == ["event"]
    fetched = [path for _, path, _ in replicate.calls[asked_before:]]
    assert sorted(fetched) == sorted(f"/media/{u.split('/media/', 1)[1]}" for u in prediction.output)
    assert prediction.polls == 0
    assert_stored_as_replicate_made_them(ig, replicate, job_id, prediction)
    [webhook] = events(ig, job_id, "webhook")
    assert webhook["processed_at"] is not None
    assert events(ig, job_id, "poll") == []
    assert replicate.billed_for(MODEL) == {prediction.id: replicate.predict_time}

    # Replicate retries the final webhook under its webhook-id, signed afresh: the retry is
    # counted on the event it repeats and changes nothing else.
    headers = replicate.sign(raw)
    assert post_webhook(ig, creation.body["webhook"], raw, headers).status == 200
    assert post_webhook(ig, creation.body["webhook"], raw, replicate.sign(raw, headers["webhook-id"])).status == 200
    [again] = events(ig, job_id, "webhook")
    assert again["id"] == webhook["id"] and again["deliveries"] == 3 and again["processed_at"] is not None
    assert ig.h.queue_sent() == [] and len(ig.results(job_id)) == 1 and len(ig.artifacts(job_id)) == 2
    assert len(ig.h.r2_keys()) == 2


def test_forged_replicate_webhooks_are_401_and_write_nothing(ig, replicate):
    replicate.hold_new = True  # the prediction stays starting: only the webhooks below speak of it
    job_id = ig.submitted(SCHNELL)
    creation, prediction = only_creation(replicate)
    url = creation.body["webhook"]
    before = ig.job(job_id)
    raw = json.dumps({"id": prediction.id, "status": "succeeded", "output": []}).encode()
    # Each refused for its own fault: the stale one is signed with the right secret.
    forgeries = {
        "the signature matches none of the secret's keys": replicate.sign(raw, secret="whsec_" + "QUJD" * 8),
        # 301 s old when signed, a moment older when checked
        "webhook-timestamp is 30[12] s from now; at most 300": replicate.sign(raw, timestamp=int(time.time()) - 301),
        "missing webhook-id": {},
    }
    for reason, headers in forgeries.items():
        answered = post_webhook(ig, url, raw, headers)
        assert answered.status == 401, (reason, answered.status, answered.text)
        assert answered.header("content-type") == "application/problem+json"
        assert re.fullmatch(reason, answered.json()["detail"]), (reason, answered.json()["detail"])
    assert ig.job(job_id) == before  # not even a note of the refusal
    assert [e["source"] for e in ig.rows("SELECT source FROM provider_events WHERE job_id = ?", job_id)] == ["submit"]
    assert ig.h.queue_sent() == [] and ig.results(job_id) == [] and ig.h.r2_keys() == []

    # The same body signed with Replicate's secret is taken: the 401s were the signatures' doing.
    answered = post_webhook(ig, url, raw, replicate.sign(raw))
    assert answered.status == 200, answered.text
    [webhook] = events(ig, job_id, "webhook")
    assert webhook["body"] == raw.decode()
    assert [m["body"] for m in ig.h.queue_sent()] == [{"type": "event", "job_id": job_id, "event_id": webhook["id"]}]


# ---------------------------------------------------------------------------------------------- polling


def test_without_the_webhook_secret_a_replicate_job_completes_by_queue_driven_polls(ig, replicate):
    # IG_PUBLIC_URL stays set: the missing secret alone keeps ig from asking for webhooks it could
    # not verify.
    ig.configure(REPLICATE_WEBHOOK_SECRET=None)
    job_id = ig.submitted(SCHNELL)
    creation, prediction = only_creation(replicate)
    assert creation.body == {"input": INPUT} and prediction.webhook is None
    assert creation.headers["cancel-after"] == "600s"
    assert ig.job(job_id)["webhook_token"] is None
    assert [(m["body"], m["delaySeconds"]) for m in ig.h.queue_sent()] == [
        ({"type": "poll", "job_id": job_id, "seq": 1}, 2)
    ]

    report = ig.drain()  # delays are not waited for
    polls = [m for b in report["batches"] for m in b["messages"]]
    assert [m["body"]["seq"] for m in polls] == [1, 2] and {m["outcome"] for m in polls} == {"acked"}
    assert prediction.polls == 2  # processing, then succeeded
    gets = [path for method, path, _ in replicate.calls if method == "GET" and path.startswith("/v1/")]
    assert gets == [f"/v1/predictions/{prediction.id}"] * 2
    assert ig.job(job_id)["poll_seq"] == 2
    polled = events(ig, job_id, "poll")
    assert [e["http_status"] for e in polled] == [200, 200]
    assert [json.loads(e["body"])["status"] for e in polled] == ["processing", "succeeded"]
    assert_stored_as_replicate_made_them(ig, replicate, job_id, prediction)
    assert events(ig, job_id, "webhook") == [] and replicate.dropped_webhooks == []


# ---------------------------------------------------------------------------------------------- unknown create


def test_an_unknown_create_is_reconciled_by_the_cron_sweeper_and_billed_once(ig, replicate):
    ig.configure(REPLICATE_WEBHOOK_SECRET=None, IG_QUIET_SECONDS=0)
    replicate.drop_creates(create=True)  # Replicate makes the prediction, and the Worker never hears so
    r = ig.submit(SCHNELL)
    assert r.status == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["status"] == "queued"
    row = ig.job(job_id)
    assert row["status"] == "queued" and row["submit_unknown_at"] is not None and row["provider_task_id"] == ""
    assert json.loads(row["last_error"])["code"] == "connection"
    assert ig.h.queue_sent() == []  # never blindly resent: Replicate has no idempotency key
    creation, prediction = only_creation(replicate)
    assert creation.answered is None and prediction.input == INPUT

    time.sleep(0.005)  # next_check_at (+ 0 s) is in the past
    run = ig.h.scheduled(cron="* * * * *", scheduled_time=time.time() * 1000)
    assert run["exception"] is None, run["exception"]
    assert [m["body"] for m in ig.h.queue_sent()] == [{"type": "reconcile", "job_id": job_id}]

    report = ig.drain()
    assert handled(report)[0] == "reconcile" and set(handled(report)[1:]) == {"poll"}
    listings = [path for method, path, _ in replicate.calls if path.split("?")[0] == "/v1/predictions"]
    assert len(listings) == 1 and "created_after=" in listings[0]
    row = ig.job(job_id)
    assert row["submit_unknown_at"] is None and row["provider_task_id"] == prediction.id
    assert_stored_as_replicate_made_them(ig, replicate, job_id, prediction)
    assert len(replicate.creations) == 1 and len(replicate.predictions) == 1

    replicate.settle()
    assert replicate.billed == {prediction.id: replicate.predict_time}
    ig.h.queue_sent(clear=True)
    assert ig.h.scheduled()["exception"] is None and ig.h.queue_sent() == []  # nothing left to sweep


def test_the_signed_webhook_of_an_unknown_create_settles_it_before_any_sweep(ig, replicate):
    replicate.drop_creates(create=True)  # the prediction was asked for the webhook all the same
    job_id = ig.submit(SCHNELL).json()["id"]
    row = ig.job(job_id)
    assert row["status"] == "queued" and row["submit_unknown_at"] is not None and row["webhook_token"]
    creation, prediction = only_creation(replicate)

    wait_for(lambda: (prediction.id, "completed") in replicate.dropped_webhooks, "Replicate to finish the prediction")
    raw = json.dumps(replicate.prediction_json(prediction)).encode()
    assert post_webhook(ig, creation.body["webhook"], raw, replicate.sign(raw)).status == 200
    row = ig.job(job_id)
    assert row["status"] == "submitted" and row["submit_unknown_at"] is None
    assert row["provider_task_id"] == prediction.id

    assert handled(ig.drain()) == ["event"]
    assert_stored_as_replicate_made_them(ig, replicate, job_id, prediction)
    # Neither listed nor created again: the webhook named the prediction.
    assert [path for _, path, _ in replicate.calls if path.startswith("/v1/")] == [creation.path]
    replicate.settle()
    assert replicate.billed == {prediction.id: replicate.predict_time}
