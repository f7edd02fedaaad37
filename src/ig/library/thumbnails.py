"""Thumbnails of image and video artifacts: a WebP of at most ``THUMBNAIL_SIDE`` px a side per
raster image (outputs and uploads alike; never SVG, which ig does not rasterise) and per video (its
poster), made once after the artifact is committed, stored under ``thumbnails/`` and recorded on
the artifact's row.

A thumbnail never holds up nor fails its artifact or job. The commit that stores an artifact
plans its thumbnail (``plan``: pending, due for the sweeper a while later), then a small queue
message asks for it at once (``request``); ``make`` does it, and is safe to run twice. A try that
fails is recorded on the row, and the sweeper (``claim_due``) sends another message when it is due
again, up to ``MAX_ATTEMPTS`` tries; a source that cannot be read fails for good at once. The
same claim plans the artifacts stored before thumbnails existed (``thumbnail_due_at`` = ''), in
bounded batches. Without a thumbnailer (a Worker without the Images binding) nothing is made and
every image stays pending, to be made once one is configured.

A video's thumbnail is its poster. A poster the provider made (``OutputRef.poster_url``, kept on
the row as ``poster_url``) comes first: it is downloaded as outputs are (the provider's
``open_output``, so only from its allowed hosts), at most ``MAX_POSTER_BYTES``, into
``posters/<artifact id>`` just long enough for the image thumbnailer to read it, then deleted: what
lasts is the thumbnail, as for any artifact, and the provider's image is not an artifact of its
own. Without one, or when it cannot be had, the thumbnailer takes a frame of the video itself
where this runtime can (``Thumbnailer.makes_posters``: PyAV locally, the Media binding on the
Worker). A video with neither stays pending and is never tried, so never counts a try nor fails:
the sweeper's claim leaves it (a row it steps over each sweep), and makes it once the runtime
gains a way to take frames."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from ig.byte_sources import ByteSource, of_bytes
from ig.deps import Deps, isoformat
from ig.errors import clipped
from ig.library.streams import limited
from ig.ports import POSTER_SOURCE_TYPES, THUMBNAIL_TYPE, Row, Thumbnail, ThumbnailRefused
from ig.providers.registry import provider_for

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
"""The raster images both thumbnailers read. Not SVG: an untrusted SVG is never rasterised (nor
rendered) by ig."""
THUMBNAIL_TYPES = IMAGE_TYPES + POSTER_SOURCE_TYPES
"""What gets a thumbnail: images, and videos (their poster)."""


def _sql_list(types: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{t}'" for t in types) + ")"


_HAS_THUMBNAIL_TYPE = f"content_type IN {_sql_list(THUMBNAIL_TYPES)}"
"""The same text as the ``artifacts_thumbnail_due`` index's condition, so SQLite uses the index."""
# ?4: whether the thumbnailer takes frames from videos. A video that has no provider poster on a
# runtime that takes no frames is not tried: it stays pending, neither counting tries nor failing.
_TRIABLE = f"(?4 OR content_type IN {_sql_list(IMAGE_TYPES)} OR poster_url IS NOT NULL)"

MAX_SOURCE_BYTES = 64 * 1024 * 1024
"""Larger images are not tried (the Images binding takes at most 70 MB)."""
MAX_POSTER_BYTES = 16 * 1024 * 1024
"""A provider's poster larger than this is not downloaded (a poster is one still)."""
RETRY_AFTER_SECONDS = (600, 1800, 7200, 21600)
"""When the sweeper tries again, by how many tries came before; the first is also how long a
planned thumbnail waits for its queue message before the sweeper asks again."""
MAX_ATTEMPTS = len(RETRY_AFTER_SECONDS)

