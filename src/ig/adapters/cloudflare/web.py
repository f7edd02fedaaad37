"""Worker requests in, Worker responses out: a ``workers.Request`` becomes an ``ApiRequest``,
an ``ApiResponse`` becomes a ``workers.Response``. Artifact content goes from R2 straight into
the response stream without entering Python."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from workers import Response

from ig import web
from ig.adapters.cloudflare.convert import is_null, read_stream
from ig.api.http import ApiRequest, ApiResponse, problem_response
from ig.deps import Deps
from ig.errors import PayloadTooLarge
from ig.ports import StoredBlob

log = logging.getLogger("ig")


class _RequestBody:
    """The request body piece by piece from its JS ReadableStream (the SDK offers no Python
    stream), so a limit can stop reading early and an upload never sits in memory whole.

    A body ig answers without reading to its end must be cancelled: left unread, it stalls the
    next request on the same connection (for up to two minutes behind ``wrangler dev``'s proxy)."""

    def __init__(self, request: Any) -> None:
        stream = request.body
        # GET/HEAD, or no body: JS null, which the SDK passes on as jsnull
        self._stream = None if is_null(stream) else stream
        self._reader: Any = None
        self._read_to_end = self._stream is None

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._stream is None:
            return
        self._reader = self._stream.getReader()
        async for chunk in read_stream(self._reader):
            yield chunk
        self._read_to_end = True

    async def cancel_unread(self) -> None:
        if self._read_to_end:
            return
        # A reader abandoned mid-stream still holds the lock, and only it can cancel then.
        try:
            await (self._reader.cancel() if self._stream.locked else self._stream.cancel())
        except Exception:  # noqa: BLE001 - a body the client broke off cannot be cancelled; the answer stands
            log.warning("could not cancel an unread request body", exc_info=True)


async def _read_body(body: _RequestBody, declared: str | None, limit: int) -> bytes:
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")
    buffered = bytearray()
    async with aclosing(body.chunks()) as chunks:  # releases the reader lock when stopping early
        async for chunk in chunks:
            buffered += chunk
            if len(buffered) > limit:
                raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")
    return bytes(buffered)


def _to_response(response: ApiResponse) -> Response:
    body = response.body
    if isinstance(body, StoredBlob):
        body = body.body.body  # the R2 object's ReadableStream
    return Response(body, status=response.status, headers=response.headers)


async def handle(deps: Deps, request: Any) -> Response:
    url = urlsplit(str(request.url))
    # workers.Request.method is an http.HTTPMethod, which has no member for e.g. PROPFIND: use the JS string.
    method = str(request.js_object.method).upper()
    request_body = _RequestBody(request)
    try:
        return _to_response(await _answer(deps, request, request_body, method, url))
    finally:
        await request_body.cancel_unread()


async def _answer(deps: Deps, request: Any, request_body: _RequestBody, method: str, url: SplitResult) -> ApiResponse:
    path = url.path
    body, stream = b"", None
    if web.streams_body(method, path):
        stream = request_body.chunks()
    else:
        try:
            body = await _read_body(request_body, request.headers.get("content-length"), web.body_limit(path, deps))
        except PayloadTooLarge as error:
            return problem_response(error, path)
    api_request = ApiRequest(
        method=method,
        path=path,
        query=parse_qs(url.query, keep_blank_values=True),
        headers={str(k).lower(): str(v) for k, v in request.headers.items()},
        body=body,
        base_url=deps.settings.public_url or f"{url.scheme}://{url.netloc}",
        stream=stream,
    )
    return await web.handle(deps, api_request)
