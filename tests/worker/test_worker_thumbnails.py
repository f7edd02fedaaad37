"""Thumbnails on the Worker: the Images binding (Miniflare's offline emulation, sharp) makes the
WebP from the R2 object, the Worker stores it in R2 and serves it; the cron sweeper backfills an
artifact from before thumbnails; without the binding nothing is asked for. Video posters: a frame
from the Media binding (the harness's fake, which answers a real JPEG of ``FAKE_FRAME``) made a
WebP by the Images binding, or the provider's poster through the Images binding alone; without
the Media binding a video is left pending and nothing fails. Dimensions are read from the WebP
bytes here, not from ig."""

from __future__ import annotations

import io

from fixtures import media_samples
from PIL import Image

SOURCE_SIZE = (1200, 600)


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(out, "PNG")  # noise: a source that does not shrink to nothing
    return out.getvalue()


def _webp_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        return image.size


def _upload(ig, data: bytes) -> str:
    ig.configure(IMAGES="1")  # the binding, as wrangler.toml's [images] gives it
    r = ig.fetch("POST", "/v1/uploads", body=data, headers={"content-type": "image/png"})
    assert r.status == 201, r.text
    return r.json()["id"]


def test_an_image_gets_a_webp_thumbnail_from_the_images_binding_in_r2(ig):
    source = _png(SOURCE_SIZE)
    artifact_id = _upload(ig, source)
    [message] = [m["body"] for m in ig.h.queue_sent() if m["body"].get("type") == "thumbnail"]
    assert message == {"type": "thumbnail", "job_id": None, "artifact_id": artifact_id}
    ig.drain()
    [row] = ig.rows("SELECT * FROM artifacts WHERE id = ?", artifact_id)
    assert (row["thumbnail_state"], row["thumbnail_attempts"], row["thumbnail_error"]) == ("made", 1, None)
    assert row["thumbnail_key"] == f"thumbnails/{artifact_id}.webp"
    stored = ig.blob(row["thumbnail_key"])
    assert stored["httpMetadata"] == {"contentType": "image/webp"}
    assert stored["body"][:4] == b"RIFF" and stored["body"][8:12] == b"WEBP"
    assert _webp_size(stored["body"]) == (512, 256) == (row["thumbnail_width"], row["thumbnail_height"])
    assert row["thumbnail_size"] == len(stored["body"]) < len(source)

    view = ig.fetch("GET", f"/v1/artifacts/{artifact_id}").json()
    assert view["thumbnail_url"].endswith(f"/v1/artifacts/{artifact_id}/thumbnail")
    served = ig.fetch("GET", f"/v1/artifacts/{artifact_id}/thumbnail")
    assert served.status == 200 and served.header("content-type") == "image/webp"
    assert served.body == stored["body"]
    again = ig.fetch("GET", f"/v1/artifacts/{artifact_id}/thumbnail", headers={"if-none-match": served.header("etag")})
    assert again.status == 304


def test_the_cron_sweeper_backfills_an_image_stored_before_thumbnails(ig):
    artifact_id = _upload(ig, _png((300, 900)))
    ig.h.queue_clear()  # its message lost: only the sweeper can make it now
    # What migration 0008 leaves on a row stored before it.
    ig.h.d1("UPDATE artifacts SET thumbnail_state = NULL, thumbnail_due_at = '' WHERE id = ?", artifact_id, mode="run")
    ig.h.scheduled()
    ig.drain()
    [row] = ig.rows("SELECT * FROM artifacts WHERE id = ?", artifact_id)
    assert row["thumbnail_state"] == "made"
    assert _webp_size(ig.blob(row["thumbnail_key"])["body"]) == (171, 512)


def test_without_the_images_binding_no_thumbnail_is_asked_for(ig):
    r = ig.fetch("POST", "/v1/uploads", body=_png((64, 64)), headers={"content-type": "image/png"})
    assert r.status == 201 and r.json()["thumbnail_url"] is None
    assert [m["body"]["type"] for m in ig.h.queue_sent()] == []
    ig.h.scheduled()
    assert ig.h.queue_sent() == [] and ig.h.r2_keys() == [f"uploads/{r.json()['id']}"]
    [row] = ig.rows("SELECT thumbnail_state FROM artifacts WHERE id = ?", r.json()["id"])
    assert row["thumbnail_state"] == "pending"  # made once a binding is configured


FAKE_FRAME = (1280, 720)
"""The harness's fake Media binding answers every frame with a JPEG this size (tests/worker/harness.mjs)."""


def _upload_video(ig, data: bytes) -> str:
    r = ig.fetch("POST", "/v1/uploads", body=data, headers={"content-type": "video/mp4"})
    assert r.status == 201, r.text
    assert r.json()["content_type"] == "video/mp4"
    return r.json()["id"]


