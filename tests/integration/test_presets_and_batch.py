"""Presets (versioned server-side templates with {variable} placeholders) and batch submit."""

from __future__ import annotations

import pytest

BILLBOARD = {
    "model": "flux-schnell",
    "params": {
        "positivePrompt": "Billboard saying {headline} in {style} style, {{no braces}} here",
        "width": "{size}",
        "height": 512,
    },
    "tags": ["campaign:spring"],
    "metadata": {"owner": "marketing"},
    "description": "A billboard with a headline",
}


def fields(problem: dict) -> dict[str, str]:
    return {e["field"]: e["code"] for e in problem["errors"]}


async def put(ig, name: str, body: dict):
    return await ig.client.put(f"/v1/presets/{name}", json=body)


async def test_presets_are_versioned_and_put_is_idempotent(start_ig):
    ig = await start_ig(None, webhooks=False)
    created = await put(ig, "billboard", BILLBOARD)
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["version"] == 1 and first["variables"] == ["headline", "size", "style"]
    assert first["params"] == BILLBOARD["params"] and first["tags"] == ["campaign:spring"]

    again = await put(ig, "billboard", BILLBOARD)
    assert again.status_code == 200 and again.json()["version"] == 1  # same body: no new version
    changed = await put(ig, "billboard", {**BILLBOARD, "params": {**BILLBOARD["params"], "height": 768}})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert ig.rows("SELECT name, version FROM preset_versions ORDER BY version") == [
        {"name": "billboard", "version": 1},
        {"name": "billboard", "version": 2},
    ]

    current = (await ig.client.get("/v1/presets/billboard")).json()
    assert current["version"] == 2 and current["params"]["height"] == 768
    old = (await ig.client.get("/v1/presets/billboard", params={"version": 1})).json()
    assert old["version"] == 1 and old["params"]["height"] == 512
    assert [p["name"] for p in (await ig.client.get("/v1/presets")).json()["items"]] == ["billboard"]

    assert (await ig.client.delete("/v1/presets/billboard")).status_code == 204
    assert (await ig.client.get("/v1/presets/billboard")).status_code == 404
    assert (await ig.client.delete("/v1/presets/billboard")).status_code == 404
    assert (await ig.client.get("/v1/presets")).json()["items"] == []
    # Old versions stay readable, and a new preset of the same name never reuses a number.
    assert (await ig.client.get("/v1/presets/billboard", params={"version": 2})).status_code == 200
    recreated = await put(ig, "billboard", BILLBOARD)
    assert recreated.json()["version"] == 3


async def test_a_job_from_a_preset_records_name_version_and_resolved_params(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    await put(ig, "billboard", BILLBOARD)
    body = {
        "preset": "billboard",
        "variables": {"headline": "Spring Sale", "style": "art deco", "size": 768},
        "params": {"seed": 7, "height": 640},
        "tags": ["user:1"],
        "metadata": {"ticket": 9},
    }
    response = await ig.submit(body)
    assert response.status_code == 202, response.text
    job = await ig.wait(response.json()["id"])
    resolved = {
        "positivePrompt": "Billboard saying Spring Sale in art deco style, {no braces} here",
        "width": 768,  # a whole-string placeholder takes the variable's own type
        "height": 640,  # the job's override wins over the preset
        "seed": 7,
        "steps": 4,  # the alias's default
    }
    assert job["params"] == resolved
    assert job["preset"] == {"name": "billboard", "version": 1}
    assert job["model"] == "runware:100@1" and job["model_alias"] == "flux-schnell"
    assert job["tags"] == ["campaign:spring", "user:1"]
    assert job["metadata"] == {"owner": "marketing", "ticket": 9}
    sent = fake_runware.tasks[job["id"]]
    assert {k: sent[k] for k in resolved} == resolved
    artifact = job["artifacts"][0]
    assert artifact["provenance"]["preset"] == {"name": "billboard", "version": 1}
    assert artifact["tags"] == ["campaign:spring", "user:1"]

    # Re-creating the artifact from its provenance alone sends Runware the identical task,
    # even after the preset has changed.
    await put(ig, "billboard", {**BILLBOARD, "params": {"positivePrompt": "something else {headline}"}})
    provenance = artifact["provenance"]
    again = await ig.submit({"task": provenance["task"], "model": provenance["model"], "params": provenance["params"]})
    assert again.status_code == 202, again.text
    resent = fake_runware.tasks[again.json()["id"]]
    strip = ("taskUUID", "webhookURL")
    assert {k: v for k, v in resent.items() if k not in strip} == {k: v for k, v in sent.items() if k not in strip}


async def test_missing_and_unknown_variables_are_422_and_record_nothing(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    await put(ig, "billboard", BILLBOARD)
    response = await ig.submit({"preset": "billboard", "variables": {"headline": "Hi", "colour": "red"}})
    assert response.status_code == 422
    assert fields(response.json()) == {
        "variables.size": "missing",
        "variables.style": "missing",
        "variables.colour": "unused",
    }
    # Overriding the templated parameter removes the need for its variables.
    overridden = await ig.submit(
        {"preset": "billboard", "variables": {"size": 512}, "params": {"positivePrompt": "plain"}}
    )
    assert overridden.status_code == 202, overridden.text
    assert (await ig.submit({"preset": "nope"})).json()["errors"][0]["field"] == "preset"
    assert fields((await ig.submit({"model": "flux-schnell", "variables": {"a": 1}})).json())["variables"] == "unused"
    # Variables that fill in a wrong value are caught by the task's rules, with the path.
    bad = await ig.submit({"preset": "billboard", "variables": {"headline": "x", "style": "y", "size": 5}})
    assert fields(bad.json()) == {"params.width": "greater_than_equal"}
    assert len(fake_runware.requests) == 1  # only the valid job reached Runware
    assert len(ig.rows("SELECT id FROM jobs")) == 1


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("Bad Name", BILLBOARD, {"name": "invalid_name"}),
        ("ok", {**BILLBOARD, "model": "no-such-alias"}, {"model": "unknown_model"}),
        ("ok", {**BILLBOARD, "task": "videoInference"}, {"task": "wrong_task"}),
        ("ok", {**BILLBOARD, "params": {**BILLBOARD["params"], "height": "tall"}}, {"params.height": "int_type"}),
        ("ok", {"params": {}}, {"model": "missing"}),
        ("ok", {**BILLBOARD, "params": {"taskUUID": "x"}}, {"params.taskUUID": "reserved"}),
    ],
)
async def test_preset_bodies_are_checked_when_saved(start_ig, name, body, expected):
    ig = await start_ig(None, webhooks=False)
    response = await put(ig, name, body)
    assert response.status_code == 422, response.text
    assert fields(response.json()) == expected
    assert ig.rows("SELECT * FROM preset_versions") == []


