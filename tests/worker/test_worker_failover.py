"""Failover on the Worker: src/entry.py on Pyodide with Miniflare's D1, R2 and Queues runs a job
that names several providers against the fake Runware, fal and Replicate over loopback. The
Worker has no port the fakes could call, so they drop their webhooks and the test delivers them,
signed with each fake's key, to the URL the provider was given. Rows and blobs are read back from
Node, not through ig; the job view is read through the API only where its rendering is the point.

What moving on may never do is bill twice: each test ends by counting what every provider took."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from fixtures.fake_fal import FakeFal, FalRequest
from fixtures.fake_replicate import FakeReplicate, Prediction
from fixtures.fake_runware import SubmitScript

from .ig_worker import BASE, IgWorker

PROMPT = "a lighthouse at dusk"
BODY = {"model": "flux-schnell", "params": {"prompt": PROMPT, "num_outputs": 2}}
ENDPOINT = "fal-ai/flux/schnell"
REPLICATE_MODEL = "black-forest-labs/flux-schnell"
REPLICATE_PRICE = 0.003


@pytest.fixture
def fal(ig: IgWorker, fake_fal: FakeFal) -> FakeFal:
    """The session's Worker (emptied by ``ig``) also pointed at this test's fake fal, in webhook mode."""
    fake_fal.drop_webhooks = True  # nothing could reach http://ig.test: the test delivers them
    ig.configure(
        FAL_KEY=fake_fal.api_key,
        FAL_QUEUE_URL=fake_fal.queue_url,
        FAL_API_URL=fake_fal.api_url,
        FAL_JWKS_URL=fake_fal.jwks_url,
    )
    return fake_fal


@pytest.fixture
def replicate(ig: IgWorker, fake_replicate: FakeReplicate) -> FakeReplicate:
    """The session's Worker also pointed at this test's fake Replicate, in webhook mode."""
    fake_replicate.drop_webhooks = True
    ig.configure(
        REPLICATE_API_TOKEN=fake_replicate.api_token,
        REPLICATE_API_URL=fake_replicate.api_url,
        REPLICATE_WEBHOOK_SECRET=fake_replicate.webhook_secret,
        IG_REPLICATE_PRICES=f"{REPLICATE_MODEL}={REPLICATE_PRICE}",
    )
    return fake_replicate


def wait_for(check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def handled(report: dict[str, Any]) -> list[str]:
    return [m["body"]["type"] for b in report["batches"] for m in b["messages"]]


def attempts(ig: IgWorker, job_id: str) -> list[dict[str, Any]]:
    """The providers the job has left, as D1 holds them (the current one is the row itself)."""
    return json.loads(ig.job(job_id)["attempts"] or "[]")


def candidates(ig: IgWorker, job_id: str) -> list[str]:
    return [c["provider"] for c in json.loads(ig.job(job_id)["candidates"] or "[]")]


def view(ig: IgWorker, job_id: str) -> dict[str, Any]:
    r = ig.fetch("GET", f"/v1/jobs/{job_id}")
    assert r.status == 200, r.text
    return r.json()


def outcomes(job: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in job["attempts"]]


def post_webhook(ig: IgWorker, provider: str, url: str, raw: bytes, headers: dict[str, str]) -> Any:
    """POST a webhook to the Worker at the URL the provider was given, as the provider would."""
    assert url.startswith(f"{BASE}/webhooks/{provider}/"), url
    return ig.fetch("POST", url.removeprefix(BASE), body=raw, headers={"content-type": "application/json", **headers})


def deliver_fal_webhook(ig: IgWorker, fake: FakeFal, request: FalRequest) -> tuple[bytes, dict[str, str]]:
    """fal's webhook for a finished request, signed, delivered; the body and headers, to resend."""
    wait_for(lambda: request.request_id in fake.dropped_webhooks, "fal to finish the request")
    raw = json.dumps(fake.webhook_body(request)).encode()
    headers = fake.sign(raw, request.request_id)
    answered = post_webhook(ig, "fal", request.webhook_url or "", raw, headers)
    assert answered.status == 200, answered.text
    return raw, headers


def assert_artifacts_are(ig: IgWorker, job_id: str, provider: str, model: str, served: dict[str, bytes]) -> None:
    """The job's artifacts, byte for byte the media the provider served (by source URL), made by
    ``provider``, and nothing else in R2."""
    artifacts = ig.artifacts(job_id)
    assert sorted(a["source_url"] for a in artifacts) == sorted(served)
    for artifact in artifacts:
        data = served[artifact["source_url"]]
        assert (artifact["provider"], artifact["model"]) == (provider, model)
        assert artifact["size"] == len(data) and artifact["sha256"] == hashlib.sha256(data).hexdigest()
        assert ig.blob(artifact["blob_key"])["body"] == data
    assert sorted(ig.h.r2_keys()) == sorted(a["blob_key"] for a in artifacts)


