"""The mock provider's videos: real QuickTime movies that any player and FFmpeg decode, written
without a video library (the mock also runs on the Worker). Every frame is one PNG of a single
colour chosen by the seed, stored once and referenced by each sample, so even a long or large
movie is a few kilobytes. A poster taken from one is that colour everywhere, which is what lets
the tests tell a frame's poster from a provider-supplied one."""

from __future__ import annotations

import hashlib
import math
import struct
import zlib

TIMESCALE = 1000
"""Media time units a second: sample durations in milliseconds."""
_IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def frame_colour(seed: int) -> tuple[int, int, int]:
    """The colour of every frame of the seed's movie."""
    red, green, blue = hashlib.sha256(f"video/{seed}".encode()).digest()[:3]
    return red, green, blue


def solid_png(colour: tuple[int, int, int], width: int, height: int) -> bytes:
    """A ``width`` x ``height`` RGB PNG of one colour, compressed a row at a time."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(colour) * width
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def movie(frame: bytes, width: int, height: int, seconds: float) -> bytes:
    """A QuickTime movie (``video/quicktime``) of ``seconds``, a frame a second (one frame for a
    movie under a second), ``width`` x ``height``, every frame the PNG ``frame``: ftyp, mdat, moov."""
    ftyp = _box(b"ftyp", b"qt  " + struct.pack(">I", 0x200) + b"qt  ")
    mdat = _box(b"mdat", frame)
    return ftyp + mdat + _moov(width, height, seconds, len(frame), frame_offset=len(ftyp) + 8)


def _moov(width: int, height: int, seconds: float, frame_size: int, frame_offset: int) -> bytes:
    duration = max(1, round(seconds * TIMESCALE))
    frames = max(1, math.floor(seconds))
    last = duration - TIMESCALE * (frames - 1)  # the last frame lasts what is left
    deltas = ([(frames - 1, TIMESCALE)] if frames > 1 else []) + [(1, last)]
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, TIMESCALE, duration)
        + struct.pack(">IH10x", 0x10000, 0x100)
        + _IDENTITY_MATRIX
        + bytes(24)
        + struct.pack(">I", 2),
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        3,  # enabled, in the movie
        struct.pack(">IIII", 0, 0, 1, 0)
        + struct.pack(">I8xhhH2x", duration, 0, 0, 0)
        + _IDENTITY_MATRIX
        + struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, duration, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, b"mhlr" + b"vide" + bytes(12) + b"\x00")
    vmhd = _full_box(b"vmhd", 0, 1, bytes(8))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1) + _full_box(b"url ", 0, 1, b"")))
    png_entry = _box(
        b"png ",
        bytes(6)
        + struct.pack(">H", 1)  # data reference index
        + bytes(16)
        + struct.pack(">HHIIIH", width, height, 0x480000, 0x480000, 0, 1)
        + bytes(32)  # compressor name
        + struct.pack(">Hh", 24, -1),
    )
    stsd = _full_box(b"stsd", 0, 0, struct.pack(">I", 1) + png_entry)
    stts = _full_box(b"stts", 0, 0, struct.pack(">I", len(deltas)) + b"".join(struct.pack(">II", *d) for d in deltas))
    stsc = _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 1, 1))  # a sample a chunk
    stsz = _full_box(b"stsz", 0, 0, struct.pack(">II", 0, frames) + struct.pack(">I", frame_size) * frames)
    stco = _full_box(b"stco", 0, 0, struct.pack(">I", frames) + struct.pack(">I", frame_offset) * frames)
    stbl = _box(b"stbl", stsd + stts + stsc + stsz + stco)
    minf = _box(b"minf", vmhd + dinf + stbl)
    trak = _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))
    return _box(b"moov", mvhd + trak)


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags) + body)