def test_a_video_gets_a_poster_from_the_media_binding_made_webp_by_the_images_binding(ig):
    ig.configure(IMAGES="1", MEDIA="1")
    long_video = media_samples.mp4(width=1920, height=1080, seconds=2.5)
    short_video = media_samples.mp4(width=1920, height=1080, seconds=0.5, mdat_bytes=2048)
    long_id, short_id = _upload_video(ig, long_video), _upload_video(ig, short_video)
    ig.drain()
    # The R2 object went to the binding whole, asked for one JPEG still at one second (the start
    # of the shorter video), without a transform: the Images binding does the resizing.
    calls = ig.h.media_calls()
    assert [(c["input_bytes"], c["input_head"]) for c in calls] == [
        (len(video), video[:12].hex()) for video in (long_video, short_video)
    ]
    assert [c["output"] for c in calls] == [
        {"mode": "frame", "time": "1s", "format": "jpg"},
        {"mode": "frame", "time": "0s", "format": "jpg"},
    ]
    assert [c["transform"] for c in calls] == [None, None]
    for artifact_id in (long_id, short_id):
        [row] = ig.rows("SELECT * FROM artifacts WHERE id = ?", artifact_id)
        assert (row["thumbnail_state"], row["thumbnail_attempts"], row["thumbnail_error"]) == ("made", 1, None)
        stored = ig.blob(row["thumbnail_key"])
        assert stored["httpMetadata"] == {"contentType": "image/webp"}
        assert _webp_size(stored["body"]) == (512, 288) == (row["thumbnail_width"], row["thumbnail_height"])
        with Image.open(io.BytesIO(stored["body"])) as image:
            red, green, blue = image.convert("RGB").getpixel((256, 144))
        assert red > 200 and green < 80 and blue < 80  # the fake frame's colour: it is that frame
        served = ig.fetch("GET", f"/v1/artifacts/{artifact_id}/thumbnail")
        assert served.status == 200 and served.body == stored["body"]
    assert not [key for key in ig.h.r2_keys() if key.startswith("posters/")]


def test_without_the_media_binding_a_video_stays_pending_untried_until_it_is_added(ig):
    ig.configure(IMAGES="1")
    video_id = _upload_video(ig, media_samples.mp4(width=640, height=480))
    ig.drain()
    [row] = ig.rows("SELECT * FROM artifacts WHERE id = ?", video_id)
    assert (row["thumbnail_state"], row["thumbnail_attempts"], row["thumbnail_error"]) == ("pending", 0, None)
    assert ig.fetch("GET", f"/v1/artifacts/{video_id}").json()["thumbnail_url"] is None
    # Due (as a backfill is) yet not claimed: nothing here can show it.
    ig.h.d1("UPDATE artifacts SET thumbnail_due_at = '' WHERE id = ?", video_id, mode="run")
    ig.h.queue_clear()
    ig.h.scheduled()
    assert [m["body"] for m in ig.h.queue_sent() if m["body"].get("type") == "thumbnail"] == []
    assert ig.h.r2_keys() == [f"uploads/{video_id}"]
    # With the Media binding added, the next sweep makes it.
    ig.configure(MEDIA="1")
    ig.h.scheduled()
    ig.drain()
    [row] = ig.rows("SELECT * FROM artifacts WHERE id = ?", video_id)
    assert (row["thumbnail_state"], row["thumbnail_attempts"]) == ("made", 1)
    assert _webp_size(ig.blob(row["thumbnail_key"])["body"]) == (512, 288)


def test_a_providers_poster_becomes_the_thumbnail_without_the_media_binding(ig):
    ig.configure(IMAGES="1", IG_MOCK_PROVIDER="1")
    params = {"positivePrompt": "a boat", "width": 800, "height": 400, "duration": 3, "mockPoster": True}
    job = {"provider": "mock", "model": "mock", "task": "videoInference", "params": params}
    r = ig.fetch("POST", "/v1/jobs", json=job)
    assert r.status == 202, r.text
    ig.drain()
    [artifact] = ig.artifacts(r.json()["id"])
    assert artifact["content_type"] == "video/quicktime" and artifact["poster_url"].startswith("mock://image/")
    [row] = ig.rows("SELECT * FROM artifacts WHERE id = ?", artifact["id"])
    assert (row["thumbnail_state"], row["thumbnail_error"]) == ("made", None)
    assert _webp_size(ig.blob(row["thumbnail_key"])["body"]) == (512, 256)
    assert ig.h.media_calls() == []
    assert sorted(ig.h.r2_keys()) == [f"artifacts/{artifact['id']}", f"thumbnails/{artifact['id']}.webp"]
