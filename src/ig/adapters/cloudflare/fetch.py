"""The ``HttpClient`` port on the runtime's ``fetch``: redirects are not followed (callers check
each hop), bodies stream chunk by chunk from the JS ReadableStream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import js
from pyodide.ffi import JsException

from ig.adapters.cloudflare.convert import is_null, js_bytes, read_stream, to_js_object


class FetchResponse:
    def __init__(self, response: Any) -> None:
        self._response = response
        self._reader: Any = None
        self._taken = False
        self.status = int(response.status)
        self.headers = {str(k).lower(): str(v) for k, v in response.headers.entries()}

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        body = self._response.body
        if is_null(body):  # 204/304 and HEAD answers have a null body
            return
        self._reader = body.getReader()
        try:
            async for chunk in read_stream(self._reader):
                yield chunk
        except JsException as exc:
            raise ConnectionError(str(exc)) from exc
        finally:
            self._reader = None

    def take_body(self) -> Any:
        """The body's JS ReadableStream, less what ``iter_bytes`` has read of it, for another
        binding to consume without the bytes passing through Python; ``iter_bytes`` is done."""
        if self._reader is not None:
            self._reader.releaseLock()  # its generator is suspended between reads, none pending
            self._reader = None
        self._taken = True
        return self._response.body

    async def aclose(self) -> None:
        if self._taken:
            return  # whoever took the body reads it to the end or cancels it
        # A caller that stops reading early leaves iter_bytes suspended, holding the reader lock
        # (its finally runs only when the generator is collected), and a read-from stream counts
        # as used: cancel through that reader, or the connection stays open until then.
        try:
            if self._reader is not None:
                await self._reader.cancel()
            elif not is_null(self._response.body) and not self._response.bodyUsed:
                await self._response.body.cancel()
        except JsException:
            pass


class FetchClient:
    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 60.0,
        allow_address: Callable[[IPv4Address | IPv6Address], bool] | None = None,
    ) -> FetchResponse:
        """``allow_address`` cannot be applied here: fetch resolves names on Cloudflare's network,
        outside ig's control, and never tells the Worker which address it connects to. On this
        runtime the caller's checks of the URL as written (IP literals in every spelling,
        localhost) are the defence."""
        init: dict[str, Any] = {"method": method, "headers": dict(headers or {}), "redirect": "manual"}
        options = to_js_object(init)
        if body is not None:
            options.body = js_bytes(body)
        options.signal = js.AbortSignal.timeout(int(timeout * 1000))
        try:
            response = await js.fetch(url, options)
        except JsException as exc:
            if "timeout" in str(exc).lower() or "abort" in str(exc).lower():
                raise TimeoutError(str(exc)) from exc
            raise ConnectionError(str(exc)) from exc
        return FetchResponse(response)
