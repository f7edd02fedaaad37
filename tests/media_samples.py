"""Small, valid, deterministic media files of every type ig knows, built with the standard library
alone, for tests and for fakes that serve provider outputs.

Each builder takes keyword arguments and returns the file's bytes; ``mp4_chunks`` yields an MP4 in
pieces so a test can stream one with gigabytes of media data without ever holding it. What each
sample holds is what its arguments say, so a probe's answer can be checked against them exactly:
where a format counts in whole frames or samples, the sample is rounded to them and the builder's
docstring says how (``mp3_duration`` gives the MP3's)."""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterator
from typing import Any

# PNG


def png(*, width: int = 16, height: int = 16, seed: int = 0) -> bytes:
    """An 8-bit RGB image of one colour, which the seed picks."""
    colour = bytes((seed * factor + offset) % 256 for factor, offset in ((67, 40), (151, 90), (199, 160)))
    rows = b"".join(b"\x00" + colour * width for _ in range(height))  # filter byte 0: raw scanlines
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# JPEG


def jpeg(*, width: int = 32, height: int = 24, exif_bytes: int = 0) -> bytes:
    """A baseline greyscale JPEG, mid-grey: every 8x8 block codes a zero DC difference and an
    end-of-block, each a one-bit Huffman code. With ``exif_bytes`` the frame header comes after at
    least that many bytes of metadata: an APP1 Exif segment, then APP1 XMP segments when more is
    asked than one segment holds."""
    quantisation = _jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
    frame = _jpeg_segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    one_code_of_length_one = b"\x01" + b"\x00" * 15
    dc_table = _jpeg_segment(0xC4, b"\x00" + one_code_of_length_one + b"\x00")  # symbol 0: difference 0
    ac_table = _jpeg_segment(0xC4, b"\x10" + one_code_of_length_one + b"\x00")  # symbol 0: end of block
    scan = _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    blocks = math.ceil(width / 8) * math.ceil(height / 8)
    bits = 2 * blocks
    entropy_coded = b"\x00" * (bits // 8) + (bytes([0xFF >> (bits % 8)]) if bits % 8 else b"")  # pad with ones
    return (
        b"\xff\xd8"
        + _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1) + b"\x00\x00")
        + _jpeg_metadata(exif_bytes)
        + quantisation
        + frame
        + dc_table
        + ac_table
        + scan
        + entropy_coded
        + b"\xff\xd9"
    )


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_metadata(size: int) -> bytes:
    if size <= 0:
        return b""
    largest_payload = 0xFFFF - 2
    # Exif: TIFF header (little-endian), then IFD0 with no entries and no next IFD.
    exif = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<IHI", 8, 0, 0)
    exif += b"\x00" * max(0, min(size, largest_payload) - len(exif))
    segments = [_jpeg_segment(0xE1, exif)]
    remaining = size - len(exif)
    xmp_header = b"http://ns.adobe.com/xap/1.0/\x00"
    while remaining > 0:
        padding = min(remaining, largest_payload - len(xmp_header))
        segments.append(_jpeg_segment(0xE1, xmp_header + b" " * padding))  # XMP allows whitespace padding
        remaining -= padding
    return b"".join(segments)


# WebP


def webp(*, width: int = 20, height: int = 10, variant: str = "VP8L") -> bytes:
    """One colour, in a lossless ("VP8L"), lossy ("VP8") or extended ("VP8X", wrapping a VP8L)
    container."""
    if variant == "VP8L":
        chunks = _riff_chunk(b"VP8L", _vp8l_bitstream(width, height))
    elif variant == "VP8":
        chunks = _riff_chunk(b"VP8 ", vp8_key_frame(width, height))
    elif variant == "VP8X":
        extended = struct.pack("<I", 0) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks = _riff_chunk(b"VP8X", extended) + _riff_chunk(b"VP8L", _vp8l_bitstream(width, height))
    else:
        raise ValueError(f"unknown WebP variant {variant!r}")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


class _LsbBits:
    """Packs bit fields least significant bit first, as VP8L and GIF's LZW do."""

    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def write(self, value: int, bits: int) -> None:
        self.value |= value << self.length
        self.length += bits

    def bytes(self) -> bytes:
        return self.value.to_bytes(math.ceil(self.length / 8), "little")


