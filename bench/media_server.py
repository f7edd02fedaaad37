"""A streaming media server for the benchmarks: ``GET /bytes/<size>/<name>`` answers ``<size>``
deterministic bytes, generated on the fly from a 1 MiB block, so 1 GB costs no memory. The body
starts with ``IGBENCH`` (no known magic number: ig stores it as ``application/octet-stream``).

    python bench/media_server.py [--port 0]     # prints "listening <port>" once it serves

It runs as its own process, so the client measured against it (ig, or a plain download) never
shares an interpreter with the server."""

from __future__ import annotations

import argparse
import hashlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = b"IGBENCH\x00" + b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(32 * 1024))
BLOCK = BLOCK[: 1024 * 1024]


def body(size: int):
    """The ``size`` bytes of a response, as 1 MiB slices of one block."""
    sent = 0
    view = memoryview(BLOCK)
    while sent < size:
        piece = view[: min(len(BLOCK), size - sent)]
        sent += len(piece)
        yield piece


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 2 or parts[0] != "bytes" or not parts[1].isdigit():
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        size = int(parts[1])
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(size))
        self.end_headers()
        try:
            for piece in body(size):
                self.wfile.write(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
