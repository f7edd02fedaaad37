"""Worker requests in, Worker responses out: a ``workers.Request`` becomes an ``ApiRequest``,
an ``ApiResponse`` becomes a ``workers.Response``. Artifact content goes from R2 straight into
the response stream without entering Python."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from workers import Response

from ig.adapters.cloudflare.convert import py_bytes
from ig.api import ROUTER, body_limit
from ig.deps import Deps
from ig.errors import PayloadTooLarge
from ig.ports import StoredBlob
from ig.web import ApiRequest, ApiResponse, dispatch, problem_response


async def _read_body(request: Any, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")
    stream = request.js_object.body
    if stream is None:
        return b""
    reader = stream.getReader()
    body = bytearray()
    while True:
        step = await reader.read()
        if step.done:
            return bytes(body)
        body += py_bytes(step.value)
        if len(body) > limit:
            await reader.cancel()
            raise PayloadTooLarge(f"request bodies on this route are limited to {limit} bytes")


def _to_response(response: ApiResponse) -> Response:
    body = response.body
    if isinstance(body, StoredBlob):
        body = body.body.body  # the R2 object's ReadableStream
    return Response(body, status=response.status, headers=response.headers)


async def handle(deps: Deps, request: Any) -> Response:
    url = urlsplit(str(request.url))
    path = url.path
    try:
        body = await _read_body(request, body_limit(path, deps))
    except PayloadTooLarge as error:
        return _to_response(problem_response(error, path))
    api_request = ApiRequest(
        method=str(request.method).upper(),
        path=path,
        query=parse_qs(url.query, keep_blank_values=True),
        headers={str(k).lower(): str(v) for k, v in request.js_object.headers.entries()},
        body=body,
        base_url=deps.settings.public_url or f"{url.scheme}://{url.netloc}",
    )
    return _to_response(await dispatch(ROUTER, deps, api_request))
