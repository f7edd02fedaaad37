"""Thumbnails on the Worker: the Images binding (Miniflare's offline emulation, sharp) makes the
WebP from the R2 object, the Worker stores it in R2 and serves it; the cron sweeper backfills an
artifact from before thumbnails; without the binding nothing is asked for. Dimensions are read
from the WebP bytes here, not from ig."""

from __future__ import annotations

import io

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
