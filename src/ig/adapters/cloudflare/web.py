"""Worker requests in, Worker responses out: a ``workers.Request`` becomes an ``ApiRequest``,
an ``ApiResponse`` becomes a ``workers.Response``. Artifact content goes from R2 straight into
the response stream without entering Python."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any
from urllib.parse import parse_qs, urlsplit

from workers import Response

from ig.adapters.cloudflare.convert import is_null, read_stream
from ig.deps import Deps
from ig.errors import PayloadTooLarge
from ig.ports import StoredBlob
from ig.routes import ROUTER, body_limit
from ig.web import ApiRequest, ApiResponse, dispatch, problem_response


async def _chunks(request: Any) -> AsyncIterator[bytes]:
    """The request body piece by piece from its JS ReadableStream (the SDK offers no Python
    stream), so a limit can stop reading early and an upload never sits in memory whole."""
    stream = request.body
    if is_null(stream):  # GET/HEAD, or no body: JS null, which the SDK passes on as jsnull
        return
    async for chunk in read_stream(stream.getReader()):
        yield chunk


async def _read_body(request: Any, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")
    body = bytearray()
    async with aclosing(_chunks(request)) as chunks:  # releases the reader lock when stopping early
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")
    return bytes(body)


def _to_response(response: ApiResponse) -> Response:
    body = response.body
    if isinstance(body, StoredBlob):
        body = body.body.body  # the R2 object's ReadableStream
    return Response(body, status=response.status, headers=response.headers)


async def handle(deps: Deps, request: Any) -> Response:
    url = urlsplit(str(request.url))
    path = url.path
    # workers.Request.method is an http.HTTPMethod, which has no member for e.g. PROPFIND: use the JS string.
    method = str(request.js_object.method).upper()
    body, stream = b"", None
    if ROUTER.streams_body(method, path):
        stream = _chunks(request)
    else:
        try:
            body = await _read_body(request, body_limit(path, deps))
        except PayloadTooLarge as error:
            return _to_response(problem_response(error, path))
    api_request = ApiRequest(
        method=method,
        path=path,
        query=parse_qs(url.query, keep_blank_values=True),
        headers={str(k).lower(): str(v) for k, v in request.headers.items()},
        body=body,
        base_url=deps.settings.public_url or f"{url.scheme}://{url.netloc}",
        stream=stream,
    )
    return _to_response(await dispatch(ROUTER, deps, api_request))
