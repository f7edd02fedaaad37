"""fal's wire protocol as pure functions (``ig.providers.fal.protocol``): submit answers judged
(accepted, transient, rejected, unknown), fal's errors kept verbatim with their parameters as ig
field paths, outputs found in any endpoint's result, billed cost, and the matching that
reconciles a lost submit answer."""

from __future__ import annotations

import json

import pytest

from ig.providers.base import Cost, Outcome, Reply, same_input
from ig.providers.fal import protocol
from ig.providers.fal.protocol import SpeaksFal

ACCEPTED = {
    "request_id": "80e732af-660e-45cd-bd63-580e4f2a94cc",
    "status": "IN_QUEUE",
    "response_url": "https://queue.fal.run/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc",
    "status_url": "https://queue.fal.run/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc/status",
    "cancel_url": "https://queue.fal.run/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc/cancel",
}
DETAIL = {
    "detail": [
        {"loc": ["body", "image_size", "width"], "msg": "must be at most 2048", "type": "less_than_equal"},
        {"loc": ["body", "loras", 0, "path"], "msg": "field required", "type": "value_error.missing"},
    ]
}


def test_an_accepted_submit_carries_fals_request_id_and_the_urls_to_follow():
    exchange = protocol.submit_exchange(Reply.of_json(200, ACCEPTED), None)
    assert exchange.outcome is Outcome.ACCEPTED and exchange.provider_id == ACCEPTED["request_id"]
    assert exchange.handle == {k: ACCEPTED[k] for k in ("status_url", "response_url", "cancel_url")}


@pytest.mark.parametrize(
    ("reply", "header", "outcome"),
    [
        (Reply(status=None, transport_error="RemoteProtocolError: closed"), None, Outcome.UNKNOWN),
        (Reply.of_json(200, {"status": "IN_QUEUE"}), None, Outcome.UNKNOWN),  # accepted, but which request?
        (Reply.of_json(429, {"detail": "busy", "error_type": "concurrent_requests_limit"}), None, Outcome.TRANSIENT),
        (
            Reply.of_json(503, {"detail": "no runner", "error_type": "runner_scheduling_failure"}),
            None,
            Outcome.TRANSIENT,
        ),
        (Reply.of_json(502, {"detail": "x"}), "a1b2", Outcome.UNKNOWN),  # past the gateway: it may exist
        (Reply.of_json(422, DETAIL), None, Outcome.REJECTED),
        (Reply.of_json(401, {"detail": "bad key"}), None, Outcome.REJECTED),
    ],
)
def test_a_failed_submit_is_resent_only_when_fal_cannot_have_the_request(reply, header, outcome):
    assert protocol.submit_exchange(reply, header).outcome is outcome


def test_a_validation_detail_is_kept_verbatim_with_every_location_as_an_ig_field():
    info = protocol.error_info(DETAIL, 422)
    assert (info.code, info.parameter, info.raw) == ("less_than_equal", ["image_size.width", "loras[0].path"], DETAIL)
    fields = protocol.field_errors(info)
    assert [(f.field, f.message, f.code) for f in fields] == [
        ("params.image_size.width", "must be at most 2048", "less_than_equal"),
        ("params.loras[0].path", "field required", "value_error.missing"),
    ]
    flat = protocol.error_info({"detail": "Request timed out", "error_type": "request_timeout"}, 504)
    assert (flat.code, flat.message, protocol.field_errors(flat)) == ("request_timeout", "Request timed out", None)


def test_every_file_and_text_in_a_result_is_an_output():
    payload = {
        "images": [
            {"url": "https://v3.fal.media/a.png", "content_type": "image/png"},
            {"url": "data:image/png;base64,AA"},
        ],
        "video": {"url": "https://v3.fal.media/v.mp4"},
        "audio": {"url": "https://v3.fal.media/s.wav", "content_type": "audio/wav"},
        "mask": {"url": "https://v3.fal.media/m.png", "content_type": "image/png"},
        "text": "hello",
        "seed": 196619188014358660,
        "timings": {"inference": 1.2},
    }
    found = {(o.name, o.kind_hint, o.url or o.inline or o.text) for o in protocol.outputs_of(payload)}
    assert found == {
        ("audio", "audio", "https://v3.fal.media/s.wav"),
        ("images[0]", "image", "https://v3.fal.media/a.png"),
        ("images[1]", "image", "data:image/png;base64,AA"),
        ("mask", "image", "https://v3.fal.media/m.png"),
        ("text", "text", "hello"),
        ("video", "video", "https://v3.fal.media/v.mp4"),
    }


