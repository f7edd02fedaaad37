"""The ``HttpClient`` port on httpx: streaming responses, no redirects followed (callers decide),
transport failures surfaced as ``ConnectionError``/``TimeoutError``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx


class HttpxResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc
        except httpx.TransportError as exc:
            raise ConnectionError(str(exc)) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxClient:
    def __init__(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 60.0,
    ) -> HttpxResponse:
        request = self._client.build_request(method, url, headers=dict(headers or {}), content=body, timeout=timeout)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc
        except httpx.TransportError as exc:
            raise ConnectionError(str(exc)) from exc
        return HttpxResponse(response)

    async def aclose(self) -> None:
        await self._client.aclose()
