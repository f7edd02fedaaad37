"""What every format's parser shares: the MediaInfo it answers with, the buffer limits, the
windows and rolling tail that keep bytes as they pass, and the _Parser base, which on its own is
the probe for types nothing else knows."""

from __future__ import annotations

from dataclasses import dataclass

HEAD_LIMIT = 256 * 1024
TAIL_LIMIT = 64 * 1024
# A rolling tail keeps up to twice its limit between trims, so trimming stays linear in the bytes fed.
MAX_BUFFERED_BYTES = HEAD_LIMIT + 2 * TAIL_LIMIT


@dataclass(frozen=True)
class MediaInfo:
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None  # rounded to 3 decimals


class _Window:
    """Keeps the bytes between two stream offsets as they pass. It must exist before its start
    offset goes by."""

    def __init__(self, start: int, length: int) -> None:
        self.start = start
        self.end = start + length
        self.data = bytearray()

    def feed(self, chunk: bytes, offset: int) -> None:
        low = max(self.start, offset)
        high = min(self.end, offset + len(chunk))
        if low < high:
            self.data += chunk[low - offset : high - offset]


class _Tail:
    """The last ``limit`` bytes of the stream."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def feed(self, chunk: bytes) -> None:
        if len(chunk) >= self.limit:
            self.data = bytearray(chunk[-self.limit :])
            return
        self.data += chunk
        if len(self.data) > 2 * self.limit:
            del self.data[: -self.limit]

    def contents(self) -> bytes:
        return bytes(self.data[-self.limit :])


class _Parser:
    """Counts the bytes and keeps the first ``head_limit`` of them; formats read their headers
    from that head at the end. On its own it is the probe for types it knows nothing about."""

    head_limit = 0

    def __init__(self) -> None:
        self.size = 0
        self.head = _Window(0, self.head_limit)

    def feed(self, chunk: bytes) -> None:
        self.head.feed(chunk, self.size)
        self.size += len(chunk)

    def next_needed(self, total: int) -> int:
        """The offset of the next byte this parser wants, from where it is (``size``), in a stream
        of ``total`` bytes; ``total`` when it wants nothing more. Bytes before it may be skipped
        (``advance``) instead of fed: a reader that can seek need not read them."""
        return self.size if self.size < self.head.end else total

    def advance(self, offset: int) -> None:
        """Skip to ``offset``: the bytes before it went by unseen, as ``next_needed`` allowed."""
        self.size = max(self.size, offset)

    @property
    def buffered_bytes(self) -> int:
        return len(self.head.data)

    def info(self) -> MediaInfo:
        return MediaInfo()


def _dimensions(width: int, height: int) -> MediaInfo:
    if width > 0 and height > 0:
        return MediaInfo(width=width, height=height)
    return MediaInfo()


def _seconds(value: float) -> float | None:
    # NaN fails the comparison too, so a garbage float never becomes a duration.
    return round(value, 3) if 0 < value < float("inf") else None
