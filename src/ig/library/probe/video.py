"""Video headers: WebM (an EBML walk over the head) and MP4/MOV (a streaming box walker) give
width, height and duration."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from ig.library.probe.parser import HEAD_LIMIT, MediaInfo, _dimensions, _Parser, _seconds

# Matroska element IDs, with their length marker bits, as they appear in the file.
_EBML_HEADER = 0x1A45DFA3
_SEGMENT = 0x18538067
_INFO = 0x1549A966
_TIMECODE_SCALE = 0x2AD7B1
_DURATION = 0x4489
_TRACKS = 0x1654AE6B
_TRACK_ENTRY = 0xAE
_VIDEO = 0xE0
_PIXEL_WIDTH = 0xB0
_PIXEL_HEIGHT = 0xBA
_CLUSTER = 0x1F43B675


def _ebml_elements(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, body start, body end) of each element in data[start:end]. An element of unknown
    size (all size bits set, as live muxers write Segment and Cluster) runs to ``end``. Stops at
    the first element that cannot be read."""
    position = start
    while position < end:
        element_id, after_id = _ebml_vint(data, position, end, keep_marker=True)
        size, body = _ebml_vint(data, after_id, end, keep_marker=False)
        if element_id is None or body is None:
            return
        body_end = end if size is None else body + size
        yield element_id, body, min(body_end, end)
        if size is None:
            return
        position = body_end


def _ebml_vint(data: bytes, position: int, end: int, keep_marker: bool) -> tuple[int | None, int | None]:
    """A variable-length integer: (value, next position). The value is None for an unknown size;
    the position is None when the bytes are not a vint."""
    if position >= end:
        return None, None
    first = data[position]
    length = 9 - first.bit_length()
    if first == 0 or length > 8 or position + length > end:
        return None, None
    raw = int.from_bytes(data[position : position + length], "big")
    if keep_marker:
        return raw, position + length
    value = raw & ((1 << (7 * length)) - 1)
    return (None if value == (1 << (7 * length)) - 1 else value), position + length


class _Webm(_Parser):
    """Info and Tracks precede the first Cluster, so the head holds everything needed."""

    head_limit = HEAD_LIMIT

    def info(self) -> MediaInfo:
        data = bytes(self.head.data)
        segment = None
        for element_id, body, body_end in _ebml_elements(data, 0, len(data)):
            if element_id == _SEGMENT:
                segment = (body, body_end)
                break
            if element_id != _EBML_HEADER:
                return MediaInfo()
        if segment is None:
            return MediaInfo()
        timecode_scale, duration, width, height = 1_000_000, None, 0, 0
        for element_id, body, body_end in _ebml_elements(data, *segment):
            if element_id == _INFO:
                for child, start, stop in _ebml_elements(data, body, body_end):
                    if child == _TIMECODE_SCALE and stop > start:
                        timecode_scale = int.from_bytes(data[start:stop], "big")
                    elif child == _DURATION and stop - start in (4, 8):
                        duration = struct.unpack(">f" if stop - start == 4 else ">d", data[start:stop])[0]
            elif element_id == _TRACKS and not width:
                width, height = _matroska_video_size(data, body, body_end)
            elif element_id == _CLUSTER:
                break
        seconds = _seconds(duration * timecode_scale / 1e9) if duration is not None else None
        size = _dimensions(width, height)
        return MediaInfo(width=size.width, height=size.height, duration_seconds=seconds)


def _matroska_video_size(data: bytes, start: int, end: int) -> tuple[int, int]:
    for entry_id, entry, entry_end in _ebml_elements(data, start, end):
        if entry_id != _TRACK_ENTRY:
            continue
        for child, body, body_end in _ebml_elements(data, entry, entry_end):
            if child != _VIDEO:
                continue
            size = {_PIXEL_WIDTH: 0, _PIXEL_HEIGHT: 0}
            for field, value_start, value_end in _ebml_elements(data, body, body_end):
                if field in size:
                    size[field] = int.from_bytes(data[value_start:value_end], "big")
            if size[_PIXEL_WIDTH] and size[_PIXEL_HEIGHT]:
                return size[_PIXEL_WIDTH], size[_PIXEL_HEIGHT]
    return 0, 0


# The boxes worth entering, by parent (None: the file's top level), and the small ones worth reading.
_MP4_CONTAINERS = {(None, b"moov"), (b"moov", b"trak"), (b"moov", b"mvex")}
_MP4_WANTED = {(b"moov", b"mvhd"), (b"trak", b"tkhd"), (b"mvex", b"mehd")}
_MP4_WANTED_LIMIT = 4096  # these boxes are about 100 bytes; anything far bigger is corrupt
_END_OF_FILE = 1 << 64  # where a top-level box of size 0 ends: beyond any real offset


