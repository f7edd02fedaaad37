"""The built-in ``mock`` provider: speaks Runware's protocol without a network, so ig can be
tried and consumers can test against it without a Runware key. Outputs are real and
deterministic: a PNG that depends on the seed and has the requested size, a QuickTime movie
(``videoInference``, with a poster image when the task sets ``mockPoster``), a WAV tone, text."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import sys
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ig.byte_sources import ByteSource
from ig.providers.base import (
    Cancelled,
    Capabilities,
    Exchange,
    ProviderAnswer,
    ProviderResult,
    Reconciled,
    Reply,
    WebhookCheck,
)
from ig.providers.mock_video import frame_colour, movie, solid_png
from ig.providers.runware import protocol as runware

MOCK_SCHEME = "mock://"
_TEXT_TASKS = frozenset({"caption", "promptEnhance", "textInference"})
_AUDIO_TASKS = frozenset({"audioInference"})
_VIDEO_TASKS = frozenset({"videoInference"})
POSTER_FIELD = "mockPoster"
"""The task parameter that asks for a poster with each video, and the result field that carries
its URL (not Runware's: Runware documents no poster, so only the mock's own parse reads it)."""
_MAX_SIDE = 4096
_ROWS_PER_CHUNK = 64


def _seed_for(task: dict[str, Any], index: int) -> int:
    seed = task.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed + index
    digest = hashlib.sha256(f"{task['taskUUID']}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") or 1


def _side(value: Any, default: int) -> int:
    return value if isinstance(value, int) and 1 <= value <= _MAX_SIDE else default


class MockProvider(runware.SpeaksRunware):
    """Accepts every task and reports it finished on the first getResponse. It speaks Runware's
    protocol, so Runware's reading of requests and answers serves it too."""

    name = "mock"
    capabilities = Capabilities(
        webhooks=False, safe_resubmission=True, cancels=False, cost="reported", webhook_per_result=True
    )
    first_poll_delay = 0

    async def submit(self, request: dict[str, Any]) -> Exchange:
        ack = {"data": [{"taskType": request["taskType"], "taskUUID": request["taskUUID"]}]}
        return runware.exchange(Reply.of_json(200, ack), request["taskUUID"])

    def model_problem(self, model: str) -> str | None:
        return None  # the mock runs any model name

    async def poll(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Exchange:
        count_key = "promptVersions" if request["taskType"] == "promptEnhance" else "numberResults"
        count = request.get(count_key, 1)
        count = count if isinstance(count, int) and 0 < count <= 20 else 1
        reply = Reply.of_json(200, {"data": [self._result(request, i) for i in range(count)]})
        return runware.exchange(reply, provider_id)

    async def check_webhook(
        self, *, job_id: str, provider_id: str, headers: Mapping[str, str], raw: bytes, body: Any
    ) -> WebhookCheck:
        return WebhookCheck(problem="the mock sends no webhooks")

    async def cancel(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Cancelled:
        return Cancelled(detail="the mock has nothing to stop")

    async def check_credentials(self) -> str | None:
        return None

    async def reconcile(
        self, request: dict[str, Any], sent_after: datetime, claimed: Callable[[list[str]], Awaitable[set[str]]]
    ) -> Reconciled:
        raise NotImplementedError("a mock task is safe to resend: it is never reconciled")

    def _result(self, task: dict[str, Any], index: int) -> dict[str, Any]:
        seed = _seed_for(task, index)
        media_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task['taskUUID']}/{index}"))
        item: dict[str, Any] = {
            "taskType": task["taskType"],
            "taskUUID": task["taskUUID"],
            "status": "success",
            "seed": seed,
            "cost": 0,
        }
        if task["taskType"] in _TEXT_TASKS:
            item["resultIndex"] = index
            subject = task.get("positivePrompt") or task.get("prompt") or "an image"
            item["text"] = f"mock {task['taskType']} #{index} (seed {seed}) of: {subject}"
        elif task["taskType"] in _AUDIO_TASKS:
            item["audioUUID"] = media_uuid
            item["audioURL"] = f"{MOCK_SCHEME}audio/{seed}.wav"
        elif task["taskType"] in _VIDEO_TASKS:
            width, height = _side(task.get("width"), 640), _side(task.get("height"), 360)
            duration = task.get("duration")
            seconds = duration if isinstance(duration, int | float) and 0 < duration <= 120 else 2
            item["videoUUID"] = media_uuid
            item["videoURL"] = f"{MOCK_SCHEME}video/{seed}/{width}x{height}/{seconds}.mov"
            if task.get(POSTER_FIELD) is True:
                # The seed's banded image: unlike any frame of the movie, which is one colour.
                item[POSTER_FIELD] = f"{MOCK_SCHEME}image/{seed}/{width}x{height}.png"
        else:
            width, height = _side(task.get("width"), 512), _side(task.get("height"), 512)
            item["imageUUID"] = media_uuid
            item["imageURL"] = f"{MOCK_SCHEME}image/{seed}/{width}x{height}.png"
        return item

    def parse(self, body: Any, job_id: str) -> ProviderAnswer:
        answer = super().parse(body, job_id)
        answer.results = [_with_poster(result) for result in answer.results]
        return answer

    async def open_output(self, url: str) -> ByteSource:
        path = url.removeprefix(MOCK_SCHEME)
        kind, _, rest = path.partition("/")
        if kind == "image":
            seed_text, _, size = rest.partition("/")
            width, _, height = size.removesuffix(".png").partition("x")
            return ByteSource(png_chunks(int(seed_text), int(width), int(height)))
        if kind == "video":
            seed_text, size, seconds = rest.removesuffix(".mov").split("/")
            width, _, height = size.partition("x")
            return ByteSource(mov_chunks(int(seed_text), int(width), int(height), float(seconds)))
        if kind == "audio":
            return ByteSource(wav_chunks(int(rest.removesuffix(".wav"))))
        raise ValueError(f"unknown mock output {url!r}")


def _with_poster(result: ProviderResult) -> ProviderResult:
    poster = result.raw.get(POSTER_FIELD)
    if not isinstance(poster, str):
        return result
    outputs = [replace(ref, poster_url=poster) if ref.kind_hint == "video" else ref for ref in result.outputs]
    return replace(result, outputs=outputs)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


async def _off_the_loop(work: Callable[..., bytes], *args: Any) -> bytes:
    """Encoding is CPU work: done in a thread, the server goes on answering meanwhile (20 images
    of 4096 x 4096 held ``ig serve`` up for seconds). Pyodide has no threads, and there the mock
    runs only when a deployment turns it on."""
    if sys.platform == "emscripten":
        return work(*args)
    return await asyncio.to_thread(work, *args)


def _rows(band: bytes, top: int, width: int, height: int) -> bytes:
    return b"".join(b"\x00" + band[y * 3 : (y + width) * 3] for y in range(top, min(top + _ROWS_PER_CHUNK, height)))


async def png_chunks(seed: int, width: int, height: int) -> AsyncIterator[bytes]:
    """A width x height RGB PNG of diagonal bands coloured by the seed, encoded row band by row
    band so even a 4096 x 4096 image never sits whole in memory."""
    palette = hashlib.sha256(str(seed).encode()).digest()
    # Pixel (x, y) takes colour band[x + y]: one precomputed line serves every row.
    line = bytearray()
    for i in range(width + height):
        shade = palette[(i // 16) % 8 * 3 : (i // 16) % 8 * 3 + 3]
        line += bytes((shade[0] ^ (i & 0x3F), shade[1], shade[2] ^ ((i >> 2) & 0x1F)))
    band = bytes(line)
    yield b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    compressor = zlib.compressobj(6)

    def encode(top: int) -> bytes:
        return compressor.compress(_rows(band, top, width, height))

    for top in range(0, height, _ROWS_PER_CHUNK):
        data = await _off_the_loop(encode, top)
        if data:
            yield _png_chunk(b"IDAT", data)
    yield _png_chunk(b"IDAT", compressor.flush()) + _png_chunk(b"IEND", b"")


async def mov_chunks(seed: int, width: int, height: int, seconds: float) -> AsyncIterator[bytes]:
    """The seed's movie (``ig.providers.mock_video``): one colour, a frame a second."""
    frame = await _off_the_loop(solid_png, frame_colour(seed), width, height)
    yield movie(frame, width, height, seconds)


async def wav_chunks(seed: int, seconds: int = 1, rate: int = 8000) -> AsyncIterator[bytes]:
    """A square-wave tone whose pitch depends on the seed, 8-bit mono PCM."""
    period = max(2, rate // (200 + seed % 600))
    frames = seconds * rate
    header = b"RIFF" + struct.pack("<I", 36 + frames) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    header += b"data" + struct.pack("<I", frames)
    cycle = bytes([200] * (period // 2) + [56] * (period - period // 2))
    yield header + (cycle * (frames // period + 1))[:frames]
