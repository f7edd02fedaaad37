"""Pure parts: Runware envelopes in every shape, outputs found generically, result keys,
outcome classification, the media host allow-list, media sniffing, settings."""

from __future__ import annotations

import pytest

from ig.library import media_types
from ig.providers.base import Cost, Outcome, Reply, host_allowed
from ig.providers.runware import protocol as runware
from ig.providers.runware import tasks
from ig.providers.runware.protocol import classify
from ig.safe_json import decode_json
from ig.settings import Settings

TASK = "3f0e2b8e-5a1c-4d7e-9b4a-2f6c1d8e9a10"
ITEM = {
    "taskType": "imageInference",
    "taskUUID": TASK,
    "imageUUID": "c643",
    "imageURL": "https://im.runware.ai/a.jpg",
    "seed": 42,
    "cost": 0.0013,
}


@pytest.mark.parametrize(
    "body",
    [ITEM, {"data": [ITEM]}, {"data": ITEM}, [ITEM]],
    ids=["flat", "wrapped", "data-object", "bare-list"],
)
def test_every_result_shape_yields_the_result(body):
    envelope = runware.parse_envelope(body)
    assert envelope.results == [ITEM] and envelope.errors == []


def test_errors_come_as_lists_objects_and_error_items():
    err = {"code": "timeoutProvider", "message": "late"}
    assert runware.parse_envelope({"errors": [err]}).errors == [err]
    assert runware.parse_envelope({"error": err, "taskUUID": TASK}).errors == [{**err, "taskUUID": TASK}]
    polled = {
        "data": [
            {"taskUUID": TASK, "status": "error", "error": {"code": "contentPolicyViolation", "message": "flagged"}}
        ]
    }
    assert runware.parse_envelope(polled).errors[0]["code"] == "contentPolicyViolation"
    mixed = runware.parse_envelope({"data": [ITEM, {"taskUUID": TASK, "status": "processing"}], "errors": [err]})
    assert (len(mixed.results), mixed.pending, len(mixed.errors)) == (1, 1, 1)
    ack = runware.parse_envelope({"data": [{"taskType": "imageInference", "taskUUID": TASK}]})
    assert (ack.results, ack.acks) == ([], 1)


def test_outputs_are_found_generically():
    item = {
        "taskUUID": TASK,
        "imageUUID": "i",
        "imageURL": "https://im.runware.ai/x.png",
        "imageBase64Data": "aGk=",
        "maskImageURL": "https://im.runware.ai/m.png",
        "webhookURL": "https://me",
        "text": "hello",
        "structuredData": {"ageGroup": "adult"},
        "outputs": {"files": [{"uuid": "f", "url": "https://im.runware.ai/m.glb"}]},
    }
    names = [o.name for o in runware.outputs_of(item)]
    assert names == ["imageURL", "maskImageURL", "text", "structuredData", "outputs.files[0]"]
    assert runware.outputs_of({"audioBase64Data": "aGk="})[0].inline == "aGk="


def test_result_keys_tell_results_of_one_task_apart():
    assert runware.result_key(ITEM) == "imageUUID:c643"
    assert runware.result_key({**ITEM, "resultIndex": 0}) == "resultIndex:0"
    a = runware.result_key({"taskUUID": TASK, "text": "one", "cost": 0})
    b = runware.result_key({"taskUUID": TASK, "text": "two", "cost": 0})
    assert a != b and a == runware.result_key({"taskUUID": TASK, "text": "one", "cost": 0, "status": "success"})


def test_expected_results():
    assert tasks.expected_results("imageInference", {"numberResults": 4}) == 4
    assert tasks.expected_results("promptEnhance", {"promptVersions": 3, "numberResults": 9}) == 3
    assert tasks.expected_results("caption", {}) == 1
    assert tasks.expected_results("imageInference", {"numberResults": "4"}) == 1


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"data": [{"taskUUID": TASK}]}, Outcome.ACCEPTED),
        (400, {"errors": [{"code": "conflictTaskUUID", "message": "dup"}]}, Outcome.ACCEPTED),
        (400, {"errors": [{"code": "invalidParameter", "message": "bad", "parameter": "width"}]}, Outcome.REJECTED),
        (401, {"errors": [{"code": "invalidApiKey", "message": "no"}]}, Outcome.REJECTED),
        (402, {"errors": [{"code": "insufficientCredits", "message": "no"}]}, Outcome.REJECTED),
        (429, {"errors": [{"code": "rateLimitExceeded", "message": "slow"}]}, Outcome.TRANSIENT),
        (503, None, Outcome.TRANSIENT),
        (504, None, Outcome.TRANSIENT),
        (502, None, Outcome.TRANSIENT),
        (None, None, Outcome.TRANSIENT),
    ],
)
def test_submit_outcomes(status, body, outcome):
    reply = Reply(status=status, body=body, raw=b"x", transport_error=None if status else "refused")
    assert classify(reply)[0] is outcome


