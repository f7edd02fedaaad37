"""fal's webhook signatures (``ig.providers.fal.webhook_auth``): real Ed25519 keys from
``cryptography``, checked by the local adapter, against a JWKS served over loopback HTTP and
fetched by the local HttpClient (httpx), so every byte goes the way it goes under ``ig serve``."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fixtures.servers import serve_in_background

from ig.adapters.local.ed25519 import CryptographyEd25519
from ig.adapters.local.http_client import HttpxClient
from ig.providers.fal.webhook_auth import fal_message, forget_cached_keys, webhook_problem

NOW = 1_760_000_000.0
DAY = 24 * 3600
BODY = b'{"request_id":"req-1","status":"OK","payload":{"images":[]}}'
NO_MATCH = "the signature matches none of fal's keys"


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    x = base64.urlsafe_b64encode(public_bytes(key)).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": x[:8], "use": "sig", "alg": "EdDSA"}


def signed(key: Ed25519PrivateKey, body: bytes = BODY, *, at: float = NOW) -> dict[str, str]:
    """fal's four headers for ``body``, signed by ``key`` at ``at``, named as fal sends them."""
    timestamp = str(int(at))
    signature = key.sign(fal_message("req-1", "user-7", timestamp, body))
    return {
        "X-Fal-Webhook-Request-Id": "req-1",
        "X-Fal-Webhook-User-Id": "user-7",
        "X-Fal-Webhook-Timestamp": timestamp,
        "X-Fal-Webhook-Signature": signature.hex(),
    }