class _Mp4(_Parser):
    """A streaming box walker: it enters moov and its traks, reads mvhd, tkhd and mehd, and skips
    everything else (mdat above all) by counting bytes, so it never holds more than one small box
    and finds moov wherever it is."""

    def __init__(self) -> None:
        super().__init__()
        self.containers: list[tuple[bytes, int]] = []  # (type, end offset) of the boxes we are inside
        self.header = bytearray()
        self.header_start = 0
        self.skip_to = 0
        self.reading: tuple[bytes, int] | None = None  # (type, end offset) of the wanted box being read
        self.box = bytearray()
        self.finished = False
        self.timescale = 0
        self.duration = 0
        self.fragment_duration = 0
        self.width = 0
        self.height = 0

    @property
    def buffered_bytes(self) -> int:
        return len(self.header) + len(self.box)

    def next_needed(self, total: int) -> int:
        if self.finished:
            return total
        return min(self.skip_to, total) if self.size < self.skip_to else self.size

    def feed(self, chunk: bytes) -> None:
        position = self.size
        self.size += len(chunk)
        index = 0
        while index < len(chunk) and not self.finished:
            while self.containers and position >= self.containers[-1][1]:
                if self.containers.pop()[0] == b"moov":
                    self.finished = True  # everything wanted lives in moov
                    return
            if position < self.skip_to:
                step = min(len(chunk) - index, self.skip_to - position)
            elif self.reading is not None:
                kind, end = self.reading
                step = min(len(chunk) - index, end - position)
                self.box += chunk[index : index + step]
                if position + step == end:
                    self.read_box(kind, bytes(self.box))
                    self.reading, self.box = None, bytearray()
            elif not self.header and self.containers and self.containers[-1][1] - position < 8:
                # Too little left in this box for a child's header: QuickTime pads with zeros here.
                self.skip_to = self.containers[-1][1]
                step = 0
            else:
                if not self.header:
                    self.header_start = position
                step = min(len(chunk) - index, self.header_length() - len(self.header))
                self.header += chunk[index : index + step]
                if len(self.header) == self.header_length():
                    self.enter_box(position + step)
            index += step
            position += step

    def header_length(self) -> int:
        # A 32-bit size of 1 means a 64-bit size follows the type.
        return 16 if self.header[:4] == b"\0\0\0\1" else 8

    def enter_box(self, body_start: int) -> None:
        header, self.header = bytes(self.header), bytearray()
        size, kind = struct.unpack(">I4s", header[:8])
        parent_end = self.containers[-1][1] if self.containers else _END_OF_FILE
        if size == 1:
            size = struct.unpack(">Q", header[8:16])[0]
        # Size 0 runs to the end of the enclosing box, or of the file at the top level.
        end = parent_end if size == 0 else self.header_start + size
        if end < body_start or end > parent_end:
            self.finished = True  # corrupt: a box smaller than its header or larger than its parent
            return
        parent = self.containers[-1][0] if self.containers else None
        if (parent, kind) in _MP4_CONTAINERS:
            self.containers.append((kind, end))
        elif (parent, kind) in _MP4_WANTED and 0 < end - body_start <= _MP4_WANTED_LIMIT:
            self.reading = (kind, end)
        elif end == _END_OF_FILE:
            self.finished = True  # the rest of the file is one box we do not need
        else:
            self.skip_to = end

    def read_box(self, kind: bytes, body: bytes) -> None:
        if not body:
            return
        version = body[0]
        if kind == b"mvhd":
            layout = ">QQIQ" if version == 1 else ">IIII"
            end = 4 + struct.calcsize(layout)
            if len(body) >= end:
                _, _, self.timescale, self.duration = struct.unpack(layout, body[4:end])
        elif kind == b"tkhd" and not self.width:
            # Width and height, 16.16 fixed point, close the box in both versions.
            offset = 88 if version == 1 else 76
            if len(body) >= offset + 8:
                width, height = struct.unpack(">II", body[offset : offset + 8])
                if width and height:
                    self.width, self.height = round(width / 65536), round(height / 65536)
        elif kind == b"mehd":
            layout = ">Q" if version == 1 else ">I"
            end = 4 + struct.calcsize(layout)
            if len(body) >= end:
                (self.fragment_duration,) = struct.unpack(layout, body[4:end])

    def info(self) -> MediaInfo:
        seconds = None
        # A fragmented file leaves mvhd's duration at 0 (or all ones) and puts the total in mvex/mehd.
        unknown = (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
        duration = self.duration if self.duration not in unknown else self.fragment_duration
        if self.timescale and duration not in unknown:
            seconds = _seconds(duration / self.timescale)
        size = _dimensions(self.width, self.height)
        return MediaInfo(width=size.width, height=size.height, duration_seconds=seconds)
