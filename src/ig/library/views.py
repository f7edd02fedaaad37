"""The API's JSON shapes for jobs and artifacts, read from the database in as few queries as
possible (one for a job, one for its artifacts)."""

from __future__ import annotations

import json
import math
from typing import Any

from ig.ports import Database, Row

ARTIFACT_COLUMNS = """
SELECT a.seq, a.id, a.role, a.job_id, a.kind, a.content_type, a.size, a.sha256, a.created_at, a.deleted_at,
       a.width, a.height, a.duration_seconds, a.nsfw, a.arrived_after,
       a.output_name, a.source_url, a.filename, a.provider, a.task, a.model, a.thumbnail_state,
       r.seed, r.cost, r.cost_currency, r.cost_source, r.raw AS result_raw, r.received_at AS result_received_at,
       r.stored_at AS result_stored_at,
       j.params, j.provider_task_id, j.model_alias, j.preset, j.preset_version, j.created_at AS job_created_at,
       j.submitted_at AS job_submitted_at, j.completed_at AS job_completed_at,
       (SELECT json_group_array(t.tag) FROM artifact_tags t WHERE t.artifact_seq = a.seq) AS tags
FROM artifacts a
LEFT JOIN results r ON r.job_id = a.job_id AND r.result_key = a.result_key
LEFT JOIN jobs j ON j.id = a.job_id
"""
JOB_WITH_EXTRAS = """
SELECT j.*,
       (SELECT json_group_array(t.tag) FROM job_tags t WHERE t.job_id = j.id) AS tags,
       (SELECT sum(r.cost) FROM results r WHERE r.job_id = j.id) AS cost,
       (SELECT min(r.cost_currency) FROM results r WHERE r.job_id = j.id) AS cost_currency,
       -- one source when every priced result agrees, 'mixed' otherwise
       (SELECT CASE WHEN count(DISTINCT r.cost_source) > 1 THEN 'mixed' ELSE min(r.cost_source) END
        FROM results r WHERE r.job_id = j.id AND r.cost IS NOT NULL) AS cost_source
FROM jobs j WHERE j.id = ?1
"""
ARTIFACTS_OF_JOB = ARTIFACT_COLUMNS + " WHERE a.job_id = ?1 AND a.deleted_at IS NULL ORDER BY a.seq"
ARTIFACT_BY_ID = ARTIFACT_COLUMNS + " WHERE a.id = ?1"
ARTIFACTS_BY_SEQS = ARTIFACT_COLUMNS + " WHERE a.seq IN (SELECT value FROM json_each(?1))"
JOBS_WITH_EXTRAS = JOB_WITH_EXTRAS.replace("WHERE j.id = ?1", "WHERE j.seq IN (SELECT value FROM json_each(?1))")
ARTIFACTS_OF_JOBS = (
    ARTIFACT_COLUMNS + " WHERE a.job_id IN (SELECT value FROM json_each(?1)) AND a.deleted_at IS NULL ORDER BY a.seq"
)


