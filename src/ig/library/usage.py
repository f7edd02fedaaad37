"""Cost and usage rollups: jobs, outcomes, results, cost and latency percentiles, grouped by day,
model, task, tag or provider, over the same filters as the library. Cost is what the provider
reported (Runware) or billed (fal's billable units times its unit price), and each sum says which."""

from __future__ import annotations

import math
from typing import Any

from ig.errors import FieldError, ValidationFailed
from ig.library.filters import job_conditions, parse_filters
from ig.ports import Database

GROUP_KEYS = {
    "day": "substr(j.created_at, 1, 10)",
    "model": "j.model",
    "task": "j.task",
    "provider": "j.provider",
    "tag": "g.tag",
}

REPORT = """
WITH per AS (
    SELECT {key} AS key, j.status,
           (julianday(j.completed_at) - julianday(j.created_at)) * 86400.0 AS seconds,
           (SELECT count(*) FROM results r WHERE r.job_id = j.id) AS results,
           (SELECT sum(r.cost) FROM results r WHERE r.job_id = j.id) AS cost,
           (SELECT sum(r.cost) FROM results r WHERE r.job_id = j.id AND r.cost_source = 'reported') AS reported,
           (SELECT sum(r.cost) FROM results r WHERE r.job_id = j.id AND r.cost_source = 'billed') AS billed,
           (SELECT sum(r.cost) FROM results r WHERE r.job_id = j.id AND r.cost_source = 'estimated') AS estimated
    FROM jobs j {join} WHERE {where}
),
ranked AS (
    SELECT key, seconds, row_number() OVER (PARTITION BY key ORDER BY seconds) AS rn,
           count(*) OVER (PARTITION BY key) AS n
    FROM per WHERE seconds IS NOT NULL
)
SELECT p.key, count(*) AS jobs, sum(p.status = 'succeeded') AS succeeded, sum(p.status = 'failed') AS failed,
       sum(p.results) AS results, sum(p.cost) AS cost,
       sum(p.reported) AS reported, sum(p.billed) AS billed, sum(p.estimated) AS estimated,
       (SELECT min(seconds) FROM ranked r WHERE r.key = p.key AND r.rn >= 0.50 * r.n) AS p50_seconds,
       (SELECT min(seconds) FROM ranked r WHERE r.key = p.key AND r.rn >= 0.95 * r.n) AS p95_seconds
FROM per p GROUP BY p.key ORDER BY p.key
"""


def _money(value: float | None) -> float | None:
    return round(value, 10) if value is not None and math.isfinite(value) else None


async def usage_report(db: Database, query: dict[str, list[str]]) -> dict[str, Any]:
    errors: list[FieldError] = []
    group_by = (query.get("group_by") or ["day"])[-1]
    if group_by not in GROUP_KEYS:
        errors.append(FieldError("group_by", f"one of {', '.join(GROUP_KEYS)}", "invalid_group"))
    renamed = {k: v for k, v in query.items() if k not in ("group_by", "since", "until", "limit", "cursor")}
    sent_as = {}  # the library filter's name for a bound -> the name /v1/usage takes it by
    for name, filter_name in (("since", "created_after"), ("until", "created_before")):
        if name in query:
            renamed[filter_name] = query[name]
            sent_as[filter_name] = name
    try:
        filters = parse_filters(renamed, for_jobs=True)
    except ValidationFailed as exc:  # every bad parameter in one 422, named as the request named it
        errors += [FieldError(sent_as.get(e.field, e.field), e.message, e.code) for e in exc.errors]
    if errors:
        raise ValidationFailed(errors)
    where, params = job_conditions(filters)
    join = "JOIN job_tags g ON g.job_id = j.id" if group_by == "tag" else ""
    sql = REPORT.format(key=GROUP_KEYS[group_by], join=join, where=where)
    rows = await db.all(sql, params)
    items = [
        {
            "key": r["key"],
            "jobs": r["jobs"],
            "succeeded": r["succeeded"] or 0,
            "failed": r["failed"] or 0,
            "results": r["results"] or 0,
            "success_rate": round(r["succeeded"] / (r["succeeded"] + r["failed"]), 4)
            if (r["succeeded"] or 0) + (r["failed"] or 0)
            else None,
            "cost": _money(r["cost"]),
            "cost_by_source": {
                source: _money(r[source])
                for source in ("reported", "billed", "estimated")
                if _money(r[source]) is not None
            },
            "p50_seconds": round(r["p50_seconds"], 3) if r["p50_seconds"] is not None else None,
            "p95_seconds": round(r["p95_seconds"], 3) if r["p95_seconds"] is not None else None,
        }
        for r in rows
    ]
    return {"group_by": group_by, "items": items}