def fal_media(fake: FakeFal, request: FalRequest) -> dict[str, bytes]:
    return {i["url"]: fake.media[i["url"].rsplit("/", 1)[1]] for i in request.output["images"]}


def replicate_media(fake: FakeReplicate, prediction: Prediction) -> dict[str, bytes]:
    return {url: fake.media[url.split("/media/", 1)[1]] for url in prediction.output}


# ---------------------------------------------------------------------------------------------- refused for good


def test_a_runware_refusal_for_good_moves_the_job_to_fal_which_completes_it_billed_once(ig, fal):
    error = {"code": "insufficientCredits", "message": "Insufficient credits to run this task"}
    ig.fake.submit_script = [SubmitScript(402, {"errors": [error]})]
    r = ig.submit({**BODY, "provider": ["runware", "fal"]})
    assert r.status == 202, r.text  # the refusal was Runware's, not the consumer's: fal took the job
    job_id = r.json()["id"]
    assert r.json()["provider"] == "fal" and r.json()["status"] == "submitted"

    # Runware was asked once, under the job's id, and kept nothing.
    [[sent]] = ig.fake.requests
    assert sent["taskUUID"] == job_id and sent["model"] == "runware:100@1"
    assert ig.fake.tasks == {} and ig.fake.accepted == []

    [request] = fal.requests.values()
    row = ig.job(job_id)
    assert (row["provider"], row["model"], row["task"]) == ("fal", ENDPOINT, "imageInference")
    assert row["status"] == "submitted" and row["provider_task_id"] == request.request_id
    assert request.endpoint_id == ENDPOINT and request.body["prompt"] == PROMPT and request.body["num_images"] == 2
    [runware] = attempts(ig, job_id)
    assert (runware["provider"], runware["model"], runware["outcome"]) == ("runware", "runware:100@1", "refused")
    assert runware["error"]["code"] == "insufficientCredits" and runware["error"]["message"] == error["message"]
    assert candidates(ig, job_id) == []
    # The move gave the job a fresh webhook token, for fal's URL only.
    assert row["webhook_token"] and request.webhook_url == f"{BASE}/webhooks/fal/{job_id}/{row['webhook_token']}"
    assert row["webhook_token"] not in sent["webhookURL"]
    [refusal, accepted] = ig.rows(
        "SELECT source, http_status FROM provider_events WHERE job_id = ? ORDER BY received_at", job_id
    )
    assert (refusal["source"], refusal["http_status"]) == ("submit", 402)
    assert (accepted["source"], accepted["http_status"]) == ("submit", 200)
    assert ig.h.queue_sent() == []  # webhook mode: nothing polls until fal says it is done

    deliver_fal_webhook(ig, fal, request)
    assert handled(ig.drain())[0] == "event"
    row = ig.job(job_id)
    assert row["status"] == "succeeded", (row["error"], row["last_error"])
    assert_artifacts_are(ig, job_id, "fal", ENDPOINT, fal_media(fal, request))
    [result] = ig.results(job_id)
    assert result["result_key"] == f"request:{request.request_id}" and result["cost_source"] == "billed"

    job = view(ig, job_id)
    assert outcomes(job) == [("runware", "refused"), ("fal", "succeeded")] and job["providers_left"] == []
    assert ig.fake.tasks == {} and len(fal.submissions) == 1
    fal.settle()
    assert fal.billed == {request.request_id: 2}


# ---------------------------------------------------------------------------------------------- failed after acceptance


