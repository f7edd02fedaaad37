"""The artifact library: listing and searching artifacts and jobs, one artifact, tags and their
counts, editing tags, deleting (a tombstone keeps the provenance)."""

from __future__ import annotations

import json
from typing import Any

from ig.errors import FieldError, NotFound, ValidationFailed
from ig.library.filters import Filters, artifact_page_sql, encode_cursor, job_page_sql
from ig.library.tags import MAX_TAGS, normalize_tag, write_tags
from ig.library.views import ARTIFACT_BY_ID, ARTIFACTS_BY_SEQS, job_views, render_artifact
from ig.ports import BlobStore, Database, Row, Statement

RAREST_TAG = """
SELECT tag, artifacts AS n FROM tag_counts WHERE tag IN (SELECT value FROM json_each(?1)) ORDER BY artifacts LIMIT ?2
"""
RAREST_JOB_TAG = """
SELECT tag, jobs AS n FROM job_tag_counts WHERE tag IN (SELECT value FROM json_each(?1)) ORDER BY jobs LIMIT ?2
"""
ARTIFACT_RECORD = (
    "SELECT seq, id, role, kind, content_type, size, sha256, blob_key, deleted_at,"
    " thumbnail_state, thumbnail_key, thumbnail_size, thumbnail_sha256 FROM artifacts WHERE id = ?1"
)
"""An artifact's own row (deleted ones too); ``ig.library.views`` renders it with its provenance."""
TAGS_WITH_PREFIX = """
SELECT tag, artifacts FROM tag_counts WHERE artifacts > 0 AND tag >= ?1 AND tag < ?2 AND tag > ?3 ORDER BY tag LIMIT ?4
"""


NOTHING = ""
"""The driver tag of a query one of whose AND tags is on nothing: it matches nothing."""


async def rarest_tag(db: Database, filters: Filters, *, jobs: bool = False) -> str | None:
    """The AND tag on the fewest artifacts (or jobs), to drive the query; ``None`` without AND
    tags, ``NOTHING`` when one of them is on none."""
    if not filters.tags:
        return None
    counts = await db.all(RAREST_JOB_TAG if jobs else RAREST_TAG, [json.dumps(filters.tags), len(filters.tags)])
    if len(counts) < len(filters.tags) or counts[0]["n"] <= 0:
        return NOTHING
    return counts[0]["tag"]


async def list_artifacts(db: Database, filters: Filters, base_url: str) -> dict[str, Any]:
    driver = await rarest_tag(db, filters)
    if driver == NOTHING:
        return {"items": [], "next_cursor": None}
    sql, params = artifact_page_sql(filters, driver)
    page = await db.all(sql, params)
    more = len(page) > filters.limit
    page = page[: filters.limit]
    rows = await db.all(ARTIFACTS_BY_SEQS, [json.dumps([r["seq"] for r in page])]) if page else []
    by_seq = {r["seq"]: r for r in rows}
    return {
        "items": [render_artifact(by_seq[r["seq"]], base_url) for r in page if r["seq"] in by_seq],
        "next_cursor": encode_cursor(page[-1]["seq"]) if more and page else None,
    }


async def list_jobs(db: Database, filters: Filters, base_url: str) -> dict[str, Any]:
    driver = await rarest_tag(db, filters, jobs=True)
    if driver == NOTHING:
        return {"items": [], "next_cursor": None}
    sql, params = job_page_sql(filters, driver)
    page = await db.all(sql, params)
    more = len(page) > filters.limit
    page = page[: filters.limit]
    return {
        "items": await job_views(db, [r["seq"] for r in page], base_url),
        "next_cursor": encode_cursor(page[-1]["seq"]) if more and page else None,
    }


async def artifact_view(db: Database, artifact_id: str, base_url: str) -> dict[str, Any] | None:
    row = await db.first(ARTIFACT_BY_ID, [artifact_id])
    return render_artifact(row, base_url) if row else None


async def artifact_record(db: Database, artifact_id: str) -> Row | None:
    return await db.first(ARTIFACT_RECORD, [artifact_id])


