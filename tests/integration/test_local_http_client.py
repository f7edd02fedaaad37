"""The local runtime's ``HttpClient`` (aiohttp) keeps the port's contract over real sockets on
loopback: header names in lower case, a repeated header as one comma-separated value, redirects
returned rather than followed, transport failures (also while the body is read) as
``ConnectionError`` or ``TimeoutError``, and ``allow_address`` connecting to the very address it
checked while the request still names the host."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ig.adapters.local.http_client import AiohttpClient
from ig.addresses import AddressRefused


class ScriptedServer:
    """Answers each connection with the next script: a list of byte strings to send, where a
    float is a pause in seconds; records what each request sent."""

    def __init__(self, scripts: list[list[bytes | float]]) -> None:
        self.scripts, self.requests = scripts, []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for script in self.scripts:
            conn, _ = self._sock.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                self.requests.append(request)
                for step in script:
                    if isinstance(step, float):
                        if self._done.wait(step):
                            return
                    else:
                        conn.sendall(step)

    def close(self) -> None:
        self._done.set()
        self._sock.close()


@pytest.fixture
def serve() -> Iterator:
    servers: list[ScriptedServer] = []

    def start(*scripts: list[bytes | float]) -> ScriptedServer:
        servers.append(ScriptedServer(list(scripts)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def client():
    http = AiohttpClient()
    yield http
    await http.aclose()


async def body(response) -> bytes:
    try:
        return b"".join([chunk async for chunk in response.iter_bytes()])
    finally:
        await response.aclose()


async def test_headers_come_lower_case_with_a_repeated_one_joined_and_redirects_are_returned(serve, client):
    server = serve(
        [b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nX-Seen: a\r\nx-seen: b\r\nContent-Length: 2\r\n\r\nno"]
    )
    response = await client.send("GET", f"http://127.0.0.1:{server.port}/first", headers={"X-Ask": "1"})
    assert response.status == 302
    assert response.headers["location"] == "/elsewhere" and response.headers["x-seen"] == "a, b"
    assert all(name == name.lower() for name in response.headers)
    assert await body(response) == b"no"
    assert len(server.requests) == 1 and server.requests[0].startswith(b"GET /first ")  # not followed


async def test_a_header_as_long_as_httpx_took_is_read(serve, client):
    location = "/signed?" + "x" * 60_000
    server = serve([f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()])
    response = await client.send("GET", f"http://127.0.0.1:{server.port}/")
    assert (response.status, response.headers["location"]) == (302, location)
    await response.aclose()


async def test_a_body_that_breaks_off_or_stalls_is_a_transport_error_while_it_is_read(serve, client):
    server = serve(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 30.0],
    )
    url = f"http://127.0.0.1:{server.port}/file"
    cut_short = await client.send("GET", url)
    with pytest.raises(ConnectionError, match="RemoteProtocolError"):
        await body(cut_short)
    stalled = await client.send("GET", url, timeout=0.3)
    with pytest.raises(TimeoutError):
        await body(stalled)


async def test_no_connection_or_no_answer_is_a_transport_error(serve, client):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConnectionError):
        await client.send("GET", f"http://127.0.0.1:{port}/")  # nothing listens there
    server = serve([30.0])
    with pytest.raises(TimeoutError):
        await client.send("POST", f"http://127.0.0.1:{server.port}/hook", body=b"{}", timeout=0.3)


async def test_allow_address_connects_to_the_checked_address_and_names_the_host(serve):
    server = serve([b"HTTP/1.1 204 No Content\r\n\r\n"])
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return {"hooks.example.test": ["127.0.0.1"], "inside.example.test": ["127.0.0.1", "10.1.2.3"]}[host]

    client = AiohttpClient(resolve=resolve)
    try:
        response = await client.send(
            "POST",
            f"http://hooks.example.test:{server.port}/hook",
            body=b"{}",
            headers={"content-type": "application/json"},
            allow_address=lambda address: address.is_loopback,
        )
        assert response.status == 204
        await response.aclose()
        with pytest.raises(AddressRefused, match="10.1.2.3"):
            await client.send("GET", "http://inside.example.test/", allow_address=lambda a: a.is_loopback)
    finally:
        await client.aclose()
    assert asked == [("hooks.example.test", server.port), ("inside.example.test", 80)]
    [request] = server.requests
    head = request.split(b"\r\n\r\n")[0].lower()
    assert f"host: hooks.example.test:{server.port}".encode() in head.split(b"\r\n")
    assert b"content-type: application/json" in head.split(b"\r\n")
