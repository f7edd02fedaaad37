"""Media probing while bytes stream past: width, height and duration from what a file's headers
say, without ever holding the file.

A MediaProbe is fed every chunk in order, of any size, and answers at the end. Memory stays
bounded whatever the file's size: each format keeps at most a head buffer, a small rolling tail,
or (MP4/MOV) the few small boxes it needs while a streaming box walker counts its way over
``mdat``, so ``moov`` may come before or after the media data. Nothing here raises on bad input:
an unknown type, a corrupt or truncated file gives ``None`` fields."""

from __future__ import annotations

from ig.library import media_types
from ig.library.probe.audio import _Flac, _Mp3, _Ogg, _Wav
from ig.library.probe.images import _Gif, _Jpeg, _Png, _Svg, _Webp
from ig.library.probe.parser import HEAD_LIMIT, MAX_BUFFERED_BYTES, TAIL_LIMIT, MediaInfo, _Parser
from ig.library.probe.video import _Mp4, _Webm

__all__ = ["HEAD_LIMIT", "MAX_BUFFERED_BYTES", "TAIL_LIMIT", "MediaInfo", "MediaProbe"]


class MediaProbe:
    """Watches a file stream past, chunk by chunk, and reports its dimensions and duration."""

    def __init__(self, content_type: str) -> None:
        known = media_types.by_content_type(content_type)
        parser_class = _PARSERS.get(known.content_type) if known else None
        self._parser: _Parser = parser_class() if parser_class else _Parser()
        # Why the probe gave up, when a parser failed. Bad input alone never sets it: parsers treat
        # that as "not found"; this is a bug's trace, kept for the log instead of breaking the upload.
        self.error: Exception | None = None

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        try:
            self._parser.feed(chunk)
        except Exception as error:
            self.error, self._parser = error, _Parser()

    def next_needed(self, total: int) -> int:
        """Where the next byte the probe wants is, in a stream of ``total`` bytes it has been fed
        (or advanced) up to now; ``total`` when it wants no more."""
        try:
            return min(self._parser.next_needed(total), total)
        except Exception as error:
            self.error, self._parser = error, _Parser()
            return total

    def advance(self, offset: int) -> None:
        """Skip the bytes up to ``offset``, which ``next_needed`` said are not wanted."""
        self._parser.advance(offset)

    def result(self) -> MediaInfo:
        try:
            return self._parser.info()
        except Exception as error:
            self.error = error
            return MediaInfo()

    @property
    def buffered_bytes(self) -> int:
        return self._parser.buffered_bytes


_PARSERS: dict[str, type[_Parser]] = {
    "image/png": _Png,
    "image/jpeg": _Jpeg,
    "image/webp": _Webp,
    "image/gif": _Gif,
    "image/svg+xml": _Svg,
    "video/mp4": _Mp4,
    "video/quicktime": _Mp4,
    "video/webm": _Webm,
    "audio/wav": _Wav,
    "audio/flac": _Flac,
    "audio/mpeg": _Mp3,
    "audio/ogg": _Ogg,
}
