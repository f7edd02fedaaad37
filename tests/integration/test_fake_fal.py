"""The fake fal speaks fal's protocol (../shared/reference/providers.md Part A), checked over HTTP
with httpx alone: ig's fal adapter and its integration tests rely on it behaving as fal does."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fixtures.callback_receiver import CallbackReceiver
from fixtures.fake_fal import FakeFal

FLUX = "fal-ai/flux/dev"
KLING = "fal-ai/kling-video/v2.1/pro/image-to-video"


@pytest.fixture
def fal() -> Iterator[FakeFal]:
    fake = FakeFal().start()
    yield fake
    fake.stop()


@pytest.fixture
def http(fal: FakeFal) -> Iterator[httpx.Client]:
    with httpx.Client(headers={"authorization": f"Key {fal.api_key}"}, timeout=5) as client:
        yield client


def until(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


def submit(http: httpx.Client, fal: FakeFal, endpoint: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
    answer = http.post(f"{fal.queue_url}/{endpoint}", json=body, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_fal_webhook(headers: dict[str, str], body: bytes, jwks: dict[str, Any], now: float | None = None) -> bool:
    """fal's documented check: all four headers, a timestamp within 300 s, and an Ed25519
    signature (hex) by any JWKS key over request id, user id, timestamp and sha256hex(body)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        request_id = lowered["x-fal-webhook-request-id"]
        user_id = lowered["x-fal-webhook-user-id"]
        timestamp = lowered["x-fal-webhook-timestamp"]
        signature = bytes.fromhex(lowered["x-fal-webhook-signature"])
        if abs((now or time.time()) - int(timestamp)) > 300:
            return False
    except (KeyError, ValueError):
        return False
    message = "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()
    for key in jwks["keys"]:
        try:
            Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"])).verify(signature, message)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- the queue --------------------------------------------------------------------------------


def test_submit_status_result_walks_the_queue_and_reports_billable_units(fal: FakeFal, http: httpx.Client):
    body = {"prompt": "a red kettle", "num_images": 2, "image_size": "square"}
    lifecycle = json.dumps({"expiration_duration_seconds": 3600})
    answer = http.post(
        f"{fal.queue_url}/{FLUX}", json=body, headers={"x-fal-object-lifecycle-preference": lifecycle}
    ).json()
    request_id = answer["request_id"]
    base = f"{fal.queue_url}/fal-ai/flux/requests/{request_id}"  # owner/app only, not /dev
    assert answer == {
        "request_id": request_id,
        "gateway_request_id": request_id,
        "status": "IN_QUEUE",
        "queue_position": 0,
        "response_url": base,
        "status_url": base + "/status",
        "cancel_url": base + "/cancel",
    }
    submission = fal.submissions[0]
    assert (submission.endpoint_id, submission.body, submission.request_id) == (FLUX, body, request_id)
    assert submission.lifecycle == {"expiration_duration_seconds": 3600}

    early = http.get(answer["response_url"])
    assert (early.status_code, early.json()) == (400, {"detail": "Request is still in progress"})
    running = http.get(answer["status_url"], params={"logs": 1})
    assert (running.status_code, running.json()["status"]) == (202, "IN_PROGRESS")
    assert running.json()["logs"][0]["level"] == "INFO"
    done = http.get(answer["status_url"])
    assert (done.status_code, done.json()["status"], done.json()["metrics"]) == (
        200,
        "COMPLETED",
        {"inference_time": 1.2},
    )
    assert "error" not in done.json()

    result = http.get(answer["response_url"])
    assert result.status_code == 200
    assert result.headers["x-fal-billable-units"] == "2"
    assert result.headers["x-fal-request-id"] == request_id
    output = result.json()
    assert set(output) == {"images", "seed", "has_nsfw_concepts", "prompt", "timings"}
    assert output["has_nsfw_concepts"] == [False, False] and output["prompt"] == "a red kettle"
    for image in output["images"]:
        assert (image["width"], image["height"], image["content_type"]) == (512, 512, "image/png")
        media = httpx.get(image["url"])
        assert media.headers["content-type"] == "image/png"
        assert len(media.content) == image["file_size"] and png_size(media.content) == (512, 512)
        assert image["url"].startswith(f"http://{fal.media_host}:")
    assert fal.billed == {request_id: 2}
    assert fal.billed_for(FLUX) == fal.billed_for(lambda b: b.get("prompt") == "a red kettle") == {request_id: 2}


