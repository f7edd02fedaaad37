"""Uploaded inputs: media a consumer sends so jobs can use it (``artifact:<id>`` parameters).
The bytes stream into the blob store; the declared type must match the magic number; identical
bytes are kept once; an oversized or mismatched upload leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from ig.byte_sources import ByteSource
from ig.deps import Deps
from ig.errors import FieldError, UnsupportedMediaType, ValidationFailed
from ig.library import media_types, thumbnails
from ig.library.probe import MediaProbe
from ig.library.streams import limited, probe_result, probe_stored
from ig.library.tags import write_tags

UPLOAD_KINDS = ("image", "audio", "video")
EXISTING_UPLOAD = "SELECT id FROM artifacts WHERE role = 'input' AND sha256 = ?1 AND deleted_at IS NULL"
INSERT_UPLOAD = """
INSERT INTO artifacts (id, role, kind, content_type, size, sha256, blob_key, filename, created_at, width, height,
                       duration_seconds)
VALUES (?1, 'input', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
"""
TAG_UPLOAD = """
INSERT OR IGNORE INTO artifact_tags (tag, artifact_seq)
SELECT t.value, a.seq FROM json_each(?2) t, artifacts a WHERE a.id = ?1
"""


async def store_upload(
    deps: Deps, body: AsyncIterator[bytes], declared_type: str, filename: str | None, tags: list[str]
) -> tuple[str, bool]:
    """Store ``body`` as an input artifact; return its id and whether it is new."""
    declared = media_types.by_content_type(declared_type)
    if declared is None or declared.kind not in UPLOAD_KINDS:
        raise UnsupportedMediaType(f"uploads must be images, audio or video, not {declared_type or 'untyped'}")
    source = ByteSource(limited(body, deps.settings.max_upload_bytes).__aiter__())
    found = media_types.sniff(await source.peek(media_types.SNIFF_BYTES))
    if found is None or found.content_type != declared.content_type:
        raise ValidationFailed(
            [
                FieldError(
                    "content-type",
                    f"declared {declared.content_type} but the bytes are "
                    f"{found.content_type if found else 'not a recognised format'}",
                    "type_mismatch",
                )
            ]
        )
    artifact_id = deps.new_id()
    blob_key = f"uploads/{artifact_id}"
    probe = MediaProbe(declared.content_type)
    digest = await deps.blobs.put(
        blob_key, source, content_type=declared.content_type, metadata={"artifact_id": artifact_id}, observe=probe.feed
    )
    if not digest.observed:
        await probe_stored(deps.blobs, blob_key, digest.size, probe)
    existing = await deps.db.first(EXISTING_UPLOAD, [digest.sha256])
    info = probe_result(deps, probe, artifact_id)
    if existing is None:
        try:
            await deps.db.batch(
                [
                    (
                        INSERT_UPLOAD,
                        [
                            artifact_id,
                            declared.kind,
                            declared.content_type,
                            digest.size,
                            digest.sha256,
                            blob_key,
                            filename,
                            deps.now(),
                            info.width,
                            info.height,
                            info.duration_seconds,
                        ],
                    ),
                    (TAG_UPLOAD, [artifact_id, json.dumps(tags)]),
                    thumbnails.plan(artifact_id, thumbnails.first_due(deps)),
                ]
            )
        except Exception:
            existing = await deps.db.first(EXISTING_UPLOAD, [digest.sha256])  # lost a race to the same bytes
            if existing is None:
                await deps.blobs.delete(blob_key)
                raise
        else:
            await thumbnails.request(deps, [(None, artifact_id, declared.content_type)])
            return artifact_id, True
    await deps.blobs.delete(blob_key)
    if tags:
        await write_tags(deps.db, [(TAG_UPLOAD, [existing["id"], json.dumps(tags)])], "tag")
    return existing["id"], False
