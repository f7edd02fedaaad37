"""A fake Runware that speaks the real protocol over HTTP on loopback (see
../shared/reference/runware.md): a JSON array of tasks in, ``{"data": [...]}`` acks out, one
webhook POST per result (flat or wrapped body), cumulative getResponse polling, Runware's error
envelopes, and the output files themselves served from a media path.

Tests steer it through plain attributes and read what it saw from ``tasks`` and ``requests``."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
import urllib.request
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tiny_png(seed: int, width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    colour = hashlib.sha256(str(seed).encode()).digest()[:3]
    rows = b"".join(b"\x00" + colour * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class SubmitScript:
    """What the next submit requests get, in order: an HTTP status with a body, before the
    normal acknowledgement."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    accept_anyway: bool = False  # Runware took the task although the answer was an error


class FakeRunware:
    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.tasks: dict[str, dict[str, Any]] = {}  # accepted tasks by taskUUID
        self.requests: list[list[dict[str, Any]]] = []  # every request body, in order
        self.webhook_posts: list[tuple[str, int]] = []  # (url, status answered)
        self.media: dict[str, bytes] = {}
        self.media_gets: list[str] = []
        self.submit_script: list[SubmitScript] = []
        self.webhook_shape = "flat"  # or "wrapped"
        self.webhook_copies = 1  # deliveries of each webhook (duplicates)
        self.drop_webhooks = False
        self.polls_before_done = 0  # getResponse answers "processing" this many times first
        self.result_error: dict[str, Any] | None = None  # the task fails with this error
        self.output_host: str | None = None  # serve output URLs under another host (refused)
        self.large_output_bytes = 0  # > 0: image outputs are this many bytes
        self.polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> FakeRunware:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    # --- results -----------------------------------------------------------------------------

    def results_for(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        task_type = task["taskType"]
        count_key = "promptVersions" if task_type == "promptEnhance" else "numberResults"
        count = task.get(count_key, 1)
        items = []
        for index in range(count):
            media_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task['taskUUID']}/{index}"))
            item: dict[str, Any] = {"taskType": task_type, "taskUUID": task["taskUUID"], "cost": 0.0013}
            if task_type in ("caption", "promptEnhance", "textInference"):
                item["text"] = f"caption {index} for {task['taskUUID']}"
                item["cost"] = 0
            else:
                seed = task.get("seed", 1000) + index
                if self.large_output_bytes:
                    block = hashlib.sha256(media_id.encode()).digest() * 2048
                    data = tiny_png(seed) + (block * (self.large_output_bytes // len(block) + 1))
                    data = data[: self.large_output_bytes]
                else:
                    data = tiny_png(seed, 16 + index, 16)
                self.media[f"{media_id}.png"] = data
                host = self.output_host or f"127.0.0.1:{self.port}"
                item.update(imageUUID=media_id, imageURL=f"http://{host}/media/{media_id}.png", seed=seed)
            items.append(item)
        return items

    def served_bytes(self, url: str) -> bytes:
        return self.media[url.rsplit("/", 1)[-1]]

    # --- webhooks ----------------------------------------------------------------------------

    def _deliver_webhooks(self, task: dict[str, Any]) -> None:
        url = task["webhookURL"]
        if self.result_error is not None:
            bodies = [{"errors": [{**self.result_error, "taskUUID": task["taskUUID"]}]}]
        else:
            items = self.results_for(task)
            bodies = [item if self.webhook_shape == "flat" else {"data": [item]} for item in items]
        time.sleep(0.05)
        for body in bodies:
            for _ in range(self.webhook_copies):
                self.post_webhook(url, body)

    def post_webhook(self, url: str, body: Any) -> int:
        data = json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        self.webhook_posts.append((url, status))
        return status

    # --- HTTP --------------------------------------------------------------------------------

    def _answer_tasks(self, tasks: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        self.requests.append(tasks)
        task = tasks[0]
        if task.get("taskType") == "getResponse":
            return self._poll(task["taskUUID"])
        with self._lock:
            script = self.submit_script.pop(0) if self.submit_script else None
            if script and not script.accept_anyway:
                return script.status, script.body, script.headers
            if task["taskUUID"] in self.tasks:
                error = {
                    "code": "conflictTaskUUID",
                    "message": "Task UUID already exists",
                    "taskUUID": task["taskUUID"],
                    "taskType": task["taskType"],
                }
                return 400, {"errors": [error]}, {}
            self.tasks[task["taskUUID"]] = task
        if task.get("webhookURL") and not self.drop_webhooks:
            thread = threading.Thread(target=self._deliver_webhooks, args=(task,), daemon=True)
            self._threads.append(thread)
            thread.start()
        if script:
            return script.status, script.body, script.headers
        return 200, {"data": [{"taskType": task["taskType"], "taskUUID": task["taskUUID"]}]}, {}

    def _poll(self, task_uuid: str) -> tuple[int, Any, dict[str, str]]:
        task = self.tasks.get(task_uuid)
        if task is None:
            error = {"code": "taskNotFound", "message": "No task with that UUID", "taskUUID": task_uuid}
            return 400, {"errors": [error]}, {}
        seen = self.polls.get(task_uuid, 0)
        self.polls[task_uuid] = seen + 1
        if seen < self.polls_before_done:
            return 200, {"data": [{"taskType": task["taskType"], "taskUUID": task_uuid, "status": "processing"}]}, {}
        if self.result_error is not None:
            return 200, {"errors": [{**self.result_error, "taskUUID": task_uuid, "status": "error"}]}, {}
        return 200, {"data": [{**item, "status": "success"} for item in self.results_for(task)]}, {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None):
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if self.path != "/v1":
                    self._send(404, b"not found", "text/plain")
                    return
                if self.headers.get("authorization") != f"Bearer {fake.api_key}":
                    error = {
                        "code": "invalidApiKey",
                        "message": "Invalid API key",
                        "parameter": "apiKey",
                        "taskType": "authentication",
                    }
                    self._send(401, json.dumps({"errors": [error]}).encode(), "application/json")
                    return
                status, body, headers = fake._answer_tasks(json.loads(raw))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                kind = "application/json" if not isinstance(body, bytes) else "text/html"
                self._send(status, data, kind, headers)

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                fake.media_gets.append(self.path)
                if self.path.startswith("/media/") and name in fake.media:
                    self._send(200, fake.media[name], "image/png")
                else:
                    self._send(404, b"no such media", "text/plain")

        return Handler
