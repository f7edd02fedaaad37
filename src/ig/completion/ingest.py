"""Turning provider results into artifacts: each result is recorded once, each of its outputs is
streamed into the blob store under a key derived from (job, result, output), and the artifact
rows, the result's stored mark and the job's completion commit in one batch. Running any of
this twice (duplicate webhooks, redelivered messages) changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ig.byte_sources import ByteSource, of_bytes
from ig.deps import Deps
from ig.errors import ProviderErrorInfo
from ig.job_states import ENDED_WITHOUT_RESULTS, sql_list
from ig.jobs import callback_outbox, failover, records
from ig.library import media_types, thumbnails
from ig.library.artifacts import artifact_record
from ig.library.probe import MediaProbe
from ig.library.streams import probe_result, probe_stored
from ig.ports import Row, Statement
from ig.providers.base import OutputRef, ProviderAnswer, ProviderResult, decode_inline
from ig.providers.registry import provider_for

ARTIFACT_NAMESPACE = uuid.UUID("9f1c2d4e-8b7a-4c3d-a1e2-3f4b5c6d7e8f")

INSERT_RESULT = """
INSERT INTO results (job_id, result_key, raw, seed, cost, nsfw, event_id, received_at, cost_currency, cost_source)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (job_id, result_key) DO NOTHING
"""
SELECT_RESULT = "SELECT stored_at FROM results WHERE job_id = ?1 AND result_key = ?2"
INSERT_ARTIFACT = f"""
INSERT INTO artifacts (id, role, job_id, result_key, output_name, provider, task, model, kind, content_type, size,
                       sha256, blob_key, source_url, width, height, duration_seconds, nsfw, poster_url, created_at,
                       arrived_after)
SELECT ?1, 'output', ?2, ?3, ?4, j.provider, j.task, j.model, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
       CASE WHEN j.status IN {sql_list(ENDED_WITHOUT_RESULTS)} THEN j.status END
FROM jobs j WHERE j.id = ?2
ON CONFLICT DO NOTHING
"""
# Only into a live artifact without tags: a duplicate delivery never undoes the consumer's edits
# nor dresses a tombstone (one racing the delete) again.
INHERIT_TAGS = """
INSERT OR IGNORE INTO artifact_tags (tag, artifact_seq)
SELECT t.tag, a.seq FROM artifacts a JOIN job_tags t ON t.job_id = a.job_id
WHERE a.id = ?1 AND a.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM artifact_tags x WHERE x.artifact_seq = a.seq)
"""
# The job's words plus the artifact's own text; guarded so a racing duplicate adds no second row
# and a deleted artifact stays out of the index.
INDEX_ARTIFACT_TEXT = """
INSERT INTO artifact_search (rowid, body)
SELECT a.seq, coalesce((SELECT s.body FROM job_search s JOIN jobs j ON s.rowid = j.seq WHERE j.id = a.job_id), '')
              || char(10) || ?2
FROM artifacts a
WHERE a.id = ?1 AND a.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM artifact_search WHERE rowid = a.seq)
"""
SEARCHABLE_TEXT_LIMIT = 64 * 1024
MARK_STORED = "UPDATE results SET stored_at = ?3 WHERE job_id = ?1 AND result_key = ?2 AND stored_at IS NULL"


async def ingest(deps: Deps, job: Row, answer: ProviderAnswer, event_id: str, received_at: str) -> None:
    """Record the answer's results, store their outputs, fail the job on provider errors."""
    for other in answer.foreign:
        deps.log.warning("job %s: ignoring a result for task %s", job["id"], other)
    for result in answer.results:
        await deps.db.run(
            INSERT_RESULT,
            [
                job["id"],
                result.key,
                json.dumps(result.raw),
                str(result.seed) if result.seed is not None else None,
                result.cost.amount if result.cost else None,
                int(result.nsfw) if result.nsfw is not None else None,
                event_id,
                received_at,
                result.cost.currency if result.cost else None,
                result.cost.source if result.cost else None,
            ],
        )
        stored = await deps.db.first(SELECT_RESULT, [job["id"], result.key])
        if stored is not None and stored["stored_at"] is None:
            await store_outputs(deps, job, result)
    if answer.errors:
        info = answer.errors[0]
        if await _fail_over(deps, job, info):
            return
        if await records.fail_job(deps.db, job["id"], info.to_json(), deps.now()):
            deps.log.info("job %s failed: %s", job["id"], info.code)


