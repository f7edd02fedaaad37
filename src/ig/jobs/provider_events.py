"""Provider events: every body a provider sent about a job (submit answers, webhooks, polls),
stored as received before anything acts on it. Identical bodies are stored once and counted;
large ones live in the blob store."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ig.deps import Deps
from ig.ports import Database, Row
from ig.safe_json import decode_json

INLINE_BODY_LIMIT = 64 * 1024
"""Bodies up to this size live in the database row; larger ones go to the blob store."""
EVENT_NAMESPACE = uuid.UUID("5b0a4a1e-3c57-4a57-9a43-2f3f0c7f6a10")

UPSERT_EVENT = """
INSERT INTO provider_events (id, job_id, source, http_status, body, body_blob_key, body_sha256, body_size,
                             received_at, last_received_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
ON CONFLICT (id) DO UPDATE SET deliveries = deliveries + 1, last_received_at = excluded.last_received_at
"""
SELECT_EVENT = "SELECT * FROM provider_events WHERE id = ?1"
MARK_PROCESSED = "UPDATE provider_events SET processed_at = ?2 WHERE id = ?1 AND processed_at IS NULL"


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    """Bytes already in memory, as the chunk stream ``BlobStore.put`` takes."""
    yield data


async def store_event(deps: Deps, job_id: str, source: str, raw: bytes, http_status: int | None) -> Row:
    """Record a body once (duplicates bump ``deliveries``) and return its row."""
    digest = hashlib.sha256(raw).hexdigest()
    event_id = str(uuid.uuid5(EVENT_NAMESPACE, f"{job_id}/{source}/{digest}"))
    inline, blob_key = raw.decode("utf-8", "replace"), None
    if len(raw) > INLINE_BODY_LIMIT:
        inline, blob_key = None, f"events/{job_id}/{event_id}.json"
        await deps.blobs.put(blob_key, one_chunk(raw), content_type="application/json", metadata={"job_id": job_id})
    await deps.db.run(
        UPSERT_EVENT,
        [event_id, job_id, source, http_status, inline, blob_key, digest, len(raw), deps.now()],
    )
    row = await load_event(deps.db, event_id)
    assert row is not None
    return row


async def load_event(db: Database, event_id: str) -> Row | None:
    return await db.first(SELECT_EVENT, [event_id])


async def record_reply(deps: Deps, job_id: str, source: str, reply: Any) -> Row:
    return await store_event(deps, job_id, source, reply.raw, reply.status)


async def event_body(deps: Deps, event: Row) -> Any:
    if event["body"] is not None:
        raw = event["body"].encode("utf-8")
    else:
        blob = await deps.blobs.get(event["body_blob_key"])
        if blob is None:
            raise LookupError(f"event body {event['body_blob_key']} is missing from the blob store")
        raw = b"".join([chunk async for chunk in deps.blobs.iter_bytes(blob)])
    return decode_json(raw)


async def mark_processed(deps: Deps, event_id: str) -> None:
    await deps.db.run(MARK_PROCESSED, [event_id, deps.now()])