@pytest.mark.parametrize("after_accept", [True, False], ids=["failover_after_accept", "by_default"])
def test_a_fal_failure_after_acceptance_moves_to_replicate_only_when_the_job_asks(ig, fal, replicate, after_accept):
    fal.fail_requests("server")  # fal accepts the request, runs it, and fails it
    body = {**BODY, "provider": ["fal", "replicate"], "failover_after_accept": after_accept}
    job_id = ig.submitted(body)
    [request] = fal.requests.values()
    row = ig.job(job_id)
    assert row["provider"] == "fal" and row["provider_task_id"] == request.request_id
    assert row["failover_after_accept"] == int(after_accept) and candidates(ig, job_id) == ["replicate"]

    fal_raw, _ = deliver_fal_webhook(ig, fal, request)
    assert json.loads(fal_raw)["status"] == "ERROR"
    asked_before = len(fal.calls)
    report = ig.drain()
    # The webhook only announces the end: the failure is fal's answer to the result fetch.
    result_path = f"/queue/fal-ai/flux/requests/{request.request_id}"
    assert (result_path, 500) in [(path.split("?")[0], status) for _, path, status in fal.calls[asked_before:]]
    assert fal.billed == {}  # fal bills nothing for its own failure
    job = view(ig, job_id)

    if not after_accept:
        # Accepted work is never paid for twice unless the job asked: the job fails on fal.
        assert handled(report) == ["event"]
        row = ig.job(job_id)
        assert (row["status"], row["provider"]) == ("failed", "fal")
        assert json.loads(row["error"])["code"] == "internal_error"
        assert attempts(ig, job_id) == [] and candidates(ig, job_id) == ["replicate"]
        assert outcomes(job) == [("fal", "failed")] and job["providers_left"] == ["replicate"]
        assert replicate.creations == [] and ig.results(job_id) == [] and ig.h.r2_keys() == []
        return

    # The next provider is sent the request from the queue, not from the webhook's handling.
    assert handled(report) == ["event", "submit"]
    row = ig.job(job_id)
    assert (row["provider"], row["model"], row["status"]) == ("replicate", REPLICATE_MODEL, "submitted")
    [fal_attempt] = attempts(ig, job_id)
    assert (fal_attempt["provider"], fal_attempt["model"], fal_attempt["outcome"]) == ("fal", ENDPOINT, "failed")
    assert fal_attempt["provider_task_id"] == request.request_id
    assert fal_attempt["error"]["code"] == "internal_error" and candidates(ig, job_id) == []
    assert outcomes(job) == [("fal", "failed"), ("replicate", "submitted")] and job["providers_left"] == []

    [creation] = replicate.creations
    prediction = replicate.predictions[creation.prediction_id]
    assert creation.path == f"/v1/models/{REPLICATE_MODEL}/predictions" and creation.answered == 201
    assert prediction.input["prompt"] == PROMPT and prediction.input["num_outputs"] == 2
    token = row["webhook_token"]
    assert token and creation.body["webhook"] == f"{BASE}/webhooks/replicate/{job_id}/{token}"
    assert token not in request.webhook_url  # fal's URL no longer opens this job
    assert row["provider_task_id"] == prediction.id

    # fal retries its webhook (signed afresh) after the move: the job is Replicate's now, and
    # the late delivery is turned away without a trace.
    events_before = ig.rows("SELECT id, deliveries FROM provider_events WHERE job_id = ? ORDER BY id", job_id)
    ig.h.queue_sent(clear=True)
    late = post_webhook(ig, "fal", request.webhook_url, fal_raw, fal.sign(fal_raw, request.request_id))
    assert late.status == 404, late.text
    assert ig.rows("SELECT id, deliveries FROM provider_events WHERE job_id = ? ORDER BY id", job_id) == events_before
    assert ig.h.queue_sent() == [] and ig.job(job_id)["provider"] == "replicate"

    wait_for(lambda: (prediction.id, "completed") in replicate.dropped_webhooks, "Replicate to finish the prediction")
    raw = json.dumps(replicate.prediction_json(prediction)).encode()
    answered = post_webhook(ig, "replicate", creation.body["webhook"], raw, replicate.sign(raw))
    assert answered.status == 200, answered.text
    assert handled(ig.drain()) == ["event"]
    row = ig.job(job_id)
    assert (row["status"], row["error"]) == ("succeeded", None), (row["error"], row["last_error"])
    assert_artifacts_are(ig, job_id, "replicate", REPLICATE_MODEL, replicate_media(replicate, prediction))
    [result] = ig.results(job_id)
    assert result["result_key"] == f"prediction:{prediction.id}"
    assert result["cost"] == pytest.approx(replicate.predict_time * REPLICATE_PRICE)
    assert outcomes(view(ig, job_id)) == [("fal", "failed"), ("replicate", "succeeded")]
    replicate.settle()
    fal.settle()
    assert len(replicate.creations) == 1 and replicate.billed == {prediction.id: replicate.predict_time}
    assert len(fal.submissions) == 1 and fal.billed == {}


# ---------------------------------------------------------------------------------------------- unknown outcome