async def list_tags(db: Database, prefix: str, limit: int, after: str | None) -> dict[str, Any]:
    rows = await db.all(TAGS_WITH_PREFIX, [prefix, prefix + "\U0010ffff", after or "", limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [{"tag": r["tag"], "artifacts": r["artifacts"]} for r in rows],
        "next_cursor": rows[-1]["tag"] if more and rows else None,
    }


def parse_tag_edit(body: Any) -> tuple[list[str], list[str]]:
    errors: list[FieldError] = []
    if not isinstance(body, dict) or not set(body) <= {"add", "remove"}:
        raise ValidationFailed([FieldError("body", 'an object with "add" and/or "remove" lists', "invalid")])
    lists = {}
    for name in ("add", "remove"):
        values = body.get(name, [])
        if not isinstance(values, list):
            errors.append(FieldError(name, "a list of tags", "list_type"))
            values = []
        lists[name] = []
        if len(values) > MAX_TAGS:
            errors.append(FieldError(name, f"at most {MAX_TAGS} tags per job or artifact", "too_many"))
            values = []
        for i, tag in enumerate(values):
            try:
                if not isinstance(tag, str):
                    raise ValueError("tags are strings")
                lists[name].append(normalize_tag(tag))
            except ValueError as exc:
                errors.append(FieldError(f"{name}.{i}", str(exc), "invalid_tag"))
    if errors:
        raise ValidationFailed(errors)
    return list(dict.fromkeys(lists["add"])), list(dict.fromkeys(lists["remove"]))


ARTIFACT_TAG_EDIT = {
    "seq": ARTIFACT_RECORD + " AND deleted_at IS NULL",
    "current": "SELECT tag FROM artifact_tags WHERE artifact_seq = ?1",
    "add": "INSERT OR IGNORE INTO artifact_tags (tag, artifact_seq) SELECT value, ?1 FROM json_each(?2)",
    "remove": "DELETE FROM artifact_tags WHERE artifact_seq = ?1 AND tag IN (SELECT value FROM json_each(?2))",
}
JOB_TAG_EDIT = {
    "seq": "SELECT id AS seq FROM jobs WHERE id = ?1",
    "current": "SELECT tag FROM job_tags WHERE job_id = ?1",
    "add": "INSERT OR IGNORE INTO job_tags (tag, job_id) SELECT value, ?1 FROM json_each(?2)",
    "remove": "DELETE FROM job_tags WHERE job_id = ?1 AND tag IN (SELECT value FROM json_each(?2))",
}


async def edit_tags(db: Database, queries: dict[str, str], key: str, body: Any) -> list[str]:
    """Apply ``{"add": [...], "remove": [...]}`` atomically; return the new tag list."""
    add, remove = parse_tag_edit(body)
    found = await db.first(queries["seq"], [key])
    if found is None:
        raise NotFound(f"no {key}")
    target = found["seq"]
    statements: list[Statement] = [
        (queries["remove"], [target, json.dumps(remove)]),
        (queries["add"], [target, json.dumps([t for t in add if t not in remove])]),
    ]
    await write_tags(db, statements, "add")
    return sorted(r["tag"] for r in await db.all(queries["current"], [target]))


TOMBSTONE = [
    "UPDATE artifacts SET deleted_at = ?2 WHERE seq = ?1 AND deleted_at IS NULL",
    "DELETE FROM artifact_tags WHERE artifact_seq = ?1",
    "DELETE FROM artifact_search WHERE rowid = ?1",
]


async def delete_artifact(db: Database, blobs: BlobStore, artifact_id: str, now: str) -> None:
    """Remove the bytes, keep the row (and its provenance) as a tombstone. Deleting twice is fine."""
    row = await artifact_record(db, artifact_id)
    if row is None:
        raise NotFound(f"no artifact {artifact_id}")
    # Tombstone first: if the blob delete then fails, the artifact is already gone from every
    # query, and a retried DELETE (which deletes the blob again, harmlessly) finishes the job.
    if row["deleted_at"] is None:
        await db.batch([(sql, [row["seq"], now] if "?2" in sql else [row["seq"]]) for sql in TOMBSTONE])
    await blobs.delete(row["blob_key"])
    if row["thumbnail_key"] is not None:
        await blobs.delete(row["thumbnail_key"])
