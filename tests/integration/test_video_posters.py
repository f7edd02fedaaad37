"""Video posters on the local runtime (PyAV, installed here): a video artifact, made by the mock
provider or uploaded, gets a WebP thumbnail like an image, through the same record, blob prefix
and route; a poster the provider made comes first (and is not kept beside it), a frame of the
video when it has none or it cannot be had; a runtime that takes no frames leaves videos pending
and untried; videos stored before posters are backfilled by the sweeper."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import av
from fixtures.ports import use_ports
from fixtures.thumbnails import assert_thumbnail_of, later, made_artifacts, thumbnail_rows
from PIL import Image, ImageStat

from ig.adapters.local.thumbnails import PillowThumbnailer
from ig.completion import sweeper
from ig.library import thumbnails

MIGRATION = Path(__file__).resolve().parents[2] / "src" / "ig" / "migrations" / "0009_video_posters.sql"


def video_job(width: int = 1280, height: int = 720, *, poster: bool = False, seconds: float = 3) -> dict[str, Any]:
    params: dict[str, Any] = {"positivePrompt": "a boat", "width": width, "height": height, "duration": seconds}
    if poster:
        params["mockPoster"] = True
    return {"provider": "mock", "model": "mock", "task": "videoInference", "params": params}


def frame_colour(ig: Any, artifact: dict[str, Any]) -> tuple[int, int, int]:
    """The colour at the centre of the stored video's frame at one second, decoded here."""
    [row] = ig.rows("SELECT blob_key FROM artifacts WHERE id = ?", (artifact["id"],))
    with av.open(str(ig.data_dir / "blobs" / row["blob_key"])) as container:
        frame = next(f for f in container.decode(video=0) if f.time >= 1)
        image = frame.to_image()
        return image.getpixel((image.width // 2, image.height // 2))


async def served_thumbnail(ig: Any, artifact: dict[str, Any]) -> Image.Image:
    view = (await ig.client.get(f"/v1/artifacts/{artifact['id']}")).json()
    assert view["thumbnail_url"] == f"{ig.url}/v1/artifacts/{artifact['id']}/thumbnail"
    answer = await ig.client.get(view["thumbnail_url"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/webp"
    assert_thumbnail_of(ig, view, answer.content)
    return Image.open(io.BytesIO(answer.content)).convert("RGB")


def near(found: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    return all(abs(a - b) <= 16 for a, b in zip(found, expected, strict=True))


def posters_left(ig: Any) -> list[Path]:
    return list((ig.data_dir / "blobs").glob("posters/*"))


async def test_a_made_video_gets_a_poster_frame_as_its_webp_thumbnail(start_ig):
    ig = await start_ig(None, webhooks=False)
    [video] = await made_artifacts(ig, video_job(1280, 720))
    assert (video["kind"], video["content_type"]) == ("video", "video/quicktime")
    thumbnail = await served_thumbnail(ig, video)
    row = thumbnail_rows(ig, video["id"])
    assert row["thumbnail_key"] == f"thumbnails/{video['id']}.webp" and row["thumbnail_attempts"] == 1
    assert thumbnail.size == (512, 288)
    assert near(thumbnail.getpixel((256, 144)), frame_colour(ig, video))
    assert ig.rows("SELECT poster_url FROM artifacts WHERE id = ?", (video["id"],)) == [{"poster_url": None}]


async def test_a_providers_poster_comes_first_and_is_not_kept(start_ig):
    ig = await start_ig(None, webhooks=False)
    [video] = await made_artifacts(ig, video_job(1000, 500, poster=True))
    [row] = ig.rows("SELECT poster_url FROM artifacts WHERE id = ?", (video["id"],))
    assert row["poster_url"].startswith("mock://image/")
    thumbnail = await served_thumbnail(ig, video)
    assert thumbnail.size == (512, 256)
    # The mock's poster is its banded image; every frame of its movie is one flat colour.
    assert not near(thumbnail.getpixel((256, 128)), frame_colour(ig, video))
    assert max(ImageStat.Stat(thumbnail).stddev) > 10
    assert posters_left(ig) == []


async def test_a_poster_that_cannot_be_had_gives_way_to_a_frame(start_ig):
    ig = await start_ig(None, webhooks=False)
    use_ports(ig, thumbnailer=None)  # stored while nothing is made
    [video] = await made_artifacts(ig, video_job(640, 480, poster=True))
    conn = sqlite3.connect(ig.data_dir / "ig.sqlite3")
    with conn:  # a URL the provider cannot serve (as an expired one)
        conn.execute("UPDATE artifacts SET poster_url = 'mock://gone/1' WHERE id = ?", (video["id"],))
    conn.close()
    use_ports(ig, thumbnailer=PillowThumbnailer())
    assert (await sweeper.sweep(later(ig, hours=1))).thumbnails_requested == 1
    await ig.drained()
    thumbnail = await served_thumbnail(ig, video)
    assert near(thumbnail.getpixel((256, 192)), frame_colour(ig, video))
    assert thumbnail_rows(ig, video["id"])["thumbnail_error"] is None and posters_left(ig) == []


async def test_a_poster_over_the_size_bound_gives_way_to_a_frame_and_leaves_nothing(start_ig, monkeypatch):
    monkeypatch.setattr(thumbnails, "MAX_POSTER_BYTES", 100)  # the mock's banded PNG is larger
    ig = await start_ig(None, webhooks=False)
    [video] = await made_artifacts(ig, video_job(640, 480, poster=True))
    thumbnail = await served_thumbnail(ig, video)
    assert near(thumbnail.getpixel((256, 192)), frame_colour(ig, video))
    assert thumbnail_rows(ig, video["id"])["thumbnail_error"] is None and posters_left(ig) == []


async def test_an_uploaded_video_gets_a_poster_too(start_ig):
    ig = await start_ig(None, webhooks=False)
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as muxer:
        stream = muxer.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 360, 640, "yuv420p"
        for index in range(20):
            frame = av.VideoFrame.from_image(Image.new("RGB", (360, 640), (20, 180, 60)))
            frame.pts = index
            muxer.mux(stream.encode(frame))
        muxer.mux(stream.encode(None))
    answer = await ig.client.post("/v1/uploads", content=out.getvalue(), headers={"content-type": "video/webm"})
    assert answer.status_code == 201, answer.text
    upload = answer.json()
    await ig.drained()
    thumbnail = await served_thumbnail(ig, (await ig.client.get(f"/v1/artifacts/{upload['id']}")).json())
    assert thumbnail.size == (288, 512) and near(thumbnail.getpixel((144, 256)), (20, 180, 60))


async def test_without_a_way_to_take_frames_videos_stay_pending_untried_but_provider_posters_are_made(start_ig):
    ig = await start_ig(None, webhooks=False)
    without_pyav = PillowThumbnailer()
    without_pyav.makes_posters = False  # as on a runtime without the video extra
    use_ports(ig, thumbnailer=without_pyav)
    [plain] = await made_artifacts(ig, video_job(640, 360))
    [with_poster] = await made_artifacts(ig, video_job(640, 360, poster=True))
    row = thumbnail_rows(ig, plain["id"])
    assert (row["thumbnail_state"], row["thumbnail_attempts"], row["thumbnail_error"]) == ("pending", 0, None)
    assert plain["thumbnail_url"] is None
    for hours in (1, 24, 24 * 30):  # never claimed, so never counts a try nor fails
        assert (await sweeper.sweep(later(ig, hours=hours))).thumbnails_requested == 0
    assert thumbnail_rows(ig, plain["id"])["thumbnail_attempts"] == 0
    assert (await served_thumbnail(ig, with_poster)).size == (512, 288)
    # Once frames can be taken, the sweeper makes it.
    use_ports(ig, thumbnailer=PillowThumbnailer())
    assert (await sweeper.sweep(later(ig, hours=1))).thumbnails_requested == 1
    await ig.drained()
    assert (await served_thumbnail(ig, plain)).size == (512, 288)


async def test_the_sweeper_backfills_videos_stored_before_posters(start_ig):
    ig = await start_ig(None, webhooks=False)
    use_ports(ig, thumbnailer=None)
    job = video_job(800, 600)
    job["params"]["numberResults"] = 2
    videos = await made_artifacts(ig, job)
    conn = sqlite3.connect(ig.data_dir / "ig.sqlite3")
    with conn:
        # What migration 0008 planned for a video (nothing to make), then what 0009 does to it.
        conn.execute("UPDATE artifacts SET thumbnail_state = NULL, thumbnail_due_at = NULL")
        backfill = MIGRATION.read_text().split(";")[-2]
        assert backfill.strip().startswith("-- Videos stored since 0008") and "UPDATE artifacts" in backfill
        conn.execute(backfill)
    conn.close()
    assert [thumbnail_rows(ig, v["id"])["thumbnail_due_at"] for v in videos] == ["", ""]
    use_ports(ig, thumbnailer=PillowThumbnailer())
    assert (await sweeper.sweep(ig.runtime.deps)).thumbnails_requested == 2
    await ig.drained()
    for video in videos:
        assert (await served_thumbnail(ig, video)).size == (512, 384)
