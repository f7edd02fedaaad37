"""Replicate's prediction protocol as pure functions (``ig.providers.replicate.protocol``): create
answers judged (a lost answer is never resent blindly), every output shape Cog produces turned
into artifacts, terminal states into results or errors, cost estimated from the seconds run,
and the matching that reconciles a lost create."""

from __future__ import annotations

import pytest

from ig.providers.base import Cost, Outcome, Reply
from ig.providers.replicate import protocol

PREDICTION = {
    "id": "gm3qorzdhgbfurvjtvhg6dckhu",
    "model": "black-forest-labs/flux-schnell",
    "version": "dp-4d0bcc010b3049749a251855f12800be",
    "input": {"prompt": "a fox", "seed": 42},
    "logs": "",
    "output": ["https://replicate.delivery/xezq/a/out-0.webp", "https://replicate.delivery/xezq/b/out-1.webp"],
    "error": None,
    "status": "succeeded",
    "created_at": "2026-11-29T10:00:00.000Z",
    "metrics": {"predict_time": 1.25, "total_time": 1.5},
    "urls": {
        "get": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu",
        "cancel": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
    },
}


def test_a_created_prediction_carries_replicates_id_and_the_urls_to_follow():
    exchange = protocol.create_exchange(Reply.of_json(201, {**PREDICTION, "status": "starting", "output": None}))
    assert (exchange.outcome, exchange.provider_id) == (Outcome.ACCEPTED, PREDICTION["id"])
    assert exchange.handle == PREDICTION["urls"]


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(status=None, transport_error="RemoteProtocolError"), Outcome.UNKNOWN),
        (Reply.of_json(201, {"status": "starting"}), Outcome.UNKNOWN),
        (Reply.of_json(429, {"detail": "Request was throttled.", "status": 429}), Outcome.TRANSIENT),
        (Reply.of_json(502, {"detail": "bad gateway"}), Outcome.UNKNOWN),
        (Reply.of_json(422, {"detail": "Invalid input", "status": 422}), Outcome.REJECTED),
        (Reply.of_json(404, {"detail": "Model not found: a/b", "status": 404}), Outcome.REJECTED),
        (Reply.of_json(401, {"detail": "Unauthenticated", "status": 401}), Outcome.REJECTED),
    ],
)
def test_a_failed_create_is_resent_only_when_replicate_refused_it(reply, outcome):
    assert protocol.create_exchange(reply).outcome is outcome


def test_a_422_names_its_invalid_fields():
    body = {
        "detail": "Input validation failed",
        "status": 422,
        "invalid_fields": [{"type": "less_than_equal", "field": "num_outputs", "description": "at most 4"}],
    }
    info = protocol.create_exchange(Reply.of_json(422, body)).error
    assert [(f.field, f.message) for f in protocol.field_errors(info)] == [("params.num_outputs", "at most 4")]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("https://replicate.delivery/v.mp4", [("output", "video", "https://replicate.delivery/v.mp4")]),
        (
            ["https://replicate.delivery/a.png", "https://replicate.delivery/b.wav"],
            [("output[0]", "image", "https://replicate.delivery/a.png"), ("output[1]", "audio", "https://replicate.delivery/b.wav")],
        ),
        (["Hel", "lo", "!"], [("output", "text", "Hello!")]),
        ("a caption", [("output", "text", "a caption")]),
        (
            {"transcription": "hi", "audio": "https://replicate.delivery/x.wav"},
            [
                ("output", "text", '{"transcription": "hi", "audio": "https://replicate.delivery/x.wav"}'),
                ("output.audio", "audio", "https://replicate.delivery/x.wav"),
            ],
        ),
        (None, []),
        ([], []),
    ],
)  # fmt: skip
def test_every_output_shape_becomes_artifacts(output, expected):
    found = [(o.name, o.kind_hint, o.url or o.inline or o.text) for o in protocol.outputs_of(output)]
    assert found == expected


def test_a_succeeded_prediction_is_one_result_with_its_seed_and_an_estimated_cost():
    [result] = protocol.parse(PREDICTION, {"black-forest-labs/flux-schnell": 0.002}).results
    assert (result.key, result.seed, len(result.outputs)) == ("prediction:gm3qorzdhgbfurvjtvhg6dckhu", 42, 2)
    assert result.cost == Cost(pytest.approx(0.0025), "USD", "estimated")
    assert "input" not in result.raw and result.raw["metrics"] == PREDICTION["metrics"]
    assert protocol.parse(PREDICTION, {}).results[0].cost is None  # no price configured: no cost


@pytest.mark.parametrize(
    ("status", "code"), [("failed", "prediction_failed"), ("canceled", "canceled"), ("aborted", "aborted")]
)
def test_a_prediction_that_ended_without_output_is_an_error(status, code):
    answer = protocol.parse({**PREDICTION, "status": status, "output": None, "error": "CUDA out of memory"}, {})
    assert answer.results == [] and answer.errors[0].code == code


def test_a_running_prediction_says_nothing_yet_and_removed_output_is_an_error():
    for status in ("starting", "processing"):
        answer = protocol.parse({**PREDICTION, "status": status, "output": None}, {})
        assert (answer.results, answer.errors) == ([], [])
    removed = protocol.parse({**PREDICTION, "output": None, "data_removed": True}, {})
    assert removed.errors[0].code == "output_removed"


def test_a_listed_prediction_is_the_request_only_with_the_same_model_and_input():
    request = protocol.build_request(
        model="black-forest-labs/flux-schnell",
        params={"prompt": "a fox", "seed": 42},
        webhook_url=None,
        timeout_seconds=60,
    )
    assert request["cancel_after"] == "60s"
    assert protocol.is_the_request(PREDICTION, request)
    assert not protocol.is_the_request({**PREDICTION, "model": "stability-ai/sdxl"}, request)
    assert not protocol.is_the_request({**PREDICTION, "input": {"prompt": "a fox", "seed": 43}}, request)
    pinned = {**request, "model": "stability-ai/sdxl:" + "a" * 64}
    assert protocol.is_the_request({**PREDICTION, "model": "stability-ai/sdxl", "version": "a" * 64}, pinned)
    assert not protocol.is_the_request({**PREDICTION, "model": "stability-ai/sdxl", "version": "b" * 64}, pinned)


def test_model_references_split_into_name_and_version():
    assert protocol.split_ref("owner/name") == ("owner/name", None)
    assert protocol.split_ref("owner/name:" + "c" * 64) == ("owner/name", "c" * 64)
    assert protocol.split_ref("d" * 64) == (None, "d" * 64)