async def test_a_batch_answers_each_item_in_order_and_one_bad_item_sinks_nothing(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    image = {"model": "flux-schnell", "params": {"positivePrompt": "a fox", "seed": 100}}
    items = [
        image,
        {"model": "flux-schnell", "params": {"width": 3}},
        {**image, "params": {**image["params"], "numberResults": 2, "seed": 200}},
        {"task": "caption", "model": "llava", "params": {"inputs": {"image": "https://example.com/a.jpg"}}},
    ]
    response = await ig.client.post("/v1/jobs/batch", json={"jobs": items})
    assert response.status_code == 200, response.text
    answered = response.json()["items"]
    assert [next(iter(item)) for item in answered] == ["job", "error", "job", "job"]
    problem = answered[1]["error"]
    assert problem["status"] == 422 and problem["instance"] == "/v1/jobs/batch#/jobs/1"
    assert fields(problem) == {"params.width": "greater_than_equal", "params.positivePrompt": "missing"}
    jobs = [await ig.wait(item["job"]["id"]) for item in answered if "job" in item]
    assert [j["status"] for j in jobs] == ["succeeded"] * 3
    assert [j["expected_results"] for j in jobs] == [1, 2, 1]
    assert [len(j["artifacts"]) for j in jobs] == [1, 2, 1]
    assert sorted(a["seed"] for a in jobs[1]["artifacts"]) == [200, 201]  # as a single job would
    assert [fake_runware.tasks[j["id"]]["taskType"] for j in jobs] == ["imageInference", "imageInference", "caption"]
    assert len(ig.rows("SELECT id FROM jobs")) == 3


async def test_a_batch_carries_runwares_own_refusal_for_its_item(start_ig, fake_runware):
    from fixtures.fake_runware import SubmitScript

    ig = await start_ig(fake_runware)
    refusal = {"code": "unsupportedDuration", "message": "Duration not supported", "parameter": "duration"}
    fake_runware.submit_script = [SubmitScript(400, {"errors": [refusal]})]
    video = {"model": "kling-2.5-turbo", "params": {"positivePrompt": "waves", "duration": 7}}
    answered = (await ig.client.post("/v1/jobs/batch", json={"jobs": [video]})).json()["items"]
    problem = answered[0]["error"]
    assert problem["status"] == 422 and fields(problem) == {"params.duration": "unsupportedDuration"}
    assert problem["provider_error"]["code"] == "unsupportedDuration"


@pytest.mark.parametrize(
    "body",
    [{"jobs": []}, {"jobs": [{"model": "flux-schnell"}] * 51}, {"jobs": "x"}, {"job": []}, [1]],
)
async def test_a_malformed_batch_is_422_as_a_whole_and_records_nothing(start_ig, fake_runware, body):
    ig = await start_ig(fake_runware)
    response = await ig.client.post("/v1/jobs/batch", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert fake_runware.requests == [] and ig.rows("SELECT id FROM jobs") == []