def test_a_fetched_result_is_one_result_with_seed_nsfw_and_billed_cost():
    payload = {
        "images": [{"url": "https://v3.fal.media/a.png"}],
        "seed": 196619188014358660,
        "has_nsfw_concepts": [True],
    }
    billing = {"units": 2, "unit_price": 0.025, "currency": "USD"}
    body = protocol.result_body("r1", Reply.of_json(200, payload), False, billing)
    [result] = SpeaksFal().parse(body, "job").results
    assert (result.key, result.seed, result.nsfw) == ("request:r1", 196619188014358660, True)
    assert result.cost == Cost(0.05, "USD", "billed")
    assert result.raw["ig_billing"] == billing
    failed = SpeaksFal().parse(protocol.result_body("r1", Reply.of_json(422, DETAIL), True, None), "job")
    assert failed.results == [] and failed.errors[0].raw == DETAIL


def test_a_webhook_announces_the_end_and_a_queue_status_says_nothing_yet():
    assert SpeaksFal().parse({"request_id": "r", "status": "OK", "payload": {}}, "job").fetch_result
    assert SpeaksFal().parse({"request_id": "r", "status": "ERROR", "payload": DETAIL}, "job").fetch_result
    waiting = SpeaksFal().parse({"request_id": "r", "status": "IN_PROGRESS"}, "job")
    assert (waiting.results, waiting.errors, waiting.fetch_result) == ([], [], False)


def test_common_names_become_fals_own_and_a_twin_is_refused():
    native, errors = SpeaksFal().native_params(
        "imageInference", "fal-ai/flux/dev", {"prompt": "p", "width": 512, "height": 768, "num_outputs": 2, "steps": 9}
    )
    assert errors == [] and native == {
        "prompt": "p",
        "image_size": {"width": 512, "height": 768},
        "num_images": 2,
        "num_inference_steps": 9,
    }
    _, twins = SpeaksFal().native_params("imageInference", "fal-ai/flux/dev", {"height": 5, "image_size": "square"})
    assert [(e.field, e.code) for e in twins] == [("params.height", "duplicate_parameter")]


def test_the_schema_is_checked_on_fals_names_and_unknown_endpoints_pass():
    errors = SpeaksFal().param_errors("imageInference", "fal-ai/flux/dev", {"num_images": 0})
    assert {e.field for e in errors} >= {"params.prompt", "params.num_images"}
    assert SpeaksFal().param_errors("inference", "someone/new", {"anything": object()}) == []


def test_the_request_urls_use_owner_and_app_only():
    assert protocol.handle_for("https://queue.fal.run", "fal-ai/flux/dev", "r")["status_url"] == (
        "https://queue.fal.run/fal-ai/flux/requests/r/status"
    )
    assert protocol.queue_base("workflows/me/pipeline/run") == "workflows/me/pipeline"


def test_a_listed_input_matches_the_stored_one_even_where_an_artifact_was_sent_as_a_url():
    stored = {"prompt": "p", "image_url": "artifact:1234", "loras": [{"scale": 1}]}
    assert same_input(stored, {"prompt": "p", "image_url": "https://ig/x?sig", "loras": [{"scale": 1}]})
    assert not same_input(stored, {"prompt": "q", "image_url": "https://ig/x", "loras": [{"scale": 1}]})
    assert not same_input(stored, {"prompt": "p", "image_url": "https://ig/x", "loras": []})
    assert not same_input(stored, {**json.loads(json.dumps(stored)), "extra": 1})