class JwksServer:
    """fal's JWKS endpoint on loopback; ``document`` (JSON, or raw bytes), ``status`` and
    ``cache_control`` say what it answers, ``requests`` counts the GETs."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.status = 200
        self.cache_control: str | None = None
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def serve(self, *keys: Ed25519PrivateKey) -> None:
        self.document = {"keys": [jwk(k) for k in keys]}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with jwks._lock:
                    jwks.requests += 1
                doc = jwks.document
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(jwks.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                if jwks.cache_control is not None:
                    self.send_header("cache-control", jwks.cache_control)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(autouse=True)
def _no_cached_keys() -> Iterator[None]:
    forget_cached_keys()
    yield
    forget_cached_keys()


@pytest.fixture
def fal_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def jwks(fal_key: Ed25519PrivateKey) -> Iterator[JwksServer]:
    server = JwksServer()
    server.serve(fal_key)
    serve_in_background(server._server)
    yield server
    server._server.shutdown()
    server._server.server_close()


@pytest.fixture
async def http() -> AsyncIterator[HttpxClient]:
    client = HttpxClient()
    yield client
    await client.aclose()


async def check(
    jwks: JwksServer, http: HttpxClient, headers: dict[str, str], body: bytes = BODY, *, now: float = NOW
) -> str | None:
    return await webhook_problem(
        headers=headers, body=body, jwks_url=jwks.url, http=http, verifier=CryptographyEd25519(), now=now
    )


def test_the_message_is_the_four_fields_joined_by_newlines_with_the_body_as_sha256_hex():
    digest = hashlib.sha256(BODY).hexdigest()
    assert fal_message("req-1", "user-7", "1760000000", BODY) == f"req-1\nuser-7\n1760000000\n{digest}".encode()


async def test_a_webhook_fal_signed_is_authentic(jwks, http, fal_key):
    assert await check(jwks, http, signed(fal_key)) is None
    shouting = {name.upper(): value for name, value in signed(fal_key).items()}
    assert await check(jwks, http, shouting) is None
    lower = {name.lower(): value for name, value in signed(fal_key).items()}
    assert await check(jwks, http, lower) is None


async def test_a_changed_body_matches_no_key(jwks, http, fal_key):
    assert await check(jwks, http, signed(fal_key), BODY.replace(b"OK", b"ERROR")) == NO_MATCH
    assert await check(jwks, http, signed(fal_key), BODY + b"\n") == NO_MATCH


async def test_a_signature_by_a_key_fal_does_not_publish_matches_none(jwks, http):
    assert await check(jwks, http, signed(Ed25519PrivateKey.generate())) == NO_MATCH


async def test_any_published_key_may_verify_as_fal_rotates(jwks, http, fal_key):
    jwks.serve(Ed25519PrivateKey.generate(), fal_key)
    assert await check(jwks, http, signed(fal_key)) is None


@pytest.mark.parametrize(
    "header",
    ["X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id", "X-Fal-Webhook-Timestamp", "X-Fal-Webhook-Signature"],
)
async def test_every_header_is_required(jwks, http, fal_key, header):
    headers = signed(fal_key)
    del headers[header]
    assert await check(jwks, http, headers) == f"missing {header}"
    assert await check(jwks, http, {**headers, header: ""}) == f"missing {header}"
    assert jwks.requests == 0  # nothing is fetched for a request that cannot be fal's


@pytest.mark.parametrize(
    ("signature", "why"),
    [
        ("zz" * 64, "not hex"),
        ("ab" * 63, "63 bytes"),
        ("ab" * 65, "65 bytes"),
        (" ".join(["ab"] * 64), "hex with spaces, which bytes.fromhex would take"),
    ],
)
async def test_a_signature_that_is_not_64_bytes_of_hex_is_refused(jwks, http, fal_key, signature, why):
    headers = {**signed(fal_key), "X-Fal-Webhook-Signature": signature}
    assert await check(jwks, http, headers) == "X-Fal-Webhook-Signature is not 64 bytes in hex", why


@pytest.mark.parametrize("timestamp", ["1760000000.5", "-1760000000", "+1760000000", "abc", "1" * 40, "١٧٦٠"])
async def test_a_timestamp_that_is_not_unix_seconds_is_refused(jwks, http, fal_key, timestamp):
    headers = {**signed(fal_key), "X-Fal-Webhook-Timestamp": timestamp}
    assert (await check(jwks, http, headers)).startswith("X-Fal-Webhook-Timestamp is not Unix seconds: ")


@pytest.mark.parametrize("offset", [-300, 300, 0])
async def test_a_timestamp_up_to_300_s_either_side_of_now_is_accepted(jwks, http, fal_key, offset):
    assert await check(jwks, http, signed(fal_key, at=NOW + offset)) is None


@pytest.mark.parametrize("offset", [-301, 301, -DAY])
async def test_a_timestamp_beyond_300_s_either_side_of_now_is_refused(jwks, http, fal_key, offset):
    problem = await check(jwks, http, signed(fal_key, at=NOW + offset))
    assert problem == f"X-Fal-Webhook-Timestamp is {abs(offset)} s from now; at most 300"


async def test_a_fraction_of_a_second_beyond_300_is_refused(jwks, http, fal_key):
    problem = await check(jwks, http, signed(fal_key), now=NOW + 300.25)
    assert problem == "X-Fal-Webhook-Timestamp is 301 s from now; at most 300"


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (b"<html>maintenance</html>", "it is not JSON"),
        (b"[" * 50_000, "it is not JSON"),
        (b"\xff\xfe{}", "it is not JSON"),
        ({"keys": "none"}, 'it has no "keys" list'),
        ([], 'it has no "keys" list'),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "A"}] * 21}, "it lists 21 keys; ig reads at most 20"),
        ({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}, "it holds no Ed25519 key"),
        ({"keys": [{"kty": "OKP", "crv": "X25519", "x": "A" * 43}]}, "it holds no Ed25519 key"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "A" * 42}]}, "it holds no Ed25519 key"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "not base64!"}]}, "it holds no Ed25519 key"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": 7}, None, "key"]}, "it holds no Ed25519 key"),
        (b"{" + b" " * 70_000 + b"}", "answered more than 65536 bytes"),
    ],
)
async def test_a_jwks_ig_cannot_read_is_reported(jwks, http, fal_key, document, why):
    jwks.document = document
    problem = await check(jwks, http, signed(fal_key))
    assert problem.startswith("fal's JWKS could not be fetched: ") and problem.endswith(why), problem


async def test_a_jwks_that_cannot_be_fetched_is_reported(jwks, http, fal_key):
    jwks.status = 503
    assert await check(jwks, http, signed(fal_key)) == f"fal's JWKS could not be fetched: {jwks.url} answered HTTP 503"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}/jwks.json"
    problem = await webhook_problem(
        headers=signed(fal_key), body=BODY, jwks_url=closed, http=http, verifier=CryptographyEd25519(), now=NOW
    )
    assert problem.startswith("fal's JWKS could not be fetched: ConnectionError: "), problem


async def test_padded_base64url_keys_are_read_too(jwks, http, fal_key):
    padded = {**jwk(fal_key), "x": base64.urlsafe_b64encode(public_bytes(fal_key)).decode()}
    assert padded["x"].endswith("=")
    jwks.document = {"keys": [padded]}
    assert await check(jwks, http, signed(fal_key)) is None


async def test_keys_are_fetched_once_and_kept_for_24_hours(jwks, http, fal_key):
    for at in (NOW, NOW + 1, NOW + DAY - 1):
        assert await check(jwks, http, signed(fal_key, at=at), now=at) is None
    assert jwks.requests == 1
    assert await check(jwks, http, signed(fal_key, at=NOW + DAY), now=NOW + DAY) is None
    assert jwks.requests == 2


@pytest.mark.parametrize(("cache_control", "kept"), [("public, max-age=600", 600), ("max-age=172800", DAY)])
async def test_keys_are_kept_no_longer_than_the_jwks_max_age_or_24_hours(jwks, http, fal_key, cache_control, kept):
    jwks.cache_control = cache_control
    for at in (NOW, NOW + kept - 1):
        assert await check(jwks, http, signed(fal_key, at=at), now=at) is None
    assert jwks.requests == 1
    assert await check(jwks, http, signed(fal_key, at=NOW + kept), now=NOW + kept) is None
    assert jwks.requests == 2


async def test_keys_are_kept_per_jwks_url(jwks, http, fal_key):
    assert await check(jwks, http, signed(fal_key)) is None
    other = jwks.url + "?other"
    problem = await webhook_problem(
        headers=signed(fal_key), body=BODY, jwks_url=other, http=http, verifier=CryptographyEd25519(), now=NOW
    )
    assert problem is None and jwks.requests == 2


async def test_an_unknown_key_fetches_the_jwks_again_once_the_cached_keys_are_a_minute_old(jwks, http, fal_key):
    assert await check(jwks, http, signed(fal_key)) is None
    rotated = Ed25519PrivateKey.generate()
    jwks.serve(fal_key, rotated)
    # Within a minute of the fetch the cached keys stand: forgeries cannot make ig fetch at will.
    assert await check(jwks, http, signed(rotated, at=NOW + 60), now=NOW + 60) == NO_MATCH
    assert jwks.requests == 1
    assert await check(jwks, http, signed(rotated, at=NOW + 61), now=NOW + 61) is None
    assert jwks.requests == 2
    # A forgery is refused after one refetch at most, and the next within a minute fetches nothing.
    assert await check(jwks, http, signed(Ed25519PrivateKey.generate(), at=NOW + 200), now=NOW + 200) == NO_MATCH
    assert jwks.requests == 3
    assert await check(jwks, http, signed(Ed25519PrivateKey.generate(), at=NOW + 201), now=NOW + 201) == NO_MATCH
    assert jwks.requests == 3
    # The newly fetched keys still verify fal's webhooks, without another fetch.
    assert await check(jwks, http, signed(fal_key, at=NOW + 202), now=NOW + 202) is None
    assert jwks.requests == 3


async def test_a_failed_refetch_keeps_the_cached_keys_and_waits_a_minute(jwks, http, fal_key):
    assert await check(jwks, http, signed(fal_key)) is None
    jwks.status = 500
    stranger = Ed25519PrivateKey.generate()
    problem = await check(jwks, http, signed(stranger, at=NOW + 100), now=NOW + 100)
    assert problem == f"{NO_MATCH} (fetching them again failed: {jwks.url} answered HTTP 500)"
    assert jwks.requests == 2
    assert await check(jwks, http, signed(stranger, at=NOW + 150), now=NOW + 150) == NO_MATCH
    assert await check(jwks, http, signed(fal_key, at=NOW + 150), now=NOW + 150) is None
    assert jwks.requests == 2


async def test_expired_keys_are_not_used_when_the_jwks_cannot_be_fetched(jwks, http, fal_key):
    assert await check(jwks, http, signed(fal_key)) is None
    jwks.status = 500
    problem = await check(jwks, http, signed(fal_key, at=NOW + DAY), now=NOW + DAY)
    assert problem == f"fal's JWKS could not be fetched: {jwks.url} answered HTTP 500"


async def test_the_local_verifier_says_false_for_malformed_keys_and_signatures(fal_key):
    verifier, message = CryptographyEd25519(), b"message"
    good = fal_key.sign(message)
    assert await verifier.verify(public_bytes(fal_key), message, good) is True
    assert await verifier.verify(public_bytes(fal_key)[:31], message, good) is False
    assert await verifier.verify(public_bytes(fal_key), message, good[:63]) is False
    assert await verifier.verify(public_bytes(fal_key), message + b"!", good) is False
