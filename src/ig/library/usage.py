"""Cost and usage rollups: jobs, outcomes, results, cost and latency percentiles, grouped by day,
model, task, tag or provider, over the same filters as the library. Cost is what the provider
reported (Runware) or billed (fal's billable units times its unit price), and each sum says which."""

from __future__ import annotations

import math
from typing import Any

from ig.errors import FieldError, ValidationFailed
from ig.library.artifacts import NOTHING, rarest_tag
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
           count(r.job_id) AS results, sum(r.cost) AS cost,
           sum(CASE r.cost_source WHEN 'reported' THEN r.cost END) AS reported,
           sum(CASE r.cost_source WHEN 'billed' THEN r.cost END) AS billed,
           sum(CASE r.cost_source WHEN 'estimated' THEN r.cost END) AS estimated
    FROM jobs j {join} LEFT JOIN results r ON r.job_id = j.id
    WHERE {where} GROUP BY j.seq{group}
),
ranked AS (
    SELECT *, row_number() OVER w AS rn, count(seconds) OVER w AS n FROM per
    WINDOW w AS (PARTITION BY key ORDER BY seconds NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
)
SELECT key, count(*) AS jobs, sum(status = 'succeeded') AS succeeded, sum(status = 'failed') AS failed,
       sum(results) AS results, sum(cost) AS cost, sum(reported) AS reported, sum(billed) AS billed,
       sum(estimated) AS estimated,
       min(CASE WHEN seconds IS NOT NULL AND rn >= 0.50 * n THEN seconds END) AS p50_seconds,
       min(CASE WHEN seconds IS NOT NULL AND rn >= 0.95 * n THEN seconds END) AS p95_seconds
FROM ranked GROUP BY key ORDER BY key
"""
"""One row per job (and tag, grouped by tag) with its results read once, over the jobs the filters'
index walk finds; then, in one pass over those rows ranked by latency within each group, the
group's sums and its nearest-rank percentiles (the least latency ranked at or past 50 % and 95 %
of the jobs that have one)."""


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
    driver = await rarest_tag(db, filters, jobs=True)
    if driver == NOTHING:
        return {"group_by": group_by, "items": []}
    where, params = job_conditions(filters, driver)
    by_tag = group_by == "tag"
    sql = REPORT.format(
        key=GROUP_KEYS[group_by],
        join="JOIN job_tags g ON g.job_id = j.id" if by_tag else "",
        where=where,
        group=", g.tag" if by_tag else "",
    )
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
