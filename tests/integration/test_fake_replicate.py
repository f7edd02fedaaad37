"""The fake Replicate speaks Replicate's HTTP API (../shared/reference/providers.md Part B), checked
over HTTP with httpx alone: ig's Replicate adapter and its integration tests rely on it behaving as
Replicate does."""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fixtures.callback_receiver import CallbackReceiver
from fixtures.fake_replicate import FakeReplicate, version_of
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

FLUX = "black-forest-labs/flux-schnell"
SDXL = "stability-ai/sdxl"
LLAMA = "meta/meta-llama-3-8b-instruct"

FIELDS = {
    "id",
    "model",
    "version",
    "input",
    "logs",
    "output",
    "data_removed",
    "error",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "source",
    "urls",
    "metrics",
}


@pytest.fixture
def rep(fake_replicate: FakeReplicate) -> FakeReplicate:
    return fake_replicate


@pytest.fixture
def http(rep: FakeReplicate) -> Any:
    with httpx.Client(headers={"authorization": f"Bearer {rep.api_token}"}, timeout=5) as client:
        yield client


def until(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


def create(http: httpx.Client, rep: FakeReplicate, model: str, input: dict[str, Any], **body: Any) -> dict[str, Any]:
    answer = http.post(f"{rep.api_url}/models/{model}/predictions", json={"input": input, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def poll(http: httpx.Client, prediction: dict[str, Any]) -> dict[str, Any]:
    for _ in range(20):
        prediction = http.get(prediction["urls"]["get"]).json()
        if prediction["status"] in ("succeeded", "failed", "canceled", "aborted"):
            return prediction
    raise AssertionError(f"still {prediction['status']}")


def webp_size(data: bytes) -> tuple[int, int]:
    assert data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8L"
    bits = int.from_bytes(data[21:25], "little")
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# --- create, get, outputs ---------------------------------------------------------------------


def test_create_answers_201_with_location_and_polling_walks_to_succeeded(rep: FakeReplicate, http: httpx.Client):
    body = {"input": {"prompt": "a red kettle", "num_outputs": 2, "aspect_ratio": "16:9"}}
    answer = http.post(f"{rep.api_url}/models/{FLUX}/predictions", json=body)
    assert answer.status_code == 201
    created = answer.json()
    assert set(created) == FIELDS
    assert re.fullmatch(r"[a-z0-9]{26}", created["id"])
    assert answer.headers["location"] == created["urls"]["get"] == f"{rep.api_url}/predictions/{created['id']}"
    assert created["urls"]["cancel"] == created["urls"]["get"] + "/cancel" and "stream" not in created["urls"]
    assert (created["model"], created["version"], created["input"], created["source"]) == (
        FLUX,
        version_of(FLUX),
        body["input"],
        "api",
    )
    assert (created["status"], created["output"], created["started_at"], created["metrics"]) == (
        "starting",
        None,
        None,
        {},
    )
    assert created["created_at"].endswith("Z")

    running = http.get(created["urls"]["get"]).json()
    assert (running["status"], running["output"]) == ("processing", None) and running["started_at"]
    done = http.get(created["urls"]["get"]).json()
    assert done["status"] == "succeeded" and done["completed_at"] and done["error"] is None
    assert done["metrics"]["predict_time"] == 1.5 and done["metrics"]["total_time"] >= 1.5
    assert "100%|" in done["logs"]
    assert http.get(created["urls"]["get"]).json() == done  # the full object every time

    assert len(done["output"]) == 2
    for url in done["output"]:
        assert url.startswith(f"http://{rep.media_host}:") and url.endswith(".webp")  # flux-schnell's default
        media = httpx.get(url)  # no token needed
        assert media.headers["content-type"] == "image/webp" and webp_size(media.content) == (1344, 768)
    assert rep.billed == {created["id"]: 1.5}
    assert rep.billed_for(FLUX) == rep.billed_for(lambda i: i["prompt"] == "a red kettle") == {created["id"]: 1.5}
    assert [(c.path, c.answered, c.prediction_id) for c in rep.creations] == [
        (f"/v1/models/{FLUX}/predictions", 201, created["id"])
    ]


def test_create_by_version_in_each_form_and_unknown_models_or_versions(rep: FakeReplicate, http: httpx.Client):
    pinned = "a" * 64
    for version, expected in ((SDXL, version_of(SDXL)), (f"{SDXL}:{pinned}", pinned), (version_of(SDXL), None)):
        answer = http.post(f"{rep.api_url}/predictions", json={"version": version, "input": {"prompt": "x"}})
        assert answer.status_code == 201, answer.text
        assert answer.json()["model"] == SDXL and answer.json()["version"] == (expected or version_of(SDXL))
    output = poll(http, answer.json())["output"]
    assert output[0].endswith(".png") and png_size(httpx.get(output[0]).content) == (1024, 1024)

    unknown = http.post(f"{rep.api_url}/predictions", json={"version": "b" * 64, "input": {}})
    assert (unknown.status_code, unknown.json()["title"]) == (422, "Invalid version or not permitted")
    rep.models = {FLUX}
    missing = http.post(f"{rep.api_url}/models/foo/bar/predictions", json={"input": {}})
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "Model not found: foo/bar", "status": 404, "title": "Not Found"},
    )
    assert http.post(f"{rep.api_url}/predictions", json={"version": SDXL, "input": {}}).status_code == 404
    assert http.get(f"{rep.api_url}/predictions/nosuchprediction").status_code == 404
    assert len(rep.predictions) == 3


def media_type(url: Any) -> str:
    assert isinstance(url, str), url
    return httpx.get(url).headers["content-type"]


@pytest.mark.parametrize(
    ("model", "input", "check"),
    [
        ("minimax/video-01", {"prompt": "x"}, lambda out: media_type(out) == "video/mp4"),
        ("zsxkib/animate-diff", {"prompt": "x"}, lambda out: [media_type(u) for u in out] == ["video/mp4"]),
        ("minimax/speech-02-hd", {"text": "hello there"}, lambda out: media_type(out) == "audio/wav"),
        ("meta/musicgen", {"prompt": "jazz", "duration": 2}, lambda out: media_type(out) == "audio/wav"),
        (
            "suno-ai/bark",
            {"prompt": "hi", "output_full": True},
            lambda out: media_type(out["audio_out"]) == "audio/wav" and out["prompt_npz"].endswith(".npz"),
        ),
        (LLAMA, {"prompt": "hi"}, lambda out: out == ["Hello", " world", "!"]),
        ("salesforce/blip", {"image": "https://example.com/a.png"}, lambda out: out.startswith("Caption: ")),
        ("black-forest-labs/flux-1.1-pro", {"prompt": "x"}, lambda out: media_type(out) == "image/webp"),
        (
            "philz1337x/clarity-upscaler",
            {"image": "https://example.com/a.png", "scale_factor": 4},
            lambda out: png_size(httpx.get(out[0]).content) == (2048, 1536),  # input_image_size x 4
        ),
        (
            "topazlabs/image-upscale",
            {"image": "https://example.com/a.png", "upscale_factor": "2x"},
            lambda out: media_type(out) == "image/jpeg",
        ),
    ],
)
def test_outputs_take_the_shape_of_the_model_kind(rep, http, model, input, check):
    rep.polls_before_done = 0
    done = poll(http, create(http, rep, model, input))
    assert check(done["output"]), done["output"]
    assert ("stream" in done["urls"]) == (model == LLAMA)
    if model == LLAMA:
        assert done["metrics"]["output_token_count"] == 3


def test_whisper_answers_a_transcript_object_and_overrides_replace_outputs(rep: FakeReplicate, http: httpx.Client):
    rep.polls_before_done = 0
    done = poll(http, create(http, rep, "openai/whisper", {"audio": "https://example.com/a.wav"}))
    output = done["output"]
    assert output["detected_language"] == "english" and output["transcription"].startswith("The quick")
    assert output["segments"][0]["start"] == 0.0 and output["segments"][1]["end"] == 3.2

    rep.outputs[FLUX] = lambda given: {"echo": given["prompt"]}
    rep.predict_times[FLUX] = 0.25
    mine = poll(http, create(http, rep, FLUX, {"prompt": "mine"}))
    assert mine["output"] == {"echo": "mine"} and mine["metrics"]["predict_time"] == 0.25
    assert rep.billed[mine["id"]] == 0.25


def test_prefer_wait_holds_the_answer_until_done_or_n_seconds(rep: FakeReplicate, http: httpx.Client):
    waited = http.post(f"{rep.api_url}/models/{FLUX}/predictions", json={"input": {}}, headers={"prefer": "wait"})
    assert (waited.status_code, waited.json()["status"]) == (201, "succeeded")
    rep.hold_new = True
    started = time.monotonic()
    held = http.post(f"{rep.api_url}/models/{FLUX}/predictions", json={"input": {}}, headers={"prefer": "wait=1"})
    assert 0.9 < time.monotonic() - started < 2
    assert (held.status_code, held.json()["status"]) == (201, "starting")


def test_a_text_prediction_streams_its_tokens_as_server_sent_events(rep: FakeReplicate, http: httpx.Client):
    created = create(http, rep, LLAMA, {"prompt": "hi"})
    events = httpx.get(created["urls"]["stream"], headers={"accept": "text/event-stream"})
    assert events.headers["content-type"] == "text/event-stream"
    assert events.text.split("\n\n")[:4] == [
        "event: output\nid: 0\ndata: Hello",
        "event: output\nid: 1\ndata:  world",
        "event: output\nid: 2\ndata: !",
        "event: done\ndata: {}",
    ]


def test_failed_predictions_carry_their_error_and_are_billed(rep: FakeReplicate, http: httpx.Client):
    rep.fail_predictions(error="NSFW content detected.", predict_time=0.4)
    failed = poll(http, create(http, rep, FLUX, {"prompt": "x"}))
    assert (failed["status"], failed["error"], failed["output"]) == ("failed", "NSFW content detected.", None)
    assert rep.billed == {failed["id"]: 0.4}
    assert poll(http, create(http, rep, FLUX, {"prompt": "y"}))["status"] == "succeeded"  # one only


def test_expired_files_answer_404_and_the_prediction_says_data_removed(rep: FakeReplicate, http: httpx.Client):
    rep.expire_files_after = 0.3
    done = poll(http, create(http, rep, FLUX, {"prompt": "x"}))
    assert httpx.get(done["output"][0]).status_code == 200
    time.sleep(0.35)
    assert httpx.get(done["output"][0]).status_code == 404
    later = http.get(done["urls"]["get"]).json()
    assert (later["data_removed"], later["output"], later["input"], later["status"]) == (True, None, {}, "succeeded")


# --- cancel and deadlines ---------------------------------------------------------------------


def test_cancel_before_start_is_never_billed_and_while_running_bills_the_time_run(rep, http):
    queued = create(http, rep, FLUX, {"prompt": "queued"})
    canceled = http.post(queued["urls"]["cancel"])
    assert (canceled.status_code, canceled.json()["status"], canceled.json()["metrics"].get("predict_time")) == (
        200,
        "canceled",
        None,
    )
    assert http.get(queued["urls"]["get"]).json()["status"] == "canceled"

    running = create(http, rep, FLUX, {"prompt": "running"})
    assert http.get(running["urls"]["get"]).json()["status"] == "processing"
    time.sleep(0.02)
    stopped = http.post(running["urls"]["cancel"]).json()
    assert stopped["status"] == "canceled" and stopped["metrics"]["predict_time"] >= 0.02
    assert rep.billed == {running["id"]: stopped["metrics"]["predict_time"]}

    again = http.post(running["urls"]["cancel"])
    assert (again.status_code, again.json()) == (200, stopped)  # terminal: unchanged
    assert http.post(f"{rep.api_url}/predictions/nosuchprediction/cancel").status_code == 404
    assert [(c.before, c.after) for c in rep.cancels] == [
        ("starting", "canceled"),
        ("processing", "canceled"),
        ("canceled", "canceled"),
        (None, None),
    ]


def test_cancel_after_aborts_a_held_prediction_and_cancels_a_running_one(rep: FakeReplicate, http: httpx.Client):
    rep.hold_new = True
    answer = http.post(
        f"{rep.api_url}/models/{FLUX}/predictions", json={"input": {"prompt": "x"}}, headers={"cancel-after": "250ms"}
    )
    held = answer.json()
    assert held["deadline"].endswith("Z") and held["deadline"] > held["created_at"]
    assert http.get(held["urls"]["get"]).json()["status"] == "starting"
    time.sleep(0.3)
    aborted = http.get(held["urls"]["get"]).json()
    assert (aborted["status"], aborted["started_at"], "predict_time" in aborted["metrics"]) == ("aborted", None, False)

    rep.cancel_after_scale = 0.002  # 1m -> 0.12 s
    running = http.post(
        f"{rep.api_url}/models/{FLUX}/predictions", json={"input": {"prompt": "y"}}, headers={"cancel-after": "1m"}
    ).json()
    rep.hold(running["id"], processing=True)
    assert until(lambda: rep.predictions[running["id"]].status == "canceled")  # the deadline's own timer
    assert rep.billed == {running["id"]: rep.predictions[running["id"]].predict_time}

    other = create(http, rep, FLUX, {"prompt": "z"})
    assert rep.pass_deadline(other["id"]) == "aborted" and other["id"] not in rep.billed
    bad = http.post(f"{rep.api_url}/models/{FLUX}/predictions", json={"input": {}}, headers={"cancel-after": "soon"})
    assert bad.status_code == 400


# --- listing ----------------------------------------------------------------------------------


def test_listing_pages_newest_first_with_cursors_and_filters_on_created_at(rep: FakeReplicate, http: httpx.Client):
    rep.list_page_size = 2
    ids = [create(http, rep, FLUX, {"prompt": str(n)})["id"] for n in range(5)]
    pages, url = [], f"{rep.api_url}/predictions"
    while url:
        pages.append(http.get(url).json())
        url = pages[-1]["next"]
        if len(pages) == 1:
            create(http, rep, FLUX, {"prompt": "newer"})  # shifts no page after this one
    newest_first = ids[::-1]
    assert [[item["id"] for item in page["results"]] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    assert pages[0]["previous"] is None
    assert "logs" not in pages[2]["results"][0] and pages[2]["results"][0]["input"] == {"prompt": "0"}
    back = http.get(pages[1]["previous"]).json()
    assert [item["id"] for item in back["results"]] == newest_first[0:2]
    assert back["previous"] is not None  # the one created since

    created = {p.id: p for p in rep.predictions.values()}
    since = rep.prediction_json(created[ids[2]])["created_at"]
    until_ = rep.prediction_json(created[ids[4]])["created_at"]
    window = http.get(f"{rep.api_url}/predictions", params={"created_after": since, "created_before": until_}).json()
    assert [item["id"] for item in window["results"]] == [ids[3], ids[2]]  # after inclusive, before exclusive
    assert http.get(f"{rep.api_url}/predictions", params={"cursor": "nonsense"}).status_code == 400


def test_a_full_page_is_100_newest_first(rep: FakeReplicate, http: httpx.Client):
    for n in range(101):
        create(http, rep, FLUX, {"n": n})
    first = http.get(f"{rep.api_url}/predictions").json()
    assert len(first["results"]) == 100 and first["results"][0]["input"] == {"n": 100}
    last = http.get(first["next"]).json()
    assert [item["input"] for item in last["results"]] == [{"n": 0}] and last["next"] is None


def test_a_dropped_answer_after_create_leaves_a_prediction_the_listing_shows(rep: FakeReplicate, http: httpx.Client):
    rep.drop_creates(create=False)
    rep.drop_creates(create=True)
    body = {"input": {"prompt": "lost answer", "seed": 42}}
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(f"{rep.api_url}/models/{FLUX}/predictions", json=body)
    assert [(c.answered, c.prediction_id is None) for c in rep.creations] == [(None, True), (None, False)]
    [item] = http.get(f"{rep.api_url}/predictions").json()["results"]
    assert item["id"] == rep.creations[1].prediction_id and item["input"] == body["input"]
    rep.settle()  # it runs and bills although its creator never heard of it
    assert rep.billed_for(lambda given: given == body["input"]) == {item["id"]: 1.5}


# --- auth and failures ------------------------------------------------------------------------


def test_every_api_call_needs_the_bearer_token_but_media_does_not(rep: FakeReplicate, http: httpx.Client):
    done = poll(http, create(http, rep, FLUX, {}))
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Token {rep.api_token}"}):
        for method, url in (
            ("POST", f"{rep.api_url}/models/{FLUX}/predictions"),
            ("GET", done["urls"]["get"]),
            ("POST", done["urls"]["cancel"]),
            ("GET", f"{rep.api_url}/predictions"),
            ("GET", f"{rep.api_url}/webhooks/default/secret"),
        ):
            refused = httpx.request(method, url, json={"input": {}}, headers=headers)
            assert refused.status_code == 401 and refused.json()["title"] == "Unauthenticated"
    assert len(rep.creations) == 1
    assert httpx.get(done["output"][0]).status_code == 200
    assert http.get(f"{rep.api_url}/webhooks/default/secret").json() == {"key": rep.webhook_secret}


def test_create_failures_throttle_fail_or_reject_inputs(rep: FakeReplicate, http: httpx.Client):
    rep.fail_creates(429, 2, retry_after=30)
    rep.fail_creates(502, model=SDXL)
    rep.reject_inputs(match=lambda given: given.get("num_outputs", 1) > 4)
    url = f"{rep.api_url}/models/{FLUX}/predictions"
    for _ in range(2):
        throttled = http.post(url, json={"input": {}})
        assert (throttled.status_code, throttled.headers["retry-after"], throttled.json()) == (
            429,
            "30",
            {"detail": "Request was throttled. Your rate limit resets in ~30s.", "status": 429},
        )
    edge = http.post(f"{rep.api_url}/models/{SDXL}/predictions", json={"input": {}})
    assert edge.status_code == 502 and edge.headers["content-type"] == "text/html" and b"cloudflare" in edge.content
    assert http.post(url, json={"input": {"num_outputs": 2}}).status_code == 201  # the rejection is for > 4 only
    rejected = http.post(url, json={"input": {"num_outputs": 5}})
    assert rejected.status_code == 422
    assert rejected.json()["invalid_fields"] == [
        {
            "type": "less_than_equal",
            "field": "num_outputs",
            "description": "num_outputs must be less than or equal to 4",
        }
    ]
    assert http.post(url, json={"prompt": "no input object"}).status_code == 422
    assert [c.answered for c in rep.creations] == [429, 429, 502, 201, 422, 422] and len(rep.predictions) == 1

    rep.fail_creates(500, create=True)
    assert http.post(url, json={"input": {"x": 1}}).json()["status"] == 500
    assert rep.creations[-1].prediction_id in rep.predictions  # failed answer, made all the same


# --- webhooks ---------------------------------------------------------------------------------


def test_a_webhook_arrives_signed_and_verifies_with_standardwebhooks(rep, http, receiver: CallbackReceiver):
    created = create(http, rep, FLUX, {"prompt": "hooked"}, webhook=receiver.url + "?token=abc")
    until(lambda: len(receiver.received) == 2)  # by default: new output, then completed
    output, completed = receiver.received
    assert output.path == "/hooks/ig?token=abc"
    assert (output.json()["status"], bool(output.json()["output"])) == ("processing", True)
    body = completed.json()
    assert body == http.get(created["urls"]["get"]).json() and body["status"] == "succeeded"

    verified = Webhook(rep.webhook_secret).verify(completed.body, completed.headers)
    assert verified["id"] == created["id"]
    assert completed.headers["webhook-id"].startswith("msg_")
    assert output.headers["webhook-id"] != completed.headers["webhook-id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(rep.webhook_secret).verify(completed.body + b" ", completed.headers)
    other_secret = "whsec_" + base64.b64encode(b"another account's secret").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(completed.body, completed.headers)
    assert until(lambda: [(d.event, d.status) for d in rep.webhook_deliveries]) == [
        ("output", 204),
        ("completed", 204),
    ]


def test_the_standard_webhooks_spec_vector(rep: FakeReplicate):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    vector = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    assert rep.sign(body, webhook_id=vector["webhook-id"], timestamp=1614265330, secret=secret) == vector
    own = FakeReplicate(webhook_secret=secret)  # the account's secret, given
    assert own.webhook_secret == secret and own.sign(body, vector["webhook-id"], "1614265330") == vector
    own.stop()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", rep.webhook_secret)  # 24 random bytes otherwise


def test_the_events_filter_and_the_final_webhook_retried_under_one_id(rep, http, receiver: CallbackReceiver):
    receiver.answers = [500, 500]
    rep.fail_predictions()
    create(http, rep, FLUX, {"prompt": "x"}, webhook=receiver.url, webhook_events_filter=["start", "completed"])
    until(lambda: len(rep.webhook_deliveries) == 3)
    assert [(d.event, d.status, d.attempt) for d in rep.webhook_deliveries] == [
        ("start", 500, 0),  # an intermediate webhook is not retried
        ("completed", 500, 0),
        ("completed", 204, 1),
    ]
    start, first, retry = rep.webhook_deliveries
    assert start.json()["status"] == "processing" and retry.json()["status"] == "failed"
    assert first.webhook_id == retry.webhook_id != start.webhook_id and first.body == retry.body
    assert json.loads(receiver.received[2].body)["error"] == "Prediction interrupted; please retry (code: PA)"


def test_held_dropped_copied_and_forged_webhooks(rep: FakeReplicate, http: httpx.Client, receiver: CallbackReceiver):
    rep.hold_new = True
    events = {"webhook": receiver.url, "webhook_events_filter": ["completed"]}
    held = create(http, rep, FLUX, {"prompt": "held"}, **events)
    time.sleep(rep.webhook_delay * 3)
    assert receiver.received == [] and rep.predictions[held["id"]].status == "starting"
    rep.release(held["id"])
    until(lambda: receiver.received)

    rep.hold_new, rep.drop_webhooks = False, True
    dropped = create(http, rep, FLUX, {"prompt": "dropped"}, **events)
    until(lambda: rep.dropped_webhooks == [(dropped["id"], "completed")])
    assert poll(http, dropped)["status"] == "succeeded"  # polling recovers it

    rep.drop_webhooks, rep.webhook_copies = False, 2
    create(http, rep, FLUX, {"prompt": "twice"}, **events)
    until(lambda: len(receiver.received) == 3)
    assert receiver.received[1].body == receiver.received[2].body
    assert receiver.received[1].headers["webhook-id"] == receiver.received[2].headers["webhook-id"]

    forged = rep.sign(receiver.received[1].body, secret="whsec_" + base64.b64encode(b"x" * 24).decode())
    assert rep.post_webhook(receiver.url, receiver.received[1].body, forged) == 204
    with pytest.raises(WebhookVerificationError):
        Webhook(rep.webhook_secret).verify(receiver.received[3].body, receiver.received[3].headers)
