"""Failover between providers, end to end with the three fakes on loopback: a job naming several
providers (or ``auto``) ends as artifacts from whichever works, moves on only when that cannot
bill twice, and says in its provenance how each provider went."""

from __future__ import annotations

import asyncio
import json

import pytest
from fixtures.fake_fal import FakeFal
from fixtures.fake_replicate import FakeReplicate
from fixtures.fake_runware import FakeRunware, SubmitScript
from fixtures.ports import CappedTimeout, use_ports

from ig.completion.sweeper import sweep

BODY = {"model": "flux-schnell", "params": {"prompt": "a lighthouse at dusk", "seed": 5}}


def all_three(runware: FakeRunware | None, fal: FakeFal | None, replicate: FakeReplicate | None) -> dict[str, object]:
    settings: dict[str, object] = {}
    if runware is not None:
        settings.update(runware_api_key=runware.api_key, runware_api_url=runware.url)
    if fal is not None:
        settings.update(
            fal_key=fal.api_key, fal_queue_url=fal.queue_url, fal_api_url=fal.api_url, fal_jwks_url=fal.jwks_url
        )
    if replicate is not None:
        settings.update(
            replicate_api_token=replicate.api_token,
            replicate_api_url=replicate.api_url,
            replicate_webhook_secret=replicate.webhook_secret,
        )
    return settings


def outcomes(job: dict) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in job["attempts"]]


async def test_a_provider_that_refuses_for_good_hands_the_job_to_the_next(start_ig, fake_runware, fake_fal):
    fake_runware.submit_script = [SubmitScript(402, {"errors": [{"code": "insufficientCredits", "message": "no"}]})]
    ig = await start_ig(fake_runware, **all_three(None, fake_fal, None))
    response = await ig.submit({**BODY, "provider": ["runware", "fal"]})
    assert response.status_code == 202, response.text
    job = await ig.wait(response.json()["id"])
    assert job["status"] == "succeeded" and job["provider"] == "fal" and job["model"] == "fal-ai/flux/schnell"
    assert outcomes(job) == [("runware", "refused"), ("fal", "succeeded")]
    assert job["attempts"][0]["error"]["code"] == "insufficientCredits"
    assert {a["provenance"]["provider"] for a in job["artifacts"]} == {"fal"}
    assert fake_runware.tasks == {} and len(fake_fal.billed) == 1  # Runware took nothing; fal billed once
    assert job["providers_left"] == []


@pytest.mark.parametrize(
    "refusal",
    [
        SubmitScript(503, {"errors": [{"code": "serviceUnavailable"}]}),
        SubmitScript(429, {"errors": [{"code": "rateLimitExceeded"}]}, headers={"retry-after": "1"}),
    ],
    ids=["down", "rate-limiting"],
)
async def test_a_provider_that_keeps_failing_before_accepting_is_left_after_three_tries(
    start_ig, fake_runware, fake_fal, refusal
):
    fake_runware.submit_script = [refusal] * 3
    ig = await start_ig(fake_runware, time_scale=0.01, **all_three(None, fake_fal, None))
    job = await ig.wait((await ig.submit({**BODY, "provider": ["runware", "fal"]})).json()["id"], seconds=30)
    assert job["status"] == "succeeded" and outcomes(job) == [("runware", "unavailable"), ("fal", "succeeded")]
    assert len(fake_runware.requests) == 3 and fake_runware.tasks == {}


