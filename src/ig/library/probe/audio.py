"""Audio headers: WAV, FLAC, MP3 and OGG (Vorbis, Opus) give their duration, from the head of the
file and, where the length is only known at the end, a small rolling tail."""

from __future__ import annotations

import struct

from ig.library.probe.parser import TAIL_LIMIT, MediaInfo, _Parser, _seconds, _Tail, _Window


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

    def next_needed(self, total: int) -> int:
        wanted = [super().next_needed(total), max(self.size, total - self.tail.limit)]
        if self.audio_window is not None and self.size < self.audio_window.end:
            wanted.append(max(self.size, self.audio_window.start))
        return min(wanted)

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

    def next_needed(self, total: int) -> int:
        return min(super().next_needed(total), max(self.size, total - self.tail.limit))

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
