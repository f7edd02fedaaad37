"""The ``HttpClient`` port on httpx: streaming responses, no redirects followed (callers decide),
transport and decoding failures surfaced as ``ConnectionError``/``TimeoutError``. A request made
with ``allow_address`` resolves the host here, checks every address, and connects to the checked
one, so a name cannot resolve differently between the check and the connection."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx

from ig.addresses import Address, AddressRefused

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses a connection to it would try, as text."""


async def resolve_with_the_system(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


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
        except httpx.RequestError as exc:  # a body cut short, undecodable (gzip), a reset...
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxClient:
    def __init__(self, resolve: Resolver = resolve_with_the_system) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        # Requests pinned to a checked address go to an IP with another name's Host and TLS
        # server name; kept-alive connections are pooled by IP, so they are never reused.
        self._pinned = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._resolve = resolve

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 60.0,
        allow_address: Callable[[Address], bool] | None = None,
    ) -> HttpxResponse:
        client, target, fields = self._client, httpx.URL(url), dict(headers or {})
        extensions: dict[str, Any] = {}
        if allow_address is not None:
            address = await self._checked_address(target, allow_address, timeout)
            fields["host"] = target.netloc.decode("ascii")
            extensions["sni_hostname"] = target.host  # the certificate is checked for the name
            client, target = self._pinned, target.copy_with(host=str(address))
        request = client.build_request(
            method, target, headers=fields, content=body, timeout=timeout, extensions=extensions
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc
        except httpx.TransportError as exc:
            raise ConnectionError(str(exc)) from exc
        return HttpxResponse(response)

    async def _checked_address(
        self, url: httpx.URL, allow_address: Callable[[Address], bool], timeout: float
    ) -> Address:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(timeout):
                found = await self._resolve(url.host, port)
        except OSError as exc:  # socket.gaierror: the name does not resolve
            raise ConnectionError(f"{url.host} does not resolve: {exc}") from exc
        if not found:
            raise ConnectionError(f"{url.host} does not resolve")
        addresses = [ipaddress.ip_address(text) for text in found]
        refused = [a for a in addresses if not allow_address(a)]
        if refused:
            raise AddressRefused(f"{url.host} resolves to {refused[0]}, an address ig does not call")
        return addresses[0]

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._pinned.aclose()
