"""A fake Runware that speaks the real protocol over HTTP on loopback (see
../shared/reference/runware.md): a JSON array of tasks in, ``{"data": [...]}`` acks out, one
webhook POST per result (flat or wrapped body), cumulative getResponse polling, Runware's error
envelopes, and the output files themselves served from a media path.

Every task type answers with its real result item shape (field names as in Runware's SDK type
map): images, videos, audio and masks as ``<prefix>UUID`` plus ``<prefix>URL`` or, by the task's
``outputType``, ``<prefix>Base64Data`` / ``<prefix>DataURI``; text and structured data for
caption, textInference and promptEnhance; ``outputs.files[]`` for 3dInference; and a generic
``mediaURL`` (plus ``extra_result_fields``) for task types it does not know. The files are real
media of the format the task asked for (``outputFormat``), with the task's width, height and
duration, built by ``media_samples``.

Tests steer it through plain attributes and read what it saw from ``tasks`` and ``requests``."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import threading
import time
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import media_samples


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


# outputFormat -> (file extension, Content-Type), as Runware names and serves them.
FORMATS: dict[str, tuple[str, str]] = {
    "PNG": ("png", "image/png"),
    "JPG": ("jpg", "image/jpeg"),
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
    "SVG": ("svg", "image/svg+xml"),
    "MP4": ("mp4", "video/mp4"),
    "WEBM": ("webm", "video/webm"),
    "MOV": ("mov", "video/quicktime"),
    "MP3": ("mp3", "audio/mpeg"),
    "WAV": ("wav", "audio/wav"),
    "FLAC": ("flac", "audio/flac"),
    "OGG": ("ogg", "audio/ogg"),
    "GLB": ("glb", "model/gltf-binary"),
}
CONTENT_TYPES: dict[str, str] = {ext: content_type for ext, content_type in FORMATS.values()} | {
    "gif": "image/gif",
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
}
AGE_DETECTORS = frozenset({"runware:152@50", "runware:153@1", "runware:154@1"})
"""Caption models that answer with ``structuredData {ageGroup, confidence}`` instead of ``text``."""


@dataclass(frozen=True)
class MediaTask:
    """How a media-producing task type answers: the result fields' prefix (``imageURL``,
    ``maskImageUUID``, ...), the default outputFormat, the cost of one result, and whether a
    result carries a seed and (when the task asked for ``safety``) ``NSFWContent``."""

    prefix: str
    default_format: str
    cost: float
    seed: bool = False
    nsfw: bool = False


MEDIA_TASKS: dict[str, MediaTask] = {
    # Runware's own imageInference default is JPG; PNG here keeps older tests (image/png) valid.
    "imageInference": MediaTask("image", "PNG", 0.0013, seed=True, nsfw=True),
    "photoMaker": MediaTask("image", "PNG", 0.0013, seed=True, nsfw=True),
    "videoInference": MediaTask("video", "MP4", 0.18, seed=True, nsfw=True),
    "audioInference": MediaTask("audio", "MP3", 0.045, seed=True),
    "upscale": MediaTask("image", "PNG", 0.002),
    "removeBackground": MediaTask("image", "PNG", 0.0006),
    "vectorize": MediaTask("image", "SVG", 0.01),
    "imageMasking": MediaTask("maskImage", "PNG", 0.0006),
}
TEXT_TASKS = frozenset({"caption", "textInference", "promptEnhance"})
GENERIC = MediaTask("media", "PNG", 0.001)
"""Any other task type: a ``mediaUUID`` / ``mediaURL`` result (plus ``extra_result_fields``)."""


def _uuid(task_uuid: str, part: object) -> str:
    """A stable UUID for something a task produced (a result's media, a 3D file, an input)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task_uuid}/{part}"))


def _sample(fmt: str, width: int, height: int, seconds: float, rate: int | None, seed: int, index: int) -> bytes:
    """A real file in ``fmt`` (``media_samples``); results of one task differ in their bytes."""
    if fmt == "PNG":
        return media_samples.png(width=width, height=height, seed=seed)
    if fmt in ("JPG", "JPEG"):
        return media_samples.jpeg(width=width, height=height, exif_bytes=16 * index)
    if fmt == "WEBP":
        return media_samples.webp(width=width, height=height)
    if fmt == "SVG":
        return media_samples.svg(width=width, height=height)
    if fmt in ("MP4", "MOV"):
        brand = b"qt  " if fmt == "MOV" else b"isom"
        return media_samples.mp4(width=width, height=height, seconds=seconds, brand=brand, mdat_bytes=1024 + index)
    if fmt == "WEBM":
        return media_samples.webm(width=width, height=height, seconds=seconds)
    if fmt == "MP3":
        return media_samples.mp3(seconds=seconds, sample_rate=rate or 44100)
    if fmt == "WAV":
        return media_samples.wav(seconds=seconds, sample_rate=rate or 8000)
    if fmt == "FLAC":
        return media_samples.flac(seconds=seconds, sample_rate=rate or 44100)
    if fmt == "OGG":
        return media_samples.ogg_vorbis(seconds=seconds, sample_rate=rate or 22050)
    if fmt == "GLB":
        return media_samples.glb()
    raise ValueError(f"no sample for {fmt}")


@dataclass
class SubmitScript:
    """What the next submit requests get, in order: an HTTP status with a body, before the
    normal acknowledgement."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    accept_anyway: bool = False  # Runware took the task although the answer was an error
    hang_seconds: float = 0.0  # hold the answer this long (past ig's timeout: a lost answer)


class FakeRunware:
    def __init__(self, api_key: str = "test-key", host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.tasks: dict[str, dict[str, Any]] = {}  # accepted tasks by taskUUID
        self.accepted: list[str] = []  # taskUUIDs in the order Runware took them as new (billed)
        self.submit_times: list[tuple[float, str]] = []  # (time.time(), taskUUID) of every submit request
        self.requests: list[list[dict[str, Any]]] = []  # every request body, in order
        self.webhook_posts: list[tuple[str, int]] = []  # (url, status answered)
        self.media: dict[str, bytes] = {}
        self.media_gets: list[str] = []
        self.submit_script: list[SubmitScript] = []
        # Per task: called with the task and how many submits of its taskUUID came before; a
        # script it returns answers this submit (ahead of ``submit_script``).
        self.submit_policy: Callable[[dict[str, Any], int], SubmitScript | None] | None = None
        self.webhook_shape = "flat"  # or "wrapped"
        self.webhook_copies = 1  # deliveries of each webhook (duplicates)
        self.drop_webhooks = False
        self.webhook_drop_ratio = 0.0  # drop this share of webhooks, decided by a seeded draw per result
        self.webhook_drop_seed = 0
        self.dropped_webhooks: list[tuple[str, int]] = []  # (taskUUID, result index) never sent
        self.last_webhook_at: float | None = None  # time.time() when the last webhook was answered
        self.media_redirects: dict[str, str] = {}  # media name -> Location of a 302 answer
        # Called in the delivery thread before each webhook body of a task (by index): a test holds
        # or delays webhooks by blocking in it.
        self.before_webhook: Callable[[dict[str, Any], int], None] | None = None
        self.media_pause = 0.0  # > 0: a media answer sends half the file, pauses this long, then the rest
        self.media_in_flight = 0  # media answers being sent right now
        self.polls_before_done = 0  # getResponse answers "processing" this many times first
        self.result_error: dict[str, Any] | None = None  # the task fails with this error
        self.output_host: str | None = None  # serve output URLs under another host (refused)
        self.large_output_bytes = 0  # > 0: media outputs are this many bytes (their format's header, then filler)
        self.extra_result_fields: dict[str, Any] = {}  # merged into every result item, of any task type
        self.nsfw_indexes: set[int] = set()  # results (by index) that say NSFWContent: true (when safety is asked)
        self.input_image_size = (256, 192)  # the input size tools (upscale, removeBackground, ...) work from
        self.inline_bytes: dict[str, bytes] = {}  # media UUID -> the bytes sent inline (base64Data, dataURI)
        self._built: dict[tuple[Any, ...], bytes] = {}
        self.polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.host = host
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}/v1"

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> FakeRunware:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        # Webhook threads are not waited for: one blocked on ig's answer waits for a server whose
        # event loop (the test's) runs again only when ig's own teardown does, after this one.
        # They deliver nothing more, and end when ig closes (they are daemons).
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    # --- results -----------------------------------------------------------------------------

    def results_for(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """The result items of a task, in Runware's shape for its taskType. Deterministic: the same
        task always gives the same items and the same media bytes (webhooks, polls and tests agree)."""
        task_type = task["taskType"]
        count_key = "promptVersions" if task_type == "promptEnhance" else "numberResults"
        count = task.get(count_key, 1)
        items = []
        for index in range(count):
            media_id = _uuid(task["taskUUID"], index)
            item: dict[str, Any] = {"taskType": task_type, "taskUUID": task["taskUUID"]}
            if task_type in TEXT_TASKS:
                item.update(self._text_result(task, index))
            elif task_type == "3dInference":
                item.update(self._model_result(task, index))
            else:
                item.update(self._media_result(task, index, media_id, MEDIA_TASKS.get(task_type, GENERIC)))
            item.update(self.extra_result_fields)
            items.append(item)
        return items

    def _text_result(self, task: dict[str, Any], index: int) -> dict[str, Any]:
        task_type, task_uuid = task["taskType"], task["taskUUID"]
        if task_type == "caption":
            if task.get("model") in AGE_DETECTORS:
                return {"structuredData": {"ageGroup": "adult", "confidence": 0.93}, "cost": 0}
            return {"text": f"caption {index} for {task_uuid}", "cost": 0}
        if task_type == "promptEnhance":
            prompt = task.get("prompt", "")
            return {"text": f"{prompt}, version {index + 1}, golden hour light, intricate detail", "cost": 0}
        text = f"reply {index} to {task_uuid}: a bright red kettle that boils in a minute."
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in task.get("messages", []))
        completion_tokens = len(text.split())
        usage = {
            "promptTokens": prompt_tokens,
            "completionTokens": completion_tokens,
            "totalTokens": prompt_tokens + completion_tokens,
        }
        return {"text": text, "finishReason": "stop", "usage": usage, "cost": 0.00021}

    def _model_result(self, task: dict[str, Any], index: int) -> dict[str, Any]:
        file_id = _uuid(task["taskUUID"], f"{index}/glb")
        url = self.add_media(f"{file_id}.glb", self._build(("GLB",), media_samples.glb))
        seed = task.get("seed", 1000) + index
        return {"outputs": {"files": [{"uuid": file_id, "url": url}]}, "seed": seed, "cost": 0.3}

    def _media_result(self, task: dict[str, Any], index: int, media_id: str, spec: MediaTask) -> dict[str, Any]:
        fmt = str(task.get("outputFormat") or spec.default_format).upper()
        fmt = fmt if fmt in FORMATS else spec.default_format
        extension, content_type = FORMATS[fmt]
        seed = task.get("seed", 1000) + index
        data = self.media_bytes(task, fmt, index, seed)
        item: dict[str, Any] = {f"{spec.prefix}UUID": media_id}
        output_type = task.get("outputType", "URL")
        if output_type in ("base64Data", "dataURI"):
            self.inline_bytes[media_id] = data
            encoded = base64.b64encode(data).decode("ascii")
            if output_type == "base64Data":
                item[f"{spec.prefix}Base64Data"] = encoded
            else:
                item[f"{spec.prefix}DataURI"] = f"data:{content_type};base64,{encoded}"
        else:
            item[f"{spec.prefix}URL"] = self.add_media(f"{media_id}.{extension}", data)
        if task["taskType"] == "photoMaker":
            item["inputImagesUUID"] = [
                _uuid(task["taskUUID"], f"input/{i}") for i in range(len(task.get("inputImages", [])))
            ]
        if task["taskType"] == "imageMasking":
            width, height = self.input_image_size
            item["detections"] = [
                {"x_min": width // 4, "y_min": height // 5, "x_max": width // 2, "y_max": height // 2}
            ]
            item["inputImageUUID"] = _uuid(task["taskUUID"], "input/0")
        if spec.seed:
            item["seed"] = seed
        if spec.nsfw and "safety" in task:
            item["NSFWContent"] = index in self.nsfw_indexes
        item["cost"] = spec.cost
        return item

    def output_size(self, task: dict[str, Any]) -> tuple[int, int]:
        """The width and height of a task's image or video outputs: the task's own, else what the
        tool makes of ``input_image_size`` (upscale multiplies it by ``upscaleFactor``)."""
        if isinstance(task.get("width"), int) and isinstance(task.get("height"), int):
            return task["width"], task["height"]
        task_type = task["taskType"]
        width, height = self.input_image_size
        if task_type == "upscale":
            factor = task.get("upscaleFactor", 2)
            return round(width * factor), round(height * factor)
        if task_type == "videoInference":
            return 1280, 720
        if task_type in ("imageInference", "photoMaker"):
            return 1024, 1024
        return width, height

    def output_seconds(self, task: dict[str, Any]) -> float:
        """The duration of a task's audio or video outputs: its ``duration``, else 5 s (video) / 10 s."""
        duration = task.get("duration")
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            return float(duration)
        return 5.0 if task["taskType"] == "videoInference" else 10.0

    def media_bytes(self, task: dict[str, Any], fmt: str, index: int, seed: int) -> bytes:
        """The file one result holds, in ``fmt``, sized and timed as the task asked."""
        width, height = self.output_size(task)
        seconds = self.output_seconds(task)
        audio = task.get("audioSettings") if isinstance(task.get("audioSettings"), dict) else {}
        rate = audio.get("sampleRate")
        key = (fmt, width, height, seconds, rate, seed, index)
        if not self.large_output_bytes:
            return self._build(key, lambda: _sample(*key))
        # A large output: the format's header, then filler up to the size asked for.
        media_id = _uuid(task["taskUUID"], index)
        head = tiny_png(seed) if fmt == "PNG" else self._build(key, lambda: _sample(*key))
        block = hashlib.sha256(media_id.encode()).digest() * 2048
        return (head + block * (self.large_output_bytes // len(block) + 1))[: self.large_output_bytes]

    def _build(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        with self._lock:
            found = self._built.get(key)
        if found is None:
            found = build()
            with self._lock:
                self._built[key] = found
        return found

    def add_media(self, name: str, data: bytes) -> str:
        """Serve ``data`` at a media URL ending in ``name`` (under ``output_host`` if set); the
        response's Content-Type follows the name's extension."""
        self.media[name] = data
        host = self.output_host or f"{self.host}:{self.port}"
        return f"http://{host}/media/{name}"

    def served_bytes(self, url: str) -> bytes:
        return self.media[url.rsplit("/", 1)[-1]]

    # --- webhooks ----------------------------------------------------------------------------

    def _deliver_webhooks(self, task: dict[str, Any], drops: random.Random) -> None:
        url = task["webhookURL"]
        if self.result_error is not None:
            bodies = [{"errors": [{**self.result_error, "taskUUID": task["taskUUID"]}]}]
        else:
            items = self.results_for(task)
            bodies = [item if self.webhook_shape == "flat" else {"data": [item]} for item in items]
        time.sleep(0.05)
        for index, body in enumerate(bodies):
            if self._stopped.is_set():
                return
            if drops.random() < self.webhook_drop_ratio:
                with self._lock:
                    self.dropped_webhooks.append((task["taskUUID"], index))
                continue
            if self.before_webhook is not None:
                self.before_webhook(task, index)
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
        except OSError:  # nobody answered (ig is down): Runware gives up on that delivery
            status = 0
        self.webhook_posts.append((url, status))
        self.last_webhook_at = time.time()
        return status

    # --- HTTP --------------------------------------------------------------------------------

    def _answer_tasks(self, tasks: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str], float]:
        """The answer to one request: status, body, headers, and how long to hold it back."""
        self.requests.append(tasks)
        task = tasks[0]
        if task.get("taskType") == "getResponse":
            return (*self._poll(task["taskUUID"]), 0.0)
        with self._lock:
            seen = sum(1 for _, task_uuid in self.submit_times if task_uuid == task["taskUUID"])
            self.submit_times.append((time.time(), task["taskUUID"]))
            script = self.submit_policy(task, seen) if self.submit_policy else None
            if script is None and self.submit_script:
                script = self.submit_script.pop(0)
            if script and not script.accept_anyway:
                return script.status, script.body, script.headers, script.hang_seconds
            if task["taskUUID"] in self.tasks:
                error = {
                    "code": "conflictTaskUUID",
                    "message": "Task UUID already exists",
                    "taskUUID": task["taskUUID"],
                    "taskType": task["taskType"],
                }
                return 400, {"errors": [error]}, {}, 0.0
            self.tasks[task["taskUUID"]] = task
            self.accepted.append(task["taskUUID"])
            # Seeded by the acceptance order, so a run drops the same share whatever the timing.
            drops = random.Random(f"{self.webhook_drop_seed}/{len(self.accepted)}")
        if task.get("webhookURL") and not self.drop_webhooks:
            thread = threading.Thread(target=self._deliver_webhooks, args=(task, drops), daemon=True)
            thread.start()
        if script:
            return script.status, script.body, script.headers, script.hang_seconds
        return 200, {"data": [{"taskType": task["taskType"], "taskUUID": task["taskUUID"]}]}, {}, 0.0

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
            # Headers and body go out in separate writes; with Nagle's algorithm the body waits
            # for the client's delayed ACK, 40 ms per answer, which no real server adds.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None):
                try:
                    self.send_response(status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting (a hung answer)

            def _send_slowly(self, body: bytes, content_type: str, pause: float) -> None:
                with fake._lock:
                    fake.media_in_flight += 1
                try:
                    self.send_response(200)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    half = len(body) // 2
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    time.sleep(pause)
                    self.wfile.write(body[half:])
                finally:
                    with fake._lock:
                        fake.media_in_flight -= 1

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
                status, body, headers, hang = fake._answer_tasks(json.loads(raw))
                time.sleep(hang)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                kind = "application/json" if not isinstance(body, bytes) else "text/html"
                self._send(status, data, kind, headers)

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                fake.media_gets.append(self.path)
                if self.path.startswith("/media/") and name in fake.media_redirects:
                    self._send(302, b"", "text/plain", {"location": fake.media_redirects[name]})
                elif self.path.startswith("/media/") and name in fake.media:
                    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
                    content_type = CONTENT_TYPES.get(extension, "application/octet-stream")
                    if fake.media_pause > 0:
                        self._send_slowly(fake.media[name], content_type, fake.media_pause)
                    else:
                        self._send(200, fake.media[name], content_type)
                else:
                    self._send(404, b"no such media", "text/plain")

        return Handler
