"""Thumbnails on the local runtime: Pillow, on worker threads of its own, so the event loop keeps
answering while an image is decoded and encoded. Pillow is imported on first use: only a runtime
that makes thumbnails needs it."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ig.ports import THUMBNAIL_MAX_SOURCE_PIXELS, THUMBNAIL_SIDE, StoredBlob, Thumbnail, ThumbnailRefused

WEBP_QUALITY = 80

_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ig-thumbnails")
"""Two at a time at most: each holds a decoded image, up to a few hundred MB for the largest."""


class PillowThumbnailer:
    async def thumbnail(self, source: StoredBlob) -> Thumbnail:
        path, _offset, _length = source.body  # a whole blob of FileBlobStore: its file
        return await asyncio.get_running_loop().run_in_executor(_WORKERS, make_thumbnail, path)


def make_thumbnail(path: Any) -> Thumbnail:
    """The WebP thumbnail of the image file at ``path``; ``ThumbnailRefused`` for anything Pillow
    cannot read whole, or an image of more than ``THUMBNAIL_MAX_SOURCE_PIXELS``."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            # The header alone says how large the canvas is: a bomb is refused before decoding.
            if image.width * image.height > THUMBNAIL_MAX_SOURCE_PIXELS:
                raise ThumbnailRefused(
                    f"{image.width}x{image.height} is more than {THUMBNAIL_MAX_SOURCE_PIXELS} pixels"
                )
            image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # JPEG decodes at a reduced scale
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # keeps the aspect, never enlarges
            if upright.mode not in ("RGB", "RGBA"):
                transparent = "A" in upright.getbands() or "transparency" in upright.info
                upright = upright.convert("RGBA" if transparent else "RGB")
            encoded = io.BytesIO()
            upright.save(encoded, "WEBP", quality=WEBP_QUALITY)
            return Thumbnail(encoded.getvalue(), upright.width, upright.height)
    except ThumbnailRefused:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # Unreadable, truncated or corrupt (Pillow's decoders raise these): the same every time.
        raise ThumbnailRefused(f"not a readable image: {exc}") from exc
