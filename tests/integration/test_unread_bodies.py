"""ig serve answers some requests without reading their bodies (413 by Content-Length, an upload
refused before or while it is read). On a keep-alive connection the unread rest must not stall or
garble the next request: uvicorn discards it. A real HTTP client sends two requests over one
connection; the second must be answered, on that same connection, at once."""

from __future__ import annotations

import asyncio
import http.client
import json
from urllib.parse import urlsplit

import pytest
from fixtures.fake_runware import tiny_png

UPLOAD = tiny_png(3, 32, 32)


def _refused_then_healthz(url: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> list:
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers)
        first = connection.getresponse()
        first_status = first.status
        first.read()
        socket_used = connection.sock
        connection.request("GET", "/healthz")
        second = connection.getresponse()
        answer = json.loads(second.read())
        return [first_status, second.status, answer, connection.sock is socket_used]
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "body", "headers", "refused_with", "settings"),
    [
        ("/v1/jobs", b" " * (1024 * 1024 + 1), {"content-type": "application/json"}, 413, {}),
        ("/v1/uploads", UPLOAD, {"content-type": "image/png"}, 401, {"api_token": "secret"}),
        ("/v1/uploads", b"just some words", {"content-type": "text/plain"}, 415, {}),
        ("/v1/uploads", UPLOAD, {"content-type": "image/jpeg"}, 422, {}),
    ],
    ids=["413-by-content-length", "401-upload", "415-upload", "422-upload-after-first-chunk"],
)
async def test_the_next_request_on_the_connection_is_answered_after_an_early_refusal(
    start_ig, path, body, headers, refused_with, settings
):
    ig = await start_ig(**settings)
    outcome = await asyncio.wait_for(
        asyncio.to_thread(_refused_then_healthz, ig.url, "POST", path, body, headers), timeout=10
    )
    assert outcome == [refused_with, 200, {"status": "ok"}, True]
