"""``ig_client.webhooks.verify_callback`` against fixed vectors: the Standard Webhooks test vector,
and callbacks signed by the reference ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from ig_client.webhooks import WebhookVerificationError, verify_callback
from standardwebhooks import Webhook

# The test vector of the Standard Webhooks specification (and of its reference libraries).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(b"a consumer's 24-byte key!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody else's 24-byte k").decode()
EVENT = {"type": "job.succeeded", "timestamp": "2026-11-21T05:48:19.131Z", "data": {"job": {"id": "3f0e2b8e"}}}
NOW = 1_795_000_000


def _signed(secret: str = SECRET, body: bytes | None = None, at: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    payload = (body if body is not None else json.dumps(EVENT).encode()).decode()
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, tz=UTC), payload)
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def _spec_headers(signature: str = SPEC_SIGNATURE) -> dict[str, str]:
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": signature}


def test_the_specifications_vector_verifies():
    assert verify_callback(SPEC_SECRET, _spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP) == {"test": 2432232314}


def test_the_specifications_vector_fails_with_one_byte_changed():
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify_callback(SPEC_SECRET, _spec_headers(), b'{"test": 2432232315}', now=SPEC_TIMESTAMP)


def test_a_callback_signed_by_the_reference_library_verifies_and_is_parsed():
    body = json.dumps(EVENT).encode()
    assert verify_callback(SECRET, _signed(body=body), body, now=NOW) == EVENT
    assert verify_callback(SECRET, _signed(body=body), body.decode(), now=NOW) == EVENT  # str bodies too


def test_header_names_are_matched_in_any_case():
    body = json.dumps(EVENT).encode()
    shouted = {name.upper(): value for name, value in _signed(body=body).items()}
    assert verify_callback(SECRET, shouted, body, now=NOW)["type"] == "job.succeeded"


def test_another_secret_is_refused():
    body = json.dumps(EVENT).encode()
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify_callback(OTHER_SECRET, _signed(body=body), body, now=NOW)


def test_any_matching_key_of_a_rotated_secret_verifies():
    body = json.dumps(EVENT).encode()
    assert verify_callback(f"{OTHER_SECRET} {SECRET}", _signed(body=body), body, now=NOW) == EVENT


def test_one_matching_signature_among_several_verifies():
    body = json.dumps(EVENT).encode()
    headers = _signed(body=body)
    headers["webhook-signature"] = (
        f"v1,{base64.b64encode(b'x' * 32).decode()} v2,ignored {headers['webhook-signature']}"
    )
    assert verify_callback(SECRET, headers, body, now=NOW) == EVENT


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_callback_outside_the_tolerance_is_a_replay(skew):
    body = json.dumps(EVENT).encode()
    with pytest.raises(WebhookVerificationError, match="from now"):
        verify_callback(SECRET, _signed(body=body), body, now=NOW + skew)


def test_the_tolerance_is_the_callers_to_choose():
    body = json.dumps(EVENT).encode()
    assert verify_callback(SECRET, _signed(body=body), body, tolerance=600, now=NOW + 599) == EVENT
    assert verify_callback(SECRET, _signed(body=body), body, now=NOW + 300) == EVENT


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing):
    body = json.dumps(EVENT).encode()
    headers = _signed(body=body)
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_callback(SECRET, headers, body, now=NOW)


def test_a_timestamp_that_is_not_unix_seconds_is_refused():
    body = json.dumps(EVENT).encode()
    headers = {**_signed(body=body), "webhook-timestamp": "2026-11-21T05:48:19Z"}
    with pytest.raises(WebhookVerificationError, match="not Unix seconds"):
        verify_callback(SECRET, headers, body, now=NOW)


def test_a_signed_body_that_is_not_a_json_object_is_refused():
    body = b"[1, 2]"
    with pytest.raises(WebhookVerificationError, match="not a JSON object"):
        verify_callback(SECRET, _signed(body=body), body, now=NOW)


def test_a_malformed_secret_is_the_callers_error():
    body = json.dumps(EVENT).encode()
    with pytest.raises(ValueError, match="whsec_"):
        verify_callback("whsec_not base64!", _signed(body=body), body, now=NOW)
