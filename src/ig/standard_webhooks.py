"""Standard Webhooks (https://www.standardwebhooks.com), both ways: ig signs its callbacks with
it, and Replicate signs its webhooks with it. HMAC-SHA256 over ``{id}.{timestamp}.{body}`` with
a ``whsec_<base64>`` secret; the ``webhook-signature`` header lists ``v1,<base64>`` entries."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_SECONDS = 300
"""How far a webhook's timestamp may be from now: the spec's five minutes."""


def decode_secrets(text: str | None, setting: str) -> list[bytes]:
    """The HMAC keys in a setting: each ``whsec_`` + base64 (padding optional), space-separated
    for several (rotation). A malformed one is a ``ValueError`` naming the setting."""
    keys = []
    for part in (text or "").split():
        encoded = part.removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise ValueError(f"setting {setting} must be whsec_<base64>, space-separated for several")
        keys.append(key)
    return keys


def _mac(key: bytes, message_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def signature(keys: list[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>`` per key."""
    return " ".join("v1," + base64.b64encode(_mac(key, message_id, str(timestamp), body)).decode() for key in keys)


def problem(keys: list[bytes], headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """None when one of ``keys`` signed this webhook within the tolerance; otherwise why not."""
    fields = {name.lower(): value for name, value in headers.items()}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if not fields.get(name):
            return f"missing {name}"
    message_id, timestamp, signatures = fields["webhook-id"], fields["webhook-timestamp"], fields["webhook-signature"]
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 15:
        return f"webhook-timestamp is not Unix seconds: {timestamp[:40]!r}"
    skew = abs(now - int(timestamp))
    if skew > TOLERANCE_SECONDS:
        return f"webhook-timestamp is {round(skew)} s from now; at most {TOLERANCE_SECONDS}"
    given = []
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version == "v1":
            try:
                given.append(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError):
                continue
    for key in keys:
        expected = _mac(key, message_id, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return None
    return "the signature matches none of the secret's keys"