def _vp8l_bitstream(width: int, height: int) -> bytes:
    """No transforms, no colour cache, one prefix-code group whose five codes each hold a single
    symbol: a single symbol takes zero bits, so every pixel is that colour and the pixel data is
    empty."""
    bits = _LsbBits()
    bits.write(width - 1, 14)
    bits.write(height - 1, 14)
    bits.write(0, 1)  # alpha unused
    bits.write(0, 3)  # version
    bits.write(0, 1)  # no transform
    bits.write(0, 1)  # no colour cache
    bits.write(0, 1)  # no meta prefix codes
    for symbol in (0x80, 0x40, 0xC0, 0xFF):  # green, red, blue, alpha
        bits.write(1, 1)  # simple code
        bits.write(0, 1)  # one symbol
        bits.write(1, 1)  # eight-bit symbol
        bits.write(symbol, 8)
    bits.write(1, 1)  # distance code: simple, one one-bit symbol, 0
    bits.write(0, 1)
    bits.write(0, 1)
    bits.write(0, 1)
    return b"\x2f" + bits.bytes()


def vp8_key_frame(width: int, height: int) -> bytes:
    """A VP8 key frame whose partitions are all zero bytes. A boolean decoder reading zeros
    decodes every flag as 0: no segmentation, no loop filter, quantiser 0, no probability updates,
    and per macroblock the first branch of each tree (B_PRED, B_DC_PRED, end of block), which is a
    valid flat picture. The partitions are long enough that decoding never runs out."""
    macroblocks = math.ceil(width / 16) * math.ceil(height / 16)
    # About 5 bits of modes and 10 of end-of-block tokens per macroblock decode from zeros; allow triple.
    first_partition = b"\x00" * (16 + 2 * macroblocks)
    tokens = b"\x00" * (16 + 4 * macroblocks)
    tag = 0 | (0 << 1) | (1 << 4) | (len(first_partition) << 5)  # key frame, version 0, shown
    return tag.to_bytes(3, "little") + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + first_partition + tokens


# GIF


