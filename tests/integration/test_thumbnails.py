"""Thumbnails on the local runtime (Pillow): every PNG, JPEG, WebP or GIF artifact, made or
uploaded, gets a WebP of at most 512 px a side, recorded on its row, stored beside it and served
at ``/thumbnail`` by ``/content``'s rules; SVG gets none; a failing thumbnailer never touches the
artifact or its job, and the sweeper tries again; artifacts from before thumbnails are backfilled."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from fixtures import media_samples
from fixtures.ports import use_ports
from fixtures.thumbnails import assert_thumbnail_of, later, made_artifacts, thumbnail_rows, webp_size

from ig.adapters.local.thumbnails import PillowThumbnailer
from ig.completion import sweeper
from ig.ports import StoredBlob, Thumbnail, ThumbnailRefused


def image_job(width: int = 1024, height: int = 768, count: int = 1) -> dict[str, Any]:
    params = {"positivePrompt": "a fox", "width": width, "height": height, "numberResults": count}
    return {"provider": "mock", "model": "mock", "task": "imageInference", "params": params}


TEXT_JOB = {
    "provider": "mock",
    "model": "mock",
    "task": "promptEnhance",
    "params": {"prompt": "a fox", "promptMaxLength": 100},
}


async def test_made_images_and_uploads_get_a_webp_thumbnail_served_like_their_content(start_ig):
    ig = await start_ig(None, webhooks=False)
    [made] = await made_artifacts(ig, image_job(1024, 768))
    upload = (
        await ig.client.post(
            "/v1/uploads", content=media_samples.png(width=300, height=900), headers={"content-type": "image/png"}
        )
    ).json()
    await ig.drained()
    for artifact in (made, (await ig.client.get(f"/v1/artifacts/{upload['id']}")).json()):
        assert artifact["thumbnail_url"] == f"{ig.url}/v1/artifacts/{artifact['id']}/thumbnail"
        answer = await ig.client.get(artifact["thumbnail_url"])
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/webp"
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert_thumbnail_of(ig, artifact, answer.content)
        assert answer.headers["etag"] == f'"{hashlib.sha256(answer.content).hexdigest()}"'
        again = await ig.client.get(artifact["thumbnail_url"], headers={"if-none-match": answer.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        part = await ig.client.get(artifact["thumbnail_url"], headers={"range": "bytes=0-11"})
        assert part.status_code == 206 and part.content == answer.content[:12]
        assert part.headers["content-range"] == f"bytes 0-11/{len(answer.content)}"
    assert thumbnail_rows(ig, made["id"])["thumbnail_width"] == 512  # 1024 x 768 -> 512 x 384
    listed = (await ig.client.get("/v1/artifacts")).json()["items"]
    assert {a["id"]: a["thumbnail_url"] is not None for a in listed} == {made["id"]: True, upload["id"]: True}


async def test_signed_thumbnail_urls_open_only_the_thumbnail(start_ig):
    ig = await start_ig(None, webhooks=False, api_token="tok")
    auth = {"authorization": "Bearer tok"}
    job_id = (await ig.submit(image_job(640, 640), headers=auth)).json()["id"]
    await ig.client.get(f"/v1/jobs/{job_id}", params={"wait": 10}, headers=auth)
    await ig.drained()
    [artifact] = (await ig.client.get(f"/v1/jobs/{job_id}", headers=auth)).json()["artifacts"]
    assert (await ig.client.get(artifact["thumbnail_url"])).status_code == 401
    url = f"/v1/artifacts/{artifact['id']}/url"
    thumbnail = (await ig.client.get(url, params={"rendition": "thumbnail"}, headers=auth)).json()["url"]
    content = (await ig.client.get(url, headers=auth)).json()["url"]
    assert "/thumbnail?" in thumbnail and "/content?" in content
    opened = await ig.client.get(thumbnail)
    assert opened.status_code == 200 and webp_size(opened.content) == (512, 512)
    # Each signature opens its own rendition only.
    assert (await ig.client.get(thumbnail.replace("/thumbnail?", "/content?"))).status_code == 403
    assert (await ig.client.get(content.replace("/content?", "/thumbnail?"))).status_code == 403
    assert (await ig.client.get(content)).status_code == 200
    wrong = await ig.client.get(url, params={"rendition": "poster"}, headers=auth)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "rendition"


async def test_svg_and_other_kinds_get_no_thumbnail(start_ig):
    ig = await start_ig(None, webhooks=False)
    svg = (
        await ig.client.post("/v1/uploads", content=media_samples.svg(), headers={"content-type": "image/svg+xml"})
    ).json()
    [text] = await made_artifacts(ig, TEXT_JOB)
    await ig.drained()
    for artifact_id in (svg["id"], text["id"]):
        assert (await ig.client.get(f"/v1/artifacts/{artifact_id}")).json()["thumbnail_url"] is None
        assert thumbnail_rows(ig, artifact_id)["thumbnail_state"] is None
        answer = await ig.client.get(f"/v1/artifacts/{artifact_id}/thumbnail")
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
        assert (
            await ig.client.get(f"/v1/artifacts/{artifact_id}/url", params={"rendition": "thumbnail"})
        ).status_code == 404
    assert (await sweeper.sweep(later(ig, hours=48))).thumbnails_requested == 0


class FailingThumbnailer:
    """The thumbnail port failing its first ``failures`` calls (``error`` raised), then doing
    what the real one does."""

    def __init__(self, inner: Any, failures: int, error: Exception) -> None:
        self.inner, self.failures, self.error, self.calls = inner, failures, error, 0
        self.makes_posters = inner.makes_posters

    async def thumbnail(self, source: StoredBlob) -> Thumbnail:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return await self.inner.thumbnail(source)

    async def poster(self, source: StoredBlob, content_type: str, duration_seconds: float | None) -> Thumbnail:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return await self.inner.poster(source, content_type, duration_seconds)


async def test_a_failing_thumbnail_leaves_the_job_alone_and_the_sweeper_retries_it(start_ig):
    ig = await start_ig(None, webhooks=False)
    flaky = FailingThumbnailer(ig.runtime.deps.thumbnailer, 1, RuntimeError("images service unavailable"))
    use_ports(ig, thumbnailer=flaky)
    [artifact] = await made_artifacts(ig, image_job(800, 600))
    job = await ig.wait(artifact["job_id"])
    assert job["status"] == "succeeded" and job["error"] is None and artifact["thumbnail_url"] is None
    row = thumbnail_rows(ig, artifact["id"])
    assert row["thumbnail_state"] == "pending" and row["thumbnail_attempts"] == 1
    assert row["thumbnail_error"] == "RuntimeError: images service unavailable"
    assert (await ig.client.get(f"/v1/artifacts/{artifact['id']}/content")).status_code == 200
    # Not due yet: the sweeper leaves it; once due, it asks again and the thumbnail is made.
    assert (await sweeper.sweep(ig.runtime.deps)).thumbnails_requested == 0
    assert (await sweeper.sweep(later(ig, hours=1))).thumbnails_requested == 1
    await ig.drained()
    assert flaky.calls == 2
    answer = await ig.client.get(f"/v1/artifacts/{artifact['id']}/thumbnail")
    assert answer.status_code == 200 and webp_size(answer.content) == (512, 384)
    assert thumbnail_rows(ig, artifact["id"])["thumbnail_error"] is None


async def test_an_unreadable_image_fails_for_good_at_once_and_repeated_failures_stop(start_ig):
    ig = await start_ig(None, webhooks=False)
    refused = FailingThumbnailer(ig.runtime.deps.thumbnailer, 1, ThumbnailRefused("not a readable image: broken"))
    use_ports(ig, thumbnailer=refused)
    [artifact] = await made_artifacts(ig, image_job(64, 64))
    row = thumbnail_rows(ig, artifact["id"])
    assert (row["thumbnail_state"], row["thumbnail_due_at"], row["thumbnail_attempts"]) == ("failed", None, 1)
    assert (await sweeper.sweep(later(ig, hours=48))).thumbnails_requested == 0
    always = FailingThumbnailer(ig.runtime.deps.thumbnailer, 99, ConnectionError("down"))
    use_ports(ig, thumbnailer=always)
    [other] = await made_artifacts(ig, image_job(64, 64))
    for hours in (1, 2, 4, 8):
        await sweeper.sweep(later(ig, hours=hours * 24))
        await ig.drained()
    row = thumbnail_rows(ig, other["id"])
    assert (row["thumbnail_state"], row["thumbnail_due_at"], row["thumbnail_attempts"]) == ("failed", None, 4)
    assert always.calls == 4 and row["thumbnail_error"] == "ConnectionError: down"
    # Tries that died half-way (the process killed) count too: after the fourth, no fifth.
    conn = sqlite3.connect(ig.data_dir / "ig.sqlite3")
    with conn:
        conn.execute(
            "UPDATE artifacts SET thumbnail_state = 'pending', thumbnail_attempts = 4, thumbnail_due_at = ''"
            " WHERE id = ?",
            (artifact["id"],),
        )
    conn.close()
    working = FailingThumbnailer(PillowThumbnailer(), 0, RuntimeError("unused"))
    use_ports(ig, thumbnailer=working)
    await sweeper.sweep(later(ig, hours=1))
    await ig.drained()
    row = thumbnail_rows(ig, artifact["id"])
    assert (row["thumbnail_state"], row["thumbnail_attempts"], working.calls) == ("failed", 5, 0)
    assert row["thumbnail_error"] == "stopped after 4 tries that did not finish"


async def test_the_sweeper_backfills_artifacts_from_before_thumbnails_in_bounded_batches(start_ig, monkeypatch):
    ig = await start_ig(None, webhooks=False)
    use_ports(ig, thumbnailer=None)  # as before thumbnails: nothing is made
    made = await made_artifacts(ig, image_job(700, 350, count=3))
    texts = await made_artifacts(ig, TEXT_JOB)
    # What migration 0008 leaves on the rows stored before it.
    conn = sqlite3.connect(ig.data_dir / "ig.sqlite3")
    with conn:
        conn.execute("UPDATE artifacts SET thumbnail_state = NULL, thumbnail_due_at = ''")
    conn.close()
    assert all(a["thumbnail_url"] is None for a in made)
    assert (await sweeper.sweep(ig.runtime.deps)).thumbnails_requested == 0  # still no thumbnailer
    use_ports(ig, thumbnailer=PillowThumbnailer())
    monkeypatch.setattr(sweeper, "THUMBNAIL_BATCH", 2)
    assert (await sweeper.sweep(ig.runtime.deps)).thumbnails_requested == 2
    assert (await sweeper.sweep(ig.runtime.deps)).thumbnails_requested == 1
    await ig.drained()
    assert (await sweeper.sweep(ig.runtime.deps)).thumbnails_requested == 0
    for artifact in made:
        answer = await ig.client.get(f"/v1/artifacts/{artifact['id']}/thumbnail")
        assert answer.status_code == 200
        assert_thumbnail_of(ig, artifact, answer.content)
    assert [thumbnail_rows(ig, a["id"])["thumbnail_state"] for a in texts] == [None] * len(texts)