def test_validation_errors_are_told_from_account_errors():
    info = classify(Reply(400, b"", {"errors": [{"code": "invalidParameter", "message": "m", "parameter": "w"}]}))[1]
    assert runware.is_validation(info)
    info = classify(Reply(402, b"", {"errors": [{"code": "insufficientCredits", "message": "m"}]}))[1]
    assert not runware.is_validation(info)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://im.runware.ai/image/x.jpg", True),
        ("https://am.runware.ai/audio/x.mp3", True),
        ("https://runware.ai.evil.com/x.jpg", False),
        ("https://evilrunware.ai/x.jpg", False),
        ("http://im.runware.ai/x.jpg", False),
        ("file:///etc/passwd", False),
        ("https://169.254.169.254/latest", False),
    ],
)
def test_default_media_hosts(url, allowed):
    assert host_allowed(url, Settings().media_hosts) is allowed


def test_plain_http_only_to_an_allowed_loopback_host():
    assert host_allowed("http://127.0.0.1:9/x.png", ("127.0.0.1",))
    assert not host_allowed("http://127.0.0.1:9/x.png", (".runware.ai",))
    assert not host_allowed("http://media_types.example/x.png", ("media_types.example",))
    assert host_allowed("https://media_types.example/x.png", ("media_types.example",))


@pytest.mark.parametrize(
    ("head", "content_type", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png", "image"),
        (b"\xff\xd8\xff\xe0", "image/jpeg", "image"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp", "image"),
        (b"\0\0\0\x18ftypmp42", "video/mp4", "video"),
        (b"\0\0\0\x14ftypqt  ", "video/quicktime", "video"),
        (b"\x1a\x45\xdf\xa3", "video/webm", "video"),
        (b"ID3\x04", "audio/mpeg", "audio"),
        (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav", "audio"),
        (b"fLaC", "audio/flac", "audio"),
        (b"OggS", "audio/ogg", "audio"),
        (b"glTF", "model/gltf-binary", "file"),
        (b'<?xml version="1.0"?><svg', "image/svg+xml", "image"),
    ],
)
def test_media_is_recognised_by_its_bytes(head, content_type, kind):
    found = media_types.identify(head, "application/octet-stream", None)
    assert (found.content_type, found.kind) == (content_type, kind)


def test_declared_type_and_name_are_fallbacks():
    assert media_types.identify(b"????", "image/jpg", None).content_type == "image/jpeg"
    assert media_types.identify(b"????", None, "https://x/y.webm?sig=1").content_type == "video/webm"
    assert media_types.identify(b"????", None, None) is media_types.OCTET_STREAM


def test_settings_read_from_a_mapping():
    settings = Settings.from_mapping(
        {
            "RUNWARE_API_KEY": "k",
            "IG_PUBLIC_URL": "https://ig.example/",
            "IG_MEDIA_HOSTS": " a.com, .b.org ,",
            "IG_API_TOKEN": "",
            "IG_JOB_TIMEOUT_SECONDS": "60",
        }
    )
    assert settings.runware_api_key == "k" and settings.public_url == "https://ig.example"
    assert settings.media_hosts == ("a.com", ".b.org") and settings.api_token is None
    assert settings.job_timeout_seconds == 60 and settings.webhooks_enabled
    assert Settings.from_mapping({}).runware_api_url == "https://api.runware.ai/v1"
    with pytest.raises(ValueError, match="IG_QUIET_SECONDS"):
        Settings.from_mapping({"IG_QUIET_SECONDS": "soon"})


def test_values_json_cannot_say_are_not_taken_from_the_provider():
    assert decode_json(b'{"cost": NaN}') is None and decode_json(b"[Infinity]") is None
    assert runware.result_cost({"cost": 10**400}) is None and runware.result_cost({"cost": 1e308 * 10}) is None
    assert runware.result_cost({"cost": 0.0026}) == Cost(0.0026, "USD", "reported")
