"""fal's webhook signatures: Ed25519 over the request id, the user id, the timestamp and the body's
SHA-256, checked against the public keys fal publishes as a JWKS (../shared/reference/providers.md,
A7.1). The keys are cached per JWKS URL in this process (one isolate on the Worker)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ig.ports import Ed25519Verifier, HttpClient

MAX_SKEW_SECONDS = 300
MAX_KEY_AGE_SECONDS = 24 * 3600
"""fal: "Do not cache longer than 24 hours since they can change"."""
REFETCH_AFTER_SECONDS = 60
"""Keys older than this are fetched again when none verifies (fal may have rotated them); younger
ones are not, so forged webhooks cannot make ig fetch the JWKS more than once a minute."""
MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 20
JWKS_TIMEOUT_SECONDS = 10.0

REQUEST_ID = "X-Fal-Webhook-Request-Id"
USER_ID = "X-Fal-Webhook-User-Id"
TIMESTAMP = "X-Fal-Webhook-Timestamp"
SIGNATURE = "X-Fal-Webhook-Signature"

_SECONDS = re.compile(r"[0-9]{1,15}")
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?([0-9]+)", re.IGNORECASE)


class JwksUnavailable(Exception):
    """fal's JWKS could not be fetched or holds no usable key."""


@dataclass(frozen=True)
class _Keys:
    public_keys: tuple[bytes, ...]
    fetched_at: float
    expires_at: float
    tried_at: float
    """The last fetch attempt, successful or not: what the once-a-minute refetch counts from."""


_cache: dict[str, _Keys] = {}


def forget_cached_keys() -> None:
    """Drop every cached JWKS (for tests)."""
    _cache.clear()


def fal_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes fal signs; ``timestamp`` is the header exactly as sent."""
    return "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode("utf-8")


async def webhook_problem(
    *,
    headers: Mapping[str, str],
    body: bytes,
    jwks_url: str,
    http: HttpClient,
    verifier: Ed25519Verifier,
    now: float,
) -> str | None:
    """None when fal signed this webhook; otherwise why it is not taken as fal's. ``now`` is Unix
    seconds. Never raises for anything the request or the JWKS holds."""
    fields = {name.lower(): value for name, value in headers.items()}
    for name in (REQUEST_ID, USER_ID, TIMESTAMP, SIGNATURE):
        if not fields.get(name.lower()):
            return f"missing {name}"
    request_id, user_id = fields[REQUEST_ID.lower()], fields[USER_ID.lower()]
    timestamp, signature_hex = fields[TIMESTAMP.lower()], fields[SIGNATURE.lower()]
    if not _SECONDS.fullmatch(timestamp):
        return f"{TIMESTAMP} is not Unix seconds: {timestamp[:40]!r}"
    skew = abs(now - int(timestamp))
    if skew > MAX_SKEW_SECONDS:
        return f"{TIMESTAMP} is {math.ceil(skew)} s from now; at most {MAX_SKEW_SECONDS}"
    if not _HEX_SIGNATURE.fullmatch(signature_hex):
        return f"{SIGNATURE} is not 64 bytes in hex"
    signature = bytes.fromhex(signature_hex)
    message = fal_message(request_id, user_id, timestamp, body)

    try:
        keys = await _current_keys(jwks_url, http, now)
    except JwksUnavailable as exc:
        return f"fal's JWKS could not be fetched: {exc}"
    if await _any_verifies(verifier, keys.public_keys, message, signature):
        return None
    if now - keys.tried_at <= REFETCH_AFTER_SECONDS:
        return "the signature matches none of fal's keys"
    try:
        keys = await _fetch_and_cache(jwks_url, http, now)
    except JwksUnavailable as exc:
        return f"the signature matches none of fal's keys (fetching them again failed: {exc})"
    if await _any_verifies(verifier, keys.public_keys, message, signature):
        return None
    return "the signature matches none of fal's keys"


async def _any_verifies(
    verifier: Ed25519Verifier, public_keys: tuple[bytes, ...], message: bytes, signature: bytes
) -> bool:
    for key in public_keys:
        if await verifier.verify(key, message, signature):
            return True
    return False


async def _current_keys(url: str, http: HttpClient, now: float) -> _Keys:
    cached = _cache.get(url)
    if cached is not None and now < cached.expires_at:
        return cached
    return await _fetch_and_cache(url, http, now)


async def _fetch_and_cache(url: str, http: HttpClient, now: float) -> _Keys:
    try:
        public_keys, max_age = await _fetch(url, http)
    except JwksUnavailable:
        cached = _cache.get(url)
        if cached is not None:  # keep what still holds, but wait a minute before trying again
            _cache[url] = _Keys(cached.public_keys, cached.fetched_at, cached.expires_at, tried_at=now)
        raise
    lifetime = MAX_KEY_AGE_SECONDS if max_age is None else min(max_age, MAX_KEY_AGE_SECONDS)
    keys = _Keys(public_keys, fetched_at=now, expires_at=now + lifetime, tried_at=now)
    _cache[url] = keys
    return keys


async def _fetch(url: str, http: HttpClient) -> tuple[tuple[bytes, ...], int | None]:
    """The JWKS's Ed25519 keys and its Cache-Control max-age (None when it names none)."""
    try:
        response = await http.send("GET", url, headers={"accept": "application/json"}, timeout=JWKS_TIMEOUT_SECONDS)
    except OSError as exc:  # ConnectionError, TimeoutError
        raise JwksUnavailable(f"{type(exc).__name__}: {exc}") from exc
    try:
        if response.status != 200:
            raise JwksUnavailable(f"{url} answered HTTP {response.status}")
        body = bytearray()
        async for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_JWKS_BYTES:
                raise JwksUnavailable(f"{url} answered more than {MAX_JWKS_BYTES} bytes")
        max_age = _MAX_AGE.search(response.headers.get("cache-control", ""))
    except OSError as exc:
        raise JwksUnavailable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        await response.aclose()
    return _public_keys(bytes(body)), None if max_age is None else int(max_age.group(1))


def _public_keys(body: bytes) -> tuple[bytes, ...]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise JwksUnavailable("it is not JSON") from exc
    listed = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise JwksUnavailable('it has no "keys" list')
    if len(listed) > MAX_KEYS:
        raise JwksUnavailable(f"it lists {len(listed)} keys; ig reads at most {MAX_KEYS}")
    found = tuple(key for key in map(_ed25519_key, listed) if key is not None)
    if not found:
        raise JwksUnavailable("it holds no Ed25519 key")
    return found


def _ed25519_key(jwk: Any) -> bytes | None:
    """The 32 raw bytes of an OKP/Ed25519 JWK's ``x``; None for any other key."""
    if not isinstance(jwk, dict) or jwk.get("kty", "OKP") != "OKP" or jwk.get("crv", "Ed25519") != "Ed25519":
        return None
    x = jwk.get("x")
    if not isinstance(x, str) or not _BASE64URL.fullmatch(x):
        return None
    unpadded = x.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except ValueError:  # binascii.Error: a length no base64 text has
        return None
    return raw if len(raw) == 32 else None
