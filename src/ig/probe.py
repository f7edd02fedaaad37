"""Media probing while bytes stream past: width, height and duration from what a file's headers
say, without ever holding the file.

A MediaProbe is fed every chunk in order, of any size, and answers at the end. Memory stays
bounded whatever the file's size: each format keeps at most a head buffer, a small rolling tail,
or (MP4/MOV) the few small boxes it needs while a streaming box walker counts its way over
``mdat``, so ``moov`` may come before or after the media data. Nothing here raises on bad input:
an unknown type, a corrupt or truncated file gives ``None`` fields."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ig import media

HEAD_LIMIT = 256 * 1024
TAIL_LIMIT = 64 * 1024
# A rolling tail keeps up to twice its limit between trims, so trimming stays linear in the bytes fed.
MAX_BUFFERED_BYTES = HEAD_LIMIT + 2 * TAIL_LIMIT


@dataclass(frozen=True)
class MediaInfo:
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None  # rounded to 3 decimals


class MediaProbe:
    """Watches a file stream past, chunk by chunk, and reports its dimensions and duration."""

    def __init__(self, content_type: str) -> None:
        known = media.by_content_type(content_type)
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

    def result(self) -> MediaInfo:
        try:
            return self._parser.info()
        except Exception as error:
            self.error = error
            return MediaInfo()

    @property
    def buffered_bytes(self) -> int:
        return self._parser.buffered_bytes


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


class _Flac(_Parser):
    head_limit = 42  # "fLaC", a block header, the 34-byte STREAMINFO

    def info(self) -> MediaInfo:
        head = bytes(self.head.data)
        if len(head) < 42 or not head.startswith(b"fLaC") or head[4] & 0x7F != 0:
            return MediaInfo()
        # Bits: 20 sample rate, 3 channels, 5 bits per sample, 36 total samples.
        packed = int.from_bytes(head[18:26], "big")
        sample_rate = packed >> 44
        total_samples = packed & 0xFFFFFFFFF
        if not sample_rate or not total_samples:
            return MediaInfo()
        return MediaInfo(duration_seconds=_seconds(total_samples / sample_rate))


class _Wav(_Parser):
    """Duration from the data chunk's size over the format's byte rate. A WAV written while
    streaming leaves the size at 0 or all ones, so then the bytes actually seen count instead."""

    head_limit = 64 * 1024

    def info(self) -> MediaInfo:
        head = bytes(self.head.data)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return MediaInfo()
        byte_rate = None
        position = 12
        while position + 8 <= len(head):
            kind = head[position : position + 4]
            (length,) = struct.unpack("<I", head[position + 4 : position + 8])
            body = position + 8
            if kind == b"fmt " and body + 12 <= len(head):
                (byte_rate,) = struct.unpack("<I", head[body + 8 : body + 12])
            elif kind == b"data":
                if not byte_rate:
                    return MediaInfo()
                if length in (0, 0xFFFFFFFF):
                    length = self.size - body
                return MediaInfo(duration_seconds=_seconds(length / byte_rate))
            position = body + length + (length & 1)
        return MediaInfo()


# Kilobits per second by bitrate index, for (MPEG-1?, layer).
_MP3_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by the header's version bits: 0 MPEG-2.5, 2 MPEG-2, 3 MPEG-1 (1 is reserved).
_MP3_SAMPLE_RATES = {0: (11025, 12000, 8000), 2: (22050, 24000, 16000), 3: (44100, 48000, 32000)}


class _Mp3Frame:
    """What one MPEG audio frame header says. A plain class: each dataclass costs the Worker's
    cold start most of a millisecond."""

    __slots__ = ("mpeg1", "layer", "bitrate", "sample_rate", "padding", "mono")

    def __init__(self, mpeg1: bool, layer: int, bitrate: int, sample_rate: int, padding: bool, mono: bool) -> None:
        self.mpeg1 = mpeg1
        self.layer = layer
        self.bitrate = bitrate  # bits per second
        self.sample_rate = sample_rate
        self.padding = padding
        self.mono = mono

    @property
    def stream(self) -> tuple[bool, int, int]:
        """What every frame of one stream shares (bitrate and padding may vary)."""
        return self.mpeg1, self.layer, self.sample_rate

    @property
    def samples(self) -> int:
        if self.layer == 1:
            return 384
        return 1152 if self.mpeg1 or self.layer == 2 else 576

    @property
    def length(self) -> int:
        slot = 4 if self.layer == 1 else 1
        return (self.samples // 8 * self.bitrate // self.sample_rate // slot + self.padding) * slot

    @property
    def side_info(self) -> int:
        if self.mpeg1:
            return 17 if self.mono else 32
        return 9 if self.mono else 17


def _mp3_frame(header: bytes) -> _Mp3Frame | None:
    if len(header) < 4:
        return None
    bits = int.from_bytes(header[:4], "big")
    version, layer_bits = (bits >> 19) & 3, (bits >> 17) & 3
    bitrate_index, rate_index = (bits >> 12) & 15, (bits >> 10) & 3
    # Free-format (index 0) frames have no length we can compute, so they cannot anchor anything.
    if bits >> 21 != 0x7FF or version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1, layer = version == 3, 4 - layer_bits
    return _Mp3Frame(
        mpeg1=mpeg1,
        layer=layer,
        bitrate=_MP3_BITRATES[mpeg1, layer][bitrate_index] * 1000,
        sample_rate=_MP3_SAMPLE_RATES[version][rate_index],
        padding=bool(bits >> 9 & 1),
        mono=(bits >> 6) & 3 == 3,
    )


class _Mp3(_Parser):
    """Finds the first audio frame after any ID3v2 tag. A Xing/Info or VBRI header in it counts
    the frames exactly; without one the stream is taken as constant bitrate and timed by its size.
    The tag can hold cover art of any size, so the bytes after it are captured in their own window
    once the tag's header has told where it ends."""

    head_limit = 16 * 1024  # covers a few frames, with their Xing or VBRI header
    frames_window = 16 * 1024

    def __init__(self) -> None:
        super().__init__()
        self.audio_window: _Window | None = None
        self.tail = _Tail(128)  # for an ID3v1 tag

    def feed(self, chunk: bytes) -> None:
        offset = self.size
        super().feed(chunk)
        self.tail.feed(chunk)
        head = self.head.data
        if self.audio_window is None and len(head) >= 10 and head.startswith(b"ID3"):
            # The window starts after the 10-byte tag header, which has only just arrived: nothing is missed.
            tag_size = 10 + _syncsafe(head[6:10]) + (10 if head[5] & 0x10 else 0)
            self.audio_window = _Window(tag_size, self.frames_window)
        if self.audio_window is not None:
            self.audio_window.feed(chunk, offset)

    @property
    def buffered_bytes(self) -> int:
        window = len(self.audio_window.data) if self.audio_window else 0
        return len(self.head.data) + window + len(self.tail.data)

    def info(self) -> MediaInfo:
        window = self.audio_window or self.head
        data = bytes(window.data)
        found = _first_mp3_frame(data)
        if found is None:
            return MediaInfo()
        position, frame = found
        frame_bytes = data[position : position + frame.length]
        frame_count = _xing_frames(frame_bytes, frame) or _vbri_frames(frame_bytes)
        if frame_count:
            return MediaInfo(duration_seconds=_seconds(frame_count * frame.samples / frame.sample_rate))
        audio_bytes = self.size - (window.start + position)
        tail = self.tail.contents()
        if len(tail) == 128 and tail.startswith(b"TAG"):
            audio_bytes -= 128
        return MediaInfo(duration_seconds=_seconds(audio_bytes * 8 / frame.bitrate))


