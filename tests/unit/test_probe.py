"""MediaProbe reads width, height and duration from every media type ig stores, whatever the
chunking, with bounded memory, and turns corrupt or truncated input into None fields."""

from __future__ import annotations

import hashlib
import itertools
import random
import struct
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest
from fixtures import media_samples as samples

from ig.adapters.local.files import FileBlobStore
from ig.byte_sources import ByteSource
from ig.library import media_types
from ig.library.probe import HEAD_LIMIT, MAX_BUFFERED_BYTES, MediaInfo, MediaProbe
from ig.library.streams import probe_stored
from ig.ports import StoredBlob

MB = 1_000_000


def image(width: int, height: int) -> MediaInfo:
    return MediaInfo(width=width, height=height)


def sound(seconds: float) -> MediaInfo:
    return MediaInfo(duration_seconds=seconds)


def video(width: int, height: int, seconds: float) -> MediaInfo:
    return MediaInfo(width=width, height=height, duration_seconds=seconds)


# (content type, file, what its headers say)
CASES = {
    "png": ("image/png", samples.png(), image(16, 16)),
    "png-wide": ("image/png", samples.png(width=3001, height=2, seed=7), image(3001, 2)),
    "jpeg": ("image/jpeg", samples.jpeg(), image(32, 24)),
    "jpeg-exif": ("image/jpeg", samples.jpeg(width=1025, height=769, exif_bytes=150_000), image(1025, 769)),
    "webp-lossless": ("image/webp", samples.webp(), image(20, 10)),
    "webp-lossy": ("image/webp", samples.webp(width=50, height=30, variant="VP8"), image(50, 30)),
    "webp-extended": ("image/webp", samples.webp(width=3000, height=2000, variant="VP8X"), image(3000, 2000)),
    "gif": ("image/gif", samples.gif(), image(5, 7)),
    "gif-large": ("image/gif", samples.gif(width=300, height=200), image(300, 200)),
    "svg": ("image/svg+xml", samples.svg(), image(64, 32)),
    "svg-viewbox": ("image/svg+xml", samples.svg(width=800, height=600, view_box_only=True), image(800, 600)),
    "mp4": ("video/mp4", samples.mp4(), video(320, 240, 2.5)),
    "mp4-moov-last": ("video/mp4", samples.mp4(faststart=False, mdat_bytes=300_000), video(320, 240, 2.5)),
    "mp4-v1-64bit": (
        "video/mp4",
        samples.mp4(width=1280, height=720, seconds=12.345, version=1, timescale=90000, large_mdat=True),
        video(1280, 720, 12.345),
    ),
    "mov": (
        "video/quicktime",
        samples.mp4(width=1920, height=1080, seconds=1.0, brand=b"qt  "),
        video(1920, 1080, 1.0),
    ),
    "webm": ("video/webm", samples.webm(), video(320, 240, 3.0)),
    "webm-live": (
        "video/webm",
        samples.webm(width=64, height=48, seconds=2.25, timecode_scale=1000, duration_bytes=4, unknown_sizes=True),
        video(64, 48, 2.25),
    ),
    "wav": ("audio/wav", samples.wav(), sound(1.0)),
    "wav-stereo": ("audio/wav", samples.wav(seconds=0.5, sample_rate=44100, channels=2), sound(0.5)),
    "wav-streamed": ("audio/wav", samples.wav(seconds=0.75, streamed=True), sound(0.75)),
    "flac": ("audio/flac", samples.flac(), sound(2.0)),
    "flac-48k": ("audio/flac", samples.flac(seconds=0.25, sample_rate=48000), sound(0.25)),
    "mp3-cbr": ("audio/mpeg", samples.mp3(seconds=2.4, sample_rate=48000), sound(2.4)),
    "mp3-cbr-padded": ("audio/mpeg", samples.mp3(), sound(round(samples.mp3_duration(2.0, 44100), 3))),
    "mp3-xing": ("audio/mpeg", samples.mp3(xing=True), sound(round(samples.mp3_duration(2.0, 44100), 3))),
    "mp3-vbri": (
        "audio/mpeg",
        samples.mp3(seconds=3.0, bitrate_kbps=64, sample_rate=32000, vbri=True, id3=False),
        sound(round(samples.mp3_duration(3.0, 32000), 3)),
    ),
    "ogg-vorbis": ("audio/ogg", samples.ogg_vorbis(), sound(1.5)),
    "ogg-vorbis-44k": ("audio/ogg", samples.ogg_vorbis(seconds=10.0, sample_rate=44100), sound(10.0)),
    "ogg-opus": ("audio/ogg", samples.ogg_opus(), sound(1.5)),
    "ogg-opus-long-pre-skip": ("audio/ogg", samples.ogg_opus(seconds=7.25, pre_skip=3840), sound(7.25)),
    "glb": ("model/gltf-binary", samples.glb(), MediaInfo()),
    "text": ("text/plain", b"a lighthouse at dusk\n", MediaInfo()),
    "json": ("application/json", b'{"width": 10, "height": 20}', MediaInfo()),
}
SMALL = {name: case for name, case in CASES.items() if len(case[1]) <= 64 * 1024}