def test_status_counts_and_holds_steer_the_pace(fal: FakeFal, http: httpx.Client):
    fal.statuses_before_done, fal.queued_statuses = 3, 2
    status_url = submit(http, fal, FLUX, {"prompt": "x"})["status_url"]
    seen = [http.get(status_url).json()["status"] for _ in range(4)]
    assert seen == ["IN_QUEUE", "IN_QUEUE", "IN_PROGRESS", "COMPLETED"]

    fal.statuses_before_done, fal.hold_new = 0, True
    held = submit(http, fal, FLUX, {"prompt": "y"})
    for _ in range(3):
        answer = http.get(held["status_url"])
        assert (answer.status_code, answer.json()["status"], answer.json()["queue_position"]) == (202, "IN_QUEUE", 0)
    fal.release(held["request_id"])
    assert http.get(held["status_url"]).json()["status"] == "COMPLETED"


def test_request_urls_under_the_full_endpoint_id_or_an_unknown_id_are_404(fal: FakeFal, http: httpx.Client):
    request_id = submit(http, fal, FLUX, {"prompt": "x"})["request_id"]
    assert http.get(f"{fal.queue_url}/{FLUX}/requests/{request_id}/status").status_code == 404
    assert http.get(f"{fal.queue_url}/fal-ai/flux/requests/{request_id}/status").status_code == 202
    assert (
        http.get(f"{fal.queue_url}/fal-ai/flux/requests/00000000-0000-4000-8000-000000000000/status").status_code == 404
    )


