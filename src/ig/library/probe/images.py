"""Image headers: PNG, GIF, WEBP, JPEG and SVG give their width and height from the head of the
file."""

from __future__ import annotations

import re
import struct

from ig.library.probe.parser import HEAD_LIMIT, MediaInfo, _dimensions, _Parser


class _Png(_Parser):
    head_limit = 24

    def info(self) -> MediaInfo:
        head = bytes(self.head.data)
        if len(head) < 24 or not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
            return MediaInfo()
        return _dimensions(*struct.unpack(">II", head[16:24]))


class _Gif(_Parser):
    head_limit = 10

    def info(self) -> MediaInfo:
        head = bytes(self.head.data)
        if len(head) < 10 or head[:6] not in (b"GIF87a", b"GIF89a"):
            return MediaInfo()
        return _dimensions(*struct.unpack("<HH", head[6:10]))


class _Webp(_Parser):
    head_limit = 30

    def info(self) -> MediaInfo:
        head = bytes(self.head.data)
        if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
            return MediaInfo()
        kind, data = head[12:16], head[20:30]
        if kind == b"VP8X":
            return _dimensions(1 + int.from_bytes(data[4:7], "little"), 1 + int.from_bytes(data[7:10], "little"))
        if kind == b"VP8L" and data[0] == 0x2F:
            bits = int.from_bytes(data[1:5], "little")
            return _dimensions(1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF))
        # A lossy key frame: a clear key-frame bit, then the start code, then 14-bit sizes (the top bits scale).
        if kind == b"VP8 " and data[0] & 1 == 0 and data[3:6] == b"\x9d\x01\x2a":
            width, height = struct.unpack("<HH", data[6:10])
            return _dimensions(width & 0x3FFF, height & 0x3FFF)
        return MediaInfo()


# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but do not.
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM and the restart markers.
_JPEG_BARE_MARKERS = frozenset([0x01, *range(0xD0, 0xD8)])


class _Jpeg(_Parser):
    """Walks the marker segments to the first frame header, skipping metadata by its length. A
    frame header beyond the head buffer (hundreds of KiB of metadata) is given up on."""

    head_limit = HEAD_LIMIT

    def info(self) -> MediaInfo:
        head = bytes(self.head.data)
        if not head.startswith(b"\xff\xd8"):
            return MediaInfo()
        position = 2
        while position + 4 <= len(head):
            if head[position] != 0xFF:
                return MediaInfo()
            marker = head[position + 1]
            if marker == 0xFF:  # fill byte before a marker
                position += 1
                continue
            if marker in _JPEG_BARE_MARKERS:
                position += 2
                continue
            if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
                return MediaInfo()
            (length,) = struct.unpack(">H", head[position + 2 : position + 4])
            if length < 2:
                return MediaInfo()
            if marker in _JPEG_FRAME_MARKERS:
                frame = head[position + 4 : position + 9]
                if len(frame) < 5:
                    return MediaInfo()
                height, width = struct.unpack(">HH", frame[1:5])
                return _dimensions(width, height)
            position += 2 + length
        return MediaInfo()


_SVG_ROOT = re.compile(r"<svg\b([^>]*)>", re.IGNORECASE)
_SVG_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SVG_ATTRIBUTE = re.compile(r"""(?:^|\s)(width|height|viewBox)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SVG_LENGTH = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:px)?\s*")


class _Svg(_Parser):
    """The root element's width and height when they are plain user units or px; a percentage or
    a physical unit says nothing about pixels, so then the viewBox's size stands in."""

    head_limit = HEAD_LIMIT

    def info(self) -> MediaInfo:
        text = _SVG_COMMENT.sub("", bytes(self.head.data).decode("utf-8", "replace"))
        root = _SVG_ROOT.search(text)
        if not root:
            return MediaInfo()
        attributes = {name: double or single for name, double, single in _SVG_ATTRIBUTE.findall(root[1])}
        width = _svg_length(attributes.get("width"))
        height = _svg_length(attributes.get("height"))
        view_box = _svg_view_box(attributes.get("viewBox"))
        if view_box:
            box_width, box_height = view_box
            # With one side given, the other follows the viewBox's aspect ratio, as a renderer does.
            if width is None and height is not None:
                width = height * box_width / box_height
            elif height is None and width is not None:
                height = width * box_height / box_width
            elif width is None and height is None:
                width, height = box_width, box_height
        if width is None or height is None:
            return MediaInfo()
        return _dimensions(round(width), round(height))


def _svg_length(value: str | None) -> float | None:
    match = _SVG_LENGTH.fullmatch(value) if value is not None else None
    return float(match[1]) if match else None


def _svg_view_box(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        _, _, width, height = (float(part) for part in value.replace(",", " ").split())
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None