# One statement per new artifact, in the batch that commits it: its thumbnail is pending, or it
# has none to make. Guarded by the '' every new row starts with, so a second run changes nothing.
PLAN = f"""
UPDATE artifacts SET thumbnail_state = CASE WHEN {_HAS_THUMBNAIL_TYPE} THEN 'pending' END,
                     thumbnail_due_at = CASE WHEN {_HAS_THUMBNAIL_TYPE} THEN ?2 END
WHERE id = ?1 AND thumbnail_due_at = ''
"""
# The sweeper's one statement: pending thumbnails whose try is due, and artifacts stored before
# thumbnails were (due ''), each claimed until its message has had time to arrive.
CLAIM_DUE = f"""
UPDATE artifacts SET thumbnail_state = 'pending', thumbnail_due_at = ?2
WHERE seq IN (SELECT seq FROM artifacts INDEXED BY artifacts_thumbnail_due
              WHERE thumbnail_due_at IS NOT NULL AND deleted_at IS NULL AND {_HAS_THUMBNAIL_TYPE}
                AND thumbnail_due_at < ?1 AND {_TRIABLE} LIMIT ?3)
RETURNING id, job_id
"""
# A try starts by counting itself and moving the next one out, so a try that dies half-way
# (the process killed) is retried by the sweeper and still counts.
START_TRY = f"""
UPDATE artifacts SET thumbnail_attempts = thumbnail_attempts + 1,
                     thumbnail_due_at = json_extract(?2, '$[' || min(thumbnail_attempts, ?3) || ']')
WHERE id = ?1 AND thumbnail_state = 'pending' AND deleted_at IS NULL AND {_TRIABLE}
RETURNING job_id, blob_key, size, content_type, duration_seconds, provider, poster_url, thumbnail_attempts
"""
MADE = """
UPDATE artifacts SET thumbnail_state = 'made', thumbnail_key = ?2, thumbnail_size = ?3, thumbnail_sha256 = ?4,
                     thumbnail_width = ?5, thumbnail_height = ?6, thumbnail_error = NULL, thumbnail_due_at = NULL
WHERE id = ?1 AND thumbnail_state = 'pending' AND deleted_at IS NULL
"""
FAILED = """
UPDATE artifacts SET thumbnail_error = ?2,
                     thumbnail_state = CASE WHEN ?3 THEN 'failed' ELSE 'pending' END,
                     thumbnail_due_at = CASE WHEN ?3 THEN NULL ELSE thumbnail_due_at END
WHERE id = ?1 AND thumbnail_state = 'pending'
"""
DELETED = "SELECT 1 FROM artifacts WHERE id = ?1 AND deleted_at IS NOT NULL"


def thumbnail_key(artifact_id: str) -> str:
    """Under a prefix of their own: a listing of ``artifacts/`` or ``uploads/`` is the originals."""
    return f"thumbnails/{artifact_id}.webp"


def poster_key(artifact_id: str) -> str:
    """Where a provider's poster waits while its thumbnail is made (deleted after)."""
    return f"posters/{artifact_id}"


def plan(artifact_id: str, now: str) -> tuple[str, list[str]]:
    """The statement that plans a new artifact's thumbnail, for the batch that commits it."""
    return PLAN, [artifact_id, now]


def first_due(deps: Deps) -> str:
    return isoformat(deps.clock() + timedelta(seconds=RETRY_AFTER_SECONDS[0]))


async def request(deps: Deps, artifacts: Sequence[tuple[str | None, str, str]]) -> None:
    """Ask for the thumbnails of just-committed artifacts (job id or None, artifact id, content
    type). A message that cannot be sent is only logged: the sweeper asks when it is due."""
    if deps.thumbnailer is None:
        return
    bodies = [
        {"type": "thumbnail", "job_id": job_id, "artifact_id": artifact_id}
        for job_id, artifact_id, content_type in artifacts
        if content_type in THUMBNAIL_TYPES
    ]
    if not bodies:
        return
    try:
        await deps.queue.send_batch(bodies)
    except Exception:  # noqa: BLE001 - the artifact is stored; its thumbnail comes with the sweeper
        deps.log.exception("job %s: could not ask for %d thumbnails", artifacts[0][0], len(bodies))


async def claim_due(deps: Deps, limit: int) -> list[dict[str, str | None]]:
    """The messages for thumbnails due now (retries, lost messages, the backfill), up to ``limit``."""
    if deps.thumbnailer is None:
        return []
    rows = await deps.db.all(CLAIM_DUE, [deps.now(), first_due(deps), limit, int(deps.thumbnailer.makes_posters)])
    return [{"type": "thumbnail", "job_id": r["job_id"], "artifact_id": r["id"]} for r in rows]


