"""The task catalogue and model aliases: validation before anything is spent (every bad field
listed with its path), aliases resolved from data, unknown parameters and task types passed
through, and the catalogue published by GET /v1/tasks and GET /v1/models."""

from __future__ import annotations

import jsonschema
import pytest

from ig.providers import catalogue
from ig.providers.registry import dialect_for
from ig.providers.runware import models, tasks
from ig.providers.runware.protocol import looks_like_air

IMAGE = {"task": "imageInference", "model": "runware:100@1"}


def fields(problem: dict) -> dict[str, str]:
    return {e["field"]: e["code"] for e in problem["errors"]}


async def assert_refused_and_nothing_spent(ig, fake, body: dict) -> dict:
    response = await ig.submit(body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fake.requests == []  # Runware never heard of it
    assert ig.rows("SELECT id FROM jobs") == []
    return response.json()


async def test_out_of_range_and_wrong_types_are_all_listed_with_their_paths(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {
        "positivePrompt": "a fox",
        "width": 10,
        "height": 10_000,
        "numberResults": 21,
        "steps": 0,
        "strength": 1.5,
        "CFGScale": "7",
        "seed": -1,
        "safety": {"checkContent": "yes"},
        "lora": [{"weight": 1}],
    }
    problem = await assert_refused_and_nothing_spent(ig, fake_runware, {**IMAGE, "params": params})
    assert fields(problem) == {
        "params.width": "greater_than_equal",
        "params.height": "less_than_equal",
        "params.numberResults": "less_than_equal",
        "params.steps": "greater_than_equal",
        "params.strength": "less_than_equal",
        "params.CFGScale": "float_type",
        "params.seed": "greater_than_equal",
        "params.safety.checkContent": "bool_type",
        "params.lora.0.model": "missing",
    }
    assert problem["status"] == 422 and problem["code"] == "validation_error"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"task": "textInference", "model": "google:gemini@3-flash", "params": {}}, {"params.messages": "missing"}),
        (
            {"task": "textInference", "model": "google:gemini@3-flash", "params": {"messages": [{"role": "user"}]}},
            {"params.messages.0.content": "missing"},
        ),
        ({"task": "promptEnhance", "model": "prompt-enhancer", "params": {"promptVersions": 9}},
         {"params.prompt": "missing", "params.promptVersions": "less_than_equal"}),
        ({"task": "caption", "model": "runware:150@2", "params": {"prompt": "what is it?"}},
         {"params.inputs": "missing"}),
        ({"task": "photoMaker", "model": "civitai:139562@344487", "params": {"strength": 5}},
         {"params.inputImages": "missing", "params.positivePrompt": "missing",
          "params.strength": "greater_than_equal"}),
        ({"task": "imageInference", "model": "runware:100@1", "params": {"width": 512}},
         {"params.positivePrompt": "missing"}),
        ({"task": "videoInference", "model": "klingai:6@0", "params": {"positivePrompt": "x", "duration": 0}},
         {"params.duration": "greater_than"}),
        ({"task": "upscale", "model": "runware:504@1", "params": {"inputs": {"image": 5}}},
         {"params.inputs.image": "string_type"}),
        ({"task": "audioInference", "model": "ace-step", "params": {"numberResults": 0}},
         {"params.positivePrompt": "missing", "params.numberResults": "greater_than_equal"}),
    ],
)  # fmt: skip
async def test_missing_required_parameters_are_422_before_anything_is_spent(start_ig, fake_runware, body, expected):
    ig = await start_ig(fake_runware)
    problem = await assert_refused_and_nothing_spent(ig, fake_runware, body)
    assert fields(problem) == expected


