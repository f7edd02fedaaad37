"""The local thumbnailer (Pillow) on real files of the local blob store: WebP, the longest side at
most 512 px, aspect kept, never enlarged; unreadable sources and decompression bombs refused
cleanly (``ThumbnailRefused``), before a bomb's pixels are decoded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from ig.adapters.local.files import FileBlobStore
from ig.adapters.local.thumbnails import PillowThumbnailer
from ig.byte_sources import of_bytes
from ig.ports import THUMBNAIL_MAX_SOURCE_PIXELS, Thumbnail, ThumbnailRefused


def _encoded(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "red" if mode == "RGB" else 0).save(out, fmt)
    return out.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A real PNG of ``width`` x ``height`` black 1-bit pixels: a few hundred KB that decodes to
    ``width * height`` pixels (Pillow decodes 1-bit images a byte a pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + bytes((width + 7) // 8)) * height
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


async def _thumbnail(tmp_path, data: bytes) -> Thumbnail:
    store = FileBlobStore(tmp_path / "blobs")
    await store.put("artifacts/a", of_bytes(data), content_type="image/png", metadata={})
    blob = await store.get("artifacts/a")
    assert blob is not None
    return await PillowThumbnailer().thumbnail(blob)


def _decoded_size(made: Thumbnail) -> tuple[int, int]:
    with Image.open(io.BytesIO(made.data)) as image:
        assert image.format == "WEBP"
        return image.size


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ((2048, 1024, "PNG"), (512, 256)),  # landscape
        ((600, 1200, "JPEG"), (256, 512)),  # portrait
        ((512, 512, "WEBP"), (512, 512)),  # exactly the limit
        ((100, 50, "PNG"), (100, 50)),  # small: never enlarged
    ],
)
async def test_a_thumbnail_is_webp_with_its_longest_side_at_most_512_and_its_aspect_kept(tmp_path, source, expected):
    width, height, fmt = source
    made = await _thumbnail(tmp_path, _encoded(width, height, fmt))
    assert made.data[:4] == b"RIFF" and made.data[8:12] == b"WEBP"
    assert (made.width, made.height) == expected == _decoded_size(made)


async def test_a_palette_gif_becomes_a_webp_too(tmp_path):
    made = await _thumbnail(tmp_path, _encoded(1000, 10, "GIF", mode="P"))
    assert (made.width, made.height) == (512, 5) == _decoded_size(made)


async def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    side = 8000  # 64 million pixels in about 100 KB
    bomb = _png_bomb(side, side)
    assert side * side > THUMBNAIL_MAX_SOURCE_PIXELS and len(bomb) < 200_000
    with pytest.raises(ThumbnailRefused, match="pixels"):
        await _thumbnail(tmp_path, bomb)


async def test_a_truncated_image_is_refused(tmp_path):
    whole = _encoded(800, 600, "JPEG")
    with pytest.raises(ThumbnailRefused, match="not a readable image"):
        await _thumbnail(tmp_path, whole[: len(whole) // 2])


async def test_bytes_that_are_no_image_are_refused(tmp_path):
    with pytest.raises(ThumbnailRefused, match="not a readable image"):
        await _thumbnail(tmp_path, b"<svg xmlns='http://www.w3.org/2000/svg'/>")