async def make(deps: Deps, artifact_id: str) -> None:
    """Make the artifact's thumbnail if it is still pending, and record what came of it. Raises
    only when the database or blob store fails (the message is then retried)."""
    if deps.thumbnailer is None:
        return
    moment = deps.clock()
    due_times = [isoformat(moment + timedelta(seconds=s)) for s in RETRY_AFTER_SECONDS]
    triable = [artifact_id, json.dumps(due_times), MAX_ATTEMPTS - 1, int(deps.thumbnailer.makes_posters)]
    row = await deps.db.first(START_TRY, triable)
    if row is None:
        return  # made, failed for good, deleted, none to make, or a video nothing here can show
    job_id, attempt = row["job_id"], row["thumbnail_attempts"]
    if attempt > MAX_ATTEMPTS:
        await _failed(deps, artifact_id, f"stopped after {MAX_ATTEMPTS} tries that did not finish", final=True)
        return
    try:
        made = await _made(deps, artifact_id, row)
    except ThumbnailRefused as exc:
        deps.log.warning("job %s: artifact %s gets no thumbnail: %s", job_id, artifact_id, exc)
        await _failed(deps, artifact_id, str(exc), final=True)
        return
    except FileNotFoundError:
        raise  # the blob store lost the artifact: the message is retried
    except Exception as exc:  # noqa: BLE001 - recorded; the sweeper tries again when it is due
        deps.log.exception("job %s: thumbnail of artifact %s failed (try %d)", job_id, artifact_id, attempt)
        await _failed(deps, artifact_id, f"{type(exc).__name__}: {exc}", final=attempt >= MAX_ATTEMPTS)
        return
    key = thumbnail_key(artifact_id)
    stored = await deps.blobs.put(
        key, of_bytes(made.data), content_type=THUMBNAIL_TYPE, metadata={"artifact_id": artifact_id}
    )
    fields = [artifact_id, key, stored.size, stored.sha256, made.width, made.height]
    if not await deps.db.run(MADE, fields) and await deps.db.first(DELETED, [artifact_id]) is not None:
        await deps.blobs.delete(key)  # the artifact was deleted meanwhile: keep nothing of it


async def _made(deps: Deps, artifact_id: str, row: Row) -> Thumbnail:
    """The thumbnail from the artifact's own bytes, or for a video from its provider's poster
    first. Raises ``FileNotFoundError`` when the artifact's blob is missing."""
    assert deps.thumbnailer is not None
    video = row["content_type"] in POSTER_SOURCE_TYPES
    if row["poster_url"] is not None:
        try:
            return await _from_provider_poster(deps, artifact_id, row)
        except Exception as exc:
            if not (video and deps.thumbnailer.makes_posters):
                raise
            deps.log.warning("artifact %s: its provider's poster failed (%s), taking a frame instead", artifact_id, exc)
    if not video and row["size"] > MAX_SOURCE_BYTES:
        raise ThumbnailRefused(f"the image has more than {MAX_SOURCE_BYTES} bytes")
    source = await deps.blobs.get(row["blob_key"])
    if source is None:
        raise FileNotFoundError(f"no blob {row['blob_key']} for artifact {artifact_id}")
    if video:
        return await deps.thumbnailer.poster(source, row["content_type"], row["duration_seconds"])
    return await deps.thumbnailer.thumbnail(source)


async def _from_provider_poster(deps: Deps, artifact_id: str, row: Row) -> Thumbnail:
    assert deps.thumbnailer is not None
    key = poster_key(artifact_id)
    download = await provider_for(row["provider"], deps).open_output(row["poster_url"])
    try:
        if download.length is not None and download.length > MAX_POSTER_BYTES:
            raise ThumbnailRefused(f"the provider's poster has more than {MAX_POSTER_BYTES} bytes")
        await deps.blobs.put(
            key,
            ByteSource(limited(download, MAX_POSTER_BYTES, _poster_too_large)),
            content_type="application/octet-stream",  # the thumbnailer reads what it is from the bytes
            metadata={"artifact_id": artifact_id},
        )
        poster = await deps.blobs.get(key)
        if poster is None:
            raise FileNotFoundError(f"the poster just stored as {key} is gone")
        return await deps.thumbnailer.thumbnail(poster)
    finally:
        await download.aclose()
        await deps.blobs.delete(key)


def _poster_too_large(limit: int) -> Exception:
    return ThumbnailRefused(f"the provider's poster has more than {limit} bytes")


async def _failed(deps: Deps, artifact_id: str, error: str, *, final: bool) -> None:
    await deps.db.run(FAILED, [artifact_id, clipped(error), int(final)])
