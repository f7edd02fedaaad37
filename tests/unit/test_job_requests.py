"""A job request resolved to the task ig will run, without a server (``ig.jobs.resolution``,
``ig.jobs.requests``): the limits on what a request may make ig store or send, and the preset
rules, each refusal naming its field and code. Presets live in a real SQLite database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ig.adapters.local.sqlite_db import SqliteDatabase
from ig.errors import ValidationFailed
from ig.jobs import presets
from ig.jobs.requests import MAX_METADATA_BYTES, MAX_TAGS, metadata_errors, task_size, task_size_errors
from ig.jobs.resolution import resolve_job
from ig.settings import MAX_TASK_BYTES_CEILING, Settings

LIMIT = 1024
SETTINGS = Settings(runware_api_key="k", max_task_bytes=LIMIT, mock_provider=True)
NEW_TASK = {"task": "someNewTask", "model": "vendor:1@1"}
"""A task type ig does not know: its parameters pass through unchecked, so only the limits apply."""
NOW = "2026-11-21T10:00:00.000Z"


@pytest.fixture
async def db(tmp_path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "ig.sqlite3")
    database.migrate()
    yield database
    database.close()


async def refusal(db: SqliteDatabase, body: dict[str, Any], settings: Settings = SETTINGS) -> list[tuple[str, str]]:
    """The (field, code) of every problem ``resolve_job`` finds, in its order."""
    with pytest.raises(ValidationFailed) as refused:
        await resolve_job(db, settings, body)
    return [(e.field, e.code) for e in refused.value.errors]


def text_of_size(size: int, **other: Any) -> dict[str, Any]:
    """Parameters whose JSON is exactly ``size`` bytes."""
    params = {**other, "text": ""}
    params["text"] = "x" * (size - task_size(params))
    assert task_size(params) == size
    return params


# --- task size -----------------------------------------------------------------------------------


async def test_a_task_may_be_exactly_the_limit_and_not_a_byte_more(db):
    job = await resolve_job(db, SETTINGS, {**NEW_TASK, "params": text_of_size(LIMIT)})
    assert task_size(job.params) == LIMIT
    assert await refusal(db, {**NEW_TASK, "params": text_of_size(LIMIT + 1)}) == [("params", "task_too_large")]


def test_the_size_message_says_how_large_and_how_to_send_large_inputs():
    [error] = task_size_errors(text_of_size(LIMIT + 1), None, LIMIT)
    assert error.message == (
        f"the parameters are {LIMIT + 1} bytes as JSON, over the {LIMIT}-byte limit (IG_MAX_TASK_BYTES); "
        'send large inputs as uploads ("artifact:<id>")'
    )
    [with_preset] = task_size_errors(text_of_size(LIMIT + 1), "banner", LIMIT)
    assert with_preset.message.startswith("with preset banner filled in, the parameters are 1025 bytes")
    assert task_size_errors(text_of_size(LIMIT), "banner", LIMIT) == []


async def test_an_alias_counts_with_its_defaults(db):
    # flux-schnell adds width, height and steps to the parameters: the task is measured with them.
    defaults = len(json.dumps({"width": 1024, "height": 1024, "steps": 4})) - 1  # joined into one object
    fits = text_of_size(LIMIT - defaults - 1, positivePrompt="x")
    job = await resolve_job(db, SETTINGS, {"model": "flux-schnell", "params": fits})
    assert task_size(job.params) == LIMIT
    over = text_of_size(LIMIT - defaults, positivePrompt="x")
    assert await refusal(db, {"model": "flux-schnell", "params": over}) == [("params", "task_too_large")]


def test_the_task_limit_setting_stays_within_what_a_d1_row_holds():
    assert Settings.from_mapping({"IG_MAX_TASK_BYTES": "900000"}).max_task_bytes == MAX_TASK_BYTES_CEILING == 900_000
    assert Settings.from_mapping({"IG_MAX_TASK_BYTES": "1024"}).max_task_bytes == 1024
    for value in ("900001", "1023", "10"):
        with pytest.raises(ValueError, match="IG_MAX_TASK_BYTES must be 1024 to 900000"):
            Settings.from_mapping({"IG_MAX_TASK_BYTES": value})


# --- metadata and tags ---------------------------------------------------------------------------


def metadata_of_size(size: int) -> dict[str, str]:
    metadata = {"note": ""}
    metadata["note"] = "m" * (size - len(json.dumps(metadata)))
    return metadata


async def test_metadata_may_be_64_kib_as_json_counting_a_presets_and_the_jobs_together(db):
    assert MAX_METADATA_BYTES == 64 * 1024
    await resolve_job(db, SETTINGS, {**NEW_TASK, "metadata": metadata_of_size(MAX_METADATA_BYTES)})
    assert await refusal(db, {**NEW_TASK, "metadata": metadata_of_size(MAX_METADATA_BYTES + 1)}) == [
        ("metadata", "too_large")
    ]
    [error] = metadata_errors(metadata_of_size(MAX_METADATA_BYTES + 1), "notes")
    assert error.message == f"with preset notes's, metadata is {MAX_METADATA_BYTES + 1} bytes as JSON; at most 65536"

    half = metadata_of_size(MAX_METADATA_BYTES // 2)
    await presets.put_preset(db, "notes", {**NEW_TASK, "metadata": {"preset": half["note"]}}, NOW, SETTINGS)
    own = {"job": half["note"]}
    assert await refusal(db, {"preset": "notes", "metadata": own}) == [("metadata", "too_large")]
    job = await resolve_job(db, SETTINGS, {"preset": "notes", "metadata": {"job": "short"}})
    assert job.metadata == {"preset": half["note"], "job": "short"}


async def test_a_presets_tags_and_the_jobs_together_are_at_most_fifty(db):
    assert MAX_TAGS == 50
    await presets.put_preset(db, "tagged", {**NEW_TASK, "tags": [f"p{i}" for i in range(30)]}, NOW, SETTINGS)
    job = await resolve_job(db, SETTINGS, {"preset": "tagged", "tags": [f"j{i}" for i in range(20)]})
    assert len(job.tags) == 50 and job.tags[:2] == ["p0", "p1"] and job.tags[-1] == "j19"
    shared = await resolve_job(db, SETTINGS, {"preset": "tagged", "tags": ["p0", *(f"j{i}" for i in range(20))]})
    assert len(shared.tags) == 50  # a tag both name counts once
    assert await refusal(db, {"preset": "tagged", "tags": [f"j{i}" for i in range(21)]}) == [("tags", "too_many")]
    assert await refusal(db, {**NEW_TASK, "tags": [f"t{i}" for i in range(51)]}) == [("tags", "too_long")]


# --- presets -------------------------------------------------------------------------------------


async def test_missing_and_unused_variables_are_each_named(db):
    params = {"positivePrompt": "{subject} in {style}", "text": "{subject}", "width": "{width}"}
    await presets.put_preset(db, "poster", {**NEW_TASK, "params": params}, NOW, SETTINGS)
    assert await refusal(db, {"preset": "poster", "variables": {"subject": "a fox", "colour": "red"}}) == [
        ("variables.style", "missing"),
        ("variables.width", "missing"),
        ("variables.colour", "unused"),
    ]
    # A parameter the job overrides needs no variable (and giving it anyway is no mistake: the
    # preset has that placeholder); the job's value wins.
    for variables in ({"subject": "a fox", "style": "ink"}, {"subject": "a fox", "style": "ink", "width": 1}):
        job = await resolve_job(db, SETTINGS, {"preset": "poster", "params": {"width": 512}, "variables": variables})
        assert job.params == {"positivePrompt": "a fox in ink", "text": "a fox", "width": 512}
        assert (job.preset, job.preset_version) == ("poster", 1)
    filled = await resolve_job(
        db, SETTINGS, {"preset": "poster", "variables": {"subject": "a", "style": "b", "width": 8}}
    )
    assert filled.params["width"] == 8  # a string that is exactly one placeholder takes the value's own type


async def test_variables_need_a_preset_and_a_preset_must_exist(db):
    assert await refusal(db, {**NEW_TASK, "variables": {"a": 1}}) == [("variables", "unused")]
    assert await refusal(db, {"preset": "nowhere"}) == [("preset", "not_found")]


async def test_a_preset_repeating_a_variable_past_the_limit_is_refused_naming_the_variable(db):
    await presets.put_preset(db, "echo", {**NEW_TASK, "params": {"text": "{a}" * 100, "b": "{b}"}}, NOW, SETTINGS)
    fits = await resolve_job(db, SETTINGS, {"preset": "echo", "variables": {"a": "x" * 5, "b": "y"}})
    assert fits.params["text"] == "x" * 500
    with pytest.raises(ValidationFailed) as refused:
        await resolve_job(db, SETTINGS, {"preset": "echo", "variables": {"a": "x" * 20, "b": "y"}})
    [error] = refused.value.errors  # b's one short use is not to blame: only a is named
    assert (error.field, error.code) == ("variables.a", "task_too_large")
    assert error.message.startswith("preset echo uses {a} 100 times: filled in with this value its parameters ")
    assert error.message.endswith(f"over the {LIMIT}-byte limit (IG_MAX_TASK_BYTES)")


async def test_when_one_variable_is_not_enough_to_blame_the_next_largest_is_named_too(db):
    template = {"text": "{a}" * 10 + "{b}" * 10}
    await presets.put_preset(db, "pair", {**NEW_TASK, "params": template}, NOW, SETTINGS)
    # Filled in, a adds about 10 x 107 bytes and b 10 x 97: without a's share the estimate
    # (72 + 1070 + 970 bytes) is still over the limit, so b is named as well, after a.
    assert await refusal(db, {"preset": "pair", "variables": {"a": "x" * 110, "b": "y" * 100}}) == [
        ("variables.a", "task_too_large"),
        ("variables.b", "task_too_large"),
    ]
    # with a smaller b, a's share alone accounts for the excess: only a is named
    assert await refusal(db, {"preset": "pair", "variables": {"a": "x" * 120, "b": "y" * 5}}) == [
        ("variables.a", "task_too_large")
    ]


async def test_a_presets_own_parameters_must_fit_the_limit(db):
    with pytest.raises(ValidationFailed) as refused:
        await presets.put_preset(db, "big", {**NEW_TASK, "params": text_of_size(LIMIT + 1)}, NOW, SETTINGS)
    assert [(e.field, e.code) for e in refused.value.errors] == [("params", "task_too_large")]
    await presets.put_preset(db, "big", {**NEW_TASK, "params": text_of_size(LIMIT)}, NOW, SETTINGS)


# --- the request itself --------------------------------------------------------------------------


async def test_ig_sets_the_task_uuid_delivery_cost_and_webhook_itself(db):
    for name in ("taskUUID", "deliveryMethod", "includeCost", "webhookURL"):
        with pytest.raises(ValidationFailed) as refused:
            await resolve_job(db, SETTINGS, {**NEW_TASK, "params": {name: "mine"}})
        [error] = refused.value.errors
        assert (error.field, error.message) == (f"params.{name}", f"ig sets {name} itself; leave it out of params")


@pytest.mark.parametrize("bad", [0, 86401, "60", 1.5, True])
async def test_a_timeout_is_a_whole_number_of_seconds_from_1_to_86400(db, bad):
    assert [field for field, _ in await refusal(db, {**NEW_TASK, "timeout_seconds": bad})] == ["timeout_seconds"]


async def test_timeouts_come_from_the_job_the_setting_or_the_task_type(db):
    assert (await resolve_job(db, SETTINGS, {**NEW_TASK, "timeout_seconds": 86400})).timeout_seconds == 86400
    assert (await resolve_job(db, SETTINGS, {**NEW_TASK, "timeout_seconds": 1})).timeout_seconds == 1
    image = {"model": "flux-schnell", "params": {"positivePrompt": "x"}}
    assert (await resolve_job(db, SETTINGS, image)).timeout_seconds == 600
    assert (await resolve_job(db, SETTINGS, NEW_TASK)).timeout_seconds == 1800  # a task type ig does not know
    fixed = Settings(runware_api_key="k", job_timeout_seconds=45)
    assert (await resolve_job(db, fixed, image)).timeout_seconds == 45


async def test_a_provider_this_deployment_cannot_run_is_refused(db):
    no_key = Settings(mock_provider=True)
    assert await refusal(db, NEW_TASK, no_key) == [("provider", "unavailable")]
    mock_off = Settings(runware_api_key="k", mock_provider=False)
    assert await refusal(db, {**NEW_TASK, "provider": "mock"}, mock_off) == [("provider", "unavailable")]
    mock = {"provider": "mock", "model": "anything", "task": "imageInference", "params": {"positivePrompt": "x"}}
    job = await resolve_job(db, SETTINGS, mock)
    assert (job.provider, job.model) == ("mock", "anything")
