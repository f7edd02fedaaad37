"""Verify the callbacks ig POSTs to a job's ``callback_url``, signed per Standard Webhooks
(https://www.standardwebhooks.com): an HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}``
with the ``IG_CALLBACK_SECRET`` you gave ig, in ``webhook-signature`` as ``v1,<base64>``.

    from ig_client.webhooks import verify_callback, WebhookVerificationError

    try:
        event = verify_callback(os.environ["IG_CALLBACK_SECRET"], request.headers, raw_body)
    except WebhookVerificationError:
        return 400
    if event["type"] == "job.succeeded": ...

Deduplicate on ``webhook-id``: it is the same on every retry and redelivery of an event."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from ig_client.errors import IgError

TOLERANCE_SECONDS = 300
"""How far the callback's timestamp may be from now (the spec's five minutes): older is a replay."""
MAX_TIMESTAMP_DIGITS = 15


class WebhookVerificationError(IgError):
    """The callback is not ig's: a header is missing, it is too old (or from the future), or no
    signature matches the secret."""


def verify_callback(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: float = TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The event (``{"type", "timestamp", "data"}``) when ``secret`` signed this callback within
    ``tolerance`` seconds of ``now`` (the clock, by default); :class:`WebhookVerificationError`
    otherwise. ``secret`` is ``whsec_<base64>``, or several space-separated while you rotate
    secrets. ``headers`` in any case; ``body`` exactly as received (verify before parsing)."""
    raw = body.encode() if isinstance(body, str) else body
    fields = {name.lower(): value for name, value in headers.items()}
    message_id, timestamp, signatures = (
        fields.get("webhook-id"),
        fields.get("webhook-timestamp"),
        fields.get("webhook-signature"),
    )
    if not message_id or not timestamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise WebhookVerificationError(f"webhook-timestamp is not Unix seconds: {timestamp[:40]!r}")
    skew = abs((time.time() if now is None else now) - int(timestamp))
    if skew > tolerance:
        raise WebhookVerificationError(f"webhook-timestamp is {skew:.0f} s from now; at most {tolerance:.0f}")
    signed = f"{message_id}.{timestamp}.".encode() + raw
    given = [_decoded(entry.partition(",")[2]) for entry in signatures.split() if entry.startswith("v1,")]
    for key in _keys(secret):
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        if any(candidate is not None and hmac.compare_digest(expected, candidate) for candidate in given):
            return _event(raw)
    raise WebhookVerificationError("no signature matches the secret")


def _keys(secret: str) -> list[bytes]:
    keys = [_decoded(part.removeprefix("whsec_")) for part in secret.split()]
    if not keys or any(not key for key in keys):
        raise ValueError("the secret must be whsec_<base64> (space-separated for several)")
    return [key for key in keys if key]


def _decoded(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _event(raw: bytes) -> dict[str, Any]:
    try:
        event = json.loads(raw)
    except ValueError as error:
        raise WebhookVerificationError(f"the signed body is not JSON: {error}") from error
    if not isinstance(event, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    return event