async def test_unknown_alias_and_wrong_task_for_a_known_model_are_422(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    problem = await assert_refused_and_nothing_spent(
        ig, fake_runware, {"task": "imageInference", "model": "flux-schnel", "params": {"positivePrompt": "x"}}
    )
    assert fields(problem) == {"model": "unknown_model"}
    assert "GET /v1/models" in problem["errors"][0]["message"]
    # An alias and an AIR from Runware's own model map both know their task.
    for model in ("flux-schnell", "runware:504@1"):
        problem = await assert_refused_and_nothing_spent(
            ig, fake_runware, {"task": "videoInference", "model": model, "params": {"positivePrompt": "x"}}
        )
        assert fields(problem) == {"task": "wrong_task"}
    # A model ig does not know needs its task spelled out.
    problem = await assert_refused_and_nothing_spent(ig, fake_runware, {"model": "civitai:1@2", "params": {}})
    assert fields(problem) == {"task": "missing"}


async def test_an_alias_becomes_the_air_with_its_defaults_under_the_consumers_params(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    response = await ig.submit({"model": "flux-schnell", "params": {"positivePrompt": "a fox", "height": 768}})
    assert response.status_code == 202, response.text
    job = await ig.wait(response.json()["id"])
    sent = fake_runware.tasks[job["id"]]
    assert sent["taskType"] == "imageInference" and sent["model"] == "runware:100@1"
    assert (sent["width"], sent["height"], sent["steps"]) == (1024, 768, 4)  # defaults, then the consumer's
    assert job["model"] == "runware:100@1" and job["model_alias"] == "flux-schnell" and job["task"] == "imageInference"
    assert job["params"] == {"width": 1024, "height": 768, "steps": 4, "positivePrompt": "a fox"}
    assert job["artifacts"][0]["provenance"]["model_alias"] == "flux-schnell"
    # The library finds the job's artifacts by the alias as well as by the AIR.
    for model in ("flux-schnell", "runware:100@1"):
        listed = (await ig.client.get("/v1/artifacts", params={"model": model})).json()["items"]
        assert [a["id"] for a in listed] == [a["id"] for a in job["artifacts"]]


async def test_unknown_parameters_and_unknown_task_types_pass_through_untouched(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    extra = {"someNewKnob": {"nested": [1, 2]}, "acceleration": "high", "providerSettings": {"bfl": {"raw": True}}}
    response = await ig.submit({**IMAGE, "params": {"positivePrompt": "a fox", "width": 512, "height": 512, **extra}})
    assert response.status_code == 202, response.text
    sent = fake_runware.tasks[response.json()["id"]]
    assert {k: sent[k] for k in extra} == extra

    future = {"task": "hologramInference", "model": "future:1@1", "params": {"anything": ["goes", 1]}}
    response = await ig.submit(future)
    assert response.status_code == 202, response.text
    sent = fake_runware.tasks[response.json()["id"]]
    assert sent["taskType"] == "hologramInference" and sent["anything"] == ["goes", 1]


async def test_the_mock_provider_takes_any_model_name_but_still_checks_params(start_ig):
    ig = await start_ig(None, webhooks=False)
    ok = await ig.submit({"provider": "mock", "task": "imageInference", "model": "my-local-thing",
                          "params": {"positivePrompt": "x", "width": 64, "height": 64}})  # fmt: skip
    assert ok.status_code == 202, ok.text
    bad = await ig.submit({"provider": "mock", "task": "imageInference", "model": "m", "params": {"width": 1}})
    assert bad.status_code == 422
    assert set(fields(bad.json())) == {"params.width", "params.positivePrompt"}


async def test_get_tasks_publishes_a_json_schema_per_task_that_agrees_with_validation(start_ig):
    ig = await start_ig(None, webhooks=False)
    response = await ig.client.get("/v1/tasks")
    assert response.status_code == 200
    listed = {t["task"]: t for t in response.json()["items"]}
    assert set(listed) == {
        "imageInference", "videoInference", "audioInference", "caption", "textInference", "upscale",
        "removeBackground", "promptEnhance", "photoMaker", "vectorize", "imageMasking", "3dInference",
    }  # fmt: skip
    for name, entry in listed.items():
        schema = entry["params_schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        # The published example passes both the schema and ig's own checks...
        assert list(validator.iter_errors(entry["example"])) == [], name
        assert tasks.validate_params(name, entry["example"]) == [], name
        # ...and an empty request fails both when the task needs something.
        assert bool(list(validator.iter_errors({}))) == bool(tasks.validate_params(name, {})), name
    image = listed["imageInference"]["params_schema"]["properties"]
    assert image["width"]["minimum"] == 64 and image["numberResults"]["maximum"] == 20
    assert "flux-schnell" in listed["imageInference"]["model_aliases"]


async def test_get_models_lists_aliases_as_data_each_valid_for_its_task(start_ig):
    ig = await start_ig(None, webhooks=False)
    items = (await ig.client.get("/v1/models")).json()["items"]
    by_name = {m["name"]: m for m in items}
    assert by_name["flux-schnell"] == {
        "name": "flux-schnell",
        "task": "imageInference",
        "description": by_name["flux-schnell"]["description"],
        "providers": {
            "runware": {"model": "runware:100@1", "defaults": {"width": 1024, "height": 1024, "steps": 4}},
            "fal": {"model": "fal-ai/flux/schnell", "defaults": {"width": 1024, "height": 1024, "steps": 4}},
            "replicate": {"model": "black-forest-labs/flux-schnell", "defaults": {"aspect_ratio": "1:1", "steps": 4}},
        },
    }
    assert {m["task"] for m in items} >= set(tasks.TASKS)  # every Runware task type has at least one alias
    for task, airs in models.MODELS_BY_TASK.items():
        assert isinstance(airs, tuple) and all(looks_like_air(air) for air in airs), task
    for alias in catalogue.ALIASES:
        for provider, on in alias.providers.items():
            dialect = dialect_for(provider)
            assert dialect.model_problem(on.model) is None, alias.name
            params, naming = catalogue.native_params(dialect, alias.task, on.model, {}, on.defaults)
            assert naming == [], alias.name
            # Defaults never break the provider's own rules (Runware's task rules, fal's endpoint schema).
            broken = [
                e for e in dialect.param_errors(alias.task, on.model, params) if e.code not in ("missing", "required")
            ]
            assert broken == [], (alias.name, provider, broken)
    on_fal = (await ig.client.get("/v1/models", params={"provider": "fal"})).json()["items"]
    assert on_fal and all("fal" in m["providers"] for m in on_fal)
    assert {"whisper", "flux-dev"} <= {m["name"] for m in on_fal}
    videos = (await ig.client.get("/v1/models", params={"task": "videoInference"})).json()["items"]
    assert videos and {m["task"] for m in videos} == {"videoInference"}
