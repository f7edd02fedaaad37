"""Lineage: ``"artifact:<id>"`` anywhere in a job's parameters names an input. ig checks the
references at submit, records them, and resolves each to something the provider can fetch when
the task is sent: a signed, expiring content URL under ``IG_PUBLIC_URL``, or, without a public
URL, an inline data URI for small inputs."""

from __future__ import annotations

import base64
import json
from typing import Any

from ig.deps import Deps
from ig.errors import FieldError, NotFound, ValidationFailed
from ig.library.artifacts import artifact_record
from ig.library.content import signed_url
from ig.library.views import ARTIFACT_COLUMNS, render_artifact
from ig.ports import Database, Statement

PREFIX = "artifact:"
INLINE_LIMIT = 5 * 1024 * 1024
"""Largest input sent as a data URI when there is no public URL (Runware accepts data URIs)."""
INLINE_TOTAL_LIMIT = 10 * 1024 * 1024
"""Largest sum of inputs sent inline in one task, each reference counted: a task cannot name one
inline input twice, so thirty references to one upload send it thirty times."""
URL_LIFETIME_SECONDS = 24 * 3600

REFERENCED = (
    "SELECT id, size, content_type, blob_key, deleted_at FROM artifacts WHERE id IN (SELECT value FROM json_each(?1))"
)
RECORD_INPUT = "INSERT OR IGNORE INTO job_inputs (job_id, artifact_id, param_path) VALUES (?1, ?2, ?3)"
PARENTS = (
    ARTIFACT_COLUMNS
    + """ WHERE a.id IN (
    SELECT i.artifact_id FROM job_inputs i JOIN artifacts c ON c.job_id = i.job_id WHERE c.id = ?1) ORDER BY a.seq"""
)
CHILDREN = (
    ARTIFACT_COLUMNS
    + """ WHERE a.deleted_at IS NULL AND a.job_id IN (
    SELECT i.job_id FROM job_inputs i WHERE i.artifact_id = ?1) ORDER BY a.seq"""
)


def find_references(value: Any, path: str = "params") -> list[tuple[str, str]]:
    """Every ``(path, artifact_id)`` in a parameter tree, e.g. ``("params.inputs.image", "…")``."""
    if isinstance(value, str) and value.startswith(PREFIX):
        return [(path, value[len(PREFIX) :])]
    if isinstance(value, dict):
        return [ref for k, v in value.items() for ref in find_references(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [ref for i, v in enumerate(value) for ref in find_references(v, f"{path}[{i}]")]
    return []


async def check_references(deps: Deps, job_id: str, params: dict[str, Any]) -> list[Statement]:
    """Validate every reference (422 listing each bad one); return the rows that record them."""
    refs = find_references(params)
    if not refs:
        return []
    rows = {r["id"]: r for r in await deps.db.all(REFERENCED, [json.dumps([a for _, a in refs])])}
    errors = []
    for path, artifact_id in refs:
        row = rows.get(artifact_id)
        if row is None or row["deleted_at"] is not None:
            errors.append(FieldError(path, f"no artifact {artifact_id}", "unknown_artifact"))
        elif not deps.settings.public_url and row["size"] > INLINE_LIMIT:
            errors.append(
                FieldError(
                    path, f"artifact {artifact_id} is too large to send inline; set IG_PUBLIC_URL", "input_too_large"
                )
            )
    inlined = sum(rows[a]["size"] for _, a in refs if a in rows) if not deps.settings.public_url else 0
    if not errors and inlined > INLINE_TOTAL_LIMIT:
        message = (
            f"without IG_PUBLIC_URL inputs travel inline: these {len(refs)} references would send {inlined} bytes, "
            f"over {INLINE_TOTAL_LIMIT}; set IG_PUBLIC_URL so the provider fetches them by URL"
        )
        errors = [FieldError(path, message, "inline_inputs_too_large") for path, _ in refs]
    if errors:
        raise ValidationFailed(errors)
    return [(RECORD_INPUT, [job_id, artifact_id, path]) for path, artifact_id in refs]


async def resolve(deps: Deps, task: dict[str, Any]) -> dict[str, Any]:
    """The task with each ``artifact:<id>`` replaced by a URL or data URI the provider can fetch."""
    refs = find_references(task, "")
    if not refs:
        return task
    rows = {r["id"]: r for r in await deps.db.all(REFERENCED, [json.dumps([a for _, a in refs])])}
    resolved: dict[str, str] = {}
    for _, artifact_id in refs:
        row = rows.get(artifact_id)
        if row is None or artifact_id in resolved:
            continue
        if deps.settings.public_url:
            expires = int(deps.clock().timestamp()) + URL_LIFETIME_SECONDS
            resolved[artifact_id] = signed_url(deps.settings, deps.settings.public_url, artifact_id, expires)
        else:
            blob = await deps.blobs.get(row["blob_key"])
            data = b"".join([c async for c in deps.blobs.iter_bytes(blob)]) if blob else b""
            resolved[artifact_id] = f"data:{row['content_type']};base64,{base64.b64encode(data).decode()}"
    return _replace(task, resolved)


def _replace(value: Any, resolved: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(PREFIX):
        return resolved.get(value[len(PREFIX) :], value)
    if isinstance(value, dict):
        return {k: _replace(v, resolved) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, resolved) for v in value]
    return value


async def lineage_view(db: Database, artifact_id: str, base_url: str) -> dict[str, Any]:
    if await artifact_record(db, artifact_id) is None:
        raise NotFound(f"no artifact {artifact_id}")
    parents = await db.all(PARENTS, [artifact_id])
    children = await db.all(CHILDREN, [artifact_id])
    return {
        "parents": [render_artifact(r, base_url) for r in parents],
        "children": [render_artifact(r, base_url) for r in children],
    }