def _syncsafe(data: bytes | bytearray) -> int:
    return (data[0] & 0x7F) << 21 | (data[1] & 0x7F) << 14 | (data[2] & 0x7F) << 7 | (data[3] & 0x7F)


def _first_mp3_frame(data: bytes) -> tuple[int, _Mp3Frame] | None:
    """A whole frame whose successor, when it is in view, is a frame of the same kind; junk or a
    stray sync pattern rarely passes that."""
    position = data.find(b"\xff")
    while 0 <= position:
        frame = _mp3_frame(data[position : position + 4])
        if frame is not None and position + frame.length <= len(data):
            following = data[position + frame.length : position + frame.length + 4]
            successor = _mp3_frame(following)
            if len(following) < 4 or (successor is not None and successor.stream == frame.stream):
                return position, frame
        position = data.find(b"\xff", position + 1)
    return None


def _xing_frames(frame_bytes: bytes, frame: _Mp3Frame) -> int | None:
    tag = 4 + frame.side_info
    if frame_bytes[tag : tag + 4] not in (b"Xing", b"Info") or len(frame_bytes) < tag + 12:
        return None
    flags, frames = struct.unpack(">II", frame_bytes[tag + 4 : tag + 12])
    return frames if flags & 1 else None


def _vbri_frames(frame_bytes: bytes) -> int | None:
    # VBRI always sits 32 bytes after the header: tag, version, delay, quality, bytes, frames.
    if frame_bytes[36:40] != b"VBRI" or len(frame_bytes) < 54:
        return None
    return struct.unpack(">I", frame_bytes[50:54])[0]


