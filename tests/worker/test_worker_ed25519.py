"""Ed25519 on the Worker runtime: ``WebCryptoEd25519`` (the runtime's ``crypto.subtle`` through
Pyodide's FFI) checks signatures made by ``cryptography`` here, and fal's webhook check runs on
Pyodide end to end, its JWKS fetched by the Worker's own fetch adapter from a loopback server.
The code runs inside the session's Worker interpreter (``eval_python``)."""

from __future__ import annotations

import ast
import base64
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fixtures.servers import serve_in_background

from ig.providers.fal.webhook_auth import fal_message

from .worker_harness import WorkerHarness

VERIFY = """
import json

from ig.adapters.cloudflare import bootstrap
from ig.adapters.cloudflare.ed25519 import WebCryptoEd25519

key, other, message, signature = (bytes.fromhex(h) for h in json.loads(ARGS))
verifier = WebCryptoEd25519()
(
    await verifier.verify(key, message, signature),
    await verifier.verify(key, message + b"!", signature),
    await verifier.verify(other, message, signature),
    await verifier.verify(key[:31], message, signature),
    await verifier.verify(b"", message, signature),
    await verifier.verify(key, message, signature[:63]),
    type(bootstrap.deps_from_env(env).ed25519).__name__,
)
"""

# fal's check as the webhook receiver will run it on the Worker: the Worker's fetch for the JWKS,
# WebCrypto for the signatures, the module's cache in the isolate.
CHECK_WEBHOOKS = """
import json

from ig.adapters.cloudflare.ed25519 import WebCryptoEd25519
from ig.adapters.cloudflare.fetch import FetchClient
from ig.providers.fal import webhook_auth

jwks_url, now, deliveries = json.loads(ARGS)
webhook_auth.forget_cached_keys()
try:
    problems = [
        await webhook_auth.webhook_problem(
            headers=headers, body=body.encode(), jwks_url=jwks_url, http=FetchClient(),
            verifier=WebCryptoEd25519(), now=now,
        )
        for headers, body in deliveries
    ]
finally:
    webhook_auth.forget_cached_keys()
problems
"""


def _eval(h: WorkerHarness, code: str, *args: Any) -> Any:
    return ast.literal_eval(h.eval_python(f"ARGS = {json.dumps(json.dumps(args))}\n" + code))


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture
def fal_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def jwks(fal_key: Ed25519PrivateKey) -> Iterator[dict[str, Any]]:
    """fal's JWKS on loopback, on a thread (the harness waits on the Worker while it fetches);
    ``requests`` counts the GETs."""
    x = base64.urlsafe_b64encode(_raw(fal_key)).rstrip(b"=").decode()
    body = json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x}]}).encode()
    served: dict[str, Any] = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            served["requests"] += 1
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serve_in_background(server)
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    yield served
    server.shutdown()
    server.server_close()


def test_webcrypto_verifies_ed25519_signatures_made_elsewhere(ig_harness, fal_key):
    message = b"req-1\nuser-7\n1760000000\n" + b"0" * 64
    signature = fal_key.sign(message)
    other = _raw(Ed25519PrivateKey.generate())
    good, tampered, wrong_key, short_key, empty_key, short_signature, wired = _eval(
        ig_harness, VERIFY, _raw(fal_key).hex(), other.hex(), message.hex(), signature.hex()
    )
    assert good is True
    assert (tampered, wrong_key) == (False, False)
    assert (short_key, empty_key, short_signature) == (False, False, False)  # refused, not raised
    assert wired == "WebCryptoEd25519"


def test_fal_webhooks_are_checked_on_the_worker_runtime(ig_harness, jwks, fal_key):
    now = int(time.time())
    body = '{"request_id":"req-1","status":"OK","payload":{"images":[]}}'
    signature = fal_key.sign(fal_message("req-1", "user-7", str(now), body.encode()))
    headers = {
        "x-fal-webhook-request-id": "req-1",
        "x-fal-webhook-user-id": "user-7",
        "x-fal-webhook-timestamp": str(now),
        "x-fal-webhook-signature": signature.hex(),
    }
    deliveries = [(headers, body), (headers, body.replace("OK", "ERROR"))]
    assert _eval(ig_harness, CHECK_WEBHOOKS, jwks["url"], now, deliveries) == [
        None,
        "the signature matches none of fal's keys",
    ]
    assert jwks["requests"] == 1  # the second check used the keys the first one fetched
