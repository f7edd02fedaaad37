"""The ports through which ig's core reaches the outside world.

Each runtime supplies one implementation of each: ``ig.adapters.cloudflare`` (D1, R2, Queues,
the runtime's fetch) and ``ig.adapters.local`` (sqlite3, files, a SQLite-backed queue, aiohttp).
The shapes follow D1 and R2 so the Cloudflare adapters stay thin.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol

Row = dict[str, Any]
Statement = tuple[str, Sequence[Any]]


class Database(Protocol):
    """SQLite dialect, ``?NNN`` parameters, no interactive transactions (D1 has none)."""

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def first(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a write; return the number of rows changed."""
        ...

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        """Run the statements atomically (D1's only transaction); return rows changed by each."""
        ...


@dataclass(frozen=True)
class StoredBlob:
    """A blob found in the store. ``body`` is runtime-specific (a file path locally, an R2 object
    body on the Worker); only the runtime's web adapter and ``BlobStore.iter_bytes`` look inside."""

    key: str
    size: int
    content_type: str
    body: Any


@dataclass(frozen=True)
class StoredBytes:
    """What a blob store put: the size and sha256 (hex) of the bytes, and whether every byte went
    past the put's ``observe`` (False when the runtime moved them without Python seeing them)."""

    size: int
    sha256: str
    observed: bool


class BlobStore(Protocol):
    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        metadata: Mapping[str, str],
        observe: Callable[[bytes], None] | None = None,
    ) -> StoredBytes:
        """Store the chunks under ``key``, overwriting, counting and hashing them on the way and
        showing each to ``observe``; never holds the whole blob in memory. ``chunks`` may be an
        ``ig.byte_sources.ByteSource`` the runtime can store without Python reading it."""
        ...

    async def get(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredBlob | None:
        """The blob (``size`` is always the whole blob's); with ``(offset, length)`` its body and
        ``iter_bytes`` cover only that range."""
        ...

    def iter_bytes(self, blob: StoredBlob) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...


class MessageQueue(Protocol):
    """At-least-once delivery to ig's own consumer; bodies are small JSON objects."""

    async def send(self, body: Mapping[str, Any], *, delay_seconds: int = 0) -> None: ...

    async def send_batch(self, bodies: Sequence[Mapping[str, Any]], *, delay_seconds: int = 0) -> None:
        """Send up to ``MAX_SEND_BATCH`` messages in one call (one round trip on Queues)."""
        ...


MAX_SEND_BATCH = 100
"""Queues' ``sendBatch`` takes at most 100 messages (and 256 KB) per call."""


class HttpResponse(Protocol):
    status: int
    headers: Mapping[str, str]  # lower-case names

    def iter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class HttpClient(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 60.0,
        allow_address: Callable[[IPv4Address | IPv6Address], bool] | None = None,
    ) -> HttpResponse:
        """Send a request without following redirects; the caller reads and closes the response.
        Transport failures, also while reading the body, raise ``ConnectionError`` (or
        ``TimeoutError``). With ``allow_address``, a runtime that resolves names itself connects
        only if every address the host resolves to is allowed (else ``ConnectionError`` before
        anything is sent); one whose fetch resolves elsewhere says so and relies on the caller."""
        ...


class Ed25519Verifier(Protocol):
    """Ed25519 signature checks: WebCrypto on the Worker, a well-kept library locally."""

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True only when ``signature`` (64 bytes) is ``public_key``'s (32 raw bytes) over
        ``message``; malformed keys or signatures are False, never an exception."""
        ...


THUMBNAIL_SIDE = 512
"""A thumbnail's longest side at most, in pixels; smaller images keep their own size."""
THUMBNAIL_TYPE = "image/webp"
"""What every thumbnail is, whichever runtime made it."""
THUMBNAIL_MAX_SOURCE_PIXELS = 50_000_000
"""The largest image a thumbnailer decodes (about 150 MB as RGB): a decompression bomb (a small
file that declares a vast canvas) is refused from its header, before any pixel is decoded."""

POSTER_SOURCE_TYPES = ("video/mp4", "video/webm", "video/quicktime")
"""The videos whose thumbnail (their poster) is a frame of their own, when the runtime can decode one."""
POSTER_SECONDS = 1
"""Where a poster frame is taken: past the first frames, which are often black or a fade-in."""


def poster_time(duration_seconds: float | None) -> float:
    """The second a video's poster frame is taken at: ``POSTER_SECONDS``, or the start of a video
    known to be shorter."""
    return 0 if duration_seconds is not None and duration_seconds <= POSTER_SECONDS else POSTER_SECONDS


@dataclass(frozen=True)
class Thumbnail:
    """A made thumbnail (a ``THUMBNAIL_TYPE``), small enough to hold in memory (and so of known
    length for R2)."""

    data: bytes
    width: int
    height: int


class ThumbnailRefused(Exception):
    """The source is not an image (or video) the thumbnailer can or will read (truncated, corrupt,
    too many pixels): trying again cannot help."""


class Thumbnailer(Protocol):
    """Pillow locally (PyAV for video posters), the Images binding on the Worker (the Media
    binding for video posters)."""

    makes_posters: bool
    """Whether ``poster`` can take a frame from a video here. Fixed for the thumbnailer's life: a
    runtime without a way to decode video leaves videos without a poster frame, never tries."""

    async def thumbnail(self, source: StoredBlob) -> Thumbnail:
        """A WebP of ``source`` (a blob from this runtime's ``BlobStore.get``) whose longest side is
        at most ``THUMBNAIL_SIDE``, aspect kept, never upscaled. Raises ``ThumbnailRefused`` for a
        source it cannot or will not read; any other exception is trouble worth trying again."""
        ...

    async def poster(self, source: StoredBlob, content_type: str, duration_seconds: float | None) -> Thumbnail:
        """The same WebP made from a frame of the video ``source`` (of ``content_type``, one of
        ``POSTER_SOURCE_TYPES``, lasting ``duration_seconds`` when its headers said): the frame at
        ``poster_time``, the first of a shorter video. Only called when ``makes_posters``; raises
        as ``thumbnail`` does."""
        ...