def probe(content_type: str, chunks: Iterable[bytes]) -> MediaInfo:
    media_probe = MediaProbe(content_type)
    for chunk in chunks:
        media_probe.feed(chunk)
    assert media_probe.error is None
    return media_probe.result()


def one_byte_at_a_time(data: bytes) -> Iterator[bytes]:
    return (data[index : index + 1] for index in range(len(data)))


def random_chunks(data: bytes, seed: int, largest: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    position = 0
    while position < len(data):
        size = rng.randint(1, largest)
        yield data[position : position + size]
        position += size


def zeros(total: int) -> Iterator[bytes]:
    """``total`` zero bytes: the first 2 MB in thousands of small chunks (rolling buffers must trim
    themselves), the rest in chunks of rotating sizes up to 8 MiB, from a few shared buffers."""
    sizes = [997] * (2 * MB // 997) + [1 << 20, 8 << 20, 777, 1, 65537] * (total // (9 << 20) + 1)
    buffers = {size: bytes(size) for size in set(sizes)}
    sent = 0
    for size in sizes:
        size = min(size, total - sent)
        yield buffers.get(size) or bytes(size)
        sent += size


@pytest.mark.parametrize("name", [name for name in CASES if name not in ("text", "json")])
def test_every_sample_is_the_type_ig_sniffs(name: str) -> None:
    content_type, data, _ = CASES[name]
    assert media_types.sniff(data[:64]).content_type == content_type


@pytest.mark.parametrize("name", CASES)
def test_probe_reads_the_headers_from_one_chunk(name: str) -> None:
    content_type, data, expected = CASES[name]
    assert probe(content_type, [data]) == expected


@pytest.mark.parametrize("name", SMALL)
def test_probe_reads_the_headers_one_byte_at_a_time(name: str) -> None:
    content_type, data, expected = SMALL[name]
    assert probe(content_type, one_byte_at_a_time(data)) == expected


@pytest.mark.parametrize(("seed", "largest"), [(1, 7), (2, 300), (3, 70_000)])
@pytest.mark.parametrize("name", CASES)
def test_probe_reads_the_headers_from_random_chunks(name: str, seed: int, largest: int) -> None:
    content_type, data, expected = CASES[name]
    assert probe(content_type, random_chunks(data, seed, largest)) == expected


@pytest.mark.parametrize(
    ("content_type", "canonical"),
    [("image/jpg", "jpeg"), ("audio/mp3", "mp3-cbr"), ("audio/x-wav", "wav"), ("IMAGE/PNG; charset=binary", "png")],
)
def test_aliases_and_parameters_of_content_types_are_understood(content_type: str, canonical: str) -> None:
    _, data, expected = CASES[canonical]
    assert probe(content_type, [data]) == expected


@pytest.mark.parametrize("content_type", ["model/gltf-binary", "text/plain", "application/x-unknown", ""])
def test_types_without_headers_to_read_report_nothing_and_keep_nothing(content_type: str) -> None:
    media_probe = MediaProbe(content_type)
    media_probe.feed(samples.png())
    media_probe.feed(bytes(1 << 20))
    assert media_probe.result() == MediaInfo()
    assert media_probe.buffered_bytes == 0


# Streaming and memory


def test_mp4_with_moov_after_a_20_mb_mdat_is_read_while_streaming() -> None:
    media_probe = MediaProbe("video/mp4")
    largest_buffer = 0
    chunks = samples.mp4_chunks(
        width=1280, height=720, seconds=61.5, faststart=False, mdat_bytes=20 * MB, chunk_size=999_983
    )
    for chunk in chunks:
        media_probe.feed(chunk)
        largest_buffer = max(largest_buffer, media_probe.buffered_bytes)
    assert media_probe.result() == video(1280, 720, 61.5)
    assert largest_buffer <= 4096 + 16  # one wanted box and a box header, never the media data


def test_mp4_with_a_64_bit_mdat_size_is_skipped_by_counting() -> None:
    chunks = samples.mp4_chunks(seconds=4.0, faststart=False, mdat_bytes=6 * MB, large_mdat=True, version=1)
    assert probe("video/mp4", chunks) == video(320, 240, 4.0)


def stream_of(content_type: str, extra: int) -> Iterator[bytes]:
    """A file of the type followed by ``extra`` more bytes, built lazily: inside mdat for MP4,
    as samples for a streamed WAV, as further frames for MP3, as trailing data otherwise."""
    if content_type in ("video/mp4", "video/quicktime"):
        brand = b"qt  " if content_type == "video/quicktime" else b"isom"
        yield from samples.mp4_chunks(faststart=False, mdat_bytes=extra, brand=brand, chunk_size=3 << 20)
        return
    if content_type == "audio/mpeg":
        frame = samples.mp3(seconds=0.024, sample_rate=48000, id3=False)  # one 384-byte frame
        yield samples.mp3(seconds=0.024, sample_rate=48000)
        frames = frame * (2 * MB // len(frame))
        for _ in range(extra // len(frames)):
            yield frames
        return
    if content_type == "audio/wav":
        yield samples.wav(streamed=True)
    else:
        yield next(data for case_type, data, _ in CASES.values() if case_type == content_type)
    yield from zeros(extra)


@pytest.mark.parametrize("content_type", sorted({content_type for content_type, _, _ in CASES.values()}))
def test_buffers_stay_bounded_while_50_mb_stream_through(content_type: str) -> None:
    media_probe = MediaProbe(content_type)
    largest_buffer = 0
    for chunk in stream_of(content_type, 50 * MB):
        media_probe.feed(chunk)
        largest_buffer = max(largest_buffer, media_probe.buffered_bytes)
    assert largest_buffer <= MAX_BUFFERED_BYTES
    assert media_probe.error is None


def test_a_50_mb_streamed_wav_is_timed_by_the_bytes_seen() -> None:
    # 8000 Hz mono 16-bit is 16000 bytes a second; the sample itself lasts one second.
    assert probe("audio/wav", stream_of("audio/wav", 50 * MB)) == sound(1.0 + 50 * MB / 16000)


def test_a_50_mb_cbr_mp3_is_timed_by_its_size() -> None:
    frames = 1 + (50 * MB // (2 * MB // 384 * 384)) * (2 * MB // 384)
    assert probe("audio/mpeg", stream_of("audio/mpeg", 50 * MB)) == sound(round(frames * 0.024, 3))


def test_ogg_duration_comes_from_the_last_page_of_a_stream_longer_than_the_tail() -> None:
    data = samples.ogg_vorbis(seconds=300.0, sample_rate=48000)
    assert len(data) > 4 * 64 * 1024
    assert probe("audio/ogg", random_chunks(data, 4, 10_000)) == sound(300.0)


def test_mp3_after_an_id3_tag_larger_than_the_head_buffer() -> None:
    data = samples.mp3(seconds=1.2, sample_rate=48000, bitrate_kbps=320, id3_padding=600_000)
    assert probe("audio/mpeg", random_chunks(data, 5, 50_000)) == sound(1.2)


def test_mp3_junk_that_looks_like_a_frame_header_is_passed_over() -> None:
    # A lone 64 kbps "header" whose successor would be in the middle of the real frames.
    data = b"\xff\xfb\x50\x00" + bytes(100) + samples.mp3(seconds=2.4, sample_rate=48000, id3=False)
    assert probe("audio/mpeg", [data]) == sound(2.4)


def test_mp3_without_xing_is_timed_without_its_id3v1_tag() -> None:
    data = samples.mp3(seconds=2.4, sample_rate=48000) + b"TAG" + b"\x00" * 125
    assert probe("audio/mpeg", [data]) == sound(2.4)


def test_jpeg_fill_bytes_before_a_marker_are_skipped() -> None:
    data = samples.jpeg(width=99, height=77)
    assert data.count(b"\xff\xc0") == 1
    assert probe("image/jpeg", [data.replace(b"\xff\xc0", b"\xff\xff\xff\xc0")]) == image(99, 77)


def test_jpeg_whose_frame_header_lies_beyond_the_head_buffer_is_given_up() -> None:
    data = samples.jpeg(exif_bytes=HEAD_LIMIT + 1000)
    assert data.find(b"\xff\xc0") > HEAD_LIMIT
    assert probe("image/jpeg", random_chunks(data, 6, 100_000)) == MediaInfo()


# Details of single formats


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def full_box(kind: bytes, version: int, body: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + body)


def test_fragmented_mp4_takes_its_duration_from_mehd() -> None:
    mvhd = full_box(b"mvhd", 0, struct.pack(">IIII", 0, 0, 1000, 0) + bytes(80))
    tkhd = full_box(b"tkhd", 0, bytes(72) + struct.pack(">II", 640 << 16, 360 << 16))
    mvex = box(b"mvex", full_box(b"mehd", 1, struct.pack(">Q", 4200)) + full_box(b"trex", 0, bytes(20)))
    data = box(b"ftyp", b"iso6" + bytes(4)) + box(b"moov", mvhd + box(b"trak", tkhd) + mvex) + box(b"moof", bytes(64))
    assert probe("video/mp4", one_byte_at_a_time(data)) == video(640, 360, 4.2)


def test_mp4_size_comes_from_the_first_track_with_one() -> None:
    mvhd = full_box(b"mvhd", 0, struct.pack(">IIII", 0, 0, 1000, 500) + bytes(80))
    sound_tkhd = full_box(b"tkhd", 0, bytes(80))
    video_tkhd = full_box(b"tkhd", 0, bytes(72) + struct.pack(">II", 640 << 16, 360 << 16))
    thumbnail_tkhd = full_box(b"tkhd", 0, bytes(72) + struct.pack(">II", 160 << 16, 90 << 16))
    tracks = b"".join(box(b"trak", tkhd) for tkhd in (sound_tkhd, video_tkhd, thumbnail_tkhd))
    data = box(b"ftyp", b"isom" + bytes(4)) + box(b"moov", mvhd + tracks)
    assert probe("video/mp4", [data]) == video(640, 360, 0.5)


def test_mp4_box_that_claims_to_be_huge_is_not_buffered() -> None:
    headers = struct.pack(">I4sI4s", 16 + 30 * MB, b"moov", 8 + 30 * MB, b"mvhd")
    media_probe = MediaProbe("video/mp4")
    largest_buffer = 0
    for chunk in itertools.chain([box(b"ftyp", b"isom" + bytes(4)), headers], zeros(30 * MB)):
        media_probe.feed(chunk)
        largest_buffer = max(largest_buffer, media_probe.buffered_bytes)
    assert media_probe.result() == MediaInfo()
    assert largest_buffer <= 4096 + 16


def test_mp4_whose_last_box_runs_to_the_end_of_the_file() -> None:
    data = bytearray(samples.mp4(seconds=3.0))
    mdat = data.find(b"mdat") - 4
    data[mdat : mdat + 4] = bytes(4)  # size 0: to the end of the file
    assert probe("video/mp4", [bytes(data)]) == video(320, 240, 3.0)


def test_mp4_with_a_fractional_track_size_rounds_it() -> None:
    mvhd = full_box(b"mvhd", 0, struct.pack(">IIII", 0, 0, 600, 900) + bytes(80))
    tkhd = full_box(b"tkhd", 0, bytes(72) + struct.pack(">II", 853 << 16 | 0xA000, 480 << 16))
    data = box(b"ftyp", b"qt  " + bytes(4)) + box(b"moov", mvhd + box(b"trak", tkhd))
    assert probe("video/quicktime", [data]) == video(854, 480, 1.5)


def test_quicktime_zero_terminator_at_the_end_of_an_atom_list_is_passed_over() -> None:
    mvhd = full_box(b"mvhd", 0, struct.pack(">IIII", 0, 0, 1000, 2000) + bytes(80))
    sound_tkhd = full_box(b"tkhd", 0, bytes(80))
    video_tkhd = full_box(b"tkhd", 0, bytes(72) + struct.pack(">II", 100 << 16, 50 << 16))
    moov = box(b"moov", mvhd + box(b"trak", sound_tkhd + bytes(4)) + box(b"trak", video_tkhd))
    assert probe("video/quicktime", one_byte_at_a_time(box(b"ftyp", b"qt  " + bytes(4)) + moov)) == video(100, 50, 2.0)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="64px" height="32px"/>', image(64, 32)),
        (b"<svg width='10.4' height='20.6' stroke-width='3'></svg>", image(10, 21)),
        (b'<svg width="100%" height="100%" viewBox="0,0,300,150"></svg>', image(300, 150)),
        (b'<svg width="600" viewBox="0 0 300 150"></svg>', image(600, 300)),
        (b'<svg height="10cm"></svg>', MediaInfo()),
        (b'<svg viewBox="0 0 0 150"></svg>', MediaInfo()),
        (b"<svg></svg>", MediaInfo()),
        (b'<!-- <svg width="1" height="1"> -->\n<svg width="40" height="30"></svg>', image(40, 30)),
        (b"<html><body>not an image</body></html>", MediaInfo()),
    ],
)
def test_svg_sizes(document: bytes, expected: MediaInfo) -> None:
    assert probe("image/svg+xml", [document]) == expected


def ogg_stream(*pages: bytes) -> bytes:
    opus_head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 0, 48000, 0, 0)  # no pre-skip
    head = samples.ogg_page([opus_head], serial=9, sequence=0, granule=0, flags=2)
    tags = samples.ogg_page([b"OpusTags" + bytes(8)], serial=9, sequence=1, granule=0)
    return head + tags + b"".join(pages)


def test_ogg_capture_pattern_inside_packet_data_is_not_taken_for_a_page() -> None:
    fake_page = b"OggS\x00\x04" + struct.pack("<q", 999_999_999) + bytes(20)
    data = ogg_stream(samples.ogg_page([b"\xf8" + fake_page], serial=9, sequence=2, granule=96_000, flags=4))
    assert probe("audio/ogg", [data]) == sound(2.0)


def test_ogg_ignores_other_streams_and_pages_where_no_packet_ends() -> None:
    data = ogg_stream(
        samples.ogg_page([b"\xf8"] * 10, serial=9, sequence=2, granule=48_000),
        samples.ogg_page([b"\x00" * 40], serial=77, sequence=0, granule=5_000_000),  # another stream
        samples.ogg_page([b"\xf8"] * 3, serial=9, sequence=3, granule=-1),
    )
    assert probe("audio/ogg", [data]) == sound(1.0)


def test_wav_whose_data_size_was_left_at_zero_counts_the_bytes_seen() -> None:
    data = samples.wav(seconds=0.5, streamed=True).replace(b"data\xff\xff\xff\xff", b"data\x00\x00\x00\x00")
    assert probe("audio/wav", [data]) == sound(0.5)


# Truncated and corrupt input


@pytest.mark.parametrize("name", CASES)
def test_a_file_cut_to_its_magic_number_reports_nothing(name: str) -> None:
    content_type, data, _ = CASES[name]
    assert probe(content_type, [data[:8]]) == MediaInfo()


@pytest.mark.parametrize("name", CASES)
def test_damaged_files_never_break_the_probe(name: str) -> None:
    content_type, data, _ = CASES[name]
    rng = random.Random(name)
    for _ in range(25):
        damaged = bytearray(data[: rng.randint(0, len(data))])
        for _ in range(rng.randint(1, 8)):
            if damaged:
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        media_probe = MediaProbe(content_type)
        for chunk in random_chunks(bytes(damaged), rng.randrange(1000), 5000):
            media_probe.feed(chunk)
        media_probe.result()
        assert media_probe.error is None


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/png", samples.png().replace(b"IHDR", b"IHDX")),
        ("image/jpeg", b"\xff\xd8" + b"\xff\xda\x00\x08" + bytes(6) + samples.jpeg()[2:]),  # scan before any frame
        ("image/jpeg", b"\xff\xd8\xff\xe1\x00\x01" + samples.jpeg()[2:]),  # segment length below 2
        ("image/webp", samples.webp(variant="VP8").replace(b"\x9d\x01\x2a", b"\x00\x00\x00")),
        ("image/gif", b"GIF90a" + samples.gif()[6:]),
        ("video/mp4", struct.pack(">I4s", 4, b"ftyp") + samples.mp4()[8:]),  # box smaller than its header
        ("video/mp4", box(b"moov", struct.pack(">I4s", 1000, b"trak"))),  # child larger than its parent
        ("video/webm", b"\x1a\x45\xdf\xa3\x00" + bytes(40)),
        ("audio/wav", samples.wav().replace(b"fmt ", b"fmx ")),
        ("audio/flac", samples.flac()[:18] + bytes(8) + samples.flac()[26:]),  # rate and samples zeroed
        ("audio/mpeg", samples.mp3(seconds=0) + bytes(20_000)),  # an ID3 tag and then no frames
        ("audio/ogg", samples.ogg_opus()[:-5]),  # last page cut short
        ("audio/ogg", samples.ogg_page([b"\x01vorbis" + bytes(23)], serial=1, sequence=0, granule=1000)),
    ],
)
def test_corrupt_headers_give_none_fields(content_type: str, data: bytes) -> None:
    assert probe(content_type, [data]) == MediaInfo()


