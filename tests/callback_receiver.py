"""A consumer's callback endpoint on loopback: records every POST ig makes (headers, body, time)
and answers what the test scripts (an HTTP status per attempt, then 204)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "whsec_" + base64.b64encode(b"a consumer's 24-byte key!").decode()
"""The signing secret the tests give ig (IG_CALLBACK_SECRET) and verify callbacks with."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


class CallbackReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []  # statuses for the next POSTs, in order; then 204
        self.on_receive: Callable[[Received], None] | None = None  # runs before answering
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/ig"

    def start(self) -> CallbackReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def wait_for(self, count: int, seconds: float = 20) -> list[Received]:
        """Wait (without blocking the event loop ig runs on) until ``count`` POSTs have arrived."""
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(self.received) >= count, f"{len(self.received)} of {count} callbacks arrived"
        return list(self.received)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                if receiver.on_receive is not None:
                    receiver.on_receive(got)
                with receiver._lock:
                    receiver.received.append(got)
                    status = receiver.answers.pop(0) if receiver.answers else 204
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", receiver.url + "/elsewhere")
                answer = b"" if status == 204 else f"answered {status}".encode()
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler
