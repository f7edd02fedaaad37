"""Callback signatures (``ig.standard_webhooks.signature``), per Standard Webhooks: checked
against the reference library's own signing and the README's verification snippet."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from fixtures.callback_receiver import SECRET
from fixtures.readme import readme_verify
from standardwebhooks import Webhook

from ig import standard_webhooks
from ig.settings import Settings

BODY = b'{"type":"job.succeeded"}'
NEXT_SECRET = "whsec_" + base64.b64encode(b"the next key").decode()


def test_the_signature_follows_the_standard_webhooks_reference():
    header = standard_webhooks.signature(Settings(callback_secret=SECRET).callback_keys, "msg_1", 1_700_000_000, BODY)
    assert header.startswith("v1,")
    # The reference library signs the same way (its own sign(), independent of ig's code).
    assert header == Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(1_700_000_000, UTC), BODY.decode())
    rotated = Settings(callback_secret=SECRET + " " + NEXT_SECRET)
    assert len(standard_webhooks.signature(rotated.callback_keys, "msg_1", 1, BODY).split()) == 2
    with pytest.raises(ValueError):
        Settings.from_mapping({"IG_CALLBACK_SECRET": "whsec_not base64!"})


def test_while_keys_rotate_every_event_carries_one_signature_per_key_each_verifiable_alone():
    both = Settings(callback_secret=f"{SECRET} {NEXT_SECRET}").callback_keys
    header = standard_webhooks.signature(both, "msg_2", 1_700_000_100, BODY)
    alone = [standard_webhooks.signature([key], "msg_2", 1_700_000_100, BODY) for key in both]
    assert header.split() == alone and alone[0] != alone[1]
    # A consumer holding either secret accepts the event (both verifiers check the timestamp: now).
    verify = readme_verify()
    now = int(time.time())
    header = standard_webhooks.signature(both, "msg_2", now, BODY)
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(now), "webhook-signature": header}
    assert verify(SECRET, headers, BODY) and verify(NEXT_SECRET, headers, BODY)
    assert Webhook(SECRET).verify(BODY, headers) == {"type": "job.succeeded"}
    assert Webhook(NEXT_SECRET).verify(BODY, headers) == {"type": "job.succeeded"}


@pytest.mark.parametrize(
    ("what", "message_id", "timestamp", "body"),
    [
        ("another body", "msg_3", 0, BODY + b" "),
        ("another message id", "msg_4", 0, BODY),
        ("another timestamp", "msg_3", 1, BODY),
    ],
)
def test_a_signature_covers_the_id_the_timestamp_and_every_byte_of_the_body(what, message_id, timestamp, body):
    keys = Settings(callback_secret=SECRET).callback_keys
    now = int(time.time())
    signed = standard_webhooks.signature(keys, "msg_3", now, BODY)
    headers = {"webhook-id": message_id, "webhook-timestamp": str(now + timestamp), "webhook-signature": signed}
    assert readme_verify()(SECRET, {**headers, "webhook-id": "msg_3", "webhook-timestamp": str(now)}, BODY)
    assert not readme_verify()(SECRET, headers, body), what


# --- verifying (Replicate signs its webhooks the same way) -----------------------------------------

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_HEADERS = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
SPEC_BODY = b'{"test": 2432232314}'


def test_the_standard_webhooks_spec_vector_verifies_and_every_change_to_it_does_not():
    keys = standard_webhooks.decode_secrets(SPEC_SECRET, "X")
    now = 1614265330
    assert standard_webhooks.problem(keys, SPEC_HEADERS, SPEC_BODY, now) is None
    assert standard_webhooks.problem(keys, SPEC_HEADERS, SPEC_BODY + b" ", now) == (
        "the signature matches none of the secret's keys"
    )
    other_id = {**SPEC_HEADERS, "webhook-id": "msg_other"}
    assert standard_webhooks.problem(keys, other_id, SPEC_BODY, now) is not None
    assert standard_webhooks.problem(keys, SPEC_HEADERS, SPEC_BODY, now + 300) is None
    assert standard_webhooks.problem(keys, SPEC_HEADERS, SPEC_BODY, now + 301) == (
        "webhook-timestamp is 301 s from now; at most 300"
    )
    for name in SPEC_HEADERS:
        missing = {k: v for k, v in SPEC_HEADERS.items() if k != name}
        assert standard_webhooks.problem(keys, missing, SPEC_BODY, now) == f"missing {name}"
    junk = {**SPEC_HEADERS, "webhook-signature": "v2,abc v1,!!! " + SPEC_HEADERS["webhook-signature"]}
    assert standard_webhooks.problem(keys, junk, SPEC_BODY, now) is None  # any valid v1 entry will do
    rotated = standard_webhooks.decode_secrets(
        "whsec_" + base64.b64encode(b"new key").decode() + " " + SPEC_SECRET, "X"
    )
    assert standard_webhooks.problem(rotated, SPEC_HEADERS, SPEC_BODY, now) is None
    assert standard_webhooks.problem(keys, {**SPEC_HEADERS, "webhook-timestamp": "1e9"}, SPEC_BODY, now) is not None