def _json(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


def _money(value: float | int | None) -> float | None:
    # D1 hands back whole-number REALs as integers; the API always says 0.0, not 0.
    # A sum can overflow to infinity, which JSON cannot say.
    return float(value) if value is not None and math.isfinite(value) else None


def _preset(row: Row) -> dict[str, Any] | None:
    return {"name": row["preset"], "version": row["preset_version"]} if row["preset"] else None


def render_artifact(row: Row, base_url: str) -> dict[str, Any]:
    if row["role"] == "input":
        provenance: dict[str, Any] | None = {"uploaded_at": row["created_at"], "filename": row["filename"]}
    else:
        provenance = {
            "provider": row["provider"],
            "task": row["task"],
            "model": row["model"],
            "model_alias": row["model_alias"],
            "preset": _preset(row),
            "params": _json(row["params"], {}),
            "provider_task_id": row["provider_task_id"] or None,
            "output": row["output_name"],
            "source_url": row["source_url"],
            "result": _json(row["result_raw"]),
            "timings": {
                "job_created_at": row["job_created_at"],
                "submitted_at": row["job_submitted_at"],
                "result_received_at": row["result_received_at"],
                "stored_at": row["result_stored_at"],
                "job_completed_at": row["job_completed_at"],
            },
        }
    return {
        "id": row["id"],
        "job_id": row["job_id"],
        "role": row["role"],
        "kind": row["kind"],
        "content_type": row["content_type"],
        "size": row["size"],
        "sha256": row["sha256"],
        "width": row["width"],
        "height": row["height"],
        "duration_seconds": row["duration_seconds"],
        "content_url": f"{base_url}/v1/artifacts/{row['id']}/content",
        "thumbnail_url": f"{base_url}/v1/artifacts/{row['id']}/thumbnail" if row["thumbnail_state"] == "made" else None,
        "tags": sorted(_json(row["tags"], [])),
        "created_at": row["created_at"],
        "seed": int(row["seed"]) if row["seed"] is not None else None,
        "cost": _money(row["cost"]),
        "cost_currency": row["cost_currency"],
        "cost_source": row["cost_source"],
        "nsfw": bool(row["nsfw"]) if row["nsfw"] is not None else None,
        "deleted_at": row["deleted_at"],
        "arrived_after": row["arrived_after"],
        "provenance": provenance,
    }


def render_job(job: Row, artifacts: list[Row], base_url: str) -> dict[str, Any]:
    return {
        "id": job["id"],
        "status": job["status"],
        "provider": job["provider"],
        "task": job["task"],
        "model": job["model"],
        "model_alias": job["model_alias"],
        "preset": _preset(job),
        "params": _json(job["params"], {}),
        "tags": sorted(_json(job["tags"], [])),
        "metadata": _json(job["metadata"], {}),
        "provider_task_id": job["provider_task_id"] or None,
        "created_at": job["created_at"],
        "submitted_at": job["submitted_at"],
        "completed_at": job["completed_at"],
        "cancelled_at": job["cancelled_at"],
        "timeout_seconds": job["timeout_seconds"],
        "deadline_at": job["deadline_at"],
        "callback": {"url": job["callback_url"], "events": _json(job["callback_events"], [])}
        if job["callback_url"]
        else None,
        "attempts": [
            *_json(job["attempts"], []),
            {
                "provider": job["provider"],
                "model": job["model"],
                "provider_task_id": job["provider_task_id"] or None,
                "outcome": job["status"],
            },
        ],
        "providers_left": [c["provider"] for c in _json(job["candidates"], [])],
        "cost": _money(job["cost"]),
        "cost_currency": job["cost_currency"] if job["cost"] is not None else None,
        "cost_source": job["cost_source"] if job["cost"] is not None else None,
        "error": _json(job["error"]),
        "expected_results": job["expected_results"],
        "artifacts": [render_artifact(a, base_url) for a in artifacts],
    }


async def job_view(db: Database, job_id: str, base_url: str) -> dict[str, Any] | None:
    job = await db.first(JOB_WITH_EXTRAS, [job_id])
    if job is None:
        return None
    return render_job(job, await db.all(ARTIFACTS_OF_JOB, [job_id]), base_url)


async def job_views(db: Database, seqs: list[int], base_url: str) -> list[dict[str, Any]]:
    """Several jobs (by seq) with their artifacts in two queries, in the order of ``seqs``."""
    if not seqs:
        return []
    jobs = {j["seq"]: j for j in await db.all(JOBS_WITH_EXTRAS, [json.dumps(seqs)])}
    artifacts: dict[str, list[Row]] = {}
    for row in await db.all(ARTIFACTS_OF_JOBS, [json.dumps([j["id"] for j in jobs.values()])]):
        artifacts.setdefault(row["job_id"], []).append(row)
    return [render_job(jobs[s], artifacts.get(jobs[s]["id"], []), base_url) for s in seqs if s in jobs]
