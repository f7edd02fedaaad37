"""Video posters on the local runtime (PyAV, then the same Pillow code as images) on real files of
the local blob store: videos PyAV itself encodes (H.264 MP4, VP8 WebM) and the mock provider's
QuickTime movies. The poster is the frame at one second (the first of a shorter video), a WebP of
at most 512 px a side with the video's aspect; what is not a readable video of its declared type,
or has frames over the pixel limit, is refused cleanly (``ThumbnailRefused``)."""

from __future__ import annotations

import io

import av
import pytest
from PIL import Image

from ig.adapters.local.files import FileBlobStore
from ig.adapters.local.thumbnails import PillowThumbnailer
from ig.byte_sources import of_bytes
from ig.ports import Thumbnail, ThumbnailRefused
from ig.providers.mock_video import movie, solid_png

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (30, 40, 220)
FPS = 32


def _video(container: str, codec: str, size: tuple[int, int], colours: list[tuple[int, int, int]]) -> bytes:
    """A real video PyAV encodes: one frame of each of ``colours``, at ``FPS`` frames a second."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=FPS)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index, colour in enumerate(colours):
            frame = av.VideoFrame.from_image(Image.new("RGB", size, colour))
            frame.pts = index
            for packet in stream.encode(frame):
                muxer.mux(packet)
        for packet in stream.encode(None):
            muxer.mux(packet)
    return out.getvalue()


async def _poster(tmp_path, data: bytes, content_type: str) -> Thumbnail:
    store = FileBlobStore(tmp_path / "blobs")
    await store.put("artifacts/v", of_bytes(data), content_type=content_type, metadata={})
    blob = await store.get("artifacts/v")
    assert blob is not None
    return await PillowThumbnailer().poster(blob, content_type, None)


def _decoded(made: Thumbnail) -> Image.Image:
    image = Image.open(io.BytesIO(made.data))
    assert image.format == "WEBP" and image.size == (made.width, made.height)
    return image.convert("RGB")


def _near(found: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    """Within what YUV 4:2:0 and lossy WebP do to a flat colour."""
    return all(abs(a - b) <= 24 for a, b in zip(found, expected, strict=True))


def test_pyav_is_installed_here_so_the_local_thumbnailer_makes_posters():
    assert PillowThumbnailer().makes_posters


@pytest.mark.parametrize(
    ("container", "codec", "content_type"),
    [("mp4", "libx264", "video/mp4"), ("webm", "libvpx", "video/webm")],
)
async def test_the_poster_is_the_frame_at_one_second_as_a_webp_of_at_most_512_px(
    tmp_path, container, codec, content_type
):
    # 64 frames (2 s): red for the first second, blue after it.
    data = _video(container, codec, (1280, 720), [RED] * FPS + [BLUE] * FPS)
    made = await _poster(tmp_path, data, content_type)
    assert (made.width, made.height) == (512, 288)  # 16:9 kept
    image = _decoded(made)
    assert _near(image.getpixel((256, 144)), BLUE) and _near(image.getpixel((5, 5)), BLUE)


async def test_a_video_shorter_than_a_second_gives_its_first_frame_and_a_small_one_is_not_enlarged(tmp_path):
    data = _video("mp4", "libx264", (320, 240), [GREEN] + [RED] * 9)  # 10 frames: under a second
    made = await _poster(tmp_path, data, "video/mp4")
    assert (made.width, made.height) == (320, 240)
    assert _near(_decoded(made).getpixel((160, 120)), GREEN)


async def test_the_mock_providers_quicktime_movies_give_posters_of_their_colour(tmp_path):
    data = movie(solid_png(GREEN, 600, 900), 600, 900, seconds=3)
    made = await _poster(tmp_path, data, "video/quicktime")
    assert (made.width, made.height) == (341, 512)  # portrait: the height is the longest side
    assert _near(_decoded(made).getpixel((170, 256)), GREEN)


def _mp4() -> bytes:
    return _video("mp4", "libx264", (64, 48), [RED] * 40)


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("an image", solid_png(RED, 64, 64), "video/mp4"),
        ("noise", bytes(range(256)) * 64, "video/mp4"),
        ("a truncated MP4 (its index lost)", _mp4()[: len(_mp4()) // 2], "video/mp4"),
        ("an MP4 said to be WebM", _mp4(), "video/webm"),
        ("a type no poster is taken from", _mp4(), "video/x-msvideo"),
        ("an empty file", b"", "video/quicktime"),
    ],
)
async def test_what_is_not_a_readable_video_of_its_type_is_refused(tmp_path, name, data, content_type):
    with pytest.raises(ThumbnailRefused):
        await _poster(tmp_path, data, content_type)


async def test_a_video_whose_frames_are_over_the_pixel_limit_is_refused_without_decoding_them(tmp_path):
    # A real 8000 x 7000 frame (56 million pixels, over THUMBNAIL_MAX_SOURCE_PIXELS): FFmpeg refuses it.
    data = movie(solid_png(RED, 8000, 7000), 8000, 7000, seconds=2)
    with pytest.raises(ThumbnailRefused, match="frames over 50000000 pixels"):
        await _poster(tmp_path, data, "video/quicktime")
