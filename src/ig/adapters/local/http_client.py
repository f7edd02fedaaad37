"""The ``HttpClient`` port on aiohttp: streaming responses, no redirects followed (callers decide),
transport and decoding failures surfaced as ``ConnectionError``/``TimeoutError``, also while the
body is read. A request made with ``allow_address`` resolves the host here, checks every address,
and connects to the checked one, so a name cannot resolve differently between the check and the
connection.

aiohttp rather than httpx: its HTTP parser is C (llhttp) and a request is a few coroutine calls,
where httpx goes through httpcore's pure-Python state machine and an anyio stream. On the 2-core
development machine a 100 KB GET over loopback cost 0.25 ms of CPU with aiohttp and 1.0 ms with
httpx (0.15 ms for a stdlib ``http.client`` loop), and a 200 MB download took about the time of
the stdlib loop with aiohttp and twice that with httpx; every output ig stores comes through here."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
import certifi
from aiohttp import http_exceptions
from yarl import URL

from ig.addresses import Address, AddressRefused

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses a connection to it would try, as text."""

MAX_HEADER_BYTES = 100 * 1024
"""Longest status or header line an answer may have (a long signed Location, a large cookie)."""

READ_SIZE = 256 * 1024
"""Most bytes one chunk of a body holds: whatever has arrived, up to this."""


async def resolve_with_the_system(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _body_failure(exc: Exception) -> str:
    """A failure while a body is read, in the words ig's callback delivery log has always used:
    ``RemoteProtocolError`` for a body that breaks off or breaks HTTP's framing, ``DecodingError``
    for one whose content coding does not decode, ``ReadError`` for a connection lost under it."""
    cause = exc.__cause__ if isinstance(exc, aiohttp.ClientPayloadError) else None
    if isinstance(cause, http_exceptions.ContentEncodingError):
        kind = "DecodingError"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        kind = "RemoteProtocolError"
    else:
        kind = "ReadError"
    return f"{kind}: {cause or exc}"


class AiohttpResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        headers: dict[str, str] = {}
        for name, value in response.headers.items():
            name = name.lower()
            # A repeated header is one comma-separated value (RFC 9110 5.3), as httpx gave it.
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.read(READ_SIZE):
                yield chunk
        except TimeoutError as exc:
            raise TimeoutError(str(exc) or "timed out reading the body") from exc
        except (aiohttp.ClientError, OSError) as exc:  # cut short, undecodable (gzip), a reset...
            raise ConnectionError(_body_failure(exc)) from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; otherwise the connection is closed.
        self._response.release()


class AiohttpClient:
    def __init__(self, resolve: Resolver = resolve_with_the_system) -> None:
        self._resolve = resolve
        self._sessions: tuple[aiohttp.ClientSession, aiohttp.ClientSession] | None = None

    def _open(self) -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        """The sessions, made on first use: aiohttp binds them to the running event loop."""
        if self._sessions is None:

            def session(connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
                return aiohttp.ClientSession(
                    connector=connector,
                    trust_env=False,
                    cookie_jar=aiohttp.DummyCookieJar(),  # no state carried from one answer to the next
                    skip_auto_headers=("Content-Type",),  # a body is sent with the type its caller names, or none
                    timeout=aiohttp.ClientTimeout(total=None),
                    # aiohttp refuses a header line over 8 KB; httpx (h11) took heads up to 100 KB.
                    max_line_size=MAX_HEADER_BYTES,
                    max_field_size=MAX_HEADER_BYTES,
                )

            # The certificate authorities are certifi's, as with httpx before: the same servers are
            # trusted whatever the machine's own store holds.
            tls = ssl.create_default_context(cafile=certifi.where())
            # Requests pinned to a checked address go to an IP with another name's Host and TLS
            # server name; those connections are never kept for reuse.
            self._sessions = (
                session(aiohttp.TCPConnector(ssl=tls)),
                session(aiohttp.TCPConnector(ssl=tls, force_close=True)),
            )
        return self._sessions

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 60.0,
        allow_address: Callable[[Address], bool] | None = None,
    ) -> AiohttpResponse:
        shared, pinned = self._open()
        session, fields, server_hostname = shared, dict(headers or {}), None
        try:
            target = URL(url, encoded=False)
            if not target.absolute or not target.host:
                raise ValueError("not an absolute URL")
        except ValueError as exc:
            raise ConnectionError(f"{url!r} is not a URL ig can request: {exc}") from exc
        if allow_address is not None:
            address = await self._checked_address(target, allow_address, timeout)
            fields["host"] = target.raw_authority.rsplit("@", 1)[-1]
            server_hostname = target.host  # the certificate is checked for the name
            session, target = pinned, target.with_host(str(address))
        try:
            response = await session.request(
                method,
                target,
                headers=fields,
                data=body,
                allow_redirects=False,
                server_hostname=server_hostname,
                # As httpx counted it: each wait (a connection, the answer, the next bytes) at most this long.
                timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout),
            )
        except TimeoutError as exc:
            raise TimeoutError(str(exc) or f"no answer within {timeout} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionError(str(exc) or type(exc).__name__) from exc
        return AiohttpResponse(response)

    async def _checked_address(self, url: URL, allow_address: Callable[[Address], bool], timeout: float) -> Address:
        host = url.host or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(timeout):
                found = await self._resolve(host, port)
        except OSError as exc:  # socket.gaierror: the name does not resolve
            raise ConnectionError(f"{host} does not resolve: {exc}") from exc
        if not found:
            raise ConnectionError(f"{host} does not resolve")
        addresses = [ipaddress.ip_address(text) for text in found]
        refused = [a for a in addresses if not allow_address(a)]
        if refused:
            raise AddressRefused(f"{host} resolves to {refused[0]}, an address ig does not call")
        return addresses[0]

    async def aclose(self) -> None:
        if self._sessions is not None:
            for session in self._sessions:
                await session.close()
            self._sessions = None


HttpxClient = AiohttpClient
"""The name this adapter had on httpx, which tests still import."""
