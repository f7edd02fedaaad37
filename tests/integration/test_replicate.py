"""Replicate beside Runware and fal, end to end over loopback HTTP: ig's local runtime against a
fake Replicate that speaks Replicate's prediction API and signs its webhooks per Standard
Webhooks (``fixtures/fake_replicate.py``), with real SQLite and real files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
from fixtures.fake_replicate import FakeReplicate
from fixtures.payloads import PNG
from fixtures.waiting import until

from ig.completion.sweeper import sweep

PROMPT = "a lighthouse at dusk"
SCHNELL = {"model": "flux-schnell", "provider": "replicate", "params": {"prompt": PROMPT, "num_outputs": 2}}
PRICE = 0.003


def replicate_settings(fake: FakeReplicate, *, secret: bool = True) -> dict[str, object]:
    return {
        "replicate_api_token": fake.api_token,
        "replicate_api_url": fake.api_url,
        "replicate_webhook_secret": fake.webhook_secret if secret else None,
        "replicate_prices": {"black-forest-labs/flux-schnell": PRICE},
    }


async def start_replicate(start_ig, fake: FakeReplicate, *, secret: bool = True, **overrides):
    return await start_ig(None, **{**replicate_settings(fake, secret=secret), **overrides})


async def test_an_alias_runs_on_replicate_and_ends_as_artifacts_with_an_estimated_cost(start_ig, fake_replicate):
    ig = await start_replicate(start_ig, fake_replicate)
    response = await ig.submit({**SCHNELL, "tags": ["r"], "timeout_seconds": 300})
    assert response.status_code == 202, response.text
    job = await ig.wait(response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    [creation] = fake_replicate.creations
    assert creation.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert creation.body["input"] == {
        "prompt": PROMPT,
        "num_outputs": 2,
        "aspect_ratio": "1:1",
        "num_inference_steps": 4,
    }
    assert creation.body["webhook_events_filter"] == ["completed"]
    assert creation.headers["cancel-after"] == "300s"  # the job's deadline: Replicate stops by itself
    assert creation.headers["authorization"] == f"Bearer {fake_replicate.api_token}"
    prediction = fake_replicate.predictions[creation.prediction_id]
    assert job["provider_task_id"] == prediction.id
    assert len(job["artifacts"]) == 2
    for artifact, url in zip(job["artifacts"], prediction.output, strict=True):
        content = await ig.client.get(artifact["content_url"])
        assert hashlib.sha256(content.content).hexdigest() == artifact["sha256"]
        assert artifact["kind"] == "image" and (artifact["width"], artifact["height"]) == (1024, 1024)
        assert artifact["provenance"]["source_url"] == url and artifact["tags"] == ["r"]
    seconds = fake_replicate.billed[prediction.id]
    assert job["cost"] == pytest.approx(seconds * PRICE) and job["cost_source"] == "estimated"
    assert [d.event for d in fake_replicate.webhook_deliveries] == ["completed"]
    [event] = ig.rows("SELECT source FROM provider_events WHERE job_id = ? AND source = 'webhook'", (job["id"],))


async def test_without_the_webhook_secret_ig_polls_instead_of_asking_for_webhooks(start_ig, fake_replicate):
    ig = await start_replicate(start_ig, fake_replicate, secret=False, time_scale=0.05)
    job = await ig.wait((await ig.submit(SCHNELL)).json()["id"])
    assert job["status"] == "succeeded" and len(job["artifacts"]) == 2
    [creation] = fake_replicate.creations
    assert "webhook" not in creation.body
    assert ig.rows("SELECT webhook_token FROM jobs") == [{"webhook_token": None}]


@pytest.mark.parametrize(
    ("model", "params", "kinds"),
    [
        ("llama-3-8b", {"prompt": "Say hello"}, ["text"]),
        ("blip", {"image": "IMG"}, ["text"]),
        ("musicgen", {"prompt": "calm piano"}, ["audio"]),
        ("suno-ai/bark:b76242b40d67c76ab6742e987628a2a9ac019e11d56ab96c4e91ce03b79b2787", {"prompt": "hi"},
         ["text", "audio"]),
    ],
)  # fmt: skip
async def test_every_replicate_output_shape_ends_as_artifacts(start_ig, fake_replicate, model, params, kinds):
    ig = await start_replicate(start_ig, fake_replicate, secret=False, time_scale=0.05)
    upload = (await ig.client.post("/v1/uploads", content=PNG, headers={"content-type": "image/png"})).json()
    params = {k: (f"artifact:{upload['id']}" if v == "IMG" else v) for k, v in params.items()}
    response = await ig.submit({"model": model, "provider": "replicate", "params": params})
    assert response.status_code == 202, response.text
    job = await ig.wait(response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert [a["kind"] for a in job["artifacts"]] == kinds
    [prediction] = fake_replicate.predictions.values()
    if model == "llama-3-8b":
        text = (await ig.client.get(job["artifacts"][0]["content_url"])).text
        assert text == "".join(prediction.output)  # the streamed tokens, joined


async def test_a_forged_replicate_webhook_is_a_401_and_writes_nothing(start_ig, fake_replicate):
    fake_replicate.hold_new = True
    ig = await start_replicate(start_ig, fake_replicate)
    job_id = (await ig.submit(SCHNELL)).json()["id"]
    [creation] = fake_replicate.creations
    url = creation.body["webhook"]
    body = json.dumps({"id": creation.prediction_id, "status": "succeeded", "output": []}).encode()
    wrong = fake_replicate.sign(body, secret="whsec_" + "QUJD" * 8)
    stale = fake_replicate.sign(body, timestamp=int(time.time()) - 301)
    for headers in (wrong, stale, {}):
        assert await asyncio.to_thread(fake_replicate.post_webhook, url, body, headers) == 401
    other = json.dumps({"id": "someotherprediction", "status": "succeeded", "output": []}).encode()
    assert await asyncio.to_thread(fake_replicate.post_webhook, url, other, fake_replicate.sign(other)) == 400
    assert ig.rows("SELECT id FROM provider_events WHERE job_id = ? AND source = 'webhook'", (job_id,)) == []


async def test_a_failed_prediction_fails_the_job_with_replicates_error(start_ig, fake_replicate):
    fake_replicate.fail_predictions(error="CUDA out of memory")
    ig = await start_replicate(start_ig, fake_replicate)
    job = await ig.wait((await ig.submit(SCHNELL)).json()["id"])
    assert job["status"] == "failed"
    assert (job["error"]["code"], job["error"]["message"]) == ("prediction_failed", "CUDA out of memory")


async def test_bad_input_is_refused_by_the_models_schema_before_anything_is_sent(start_ig, fake_replicate):
    ig = await start_replicate(start_ig, fake_replicate)
    response = await ig.submit({**SCHNELL, "params": {"prompt": "x", "num_outputs": 9, "aspect_ratio": "7:3"}})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"params.num_outputs", "params.aspect_ratio"}
    unsupported = await ig.submit({**SCHNELL, "params": {"prompt": "x", "width": 512}})
    assert [(e["field"], e["code"]) for e in unsupported.json()["errors"]] == [
        ("params.width", "unsupported_parameter")
    ]
    assert fake_replicate.creations == []


async def test_a_throttled_create_is_retried_and_billed_once(start_ig, fake_replicate):
    fake_replicate.fail_creates(429, retry_after=0)
    ig = await start_replicate(start_ig, fake_replicate, time_scale=0.01)
    job = await ig.wait((await ig.submit(SCHNELL)).json()["id"], seconds=30)
    assert job["status"] == "succeeded"
    assert len(fake_replicate.creations) == 2 and len(fake_replicate.predictions) == 1
    fake_replicate.settle()
    assert len(fake_replicate.billed) == 1


@pytest.mark.parametrize("created", [True, False])
async def test_an_unknown_create_is_reconciled_never_blindly_resent(start_ig, fake_replicate, created):
    fake_replicate.drop_creates(create=created)
    ig = await start_replicate(start_ig, fake_replicate, secret=False, quiet_seconds=0, time_scale=0.05)
    job_id = (await ig.submit(SCHNELL)).json()["id"]
    [row] = ig.rows("SELECT status, submit_unknown_at FROM jobs WHERE id = ?", (job_id,))
    assert row["status"] == "queued" and row["submit_unknown_at"] is not None
    assert (await sweep(ig.runtime.deps)).reconciled == 1
    job = await ig.wait(job_id)
    assert job["status"] == "succeeded"
    assert len(fake_replicate.creations) == (1 if created else 2)
    fake_replicate.settle()
    [(prediction_id, _)] = fake_replicate.billed.items()
    assert job["provider_task_id"] == prediction_id and len(fake_replicate.predictions) == 1


async def test_cancel_before_start_is_free_and_while_running_is_billed_for_the_time_run(start_ig, fake_replicate):
    fake_replicate.hold_new = True
    ig = await start_replicate(start_ig, fake_replicate)
    first = (await ig.submit(SCHNELL)).json()["id"]
    cancelled = (await ig.client.post(f"/v1/jobs/{first}/cancel")).json()
    assert cancelled["provider_cancel"]["stopped"] is True
    second = (await ig.submit(SCHNELL)).json()["id"]
    running = fake_replicate.creations[-1].prediction_id
    fake_replicate.hold(running, processing=True)
    await until(lambda: fake_replicate.predictions[running].status == "processing", what="the prediction to start")
    cancelled = (await ig.client.post(f"/v1/jobs/{second}/cancel")).json()
    assert (cancelled["provider_cancel"]["stopped"], cancelled["provider_cancel"]["requested"]) == (False, True)
    fake_replicate.settle()
    assert list(fake_replicate.billed) == [running]