async def test_a_refusal_of_the_parameters_fails_at_once_it_would_fail_everywhere(start_ig, fake_runware, fake_fal):
    error = {"code": "invalidParameter", "message": "width must be a multiple of 64", "parameter": "width"}
    fake_runware.submit_script = [SubmitScript(400, {"errors": [error]})]
    ig = await start_ig(fake_runware, **all_three(None, fake_fal, None))
    response = await ig.submit({**BODY, "provider": ["runware", "fal"]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["params.width"]
    assert fake_fal.submissions == []


async def test_an_unknown_outcome_is_reconciled_never_failed_over(start_ig, fake_fal, fake_replicate):
    fake_fal.drop_submits(create=True)
    ig = await start_ig(
        None, webhooks=False, quiet_seconds=0, time_scale=0.05, **all_three(None, fake_fal, fake_replicate)
    )
    job_id = (await ig.submit({**BODY, "provider": ["fal", "replicate"]})).json()["id"]
    assert (await sweep(ig.runtime.deps)).reconciled == 1
    job = await ig.wait(job_id)
    assert job["status"] == "succeeded" and job["provider"] == "fal"
    assert fake_replicate.creations == []
    fake_fal.settle()
    assert len(fake_fal.billed) == 1


async def test_a_provider_that_cannot_express_a_parameter_is_ineligible_and_says_why(
    start_ig, fake_fal, fake_replicate
):
    ig = await start_ig(None, **all_three(None, fake_fal, fake_replicate))
    body = {**BODY, "params": {**BODY["params"], "width": 768, "height": 512}, "provider": ["replicate", "fal"]}
    job = await ig.wait((await ig.submit(body)).json()["id"])
    assert job["status"] == "succeeded" and job["provider"] == "fal"
    [ineligible, ran] = job["attempts"]
    assert (ineligible["provider"], ineligible["outcome"]) == ("replicate", "ineligible")
    assert "params.width" in ineligible["reason"] and ran["provider"] == "fal"
    assert fake_replicate.creations == []
    [request] = fake_fal.requests.values()
    assert request.body["image_size"] == {"width": 768, "height": 512}  # never silently dropped


async def test_auto_tries_every_configured_provider_that_runs_the_alias(start_ig, fake_fal, fake_replicate):
    fake_fal.fail_submits(401, count=None)  # fal's key is refused: its every submit
    ig = await start_ig(None, **all_three(None, fake_fal, fake_replicate))  # no Runware key here
    job = await ig.wait((await ig.submit({**BODY, "provider": "auto"})).json()["id"])
    assert job["status"] == "succeeded" and outcomes(job) == [("fal", "refused"), ("replicate", "succeeded")]
    nowhere = await ig.submit({"model": "ace-step", "provider": "auto", "params": {"prompt": "x"}})
    assert nowhere.status_code == 422 and nowhere.json()["errors"][0]["field"] == "provider"


@pytest.mark.parametrize("after_accept", [False, True])
async def test_a_failure_after_acceptance_moves_on_only_when_the_job_asks(
    start_ig, fake_fal, fake_replicate, after_accept
):
    fake_fal.fail_requests("server")
    ig = await start_ig(None, **all_three(None, fake_fal, fake_replicate))
    body = {**BODY, "provider": ["fal", "replicate"], "failover_after_accept": after_accept}
    job = await ig.wait((await ig.submit(body)).json()["id"])
    if after_accept:
        assert job["status"] == "succeeded" and outcomes(job) == [("fal", "failed"), ("replicate", "succeeded")]
        assert job["attempts"][0]["provider_task_id"] in fake_fal.requests
        assert len(fake_replicate.predictions) == 1
    else:
        assert job["status"] == "failed" and outcomes(job) == [("fal", "failed")]
        assert job["providers_left"] == ["replicate"] and fake_replicate.creations == []


async def test_a_provider_that_accepts_and_hangs_is_never_left_for_another(start_ig, fake_fal, fake_replicate):
    fake_fal.hold_new = True
    # No background sweeper: the job is past its deadline at once, and this test's sweep must be the one to see it.
    ig = await start_ig(None, job_timeout_seconds=0, background=False, **all_three(None, fake_fal, fake_replicate))
    job_id = (await ig.submit({**BODY, "provider": ["fal", "replicate"]})).json()["id"]
    assert (await sweep(ig.runtime.deps)).timed_out == 1
    job = (await ig.client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "failed" and job["error"]["code"] == "timeout"
    assert fake_replicate.creations == []  # accepted work is never paid for twice unless asked


async def test_providers_show_their_jobs_in_flight_and_latest_failure_and_usage_their_success(
    start_ig, fake_fal, fake_replicate
):
    fake_fal.fail_requests("server")
    ig = await start_ig(None, **all_three(None, fake_fal, fake_replicate))
    failed = await ig.wait((await ig.submit({**BODY, "provider": "fal"})).json()["id"])
    fake_replicate.hold_new = True
    await ig.submit({**BODY, "provider": "replicate"})
    items = {p["name"]: p for p in (await ig.client.get("/v1/providers")).json()["items"]}
    assert (items["fal"]["in_flight"], items["replicate"]["in_flight"]) == (0, 1)
    assert items["fal"]["last_error"]["job_id"] == failed["id"]
    assert items["fal"]["last_error"]["code"] == failed["error"]["code"]
    assert items["replicate"]["last_error"] is None and items["replicate"]["api_url"] == fake_replicate.api_url
    assert fake_fal.api_key not in json.dumps(items) and fake_replicate.api_token not in json.dumps(items)
    fake_replicate.release_all()
    fake_replicate.settle()
    usage = {r["key"]: r for r in (await ig.client.get("/v1/usage", params={"group_by": "provider"})).json()["items"]}
    assert usage["fal"]["success_rate"] == 0.0


async def test_a_lost_answer_is_resent_to_the_same_provider_never_failed_over(start_ig, fake_runware, fake_fal):
    # Runware's answer is lost three times (the task may have arrived each time): resending the
    # same taskUUID is safe, leaving for fal could run the work twice.
    fake_runware.submit_script = [SubmitScript(200, None, hang_seconds=2)] * 3
    ig = await start_ig(fake_runware, webhooks=False, time_scale=0.01, **all_three(None, fake_fal, None))
    use_ports(ig, http=CappedTimeout(ig.runtime.deps.http, 0.5))
    job = await ig.wait((await ig.submit({**BODY, "provider": ["runware", "fal"]})).json()["id"], seconds=40)
    assert job["status"] == "succeeded" and job["provider"] == "runware"
    assert len(fake_runware.requests) >= 4 and fake_fal.submissions == []


async def test_a_provider_that_keeps_failing_opens_its_circuit_which_failover_skips_until_a_probe(
    start_ig, fake_fal, fake_replicate
):
    fake_fal.fail_submits(503, count=5)
    ig = await start_ig(
        None, circuit_failures=5, circuit_open_seconds=1, time_scale=0.01, **all_three(None, fake_fal, fake_replicate)
    )
    # One fal-only job keeps retrying through five 503s: the fifth opens fal's circuit.
    lone = await ig.wait((await ig.submit({**BODY, "provider": "fal"})).json()["id"], seconds=30)
    assert lone["status"] == "succeeded" and len(fake_fal.submissions) == 6
    # (its sixth try was the probe after the pause, and its success closed the circuit again)
    circuit = {p["name"]: p["circuit"] for p in (await ig.client.get("/v1/providers")).json()["items"]}["fal"]
    assert circuit["state"] == "closed" and circuit["failures"] == 0

    fake_fal.fail_submits(503, count=None)  # fal is down now: five fal-only jobs' failures open it
    for _ in range(5):
        await ig.submit({**BODY, "provider": "fal"})
    await until_open(ig)
    body = {"model": "flux-schnell", "params": {"prompt": "while fal is down"}, "provider": ["fal", "replicate"]}
    job = await ig.wait((await ig.submit(body)).json()["id"])
    assert job["status"] == "succeeded" and outcomes(job) == [("fal", "unavailable"), ("replicate", "succeeded")]
    assert job["attempts"][0]["error"]["code"] == "circuit_open"
    assert "while fal is down" not in [s.body.get("prompt") for s in fake_fal.submissions]  # skipped, not tried

    fake_fal.submit_faults.clear()  # fal is back; after the pause, a submit probes it and closes the circuit
    await asyncio.sleep(1.1)
    body = {**body, "params": {"prompt": "after the pause"}}
    job = await ig.wait((await ig.submit(body)).json()["id"])
    assert job["status"] == "succeeded" and job["provider"] == "fal"
    circuit = {p["name"]: p["circuit"] for p in (await ig.client.get("/v1/providers")).json()["items"]}["fal"]
    assert circuit["state"] == "closed"


async def until_open(ig) -> None:
    async def state() -> str:
        items = (await ig.client.get("/v1/providers")).json()["items"]
        return {p["name"]: p["circuit"]["state"] for p in items}["fal"]

    for _ in range(200):
        if await state() == "open":
            return
        await asyncio.sleep(0.02)
    raise AssertionError("fal's circuit never opened")


async def test_a_deep_health_check_tries_each_configured_providers_key(
    start_ig, fake_runware, fake_fal, fake_replicate
):
    ig = await start_ig(fake_runware, api_token="t0ken", **all_three(None, fake_fal, fake_replicate))
    assert (await ig.client.get("/healthz")).json() == {"status": "ok"}  # the shallow check stays public
    assert (await ig.client.get("/healthz", params={"deep": "1"})).status_code == 401  # it reaches the providers
    auth = {"authorization": "Bearer t0ken"}
    healthy = await ig.client.get("/healthz", params={"deep": "1"}, headers=auth)
    assert healthy.status_code == 200, healthy.text
    body = healthy.json()
    assert body["status"] == "ok" and set(body["providers"]) == {"runware", "fal", "replicate"}
    assert all(check["ok"] and check["detail"] is None for check in body["providers"].values())
    fake_fal.api_key = "rotated-elsewhere"  # ig's fal key is no longer taken
    degraded = await ig.client.get("/healthz", params={"deep": "1"}, headers=auth)
    assert degraded.status_code == 503 and degraded.json()["status"] == "degraded"
    checks = degraded.json()["providers"]
    assert checks["fal"]["ok"] is False and checks["fal"]["detail"] and checks["runware"]["ok"] is True
    assert fake_runware.tasks == {} and fake_fal.submissions == [] and fake_replicate.creations == []  # nothing spent


async def test_auto_tries_the_provider_whose_recent_jobs_cost_least_first(start_ig, fake_fal, fake_replicate):
    # Replicate's estimate (1.5 s x 0.0001) undercuts fal's billed 0.025 per image.
    settings = {
        **all_three(None, fake_fal, fake_replicate),
        "replicate_prices": {"black-forest-labs/flux-schnell": 0.0001},
    }
    ig = await start_ig(None, **settings)
    first = await ig.wait((await ig.submit({**BODY, "provider": "auto"})).json()["id"])
    assert first["provider"] == "fal"  # nothing priced yet: the usual order
    on_replicate = await ig.wait((await ig.submit({**BODY, "provider": "replicate"})).json()["id"])
    assert on_replicate["cost"] < first["cost"]
    cheapest = await ig.wait((await ig.submit({**BODY, "provider": "auto"})).json()["id"])
    assert cheapest["provider"] == "replicate" and cheapest["providers_left"] == ["fal"]