def gif(*, width: int = 5, height: int = 7) -> bytes:
    """A GIF89a of one colour from a two-entry global palette."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # global palette of 2 entries
    palette = b"\x20\x60\xa0" + b"\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    data = _gif_lzw(width * height)
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    return b"GIF89a" + screen + palette + image + b"\x02" + blocks + b"\x00" + b"\x3b"


def _gif_lzw(pixels: int) -> bytes:
    """Pixels of palette index 0, coded as literals with a clear code before every pair so the
    code table never grows past 3-bit codes (no real compression, valid for every decoder)."""
    clear, end = 4, 5
    bits = _LsbBits()
    for start in range(0, pixels, 2):
        bits.write(clear, 3)
        for _ in range(min(2, pixels - start)):
            bits.write(0, 3)
    bits.write(end, 3)
    return bits.bytes()


# SVG


def svg(*, width: int = 64, height: int = 32, view_box_only: bool = False) -> bytes:
    size = "" if view_box_only else f' width="{width}" height="{height}"'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg"{size} viewBox="0 0 {width} {height}">'
        f'<rect width="{width // 2}" height="{height // 2}" fill="#3a7"/></svg>\n'
    ).encode()


# MP4 and QuickTime


def mp4(**options: Any) -> bytes:
    """The whole file ``mp4_chunks(**options)`` streams."""
    return b"".join(mp4_chunks(**options))


def mp4_chunks(
    *,
    width: int = 320,
    height: int = 240,
    seconds: float = 2.5,
    faststart: bool = True,
    brand: bytes = b"isom",
    mdat_bytes: int = 1024,
    version: int = 0,
    timescale: int = 1000,
    large_mdat: bool = False,
    chunk_size: int = 1 << 20,
) -> Iterator[bytes]:
    """ftyp, then moov before mdat (``faststart``) or after it. moov holds mvhd and two tracks: an
    Opus sound track first (its tkhd has no size; 20 ms packets that are a lone TOC byte) and then
    a VP8 video track of one key frame lasting the whole movie. ``version`` 1 writes mvhd, tkhd and
    mdhd with 64-bit times; ``large_mdat`` gives mdat a 64-bit size; ``brand`` b"qt  " makes a
    QuickTime movie. mdat holds the samples and then zeros up to ``mdat_bytes`` (when that is
    more), yielded ``chunk_size`` at a time."""
    duration = round(seconds * timescale)
    key_frame = vp8_key_frame(width, height)
    opus_packets = [b"\xf8"] * max(1, int(seconds * 50))  # never longer than the movie
    samples = key_frame + b"".join(opus_packets)
    padding = max(0, mdat_bytes - len(samples))
    if large_mdat:
        mdat_header = struct.pack(">I4sQ", 1, b"mdat", 16 + len(samples) + padding)
    else:
        mdat_header = struct.pack(">I4s", 8 + len(samples) + padding, b"mdat")
    compatible = [b"qt  "] if brand == b"qt  " else [brand, b"isom", b"iso2", b"mp41"]
    ftyp = _box(b"ftyp", brand + struct.pack(">I", 0x200) + b"".join(compatible))

    def movie(samples_offset: int) -> bytes:
        sound = _trak(
            version=version,
            track_id=1,
            duration=duration,
            media_timescale=48000,
            handler=b"soun",
            sample_entry=_opus_sample_entry(),
            sample_sizes=[len(packet) for packet in opus_packets],
            sample_delta=960,
            chunk_offset=samples_offset + len(key_frame),
        )
        video = _trak(
            version=version,
            track_id=2,
            duration=duration,
            media_timescale=timescale,
            handler=b"vide",
            sample_entry=_vp08_sample_entry(width, height),
            sample_sizes=[len(key_frame)],
            sample_delta=duration,
            chunk_offset=samples_offset,
            width=width,
            height=height,
        )
        return _box(b"moov", _mvhd(version, timescale, duration) + sound + video)

    # Chunk offsets are absolute, and moov's own size does not depend on them.
    before_samples = len(ftyp) + len(mdat_header) + (len(movie(0)) if faststart else 0)
    moov = movie(before_samples)
    yield ftyp + (moov if faststart else b"")
    yield mdat_header + samples
    zeros = bytes(min(chunk_size, padding))
    for start in range(0, padding, chunk_size):
        yield zeros[: min(chunk_size, padding - start)]
    if not faststart:
        yield moov


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags) + body)


_IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _times(version: int, duration: int, middle: int) -> bytes:
    """Creation and modification time, a timescale or a track ID, a duration; version 1 makes
    the times and the duration 64-bit."""
    if version == 1:
        return struct.pack(">QQIQ", 0, 0, middle, duration)
    return struct.pack(">IIII", 0, 0, middle, duration)


def _mvhd(version: int, timescale: int, duration: int) -> bytes:
    rest = struct.pack(">IH10x", 0x10000, 0x100) + _IDENTITY_MATRIX + bytes(24) + struct.pack(">I", 3)
    return _full_box(b"mvhd", version, 0, _times(version, duration, timescale) + rest)


def _trak(
    *,
    version: int,
    track_id: int,
    duration: int,
    media_timescale: int,
    handler: bytes,
    sample_entry: bytes,
    sample_sizes: list[int],
    sample_delta: int,
    chunk_offset: int,
    width: int = 0,
    height: int = 0,
) -> bytes:
    """A track whose samples sit in one chunk, all of the same duration."""
    # Creation and modification time, track ID, a reserved word, duration.
    ids = struct.pack(">QQIIQ" if version == 1 else ">IIIII", 0, 0, track_id, 0, duration)
    volume = 0x100 if handler == b"soun" else 0
    size = struct.pack(">II", width << 16, height << 16)  # 16.16 fixed point
    tkhd = _full_box(
        b"tkhd",
        version,
        3,  # enabled, in movie
        ids + bytes(8) + struct.pack(">HHHH", 0, 0, volume, 0) + _IDENTITY_MATRIX + size,
    )
    media_duration = len(sample_sizes) * sample_delta
    language = struct.pack(">HH", 0x55C4, 0)  # "und", then a pre-defined zero
    mdhd = _full_box(b"mdhd", version, 0, _times(version, media_duration, media_timescale) + language)
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4) + handler + bytes(12) + b"\x00")
    media_header = _full_box(b"vmhd", 0, 1, bytes(8)) if handler == b"vide" else _full_box(b"smhd", 0, 0, bytes(4))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1) + _full_box(b"url ", 0, 1, b"")))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1) + sample_entry)
        + _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(sample_sizes), sample_delta))
        + _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(sample_sizes), 1))
        + _full_box(b"stsz", 0, 0, struct.pack(f">II{len(sample_sizes)}I", 0, len(sample_sizes), *sample_sizes))
        + _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
    )
    minf = _box(b"minf", media_header + dinf + stbl)
    return _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))


def _vp08_sample_entry(width: int, height: int) -> bytes:
    # Reserved, data reference 1, pre-defined, size, 72 dpi both ways, one frame per sample, no
    # compressor name, 24-bit depth, no colour table.
    visual = bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HH", width, height)
    visual += struct.pack(">IIIH", 0x480000, 0x480000, 0, 1) + bytes(32) + struct.pack(">Hh", 0x18, -1)
    # vpcC: profile 0, level 1.0, 8-bit 4:2:0, BT.709 colour, no codec initialisation data.
    configuration = _full_box(b"vpcC", 1, 0, struct.pack(">BBBBBBH", 0, 10, 8 << 4 | 1 << 1, 1, 1, 1, 0))
    return _box(b"vp08", visual + configuration)


def _opus_sample_entry() -> bytes:
    audio = bytes(6) + struct.pack(">H", 1) + bytes(8) + struct.pack(">HHHHI", 1, 16, 0, 0, 48000 << 16)
    configuration = _box(b"dOps", struct.pack(">BBHIhB", 0, 1, 312, 48000, 0, 0))
    return _box(b"Opus", audio + configuration)


# WebM (Matroska)


def webm(
    *,
    width: int = 320,
    height: int = 240,
    seconds: float = 3.0,
    timecode_scale: int = 1_000_000,
    duration_bytes: int = 8,
    unknown_sizes: bool = False,
) -> bytes:
    """EBML header, then a Segment with Info (TimecodeScale, Duration as a 4- or 8-byte float in
    TimecodeScale units), Tracks (an Opus track, then a VP8 track with the size) and one Cluster
    holding a VP8 key frame. ``unknown_sizes`` writes Segment and Cluster with the all-ones size
    that live muxers use."""
    ticks = seconds * 1e9 / timecode_scale
    header = _ebml(
        0x1A45DFA3,
        _ebml_uint(0x4286, 1)
        + _ebml_uint(0x42F7, 1)
        + _ebml_uint(0x42F2, 4)
        + _ebml_uint(0x42F3, 8)
        + _ebml(0x4282, b"webm")
        + _ebml_uint(0x4287, 4)
        + _ebml_uint(0x4285, 2),
    )
    info = _ebml(
        0x1549A966,
        _ebml_uint(0x2AD7B1, timecode_scale)
        + _ebml(0x4489, struct.pack(">f" if duration_bytes == 4 else ">d", ticks))
        + _ebml(0x4D80, b"ig media samples")
        + _ebml(0x5741, b"ig media samples"),
    )
    audio_track = _ebml(
        0xAE,
        _ebml_uint(0xD7, 1)
        + _ebml_uint(0x73C5, 1)
        + _ebml_uint(0x83, 2)
        + _ebml(0x86, b"A_OPUS")
        + _ebml(0xE1, _ebml(0xB5, struct.pack(">d", 48000.0)) + _ebml_uint(0x9F, 1)),
    )
    video_track = _ebml(
        0xAE,
        _ebml_uint(0xD7, 2)
        + _ebml_uint(0x73C5, 2)
        + _ebml_uint(0x83, 1)
        + _ebml(0x86, b"V_VP8")
        + _ebml(0xE0, _ebml_uint(0xB0, width) + _ebml_uint(0xBA, height)),
    )
    tracks = _ebml(0x1654AE6B, audio_track + video_track)
    key_frame_block = _ebml(0xA3, b"\x82" + struct.pack(">h", 0) + b"\x80" + vp8_key_frame(width, height))
    cluster = _ebml(0x1F43B675, _ebml_uint(0xE7, 0) + key_frame_block, unknown_size=unknown_sizes)
    return header + _ebml(0x18538067, info + tracks + cluster, unknown_size=unknown_sizes)


def _ebml(element_id: int, body: bytes, *, unknown_size: bool = False) -> bytes:
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown_size else _ebml_size(len(body))
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size + body


def _ebml_size(value: int) -> bytes:
    for length in range(1, 9):
        if value < (1 << (7 * length)) - 1:  # all ones is reserved for "unknown"
            return ((1 << (7 * length)) | value).to_bytes(length, "big")
    raise ValueError("element too large")


def _ebml_uint(element_id: int, value: int) -> bytes:
    return _ebml(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


# WAV


def wav(*, seconds: float = 1.0, sample_rate: int = 8000, channels: int = 1, streamed: bool = False) -> bytes:
    """16-bit PCM, a quiet 440 Hz tone, round(seconds * sample_rate) frames, with a LIST/INFO chunk
    before the data as ffmpeg writes it. ``streamed`` leaves the RIFF and data sizes at all ones, as
    a writer that cannot seek back does."""
    frames = round(seconds * sample_rate)
    tone = (round(3000 * math.sin(2 * math.pi * 440 * index / sample_rate)) for index in range(frames))
    samples = b"".join(struct.pack("<h", value) * channels for value in tone)
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16)
    info = _riff_chunk(b"LIST", b"INFO" + _riff_chunk(b"ISFT", b"ig media samples\x00"))
    body = b"WAVE" + _riff_chunk(b"fmt ", fmt) + info
    if streamed:
        return b"RIFF" + b"\xff" * 4 + body + b"data" + b"\xff" * 4 + samples
    body += _riff_chunk(b"data", samples)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# FLAC


def flac(*, seconds: float = 2.0, sample_rate: int = 44100) -> bytes:
    """Mono 16-bit silence, round(seconds * sample_rate) samples: STREAMINFO, a PADDING block, then
    fixed-size frames of 4096 samples, each one CONSTANT subframe, with their CRC-8 and CRC-16."""
    total = round(seconds * sample_rate)
    block = 4096
    packed = sample_rate << 44 | (1 - 1) << 41 | (16 - 1) << 36 | total  # rate, channels-1, bits-1, samples
    streaminfo = struct.pack(">HH", block, block) + bytes(6) + struct.pack(">Q", packed) + bytes(16)
    metadata = b"\x00" + len(streaminfo).to_bytes(3, "big") + streaminfo + b"\x81" + (64).to_bytes(3, "big") + bytes(64)
    frames = []
    for number, start in enumerate(range(0, total, block)):
        size = min(block, total - start)
        # Sync, fixed blocking; size in 16 bits after the header, rate and sample size from STREAMINFO; mono.
        header = b"\xff\xf8" + bytes([0x70, 0x00]) + _utf8_number(number) + struct.pack(">H", size - 1)
        header += bytes([_crc8(header)])
        frame = header + b"\x00" + b"\x00\x00"  # CONSTANT subframe, value 0 in 16 bits
        frames.append(frame + struct.pack(">H", _crc16(frame)))
    return b"fLaC" + metadata + b"".join(frames)


def _utf8_number(number: int) -> bytes:
    """FLAC codes frame numbers like UTF-8, extended to 36 bits."""
    if number < 0x80:
        return bytes([number])
    length = 2
    while number >= 1 << (5 * length + 1):
        length += 1
    first = (0xFF << (8 - length)) & 0xFF | number >> (6 * (length - 1))
    return bytes([first] + [0x80 | (number >> (6 * index)) & 0x3F for index in reversed(range(length - 1))])


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x07 if crc & 0x80 else crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1 ^ 0x8005 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


# MP3


_MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)  # MPEG-1 Layer III, from index 1
_MP3_RATE_INDEX = {44100: 0, 48000: 1, 32000: 2}
MP3_SAMPLES_PER_FRAME = 1152


def mp3_frame_count(seconds: float, sample_rate: int) -> int:
    return round(seconds * sample_rate / MP3_SAMPLES_PER_FRAME)


def mp3_duration(seconds: float = 2.0, sample_rate: int = 44100) -> float:
    """How long ``mp3(seconds=..., sample_rate=...)`` really plays: a whole number of frames."""
    return mp3_frame_count(seconds, sample_rate) * MP3_SAMPLES_PER_FRAME / sample_rate


def mp3(
    *,
    seconds: float = 2.0,
    bitrate_kbps: int = 128,
    sample_rate: int = 44100,
    xing: bool = False,
    id3: bool = True,
    vbri: bool = False,
    id3_padding: int = 0,
) -> bytes:
    """MPEG-1 Layer III, stereo, constant bitrate, ``mp3_frame_count`` frames of silence (zero side
    information and no main data), padded frame by frame to the exact average rate. ``xing`` (or
    ``vbri``) puts an extra first frame holding a Xing (or VBRI) header that counts the audio
    frames. ``id3`` starts with an ID3v2.4 tag holding a title and ``id3_padding`` zeros."""
    frames = mp3_frame_count(seconds, sample_rate)
    bitrate = bitrate_kbps * 1000
    per_frame, remainder = divmod(144 * bitrate, sample_rate)
    lengths, carried = [], 0
    for _ in range(frames + (xing or vbri)):
        carried += remainder
        padded = carried >= sample_rate
        carried -= sample_rate if padded else 0
        lengths.append(per_frame + padded)
    audio = [_mp3_frame_header(bitrate_kbps, sample_rate, length > per_frame) + bytes(length - 4) for length in lengths]
    if xing or vbri:
        first = bytearray(audio[0])
        audio_bytes = sum(lengths)
        if xing:
            first[36:52] = b"Xing" + struct.pack(">III", 0x3, frames, audio_bytes)  # flags: frames, bytes
        else:
            first[36:62] = b"VBRI" + struct.pack(">HHHIIHHHH", 1, 0, 75, audio_bytes, frames, 0, 0, 0, 0)
        audio[0] = bytes(first)
    return (_id3v2(id3_padding) if id3 else b"") + b"".join(audio)


def _mp3_frame_header(bitrate_kbps: int, sample_rate: int, padded: bool) -> bytes:
    third = (1 + _MP3_BITRATES_KBPS.index(bitrate_kbps)) << 4 | _MP3_RATE_INDEX[sample_rate] << 2 | padded << 1
    return bytes([0xFF, 0xFB, third, 0x04])  # MPEG-1 Layer III without CRC; stereo, original


def _id3v2(padding: int) -> bytes:
    title = b"\x03" + b"ig media sample"  # text encoding 3: UTF-8
    frame = b"TIT2" + _syncsafe(len(title)) + b"\x00\x00" + title
    body = frame + bytes(padding)
    return b"ID3\x04\x00\x00" + _syncsafe(len(body)) + body


def _syncsafe(value: int) -> bytes:
    return bytes([(value >> 21) & 0x7F, (value >> 14) & 0x7F, (value >> 7) & 0x7F, value & 0x7F])


# Ogg


def ogg_vorbis(*, seconds: float = 1.5, sample_rate: int = 22050) -> bytes:
    """Vorbis in Ogg, mono: identification, comment and setup headers, then pages of one-byte audio
    packets whose last page's granule position is round(seconds * sample_rate). The setup header
    is a minimal valid one (one codebook, a floor 1 with no partitions, residue 0, one mapping,
    one short-block mode), under which each audio packet is a silent block of 256 samples."""
    total = round(seconds * sample_rate)
    identification = b"\x01vorbis" + struct.pack("<IBIiiiBB", 0, 1, sample_rate, 0, 64000, 0, 0x88, 1)
    vendor = b"ig media samples"
    comment = b"\x03vorbis" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0) + b"\x01"
    # Short and long blocks are both 256 samples (blocksize byte 0x88), so every packet after the
    # first adds 128 samples to the granule position.
    packets = 1 + math.ceil(total / 128)
    return _ogg_stream(
        serial=0x5EED,
        headers=[[identification], [comment, _vorbis_setup()]],
        packet=b"\x00",
        granules=[0] + [min(total, 128 * index) for index in range(1, packets)],
    )


def _vorbis_setup() -> bytes:
    bits = _LsbBits()
    bits.write(0, 8)  # one codebook
    bits.write(0x564342, 24)
    bits.write(1, 16)  # dimensions
    bits.write(2, 24)  # entries
    bits.write(0, 1)  # not ordered
    bits.write(0, 1)  # not sparse
    bits.write(0, 5)  # entry 0: length 1
    bits.write(0, 5)  # entry 1: length 1
    bits.write(0, 4)  # no lookup table
    bits.write(0, 6)  # one time-domain transform
    bits.write(0, 16)
    bits.write(0, 6)  # one floor
    bits.write(1, 16)  # floor type 1
    bits.write(0, 5)  # no partitions
    bits.write(0, 2)  # multiplier 1
    bits.write(7, 4)  # range bits
    bits.write(0, 6)  # one residue
    bits.write(0, 16)  # residue type 0
    bits.write(0, 24)  # begin
    bits.write(0, 24)  # end
    bits.write(0, 24)  # partition size 1
    bits.write(0, 6)  # one classification
    bits.write(0, 8)  # classbook 0
    bits.write(0, 3)  # no cascade bits
    bits.write(0, 1)
    bits.write(0, 6)  # one mapping
    bits.write(0, 16)  # mapping type 0
    bits.write(0, 1)  # one submap
    bits.write(0, 1)  # no coupling
    bits.write(0, 2)  # reserved
    bits.write(0, 8)  # submap 0: time (unused)
    bits.write(0, 8)  # floor 0
    bits.write(0, 8)  # residue 0
    bits.write(0, 6)  # one mode
    bits.write(0, 1)  # short block
    bits.write(0, 16)  # window type
    bits.write(0, 16)  # transform type
    bits.write(0, 8)  # mapping 0
    bits.write(1, 1)  # framing
    return b"\x05vorbis" + bits.bytes()


def ogg_opus(*, seconds: float = 1.5, pre_skip: int = 312) -> bytes:
    """Opus in Ogg, mono: OpusHead, OpusTags, then 20 ms packets that are a lone TOC byte (a
    CELT frame of length zero, which decoders conceal as silence). The last page's granule
    position is pre_skip + round(seconds * 48000), trimming the final packet."""
    total = round(seconds * 48000)
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 48000, 0, 0)
    vendor = b"ig media samples"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    packets = math.ceil((pre_skip + total) / 960)
    return _ogg_stream(
        serial=0x0915,
        headers=[[head], [tags]],
        packet=b"\xf8",  # TOC: config 31 (CELT, fullband, 20 ms), mono, one frame
        granules=[min(pre_skip + total, 960 * index) for index in range(1, packets + 1)],
    )


def _ogg_stream(*, serial: int, headers: list[list[bytes]], packet: bytes, granules: list[int]) -> bytes:
    """Header pages (the first marked beginning-of-stream), then audio pages of up to 50 packets;
    ``granules`` holds each audio packet's end granule, a page takes its last packet's."""
    pages = [
        ogg_page(packets, serial=serial, sequence=index, granule=0, flags=0x02 if index == 0 else 0)
        for index, packets in enumerate(headers)
    ]
    per_page = 50
    for start in range(0, len(granules), per_page):
        last = start + per_page >= len(granules)
        page_granules = granules[start : start + per_page]
        pages.append(
            ogg_page(
                [packet] * len(page_granules),
                serial=serial,
                sequence=len(pages),
                granule=page_granules[-1],
                flags=0x04 if last else 0,  # end of stream
            )
        )
    return b"".join(pages)


def ogg_page(packets: list[bytes], *, serial: int, sequence: int, granule: int, flags: int = 0) -> bytes:
    """One Ogg page holding whole packets, with its CRC."""
    lacing = b"".join(b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255]) for packet in packets)
    if len(lacing) > 255:
        raise ValueError("too many packets for one page")
    header = b"OggS" + struct.pack("<BBqIII", 0, flags, granule, serial, sequence, 0) + bytes([len(lacing)]) + lacing
    page = header + b"".join(packets)
    return page[:22] + struct.pack("<I", ogg_crc(page)) + page[26:]


def _ogg_crc_table() -> list[int]:
    table = []
    for index in range(256):
        crc = index << 24
        for _ in range(8):
            crc = (crc << 1 ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return table


_OGG_CRC_TABLE = _ogg_crc_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, no reflection, initial value 0, no final xor."""
    crc = 0
    for byte in data:
        crc = (crc << 8 & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[(crc >> 24) ^ byte]
    return crc


# glTF


def glb() -> bytes:
    """Binary glTF 2.0 holding only the JSON chunk of an empty asset."""
    document = json.dumps({"asset": {"version": "2.0", "generator": "ig media samples"}}).encode()
    document += b" " * (-len(document) % 4)  # chunks are 4-byte aligned, JSON padded with spaces
    chunk = struct.pack("<I4s", len(document), b"JSON") + document
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunk)) + chunk
