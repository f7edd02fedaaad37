"""ASGI bridge for the local runtime: an ASGI request becomes an ``ApiRequest``, the
``ApiResponse`` goes back, blob bodies streamed from disk in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from ig import web
from ig.api.http import ApiRequest, ApiResponse, problem_response
from ig.deps import Deps
from ig.errors import PayloadTooLarge
from ig.ports import StoredBlob

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class AsgiApp:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        host = headers.get("host") or f"{scope['server'][0]}:{scope['server'][1]}"
        method = scope["method"].upper()
        streaming = web.streams_body(method, path)
        try:
            body = b"" if streaming else await _read_body(receive, web.body_limit(path, self.deps), headers)
        except PayloadTooLarge as error:
            await _send(send, problem_response(error, path), self.deps)
            return
        request = ApiRequest(
            method=method,
            path=path,
            query=parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True),
            headers=headers,
            body=body,
            base_url=self.deps.settings.public_url or f"{scope.get('scheme', 'http')}://{host}",
            stream=_stream_body(receive) if streaming else None,
        )
        await _send(send, await web.handle(self.deps, request), self.deps)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive, limit: int, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")
        if not message.get("more_body"):
            return bytes(body)


async def _stream_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return


async def _send(send: Send, response: ApiResponse, deps: Deps) -> None:
    headers = dict(response.headers)
    if isinstance(response.body, bytes):
        headers["content-length"] = str(len(response.body))
    elif response.body is None and "content-length" not in headers:
        headers["content-length"] = "0"
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
    )
    if isinstance(response.body, StoredBlob):
        async for chunk in deps.blobs.iter_bytes(response.body):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.body", "body": response.body or b""})
