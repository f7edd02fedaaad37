"""The artifact library: listing newest first with tag filters and keyset pagination, one
artifact, and where its bytes are."""

from __future__ import annotations

import base64
import json
from typing import Any

from ig.errors import FieldError, ValidationFailed
from ig.ports import Database, Row
from ig.schemas import check_tag
from ig.views import ARTIFACT_BY_ID, ARTIFACTS_BY_IDS, render_artifact

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

# Every tag in ?1 (a JSON array of ?2 distinct tags) must match; keyset on (created_at, id).
PAGE_IDS = """
SELECT a.id, a.created_at FROM artifacts a
WHERE (?2 = 0 OR a.id IN (SELECT artifact_id FROM artifact_tags
                          WHERE tag IN (SELECT value FROM json_each(?1))
                          GROUP BY artifact_id HAVING count(*) = ?2))
  AND (?3 IS NULL OR a.created_at < ?3 OR (a.created_at = ?3 AND a.id < ?4))
ORDER BY a.created_at DESC, a.id DESC
LIMIT ?5
"""
BLOB_OF_ARTIFACT = "SELECT blob_key, content_type, size, sha256, kind FROM artifacts WHERE id = ?1"


def encode_cursor(created_at: str, artifact_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, artifact_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, artifact_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(created_at, str) and isinstance(artifact_id, str):
            return created_at, artifact_id
    except ValueError:
        pass
    raise ValidationFailed([FieldError("cursor", "not a cursor this API returned", "invalid_cursor")])


def parse_limit(values: list[str]) -> int:
    if not values:
        return DEFAULT_LIMIT
    try:
        limit = int(values[-1])
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed([FieldError("limit", f"must be an integer from 1 to {MAX_LIMIT}", "out_of_range")])
    return limit


def parse_tags(values: list[str], field: str = "tag") -> list[str]:
    errors = []
    for i, tag in enumerate(values):
        if not 1 <= len(tag) <= 128:
            errors.append(FieldError(f"{field}[{i}]", "tags are 1 to 128 characters", "invalid_tag"))
        else:
            try:
                check_tag(tag)
            except ValueError as exc:
                errors.append(FieldError(f"{field}[{i}]", str(exc), "invalid_tag"))
    if errors:
        raise ValidationFailed(errors)
    return list(dict.fromkeys(values))


async def list_artifacts(
    db: Database, *, tags: list[str], limit: int, cursor: str | None, base_url: str
) -> dict[str, Any]:
    after = decode_cursor(cursor) if cursor else (None, None)
    page = await db.all(PAGE_IDS, [json.dumps(tags), len(tags), after[0], after[1], limit + 1])
    more = len(page) > limit
    page = page[:limit]
    rows = await db.all(ARTIFACTS_BY_IDS, [json.dumps([r["id"] for r in page])]) if page else []
    by_id = {r["id"]: r for r in rows}
    items = [render_artifact(by_id[r["id"]], base_url) for r in page if r["id"] in by_id]
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more and page else None
    return {"items": items, "next_cursor": next_cursor}


async def artifact_view(db: Database, artifact_id: str, base_url: str) -> dict[str, Any] | None:
    row = await db.first(ARTIFACT_BY_ID, [artifact_id])
    return render_artifact(row, base_url) if row else None


async def artifact_blob(db: Database, artifact_id: str) -> Row | None:
    return await db.first(BLOB_OF_ARTIFACT, [artifact_id])