def test_an_unknown_fal_submit_is_reconciled_by_the_cron_sweeper_never_failed_over(ig, fal, replicate):
    ig.configure(IG_PUBLIC_URL=None, IG_QUIET_SECONDS=0)  # polls, not webhooks; reconcilable at once
    fal.drop_submits(create=True)  # fal makes the request, and the Worker never hears so
    r = ig.submit({**BODY, "provider": ["fal", "replicate"]})
    assert r.status == 202, r.text
    job_id = r.json()["id"]
    row = ig.job(job_id)
    # Replicate could run (and bill) the work a second time: the job stays fal's, queued, unknown.
    assert (row["provider"], row["status"], row["provider_task_id"]) == ("fal", "queued", "")
    assert row["submit_unknown_at"] is not None and json.loads(row["last_error"])["code"] == "connection"
    assert attempts(ig, job_id) == [] and candidates(ig, job_id) == ["replicate"]
    assert ig.h.queue_sent() == []  # neither resent nor handed on
    [request] = fal.requests.values()
    assert len(fal.submissions) == 1 and fal.submissions[0].answered is None

    time.sleep(0.005)  # next_check_at (+ 0 s) is in the past
    run = ig.h.scheduled(cron="* * * * *", scheduled_time=time.time() * 1000)
    assert run["exception"] is None, run["exception"]
    assert [m["body"] for m in ig.h.queue_sent()] == [{"type": "reconcile", "job_id": job_id}]
    report = ig.drain()
    assert handled(report)[0] == "reconcile" and set(handled(report)[1:]) == {"poll"}

    row = ig.job(job_id)
    assert row["status"] == "succeeded", (row["error"], row["last_error"])
    assert (row["provider"], row["provider_task_id"], row["submit_unknown_at"]) == ("fal", request.request_id, None)
    assert attempts(ig, job_id) == [] and candidates(ig, job_id) == ["replicate"]
    assert_artifacts_are(ig, job_id, "fal", ENDPOINT, fal_media(fal, request))
    job = view(ig, job_id)
    assert outcomes(job) == [("fal", "succeeded")] and job["providers_left"] == ["replicate"]

    ig.h.queue_sent(clear=True)
    assert ig.h.scheduled()["exception"] is None and ig.h.queue_sent() == []  # nothing left to sweep
    fal.settle()
    replicate.settle()
    assert replicate.creations == [] and replicate.billed == {}
    assert len(fal.submissions) == 1 and fal.billed == {request.request_id: 2}


# ------------------------------------------------------------------------------------------ the poll chain left behind


def deliver_one(ig: IgWorker) -> dict[str, Any]:
    """The oldest queued message, alone: FIFO, which the test arranges to be the order they fall due."""
    batch = ig.h.queue(max_batch_size=1)
    assert batch is not None and batch["exception"] is None, batch
    return batch["messages"][0]["body"]


def test_a_move_after_acceptance_ends_the_old_providers_poll_chain(ig, fal):
    # Polls, not webhooks. fal fails the request it accepted; Runware, next, asks for a pause
    # (429, Retry-After 30 s) before it takes the task.
    ig.configure(IG_PUBLIC_URL=None)
    fal.fail_requests("server")
    job_id = ig.submitted({**BODY, "provider": ["fal", "runware"], "failover_after_accept": True})
    busy = {"errors": [{"code": "tooManyRequests", "message": "Slow down"}]}
    ig.fake.submit_script = [SubmitScript(429, busy, headers={"retry-after": "30"})]
    assert deliver_one(ig) == {"type": "poll", "job_id": job_id, "seq": 1}  # fal: in progress
    assert deliver_one(ig) == {"type": "poll", "job_id": job_id, "seq": 2}  # fal: failed; moved on
    assert ig.job(job_id)["provider"] == "runware"
    assert deliver_one(ig) == {"type": "submit", "job_id": job_id}  # Runware: 429
    row = ig.job(job_id)
    assert (row["provider"], row["status"], json.loads(row["last_error"])["code"]) == (
        "runware",
        "queued",
        "tooManyRequests",
    )
    # Whatever is still queued falls due in the order it was sent: the resubmit in 30 s comes last.
    pending = [(m["body"]["type"], m["delaySeconds"]) for m in ig.h.queue_pending()["ig-jobs"]]
    assert pending[-1][0] == "submit" and pending[-1][1] >= 30
    assert all(delay < 30 for _, delay in pending[:-1]), pending

    while ig.h.queue_pending()["ig-jobs"][0]["body"]["type"] != "submit":
        deliver_one(ig)
        row = ig.job(job_id)
        # Nothing may come of a poll before Runware holds the task: it cannot end the job.
        assert (row["status"], row["error"]) == ("queued", None), row["error"]
    assert [t["taskType"] for [t] in ig.fake.requests] == ["imageInference"]  # Runware never asked about it

    assert deliver_one(ig) == {"type": "submit", "job_id": job_id}  # Runware takes the task
    ig.drain()
    row = ig.job(job_id)
    assert (row["status"], row["provider"]) == ("succeeded", "runware"), (row["error"], row["last_error"])
    assert [(a["provider"], a["outcome"]) for a in attempts(ig, job_id)] == [("fal", "failed")]
    assert ig.fake.accepted == [job_id] and fal.billed == {}
