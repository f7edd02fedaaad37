"""Thumbnails on the local runtime: Pillow, on worker threads of its own, so the event loop keeps
answering while an image is decoded and encoded. Pillow is imported on first use: only a runtime
that makes thumbnails needs it.

Video posters come from PyAV (``av``, the optional ``video`` extra) when it is installed: one frame
is decoded from the file, streamed from disk, then goes through the same Pillow code as an image.
Without PyAV, ``makes_posters`` is False and videos keep a pending thumbnail that nothing tries
(``ig.library.thumbnails``), to be made once PyAV is installed."""

from __future__ import annotations

import asyncio
import importlib.util
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ig.ports import (
    POSTER_SECONDS,
    THUMBNAIL_MAX_SOURCE_PIXELS,
    THUMBNAIL_SIDE,
    StoredBlob,
    Thumbnail,
    ThumbnailRefused,
)

WEBP_QUALITY = 80

_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ig-thumbnails")
"""Two at a time at most: each holds a decoded image, up to a few hundred MB for the largest."""

DEMUXERS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "matroska"}
"""FFmpeg is told the container instead of guessing it from the bytes: a file that claims to be
a video is never read as a playlist or any other format that would make FFmpeg open other files."""
MAX_POSTER_FRAMES = 300
"""Frames decoded at most on the way to ``POSTER_SECONDS`` (a file with absurd timestamps stops
here, and gets the last frame decoded)."""


class PillowThumbnailer:
    def __init__(self) -> None:
        self.makes_posters = importlib.util.find_spec("av") is not None

    async def thumbnail(self, source: StoredBlob) -> Thumbnail:
        path, _offset, _length = source.body  # a whole blob of FileBlobStore: its file
        return await asyncio.get_running_loop().run_in_executor(_WORKERS, make_thumbnail, path)

    async def poster(self, source: StoredBlob, content_type: str, duration_seconds: float | None) -> Thumbnail:
        path, _offset, _length = source.body  # the duration is not needed: decoding finds where the video ends
        return await asyncio.get_running_loop().run_in_executor(_WORKERS, make_poster, path, content_type)


def make_thumbnail(path: Any) -> Thumbnail:
    """The WebP thumbnail of the image file at ``path``; ``ThumbnailRefused`` for anything Pillow
    cannot read whole, or an image of more than ``THUMBNAIL_MAX_SOURCE_PIXELS``."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            # The header alone says how large the canvas is: a bomb is refused before decoding.
            _refuse_over_limit(image.width, image.height)
            image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # JPEG decodes at a reduced scale
            return _webp(ImageOps.exif_transpose(image))
    except ThumbnailRefused:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # Unreadable, truncated or corrupt (Pillow's decoders raise these): the same every time.
        raise ThumbnailRefused(f"not a readable image: {exc}") from exc


def make_poster(path: Any, content_type: str) -> Thumbnail:
    """The WebP thumbnail of a frame of the video file at ``path``: the first frame at or after
    ``POSTER_SECONDS``, else (a shorter video) the first. ``ThumbnailRefused`` for a file FFmpeg
    cannot read as ``content_type``, without a video track, or whose frames are over
    ``THUMBNAIL_MAX_SOURCE_PIXELS`` (refused by FFmpeg before it decodes one)."""
    import av

    demuxer = DEMUXERS.get(content_type)
    if demuxer is None:
        raise ThumbnailRefused(f"no poster is taken from {content_type}")
    # FFmpeg's own bound, for the frame it decodes while opening the file (to learn the stream's
    # format) and for every frame after: a larger one is an error, never decoded.
    limit = {"max_pixels": str(THUMBNAIL_MAX_SOURCE_PIXELS)}
    try:
        with av.open(str(path), format=demuxer, options=limit) as container:
            if not container.streams.video:
                raise ThumbnailRefused("the file has no video track")
            stream = container.streams.video[0]
            stream.codec_context.options = limit
            _refuse_over_limit(stream.codec_context.width, stream.codec_context.height)
            frame = _frame_near(container, stream, POSTER_SECONDS)
            if frame is None:
                raise ThumbnailRefused("the video track has no frame that decodes")
            return _webp(frame.to_image())
    except ThumbnailRefused:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        bound = f"frames over {THUMBNAIL_MAX_SOURCE_PIXELS} pixels"
        raise ThumbnailRefused(f"not a readable video (unreadable, or {bound}): {exc}") from exc


def _frame_near(container: Any, stream: Any, seconds: float) -> Any:
    """Decoding from the start rather than seeking: a second of frames is cheap, and a seek to a
    key frame before ``seconds`` in a file with few key frames would decode as much."""
    first = chosen = None
    for count, frame in enumerate(container.decode(stream)):
        chosen = frame
        if first is None:
            first = frame
        if frame.time is not None and frame.time >= seconds:
            return frame
        if count + 1 >= MAX_POSTER_FRAMES:
            return chosen
    return first


def _refuse_over_limit(width: int, height: int) -> None:
    if width * height > THUMBNAIL_MAX_SOURCE_PIXELS:
        raise ThumbnailRefused(f"{width}x{height} is more than {THUMBNAIL_MAX_SOURCE_PIXELS} pixels")


def _webp(image: Any) -> Thumbnail:
    """``image`` (a Pillow image) at most ``THUMBNAIL_SIDE`` a side, aspect kept, as WebP."""
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # keeps the aspect, never enlarges
    if image.mode not in ("RGB", "RGBA"):
        transparent = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if transparent else "RGB")
    encoded = io.BytesIO()
    image.save(encoded, "WEBP", quality=WEBP_QUALITY)
    return Thumbnail(encoded.getvalue(), image.width, image.height)