class _Ogg(_Parser):
    """The rate comes from the first page's identification header; the length from the granule
    position of the stream's last page, which the rolling tail holds (a page is under 64 KiB)."""

    head_limit = 4096

    def __init__(self) -> None:
        super().__init__()
        self.tail = _Tail(TAIL_LIMIT)

    def feed(self, chunk: bytes) -> None:
        super().feed(chunk)
        self.tail.feed(chunk)

    @property
    def buffered_bytes(self) -> int:
        return len(self.head.data) + len(self.tail.data)

    def info(self) -> MediaInfo:
        head = bytes(self.head.data)
        first = _ogg_page(head, 0)
        if first is None:
            return MediaInfo()
        serial, _, body_start, _ = first
        packet = head[body_start : body_start + 19]
        if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
            rate, skipped = struct.unpack("<I", packet[12:16])[0], 0
        elif packet.startswith(b"OpusHead") and len(packet) >= 12:
            # Opus granules always count 48 kHz samples, whatever the input rate; pre-skip is decoder priming.
            rate, skipped = 48000, struct.unpack("<H", packet[10:12])[0]
        else:
            return MediaInfo()
        granule = _last_granule(self.tail.contents(), serial)
        if not rate or granule is None:
            return MediaInfo()
        return MediaInfo(duration_seconds=_seconds((granule - skipped) / rate))


def _ogg_page(data: bytes, start: int) -> tuple[int, int, int, int] | None:
    """(serial, granule, body start, page end) of the page at ``start``, or None."""
    header = data[start : start + 27]
    if len(header) < 27 or header[:4] != b"OggS" or header[4] != 0:
        return None
    granule, serial = struct.unpack("<qI", header[6:18])
    lacing = data[start + 27 : start + 27 + header[26]]
    if len(lacing) < header[26]:
        return None
    body_start = start + 27 + header[26]
    return serial, granule, body_start, body_start + sum(lacing)


def _last_granule(tail: bytes, serial: int) -> int | None:
    """Walks capture patterns back from the end. A page only counts when it ends exactly where
    the next accepted page (or the stream) begins, so "OggS" inside packet data is passed over,
    as are pages where no packet ends (granule -1) and pages of other multiplexed streams."""
    chain_end = len(tail)
    position = tail.rfind(b"OggS")
    while position >= 0:
        page = _ogg_page(tail, position)
        if page is not None and page[3] == chain_end:
            page_serial, granule, _, _ = page
            if page_serial == serial and granule >= 0:
                return granule
            chain_end = position
        position = tail.rfind(b"OggS", 0, position)
    return None


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