def test_cancel_while_queued_removes_the_request_and_never_bills(fal: FakeFal, http: httpx.Client):
    answer = submit(http, fal, FLUX, {"prompt": "x"})
    cancelled = http.put(answer["cancel_url"])
    assert (cancelled.status_code, cancelled.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    assert http.get(answer["status_url"]).status_code == 404
    assert http.get(answer["response_url"]).status_code == 404
    again = http.put(answer["cancel_url"])
    assert (again.status_code, again.json()) == (404, {"status": "NOT_FOUND"})
    assert fal.billed == {} and fal.requests[answer["request_id"]].state == "REMOVED"
    assert [(status, said) for _, status, said in fal.cancels] == [(202, "CANCELLATION_REQUESTED"), (404, "NOT_FOUND")]


def test_cancel_in_progress_is_acknowledged_but_the_request_completes_and_bills(fal: FakeFal, http: httpx.Client):
    fal.statuses_before_done = 1
    answer = submit(http, fal, FLUX, {"prompt": "x"})
    assert http.get(answer["status_url"]).json()["status"] == "IN_PROGRESS"
    cancelled = http.put(answer["cancel_url"])
    assert (cancelled.status_code, cancelled.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    assert http.get(answer["status_url"]).json()["status"] == "COMPLETED"
    assert fal.billed == {answer["request_id"]: 1}


def test_cancel_after_completion_is_400_already_completed(fal: FakeFal, http: httpx.Client):
    fal.statuses_before_done = 0
    answer = submit(http, fal, FLUX, {"prompt": "x"})
    assert http.get(answer["status_url"]).status_code == 200
    cancelled = http.put(answer["cancel_url"])
    assert (cancelled.status_code, cancelled.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert fal.billed == {answer["request_id"]: 1}


@pytest.mark.parametrize(
    ("endpoint", "body", "keys", "units"),
    [
        (KLING, {"prompt": "x", "duration": "10"}, {"video", "seed"}, "10"),
        ("fal-ai/minimax/speech-02-hd", {"text": "hello there"}, {"audio", "duration_ms"}, "1"),
        ("fal-ai/whisper", {"audio_url": "https://example.com/a.wav"}, {"text", "chunks"}, "1"),
        ("fal-ai/esrgan", {"image_url": "https://example.com/a.png", "scale": 4}, {"image"}, "1"),
    ],
)
def test_outputs_take_the_shape_of_the_endpoint_kind(fal, http, endpoint, body, keys, units):
    fal.statuses_before_done = 0
    answer = submit(http, fal, endpoint, body)
    http.get(answer["status_url"])
    result = http.get(answer["response_url"])
    assert set(result.json()) == keys and result.headers["x-fal-billable-units"] == units
    output = result.json()
    if "video" in output:
        media = httpx.get(output["video"]["url"])
        assert media.headers["content-type"] == "video/mp4" and media.content[4:8] == b"ftyp"
    if "audio" in output:
        media = httpx.get(output["audio"]["url"])
        assert media.headers["content-type"] == "audio/wav" and media.content[:4] == b"RIFF"
    if "image" in output:
        assert (output["image"]["width"], output["image"]["height"]) == (2048, 1536)  # 512x384 upscaled x4
    if "chunks" in output:
        assert output["chunks"][0]["timestamp"] == [0.0, 1.5]


def test_an_output_override_replaces_the_model_output(fal: FakeFal, http: httpx.Client):
    fal.statuses_before_done = 0
    fal.outputs[FLUX] = lambda body: {"images": [], "seed": 7, "echo": body["prompt"]}
    answer = submit(http, fal, FLUX, {"prompt": "mine"})
    http.get(answer["status_url"])
    assert http.get(answer["response_url"]).json() == {"images": [], "seed": 7, "echo": "mine"}


def test_a_failed_request_completes_with_its_error_and_the_result_is_the_models_error(fal: FakeFal, http: httpx.Client):
    fal.statuses_before_done = 0
    fal.fail_requests("validation")
    answer = submit(http, fal, FLUX, {"prompt": "x", "image_size": {"width": 4096, "height": 1024}})
    done = http.get(answer["status_url"]).json()
    assert (done["status"], done["error"], done["error_type"]) == (
        "COMPLETED",
        "Invalid status code: 422",
        "validation_error",
    )
    result = http.get(answer["response_url"])
    assert result.status_code == 422 and "x-fal-billable-units" not in result.headers
    assert result.json()["detail"][0]["type"] == "less_than_equal"
    assert fal.billed == {}
    fal.fail_requests("server")
    failed = submit(http, fal, FLUX, {"prompt": "y"})
    http.get(failed["status_url"])
    result = http.get(failed["response_url"])
    assert (result.status_code, result.json()) == (
        500,
        {"detail": "Internal server error", "error_type": "internal_error"},
    )
    ok = submit(http, fal, FLUX, {"prompt": "z"})  # the failures were for one request each
    http.get(ok["status_url"])
    assert http.get(ok["response_url"]).status_code == 200


# --- submit failures --------------------------------------------------------------------------


def test_submit_errors_answer_fals_flat_error_n_times_then_accept(fal: FakeFal, http: httpx.Client):
    fal.fail_submits(429, 2, retry_after=2)
    fal.fail_submits(503, endpoint=KLING)
    for _ in range(2):
        refused = http.post(f"{fal.queue_url}/{FLUX}", json={"prompt": "x"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
        assert refused.json() == {"detail": "Too many concurrent requests", "error_type": "concurrent_requests_limit"}
    assert http.post(f"{fal.queue_url}/{FLUX}", json={"prompt": "x"}).status_code == 200
    refused = http.post(f"{fal.queue_url}/{KLING}", json={"prompt": "x"})
    assert (refused.status_code, refused.json()["error_type"]) == (503, "runner_scheduling_failure")
    assert [s.answered for s in fal.submissions] == [429, 429, 200, 503]
    assert len(fal.requests) == 1


def test_accepted_then_dropped_creates_a_request_the_listing_shows_with_its_input(fal: FakeFal, http: httpx.Client):
    fal.drop_submits(create=False)
    fal.drop_submits(create=True)
    body = {"prompt": "lost answer", "seed": 42}
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(f"{fal.queue_url}/{FLUX}", json=body)
    assert [s.answered for s in fal.submissions] == [None, None]
    assert fal.submissions[0].request_id is None and fal.submissions[1].request_id is not None

    listing = http.get(f"{fal.api_url}/models/requests/by-endpoint", params={"endpoint_id": FLUX, "expand": "payloads"})
    [item] = listing.json()["items"]
    assert item["request_id"] == fal.submissions[1].request_id and item["json_input"] == body
    assert (item["started_at"], item["ended_at"], item["status_code"], item["json_output"]) == (None, None, None, None)
    assert item["sent_at"].endswith("Z")
    bare = http.get(f"{fal.api_url}/models/requests/by-endpoint", params={"endpoint_id": FLUX}).json()["items"][0]
    assert "json_input" not in bare and "json_output" not in bare

    # The request runs and bills although its submitter never heard of it.
    fal.settle()
    assert fal.billed_for(lambda b: b == body) == {item["request_id"]: 1}


def test_a_hung_submit_times_the_client_out_but_the_request_exists(fal: FakeFal, http: httpx.Client):
    fal.hang_submits(0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.post(f"{fal.queue_url}/{FLUX}", json={"prompt": "slow"}, timeout=0.1)
    [request] = fal.requests.values()
    assert request.body == {"prompt": "slow"} and request.state == "IN_QUEUE"
    second = submit(http, fal, FLUX, {"prompt": "next"})
    assert second["queue_position"] == 1


def test_listing_pages_newest_first_with_cursors_and_filters_on_sent_at(fal: FakeFal, http: httpx.Client):
    ids = []
    for n in range(5):
        ids.append(submit(http, fal, FLUX, {"prompt": str(n)})["request_id"])
        time.sleep(0.002)  # apart by more than the listing's millisecond
    submit(http, fal, KLING, {"prompt": "other endpoint"})
    url = f"{fal.api_url}/models/requests/by-endpoint"
    pages, cursor = [], None
    while True:
        params = {"endpoint_id": FLUX, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = http.get(url, params=params).json()
        pages.append([item["request_id"] for item in page["items"]])
        cursor = page["next_cursor"]
        assert page["has_more"] == (cursor is not None)
        if cursor is None:
            break
    assert pages == [ids[::-1][0:2], ids[::-1][2:4], ids[::-1][4:]]

    shown = {i["request_id"]: i["sent_at"] for i in http.get(url, params={"endpoint_id": FLUX}).json()["items"]}
    window = {"endpoint_id": FLUX, "start": shown[ids[2]], "end": shown[ids[4]]}  # start inclusive, end exclusive
    assert [i["request_id"] for i in http.get(url, params=window).json()["items"]] == [ids[3], ids[2]]
    assert http.get(url, params={"endpoint_id": FLUX, "start": _iso(time.time() + 60)}).json()["items"] == []
    assert http.get(url, params={"endpoint_id": FLUX, "limit": 101}).status_code == 400
    assert http.get(url, params={"endpoint_id": FLUX, "request_id": ids[1]}).json()["items"][0]["request_id"] == ids[1]


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


# --- platform APIs ----------------------------------------------------------------------------


def test_pricing_lists_known_endpoints_and_omits_unknown_ones(fal: FakeFal, http: httpx.Client):
    fal.prices["fal-ai/my-model"] = (0.2, "megapixel")
    answer = http.get(
        f"{fal.api_url}/models/pricing",
        params=[
            ("endpoint_id", FLUX),
            ("endpoint_id", KLING),
            ("endpoint_id", "fal-ai/my-model"),
            ("endpoint_id", "nobody/nothing"),
        ],
    )
    assert answer.json() == {
        "prices": [
            {"endpoint_id": FLUX, "unit_price": 0.025, "unit": "image", "currency": "USD"},
            {"endpoint_id": KLING, "unit_price": 0.05, "unit": "second", "currency": "USD"},
            {"endpoint_id": "fal-ai/my-model", "unit_price": 0.2, "unit": "megapixel", "currency": "USD"},
        ],
        "next_cursor": None,
        "has_more": False,
    }


def test_billing_events_list_each_billed_request_once(fal: FakeFal, http: httpx.Client):
    fal.statuses_before_done = 0
    video = submit(http, fal, KLING, {"prompt": "x", "duration": 5})
    http.get(video["status_url"])
    queued = submit(http, fal, FLUX, {"prompt": "never runs"})
    http.put(queued["cancel_url"])
    events = http.get(f"{fal.api_url}/models/billing-events", params={"endpoint_id": f"{KLING},{FLUX}"}).json()
    assert events["has_more"] is False
    [event] = events["billing_events"]
    assert (event["request_id"], event["output_units"], event["unit_price"]) == (video["request_id"], 5, 0.05)
    assert event["cost_estimate_nano_usd"] == 250_000_000 and event["percent_discount"] is None


def test_every_queue_and_platform_call_needs_the_key_but_jwks_and_media_do_not(fal: FakeFal, http: httpx.Client):
    answer = submit(http, fal, FLUX, {"prompt": "x"})
    for key in (None, "Key wrong", f"Bearer {fal.api_key}"):
        headers = {"authorization": key} if key else {}
        refused = httpx.post(f"{fal.queue_url}/{FLUX}", json={"prompt": "x"}, headers=headers)
        assert refused.status_code == 401 and "detail" in refused.json()
        assert httpx.get(answer["status_url"], headers=headers).status_code == 401
        assert httpx.put(answer["cancel_url"], headers=headers).status_code == 401
        priced = httpx.get(f"{fal.api_url}/models/pricing", params={"endpoint_id": FLUX}, headers=headers)
        assert priced.status_code == 401 and priced.json()["error"]["type"] == "authorization_error"
    assert len(fal.submissions) == 1
    assert httpx.get(fal.jwks_url).status_code == 200


# --- webhooks ---------------------------------------------------------------------------------


def test_a_webhook_arrives_signed_and_verifies_against_the_jwks(
    fal: FakeFal, http: httpx.Client, receiver: CallbackReceiver
):
    answer = submit(http, fal, FLUX, {"prompt": "hooked"}, fal_webhook=receiver.url + "?token=abc")
    assert fal.submissions[0].webhook_url == receiver.url + "?token=abc"
    until(lambda: receiver.received)
    got = receiver.received[0]
    assert got.path == "/hooks/ig?token=abc"
    body = got.json()
    assert (body["request_id"], body["gateway_request_id"], body["status"]) == (answer["request_id"],) * 2 + ("OK",)
    assert body["payload"] == http.get(answer["response_url"]).json()

    jwks_answer = httpx.get(fal.jwks_url)
    assert jwks_answer.headers["cache-control"] == "max-age=3600" and fal.jwks_fetches == 1
    jwks = jwks_answer.json()
    [key] = jwks["keys"]
    assert (key["kty"], key["crv"], len(b64url_decode(key["x"])), "=" in key["x"]) == ("OKP", "Ed25519", 32, False)
    assert got.headers["x-fal-webhook-user-id"] == fal.user_id
    assert verify_fal_webhook(got.headers, got.body, jwks)
    assert not verify_fal_webhook(got.headers, got.body + b" ", jwks)
    assert not verify_fal_webhook(got.headers, got.body, jwks, now=time.time() + 301)
    assert fal.billed == {answer["request_id"]: 1}
    assert until(lambda: [(d.status, d.attempt) for d in fal.webhook_deliveries]) == [(204, 0)]


def test_forged_and_rotated_signatures(fal: FakeFal):
    body = json.dumps({"request_id": "r1", "status": "OK", "payload": {}}).encode()
    jwks = fal.jwks()
    assert verify_fal_webhook(fal.sign(body, "r1"), body, jwks)
    assert not verify_fal_webhook(fal.sign(body, "r1", key=Ed25519PrivateKey.generate()), body, jwks)
    assert not verify_fal_webhook(fal.sign(body, "r1", timestamp=int(time.time()) - 600), body, jwks)
    forged = fal.sign(body, "r1") | {"x-fal-webhook-request-id": "r2"}
    assert not verify_fal_webhook(forged, body, jwks)

    old_signature = fal.sign(body, "r1")
    fal.rotate_key()
    rotated = fal.jwks()
    assert len(rotated["keys"]) == 2
    assert verify_fal_webhook(old_signature, body, rotated) and verify_fal_webhook(fal.sign(body, "r1"), body, rotated)
    assert not verify_fal_webhook(fal.sign(body, "r1"), body, jwks)  # the new key is not in the old JWKS
    fal.rotate_key(drop_old=True)
    assert not verify_fal_webhook(old_signature, body, fal.jwks())


def test_webhook_delivery_is_retried_and_failures_say_error(
    fal: FakeFal, http: httpx.Client, receiver: CallbackReceiver
):
    receiver.answers = [500]
    fal.fail_requests("validation")
    answer = submit(http, fal, FLUX, {"prompt": "x"}, fal_webhook=receiver.url)
    until(lambda: len(fal.webhook_deliveries) == 2)  # recorded once the receiver has answered
    assert [(d.status, d.attempt) for d in fal.webhook_deliveries] == [(500, 0), (204, 1)]
    body = receiver.received[1].json()
    assert (body["status"], body["error"]) == ("ERROR", "Invalid status code: 422")
    assert body["payload"]["detail"][0]["loc"] == ["body", "image_size", "width"]
    assert body["request_id"] == answer["request_id"] and fal.billed == {}


def test_held_dropped_and_payload_error_webhooks(fal: FakeFal, http: httpx.Client, receiver: CallbackReceiver):
    fal.hold_new = True
    fal.fail_requests("payload_error")
    held = submit(http, fal, FLUX, {"prompt": "held"}, fal_webhook=receiver.url)
    time.sleep(fal.webhook_delay * 3)
    assert receiver.received == [] and fal.requests[held["request_id"]].state == "IN_QUEUE"
    fal.release(held["request_id"])
    until(lambda: receiver.received)
    body = receiver.received[0].json()
    assert (body["status"], body["payload"]) == ("OK", None) and "not JSON serializable" in body["payload_error"]
    assert http.get(held["response_url"]).status_code == 200  # the result is still there to fetch

    fal.hold_new, fal.drop_webhooks = False, True
    dropped = submit(http, fal, FLUX, {"prompt": "dropped"}, fal_webhook=receiver.url)
    until(lambda: fal.dropped_webhooks == [dropped["request_id"]])
    assert len(receiver.received) == 1
    assert http.get(dropped["status_url"]).json()["status"] == "COMPLETED"  # polling recovers it