def test_garbage_under_every_type_gives_none_fields() -> None:
    garbage = random.Random(0).randbytes(300_000)
    for content_type in {content_type for content_type, _, _ in CASES.values()}:
        assert probe(content_type, random_chunks(garbage, 7, 40_000)) == MediaInfo(), content_type


# --- probing a stored blob by ranged reads (the Worker stores known-length downloads natively) --

LARGE = {
    "mp4-moov-after-20-MB": ("video/mp4", samples.mp4(faststart=False, mdat_bytes=20 * MB), video(320, 240, 2.5)),
    "mp3-id3-600-KB": ("audio/mpeg", samples.mp3(id3_padding=600_000), sound(round(samples.mp3_duration(), 3))),
    "ogg-vorbis-20-min": ("audio/ogg", samples.ogg_vorbis(seconds=1200.0), sound(1200.0)),
    "ogg-opus-1-h": ("audio/ogg", samples.ogg_opus(seconds=3600.0), sound(3600.0)),
    "wav-10-MB": ("audio/wav", samples.wav(seconds=10 * MB / 8000), sound(10 * MB / 8000)),
}


class CountingReads:
    """The blob store port, counting the bytes its ranged reads return."""

    def __init__(self, inner: FileBlobStore) -> None:
        self.inner, self.reads, self.bytes_read = inner, 0, 0

    async def get(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredBlob | None:
        self.reads += 1
        return await self.inner.get(key, byte_range)

    async def iter_bytes(self, blob: StoredBlob) -> AsyncIterator[bytes]:
        async for chunk in self.inner.iter_bytes(blob):
            self.bytes_read += len(chunk)
            yield chunk


@pytest.mark.parametrize("name", [*CASES, *LARGE])
async def test_a_stored_blob_probed_by_ranged_reads_says_what_the_streamed_probe_says(name: str, tmp_path) -> None:
    content_type, data, expected = {**CASES, **LARGE}[name]
    store = FileBlobStore(tmp_path)
    stored = await store.put("blob", ByteSource(random_chunks_async(data)), content_type=content_type, metadata={})
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    reads = CountingReads(store)
    media_probe = MediaProbe(content_type)
    await probe_stored(reads, "blob", stored.size, media_probe)
    assert media_probe.error is None
    assert media_probe.result() == expected == probe(content_type, [data])
    # Only the parts the format keeps its headers in are read: the head and, where the length is
    # only known at the end (MP4 with moov last, MP3's ID3v1 tag, Ogg), the tail.
    assert reads.bytes_read <= min(len(data), 3 * HEAD_LIMIT), reads.bytes_read
    assert reads.reads <= 4


async def random_chunks_async(data: bytes) -> AsyncIterator[bytes]:
    for chunk in random_chunks(data, 5, 70_000):
        yield chunk
