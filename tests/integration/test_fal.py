"""fal beside Runware, end to end over loopback HTTP: ig's local runtime against a fake fal that
speaks fal's queue, platform and webhook protocols (``fixtures/fake_fal.py``), with real SQLite,
real files and webhooks signed with a real Ed25519 key."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
from fixtures.fake_fal import FakeFal
from fixtures.payloads import PNG
from fixtures.waiting import until

from ig.completion.sweeper import sweep

PROMPT = "a lighthouse at dusk"
SCHNELL = {"model": "flux-schnell", "provider": "fal", "params": {"prompt": PROMPT, "num_outputs": 2, "seed": 7}}


def fal_settings(fake: FakeFal) -> dict[str, object]:
    return {
        "fal_key": fake.api_key,
        "fal_queue_url": fake.queue_url,
        "fal_api_url": fake.api_url,
        "fal_jwks_url": fake.jwks_url,
    }


async def start_fal(start_ig, fake: FakeFal, **overrides):
    return await start_ig(None, **{**fal_settings(fake), **overrides})


def event_count(ig, job_id: str, source: str) -> int:
    return len(ig.rows("SELECT id FROM provider_events WHERE job_id = ? AND source = ?", (job_id, source)))


# --- one request, every modality ---------------------------------------------------------------------


async def test_an_alias_runs_on_fal_with_common_params_and_ends_as_artifacts_with_billed_cost(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)
    submitted = await ig.submit({**SCHNELL, "tags": ["fal"]})
    assert submitted.status_code == 202, submitted.text
    job = await ig.wait(submitted.json()["id"])
    assert job["status"] == "succeeded", job
    [request] = fake_fal.requests_matching("fal-ai/flux/schnell")
    # ig's common names became fal's own; the alias's defaults came along in fal's names too.
    assert request.body == {
        "prompt": PROMPT,
        "num_images": 2,
        "seed": 7,
        "image_size": {"width": 1024, "height": 1024},
        "num_inference_steps": 4,
    }
    assert job["model"] == "fal-ai/flux/schnell" and job["model_alias"] == "flux-schnell"
    assert job["provider_task_id"] == request.request_id
    assert json.loads(request.headers["x-fal-object-lifecycle-preference"]) == {"expiration_duration_seconds": 604800}
    assert request.headers["authorization"] == f"Key {fake_fal.api_key}"
    # Both images, byte for byte, with their sizes probed and the job's tags.
    assert [a["output_name"] if "output_name" in a else a["provenance"]["output"] for a in job["artifacts"]] == [
        "images[0]",
        "images[1]",
    ]
    for artifact, served in zip(job["artifacts"], request.output["images"], strict=True):
        content = await ig.client.get(artifact["content_url"])
        assert hashlib.sha256(content.content).hexdigest() == artifact["sha256"]
        assert content.content == fake_fal.media[served["url"].rsplit("/", 1)[1]]
        assert (artifact["width"], artifact["height"]) == (served["width"], served["height"])
        assert artifact["tags"] == ["fal"] and artifact["seed"] == request.output["seed"]
    # Cost: fal's billable units times its unit price, stored as billed.
    units = fake_fal.billed[request.request_id]
    price = fake_fal.prices["fal-ai/flux/schnell"][0]
    assert job["cost"] == pytest.approx(units * price) and units == 2
    assert (job["cost_currency"], job["cost_source"]) == ("USD", "billed")
    [row] = ig.rows("SELECT cost, cost_currency, cost_source, raw FROM results WHERE job_id = ?", (job["id"],))
    assert (row["cost_currency"], row["cost_source"]) == ("USD", "billed")
    assert json.loads(row["raw"])["ig_billing"]["units"] == units
    # The webhook was stored (verified), and the result ig fetched too.
    assert event_count(ig, job["id"], "webhook") == 1 and event_count(ig, job["id"], "poll") >= 1
    assert fake_fal.billed_for("fal-ai/flux/schnell") == {request.request_id: units}


@pytest.mark.parametrize(
    ("body", "kind", "output"),
    [
        ({"model": "fal-ai/flux/dev", "params": {"prompt": PROMPT, "image_size": "square"}}, "image", "images[0]"),
        ({"model": "fal-ai/kling-video/v2.1/standard/image-to-video", "params": {"prompt": "waves", "image": "IMG"}},
         "video", "video"),
        ({"model": "minimax-speech", "params": {"prompt": "Hello there."}}, "audio", "audio"),
        ({"model": "whisper", "params": {"audio_url": "https://example.com/a.mp3"}}, "text", "text"),
        ({"model": "real-esrgan", "params": {"image": "IMG"}}, "image", "image"),
        ({"model": "birefnet", "params": {"image": "IMG"}}, "image", "image"),
    ],
)  # fmt: skip
async def test_every_fal_modality_ends_as_stored_artifacts_with_provenance(start_ig, fake_fal, body, kind, output):
    ig = await start_fal(start_ig, fake_fal, webhooks=False, time_scale=0.05)
    upload = (await ig.client.post("/v1/uploads", content=PNG, headers={"content-type": "image/png"})).json()
    params = {k: (f"artifact:{upload['id']}" if v == "IMG" else v) for k, v in body["params"].items()}
    response = await ig.submit({**body, "provider": "fal", "params": params})
    assert response.status_code == 202, response.text
    job = await ig.wait(response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    [request] = fake_fal.requests.values()
    artifact = job["artifacts"][0]
    assert artifact["kind"] == kind and artifact["provenance"]["output"] == output
    assert (
        artifact["provenance"]["provider"] == "fal" and artifact["provenance"]["provider_task_id"] == request.request_id
    )
    if kind == "video":
        assert artifact["duration_seconds"] == pytest.approx(request.body.get("duration", 5), abs=0.5)
        assert request.body["image_url"].startswith("data:image/png;base64,")  # the upload, sent inline
    if kind == "audio":
        assert artifact["duration_seconds"] is not None
    if kind == "text":
        content = await ig.client.get(artifact["content_url"])
        assert content.text == request.output["text"]
    assert job["cost_source"] == "billed" and job["cost"] > 0
    if "IMG" in body["params"].values():
        lineage = (await ig.client.get(f"/v1/artifacts/{artifact['id']}/lineage")).json()
        assert [p["id"] for p in lineage["parents"]] == [upload["id"]]


async def test_one_field_switches_an_alias_between_runware_and_fal(start_ig, fake_runware, fake_fal):
    ig = await start_ig(fake_runware, **fal_settings(fake_fal))
    body = {"model": "flux-dev", "params": {"prompt": PROMPT, "width": 512, "height": 512, "seed": 3}}
    on_runware = await ig.wait((await ig.submit(body)).json()["id"])
    on_fal = await ig.wait((await ig.submit({**body, "provider": "fal"})).json()["id"])
    assert (on_runware["status"], on_fal["status"]) == ("succeeded", "succeeded")
    assert (on_runware["provider"], on_runware["model"]) == ("runware", "runware:101@1")
    assert (on_fal["provider"], on_fal["model"]) == ("fal", "fal-ai/flux/dev")
    [task] = fake_runware.tasks.values()
    assert (task["positivePrompt"], task["width"], task["height"], task["seed"]) == (PROMPT, 512, 512, 3)
    [request] = fake_fal.requests.values()
    assert (request.body["prompt"], request.body["image_size"], request.body["seed"]) == (
        PROMPT,
        {"width": 512, "height": 512},
        3,
    )
    for job in (on_runware, on_fal):
        assert [(a["width"], a["height"]) for a in job["artifacts"]] == [(512, 512)]
    usage = (await ig.client.get("/v1/usage", params={"group_by": "provider"})).json()["items"]
    by_provider = {row["key"]: row for row in usage}
    assert by_provider["fal"]["cost_by_source"] == {"billed": pytest.approx(on_fal["cost"])}
    assert by_provider["runware"]["cost_by_source"] == {"reported": pytest.approx(on_runware["cost"])}
    assert by_provider["fal"]["jobs"] == by_provider["runware"]["jobs"] == 1
    # The alias finds both jobs in the library; with a provider, only that one's.
    found = (await ig.client.get("/v1/jobs", params={"model": "flux-dev"})).json()["items"]
    assert {j["id"] for j in found} == {on_runware["id"], on_fal["id"]}
    only_fal = (await ig.client.get("/v1/jobs", params={"model": "flux-dev", "provider": "fal"})).json()["items"]
    assert [j["id"] for j in only_fal] == [on_fal["id"]]


# --- refusals before anything is spent -------------------------------------------------------------


async def test_bad_input_is_refused_by_the_endpoints_schema_before_anything_is_sent(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)
    response = await ig.submit(
        {"model": "fal-ai/flux/dev", "provider": "fal", "params": {"num_images": 0, "image_size": {"width": 99999}}}
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"params.prompt", "params.num_images", "params.image_size"} <= {f.split(".width")[0] for f in fields}
    assert fake_fal.submissions == [] and ig.rows("SELECT id FROM jobs") == []


async def test_a_common_name_with_its_native_twin_and_an_alias_the_provider_lacks_are_refused(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)
    twins = await ig.submit({**SCHNELL, "params": {"prompt": "a", "width": 512, "image_size": "square"}})
    assert twins.status_code == 422
    assert [(e["field"], e["code"]) for e in twins.json()["errors"]] == [("params.width", "duplicate_parameter")]
    lacking = await ig.submit({"model": "ace-step", "provider": "fal", "params": {"prompt": "a"}})
    assert lacking.status_code == 422
    [error] = lacking.json()["errors"]
    assert (error["field"], error["code"]) == ("model", "unavailable_model") and "runware" in error["message"]
    assert fake_fal.submissions == []


async def test_an_endpoint_outside_the_catalogue_passes_through_unchecked(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)
    body = {"model": "someone/new-model/v2", "provider": "fal", "params": {"anything": [1, 2], "prompt": "p"}}
    job = await ig.wait((await ig.submit(body)).json()["id"])
    assert job["status"] == "succeeded" and job["task"] == "inference"
    [request] = fake_fal.requests.values()
    assert request.body == {"anything": [1, 2], "prompt": "p"}


async def test_falls_validation_detail_fails_the_job_verbatim_with_igs_field_paths(start_ig, fake_fal):
    fake_fal.fail_requests("validation")
    ig = await start_fal(start_ig, fake_fal)
    job = await ig.wait((await ig.submit(SCHNELL)).json()["id"])
    assert job["status"] == "failed"
    [request] = fake_fal.requests.values()
    assert job["error"]["provider_error"] == request.output  # fal's body, verbatim
    detail = request.output["detail"]
    assert job["error"]["code"] == detail[0]["type"]
    assert job["error"]["parameter"] == [".".join(str(p) for p in d["loc"][1:]) for d in detail]


async def test_a_submit_refused_with_422_maps_detail_locations_to_params_fields(start_ig, fake_fal):
    detail = [{"loc": ["body", "image_size", "width"], "msg": "must be at most 2048", "type": "less_than_equal"}]
    fault = fake_fal.fail_submits(422)
    fault.body = {"detail": detail}
    ig = await start_fal(start_ig, fake_fal)
    response = await ig.submit({"model": "someone/app", "provider": "fal", "params": {"prompt": "x"}})
    assert response.status_code == 422, response.text
    assert [(e["field"], e["message"], e["code"]) for e in response.json()["errors"]] == [
        ("params.image_size.width", "must be at most 2048", "less_than_equal")
    ]


# --- webhooks: verified, or nothing is written ------------------------------------------------------


async def _held_job(ig, fake: FakeFal) -> tuple[str, str, str]:
    """A fal job whose request fal holds: (job id, request id, webhook URL)."""
    fake.hold_new = True
    job_id = (await ig.submit(SCHNELL)).json()["id"]
    request = list(fake.requests.values())[-1]
    return job_id, request.request_id, request.webhook_url


@pytest.mark.parametrize("forgery", ["wrong_key", "stale", "tampered", "unsigned"])
async def test_a_forged_webhook_is_a_401_and_writes_nothing(start_ig, fake_fal, forgery):
    ig = await start_fal(start_ig, fake_fal)
    job_id, request_id, url = await _held_job(ig, fake_fal)
    body = json.dumps({"request_id": request_id, "status": "OK", "payload": {"images": []}}).encode()
    if forgery == "wrong_key":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        headers = fake_fal.sign(body, request_id, key=Ed25519PrivateKey.generate())
    elif forgery == "stale":
        headers = fake_fal.sign(body, request_id, timestamp=int(time.time()) - 301)
    elif forgery == "tampered":
        headers = fake_fal.sign(body, request_id)
        body = body.replace(b'"OK"', b'"ERROR"')
    else:
        headers = {}
    assert await asyncio.to_thread(fake_fal.post_webhook, url, body, headers) == 401
    assert event_count(ig, job_id, "webhook") == 0
    assert (await ig.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "submitted"


async def test_a_signed_webhook_for_another_request_or_job_is_refused(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)
    job_id, request_id, url = await _held_job(ig, fake_fal)
    other = {"request_id": "0e1d4c1e-0000-4000-8000-000000000000", "status": "OK", "payload": {}}
    assert await asyncio.to_thread(fake_fal.post_webhook, url, other) == 400  # genuinely signed, about another request
    _, other_request, _ = await _held_job(ig, fake_fal)
    other_job_url = url.replace(job_id, "0b0e6c2e-1111-4111-8111-111111111111")
    mine = {"request_id": request_id, "status": "OK", "payload": {}}
    assert (
        await asyncio.to_thread(fake_fal.post_webhook, other_job_url, mine) == 404
    )  # another job's id: its token does not match
    assert other_request != request_id and event_count(ig, job_id, "webhook") == 0


async def test_a_replayed_webhook_is_stored_once_and_changes_nothing(start_ig, fake_fal):
    fake_fal.webhook_copies = 3
    ig = await start_fal(start_ig, fake_fal)
    job = await ig.wait((await ig.submit(SCHNELL)).json()["id"])
    await ig.drained()
    assert job["status"] == "succeeded" and len(job["artifacts"]) == 2
    [event] = ig.rows("SELECT deliveries FROM provider_events WHERE job_id = ? AND source = 'webhook'", (job["id"],))
    assert event["deliveries"] == 3
    assert len(ig.rows("SELECT id FROM artifacts WHERE job_id = ?", (job["id"],))) == 2
    assert len(fake_fal.billed) == 1


async def test_jwks_is_fetched_once_and_a_rotated_key_is_picked_up(start_ig, fake_fal):
    from ig.providers.fal import webhook_auth

    webhook_auth.forget_cached_keys()
    ig = await start_fal(start_ig, fake_fal)
    for _ in range(2):
        assert (await ig.wait((await ig.submit(SCHNELL)).json()["id"]))["status"] == "succeeded"
    assert fake_fal.jwks_fetches == 1


async def test_a_lost_webhook_is_recovered_by_polling(start_ig, fake_fal):
    fake_fal.drop_webhooks = True
    ig = await start_fal(start_ig, fake_fal, quiet_seconds=0)
    job_id = (await ig.submit(SCHNELL)).json()["id"]
    await until(lambda: fake_fal.dropped_webhooks, what="fal to finish and drop its webhook")
    assert (await ig.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "submitted"
    assert (await sweep(ig.runtime.deps)).polled == 1
    job = await ig.wait(job_id)
    assert job["status"] == "succeeded" and len(job["artifacts"]) == 2 and job["cost_source"] == "billed"


# --- never billed twice ------------------------------------------------------------------------------


async def test_a_transient_submit_refusal_is_retried_and_billed_once(start_ig, fake_fal):
    fake_fal.fail_submits(429, retry_after=0)
    fake_fal.fail_submits(503)
    ig = await start_fal(start_ig, fake_fal, time_scale=0.01)
    job = await ig.wait((await ig.submit(SCHNELL)).json()["id"], seconds=30)
    assert job["status"] == "succeeded"
    assert len(fake_fal.submissions) == 3 and len(fake_fal.requests) == 1
    fake_fal.settle()
    assert len(fake_fal.billed) == 1


@pytest.mark.parametrize("created", [True, False])
async def test_an_unknown_submit_is_reconciled_never_blindly_resent(start_ig, fake_fal, created):
    """The connection drops after the submit: fal may or may not have the request. ig does not
    resend; the sweeper looks the request up in fal's listing and adopts it (created), or, when fal
    provably has nothing, submits once more. Either way fal bills exactly one request."""
    fake_fal.drop_submits(create=created)
    ig = await start_fal(start_ig, fake_fal, webhooks=False, quiet_seconds=0, time_scale=0.05)
    response = await ig.submit(SCHNELL)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    [row] = ig.rows("SELECT status, submit_unknown_at, provider_task_id FROM jobs WHERE id = ?", (job_id,))
    assert row["status"] == "queued" and row["submit_unknown_at"] is not None and row["provider_task_id"] == ""
    assert len(fake_fal.submissions) == 1
    report = await sweep(ig.runtime.deps)
    assert (report.reconciled, report.resubmitted) == (1, 0)
    job = await ig.wait(job_id)
    assert job["status"] == "succeeded"
    assert len(fake_fal.submissions) == (1 if created else 2)
    fake_fal.settle()
    [(request_id, units)] = fake_fal.billed_for("fal-ai/flux/schnell").items()
    assert job["provider_task_id"] == request_id and units == 2
    assert len(fake_fal.requests) == 1


async def test_a_webhook_adopts_the_request_of_an_unknown_submit(start_ig, fake_fal):
    fake_fal.drop_submits(create=True)
    ig = await start_fal(start_ig, fake_fal)
    job = await ig.wait((await ig.submit(SCHNELL)).json()["id"])
    assert job["status"] == "succeeded"
    [request] = fake_fal.requests.values()
    assert job["provider_task_id"] == request.request_id and len(fake_fal.submissions) == 1
    assert (await sweep(ig.runtime.deps)).reconciled == 0


async def test_cancel_while_queued_removes_the_request_at_fal_unbilled(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)
    job_id, request_id, _ = await _held_job(ig, fake_fal)
    cancelled = (await ig.client.post(f"/v1/jobs/{job_id}/cancel")).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["provider_cancel"] == {"stopped": True, "requested": True, "detail": "fal: CANCELLATION_REQUESTED"}
    assert [c[0] for c in fake_fal.cancels] == [request_id]
    fake_fal.release_all()
    fake_fal.settle()
    assert fake_fal.billed == {}
    again = (await ig.client.post(f"/v1/jobs/{job_id}/cancel")).json()
    assert again["provider_cancel"] is None and len(fake_fal.cancels) == 1


async def test_a_request_cancelled_while_running_still_bills_and_its_result_is_kept_flagged(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)
    job_id, request_id, _ = await _held_job(ig, fake_fal)
    fake_fal.hold(request_id, in_progress=True)
    cancelled = (await ig.client.post(f"/v1/jobs/{job_id}/cancel")).json()
    assert cancelled["provider_cancel"] == {
        "stopped": False,
        "requested": True,
        "detail": "fal: CANCELLATION_REQUESTED",
    }
    fake_fal.complete(request_id)  # the app ignored the signal: it finishes, fal bills, the webhook comes
    await until(lambda: fake_fal.webhook_deliveries, what="the webhook")
    await ig.drained()
    job = (await ig.client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "cancelled" and job["cost_source"] == "billed"
    assert [a["arrived_after"] for a in job["artifacts"]] == ["cancelled", "cancelled"]
    assert list(fake_fal.billed) == [request_id]


async def test_providers_list_what_each_can_be_relied_on_for_and_whether_it_is_usable_here(start_ig, fake_fal):
    ig = await start_fal(start_ig, fake_fal)  # fal's key set; no Runware key
    items = {p["name"]: p for p in (await ig.client.get("/v1/providers")).json()["items"]}
    assert set(items) == {"runware", "fal", "replicate", "mock"}
    assert (items["fal"]["available"], items["runware"]["available"]) == (True, False)
    assert "RUNWARE_API_KEY" in items["runware"]["unavailable_because"]
    assert items["fal"]["capabilities"] == {
        "webhooks": True,
        "safe_resubmission": False,
        "cancels": True,
        "cost": "billed",
        "webhook_per_result": False,
    }
    assert items["runware"]["capabilities"]["safe_resubmission"] is True and items["runware"]["default"] is True
    assert items["mock"]["aliases"] == items["runware"]["aliases"] > items["fal"]["aliases"] > 0


async def test_two_unknown_submits_of_the_same_input_each_adopt_their_own_request(start_ig, fake_fal):
    fake_fal.drop_submits(count=2, create=True)
    ig = await start_fal(start_ig, fake_fal, webhooks=False, quiet_seconds=0, time_scale=0.05)
    first, second = [(await ig.submit(SCHNELL)).json()["id"] for _ in range(2)]
    assert (await sweep(ig.runtime.deps)).reconciled == 2
    jobs = [await ig.wait(job_id) for job_id in (first, second)]
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]
    assert {j["provider_task_id"] for j in jobs} == set(fake_fal.requests)  # one each, none shared
    assert len(fake_fal.submissions) == 2
    fake_fal.settle()
    assert len(fake_fal.billed) == 2


async def test_nothing_is_resent_while_fals_listing_cannot_prove_the_request_absent(start_ig, fake_fal):
    fake_fal.drop_submits(create=False)
    # fal's platform API unreachable: the listing cannot say whether fal has the request.
    ig = await start_fal(start_ig, fake_fal, webhooks=False, quiet_seconds=0, fal_api_url="http://127.0.0.1:9/v1")
    job_id = (await ig.submit(SCHNELL)).json()["id"]
    for _ in range(2):
        assert (await sweep(ig.runtime.deps)).reconciled == 1
        await ig.drained()
    [row] = ig.rows("SELECT status, submit_unknown_at, last_error FROM jobs WHERE id = ?", (job_id,))
    assert row["status"] == "queued" and row["submit_unknown_at"] is not None
    assert json.loads(row["last_error"])["code"] == "connection"
    assert len(fake_fal.submissions) == 1