async def _fail_over(deps: Deps, job: Row, info: ProviderErrorInfo) -> bool:
    """A job that asked to fail over after acceptance moves on when its provider fails it (not
    for a refusal of its parameters, which would fail everywhere); the next provider is sent the
    request through the queue."""
    if not job["failover_after_accept"] or not failover.has_next(job):
        return False
    if provider_for(job["provider"], deps).field_errors(info) is not None:
        return False
    if not await failover.move_on(deps, job, "failed", info):
        return False
    await deps.queue.send({"type": "submit", "job_id": job["id"]})
    return True


async def store_outputs(deps: Deps, job: Row, result: ProviderResult) -> None:
    key, nsfw = result.key, result.nsfw
    artifacts: list[tuple[str, list[Any], str]] = []
    stored_types: list[tuple[str | None, str, str]] = []
    for ref in result.outputs:
        artifact_id = str(uuid.uuid5(ARTIFACT_NAMESPACE, f"{job['id']}/{key}/{ref.name}"))
        if await artifact_record(deps.db, artifact_id) is not None:
            continue
        blob_key = f"artifacts/{artifact_id}"
        source, declared = await _open(deps, job, ref)
        try:
            head = await source.peek(media_types.SNIFF_BYTES)
            kind_type = (
                media_types.JSON if ref.media_hint == "json" else media_types.TEXT if ref.media_hint == "text" else None
            )
            found = kind_type or media_types.identify(head, declared, ref.url)
            probe = MediaProbe(found.content_type)
            stored = await deps.blobs.put(
                blob_key,
                source,
                content_type=found.content_type,
                metadata={"job_id": job["id"], "artifact_id": artifact_id, "output": ref.name},
                observe=probe.feed,
            )
        finally:
            await source.aclose()
        if not stored.observed:
            await probe_stored(deps.blobs, blob_key, stored.size, probe)
        kind = ref.kind_hint if found is media_types.OCTET_STREAM else found.kind
        info = probe_result(deps, probe, artifact_id)
        own_text = ref.text if ref.text is not None and len(ref.text) <= SEARCHABLE_TEXT_LIMIT else ""
        fields = [artifact_id, job["id"], key, ref.name, kind, found.content_type, stored.size, stored.sha256]
        fields += [blob_key, ref.url, info.width, info.height, info.duration_seconds]
        # A provider's poster is kept for videos only: the thumbnail of anything else is made from itself.
        poster_url = ref.poster_url if kind == "video" else None
        artifacts.append((artifact_id, [*fields, int(nsfw) if nsfw is not None else None, poster_url], own_text))
        stored_types.append((job["id"], artifact_id, found.content_type))
    # Stamped once every download is done, just before the commit, so artifacts committed one
    # after another (several consumers at once) have their creation times in the same order.
    now = deps.now()
    thumbnail_due = thumbnails.first_due(deps)
    statements: list[Statement] = []
    for artifact_id, fields, own_text in artifacts:
        statements.append((INSERT_ARTIFACT, [*fields, now]))
        statements.append(thumbnails.plan(artifact_id, thumbnail_due))
        statements.append((INHERIT_TAGS, [artifact_id]))
        statements.append((INDEX_ARTIFACT_TEXT, [artifact_id, own_text]))
        statements.append(callback_outbox.artifact_event(job["id"], artifact_id, now))
    statements.append((MARK_STORED, [job["id"], key, now]))
    statements.append((records.COMPLETE_JOB, [job["id"], now]))
    statements.append(callback_outbox.job_event(job["id"], "succeeded", now))
    await deps.db.batch(statements)
    await thumbnails.request(deps, stored_types)


async def _open(deps: Deps, job: Row, ref: OutputRef) -> tuple[ByteSource, str | None]:
    """The output's bytes, and the content type its source declares."""
    if ref.text is not None:
        return of_bytes(ref.text.encode("utf-8")), None
    if ref.inline is not None:
        chunks, declared = decode_inline(ref.inline)
        return ByteSource(chunks), declared
    assert ref.url is not None
    return await provider_for(job["provider"], deps).open_output(ref.url), None
