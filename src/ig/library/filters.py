"""Library queries: the filters consumers combine (tag algebra, kind/task/model/provider/job,
time range, full-text ``q``), parsed from query parameters and compiled to SQL that an index
drives, so a page costs the same at a million artifacts as at ten thousand.

Artifacts are walked newest first along ``seq``. The driving index is picked by what the query
has: the rarest AND tag's posting list, one posting list per OR tag (merged), the FTS5 index for
``q``, or an ``(column, seq)`` index. Everything else is checked per candidate row."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ig.errors import FieldError, ValidationFailed
from ig.job_states import JobStatus
from ig.library.media_types import KINDS
from ig.library.tags import normalize_tag
from ig.providers import catalogue

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TAGS_PER_FILTER = 20
NO_CURSOR = 2**53 - 1
"""Above every seq: the first page. The largest integer a JS number (D1's binding) holds exactly."""
_COLUMNS = ("kind", "task", "model", "provider", "job_id")
_WORD = re.compile(r"(\w+)(\*?)", re.UNICODE)
_LEAP_SECOND = re.compile(r"(T\d\d:\d\d:)60")


JOB_STATUSES = tuple(JobStatus)


@dataclass
class Filters:
    tags: list[str] = field(default_factory=list)  # every one must match
    any_tags: list[str] = field(default_factory=list)  # at least one
    not_tags: list[str] = field(default_factory=list)  # none
    columns: dict[str, str] = field(default_factory=dict)  # kind/task/model/provider/job_id = value
    models: tuple[str, ...] = ()
    """An alias's models (one per provider it runs on): rows of any of them match."""
    created_after: str | None = None
    created_before: str | None = None
    q: str | None = None  # an FTS5 query built from the consumer's words
    status: str | None = None  # jobs only
    role: str | None = None  # artifacts only: output or input
    nsfw: bool | None = None  # artifacts only: flagged (True) or not flagged, including unchecked (False)
    limit: int = DEFAULT_LIMIT
    after_seq: int | None = None  # keyset cursor: only rows older than this


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, errors: list[FieldError]) -> int | None:
    try:
        seq = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["seq"]
        # Only what encode_cursor can have written: past NO_CURSOR, SQLite cannot bind the number.
        if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= NO_CURSOR:
            return seq
    except (ValueError, KeyError, TypeError):
        pass
    errors.append(FieldError("cursor", "not a cursor this API returned", "invalid_cursor"))
    return None


def _tags(query: dict[str, list[str]], name: str, errors: list[FieldError]) -> list[str]:
    values = query.get(name, [])
    if len(values) > MAX_TAGS_PER_FILTER:
        errors.append(FieldError(name, f"at most {MAX_TAGS_PER_FILTER} tags", "too_many"))
    tags = []
    for i, value in enumerate(values):
        try:
            tags.append(normalize_tag(value))
        except ValueError as exc:
            errors.append(FieldError(f"{name}[{i}]", str(exc), "invalid_tag"))
    return list(dict.fromkeys(tags))


def _moment(value: str | None, name: str, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    # RFC 3339 also allows a lower-case t and z, and a leap second (kept as 59.999...).
    text = _LEAP_SECOND.sub(r"\g<1>59", value.upper().replace("Z", "+00:00"), count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        errors.append(FieldError(name, "an ISO 8601 date or time, e.g. 2026-11-21T10:00:00Z", "invalid_datetime"))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # hours from year 1 or 9999, where UTC falls outside datetime: before or after everything
        utc = (datetime.min if parsed.year == 1 else datetime.max).replace(tzinfo=UTC)
    # As ig.deps.isoformat writes times, but with the year always four digits (strftime's %Y
    # is not, before 1000), so that the bound compares with stored times as text.
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fts_query(text: str) -> str | None:
    """The consumer's words as an FTS5 query: every word must appear as a whole word, or as a
    prefix when written ``word*``; each is quoted so no input is FTS syntax.

    Prefixes are opt-in because a prefix query merges the posting lists of every matching term
    (5 ms at a million artifacts against 0.1 ms for a whole word)."""
    words = _WORD.findall(text)
    if not words:
        return None
    return " ".join(f'"{word}"{star}' for word, star in words[:16])


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def parse_filters(query: dict[str, list[str]], *, for_jobs: bool = False) -> Filters:
    """Read the filters from query parameters; every bad parameter is listed in one 422."""
    errors: list[FieldError] = []
    filters = Filters(
        tags=_tags(query, "tag", errors),
        any_tags=_tags(query, "any_tag", errors),
        not_tags=_tags(query, "not_tag", errors),
        created_after=_moment(_last(query, "created_after"), "created_after", errors),
        created_before=_moment(_last(query, "created_before"), "created_before", errors),
    )
    for name in _COLUMNS:
        value = _last(query, name)
        if value is not None:
            filters.columns[name] = value
    alias = catalogue.alias_named(filters.columns.get("model", ""))
    if alias is not None:
        # Jobs record the provider's model; an alias finds the rows of each provider it runs on.
        del filters.columns["model"]
        wanted = filters.columns.get("provider")
        filters.models = tuple(on.model for name, on in alias.providers.items() if wanted in (None, name)) or ("",)
    if "kind" in filters.columns and filters.columns["kind"] not in KINDS:
        errors.append(FieldError("kind", f"one of {', '.join(KINDS)}", "invalid_kind"))
    raw_q = _last(query, "q")
    if raw_q is not None:
        filters.q = fts_query(raw_q)
        if filters.q is None:
            errors.append(FieldError("q", "needs at least one word", "empty_query"))
    if for_jobs:
        filters.status = _last(query, "status")
        if filters.status is not None and filters.status not in JOB_STATUSES:
            errors.append(FieldError("status", "one of " + ", ".join(JOB_STATUSES), "invalid_status"))
    else:
        filters.role = _last(query, "role")
        if filters.role is not None and filters.role not in ("output", "input"):
            errors.append(FieldError("role", "output or input", "invalid_role"))
        nsfw = _last(query, "nsfw")
        if nsfw is not None:
            filters.nsfw = {"true": True, "1": True, "false": False, "0": False}.get(nsfw.lower())
            if filters.nsfw is None:
                errors.append(FieldError("nsfw", "true or false", "invalid_boolean"))
    limit = _last(query, "limit")
    if limit is not None:
        try:
            filters.limit = int(limit)
        except ValueError:
            filters.limit = 0
        if not 1 <= filters.limit <= MAX_LIMIT:
            errors.append(FieldError("limit", f"an integer from 1 to {MAX_LIMIT}", "out_of_range"))
    cursor = _last(query, "cursor")
    if cursor:
        filters.after_seq = _decode_cursor(cursor, errors)
    if errors:
        raise ValidationFailed(errors)
    return filters


# --- conditions shared by artifacts and jobs ------------------------------------------------------

MAX_COMPOUND_TERMS = 5
"""D1 (workerd's SQLite) refuses a compound SELECT of more than 5 terms; larger unions nest."""


class _Params:
    """Bound parameters, numbered: a value used in several places of a statement (the cursor,
    the page size, a filter repeated in each branch of a union) is bound once, so a query at
    every filter's maximum stays within D1's 100 parameters."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"?{len(self.values)}"


@dataclass(frozen=True)
class _Table:
    alias: str  # a or j
    tags: str  # its tag table
    tag_owner: str  # how a tag row points at the row being filtered
    search: str  # its FTS5 table, keyed by the row's seq


ARTIFACTS = _Table("a", "artifact_tags", "x.artifact_seq = a.seq", "artifact_search")
JOBS = _Table("j", "job_tags", "x.job_id = j.id", "job_search")


def _common_conditions(
    f: Filters, t: _Table, p: _Params, *, skip_tag: str | None = None, skip_any: bool = False, skip_q: bool = False
) -> list[str]:
    """Tag algebra, time range and full text; one JSON parameter per tag set."""
    where: list[str] = []
    has_tag = f"FROM {t.tags} x WHERE {t.tag_owner} AND x.tag IN (SELECT value FROM json_each({{}}))"
    rest = [tag for tag in f.tags if tag != skip_tag]
    if rest:
        where.append(f"(SELECT count(*) {has_tag.format(p(json.dumps(rest)))}) = {p(len(rest))}")
    if f.any_tags and not skip_any:
        where.append(f"EXISTS (SELECT 1 {has_tag.format(p(json.dumps(f.any_tags)))})")
    if f.not_tags:
        where.append(f"NOT EXISTS (SELECT 1 {has_tag.format(p(json.dumps(f.not_tags)))})")
    if f.created_after:
        where.append(f"{t.alias}.created_at > {p(f.created_after)}")
    if f.created_before:
        where.append(f"{t.alias}.created_at < {p(f.created_before)}")
    if f.q and not skip_q:
        where.append(f"EXISTS (SELECT 1 FROM {t.search} WHERE {t.search} MATCH {p(f.q)} AND rowid = {t.alias}.seq)")
    return where


def _union(selects: list[str]) -> str:
    """``selects`` (each yielding ``seq``) as one UNION, nested so that no compound SELECT has
    more than ``MAX_COMPOUND_TERMS`` terms."""
    while len(selects) > MAX_COMPOUND_TERMS:
        groups = [selects[i : i + MAX_COMPOUND_TERMS] for i in range(0, len(selects), MAX_COMPOUND_TERMS)]
        selects = [g[0] if len(g) == 1 else f"SELECT seq FROM ({' UNION '.join(g)})" for g in groups]
    return " UNION ".join(selects)


# --- artifacts ---------------------------------------------------------------------------------


def _artifact_conditions(
    f: Filters, p: _Params, *, skip_tag: str | None = None, skip_any: bool = False, skip_q: bool = False
) -> str:
    where = [
        "a.deleted_at IS NULL",
        *_common_conditions(f, ARTIFACTS, p, skip_tag=skip_tag, skip_any=skip_any, skip_q=skip_q),
    ]
    where += [f"a.{name} = {p(value)}" for name, value in f.columns.items()]
    if f.models:
        where.append(f"a.model IN ({', '.join(p(m) for m in f.models)})")
    if f.role:
        where.append(f"a.role = {p(f.role)}")
    if f.nsfw is True:
        where.append("a.nsfw = 1")
    elif f.nsfw is False:
        where.append("coalesce(a.nsfw, 0) = 0")  # not flagged: checked clean, or never checked
    return " AND ".join(where)


def artifact_page_sql(f: Filters, driver_tag: str | None) -> tuple[str, list[Any]]:
    """SQL returning up to ``limit + 1`` artifact seqs, newest first. ``driver_tag`` is the
    rarest AND tag (the caller looks it up in tag_counts), if the query has AND tags."""
    p = _Params()
    before = p(f.after_seq if f.after_seq is not None else NO_CURSOR)
    limit = p(f.limit + 1)
    if driver_tag is not None:
        where = _artifact_conditions(f, p, skip_tag=driver_tag)
        # CROSS JOIN makes SQLite walk the posting list first, newest first.
        sql = (
            "SELECT a.seq FROM artifact_tags d CROSS JOIN artifacts a ON a.seq = d.artifact_seq"
            f" WHERE d.tag = {p(driver_tag)} AND d.artifact_seq < {before} AND {where}"
            f" ORDER BY d.artifact_seq DESC LIMIT {limit}"
        )
    elif f.any_tags:
        # One posting list per OR tag, each cut at the page size, then merged: never a sort of
        # whole posting lists. The other conditions are written once and bound once.
        where = _artifact_conditions(f, p, skip_any=True)
        branches = [
            "SELECT * FROM (SELECT a.seq AS seq FROM artifact_tags d CROSS JOIN artifacts a ON a.seq = d.artifact_seq"
            f" WHERE d.tag = {p(tag)} AND d.artifact_seq < {before} AND {where}"
            f" ORDER BY d.artifact_seq DESC LIMIT {limit})"
            for tag in f.any_tags
        ]
        sql = f"SELECT seq FROM ({_union(branches)}) ORDER BY seq DESC LIMIT {limit}"
    elif f.q:
        where = _artifact_conditions(f, p, skip_q=True)
        sql = (
            "SELECT a.seq FROM artifact_search CROSS JOIN artifacts a ON a.seq = artifact_search.rowid"
            f" WHERE artifact_search MATCH {p(f.q)} AND artifact_search.rowid < {before} AND {where}"
            f" ORDER BY artifact_search.rowid DESC LIMIT {limit}"
        )
    else:
        where = _artifact_conditions(f, p)
        sql = f"SELECT a.seq FROM artifacts a WHERE a.seq < {before} AND {where} ORDER BY a.seq DESC LIMIT {limit}"
    return sql, p.values


# --- jobs --------------------------------------------------------------------------------------


def _job_conditions(f: Filters, p: _Params) -> list[str]:
    where = _common_conditions(f, JOBS, p)
    for name, value in f.columns.items():
        if name == "kind":
            where.append(
                "EXISTS (SELECT 1 FROM artifacts a WHERE a.job_id = j.id"
                f" AND a.kind = {p(value)} AND a.deleted_at IS NULL)"
            )
        else:
            where.append(f"{'j.id' if name == 'job_id' else f'j.{name}'} = {p(value)}")
    if f.models:
        where.append(f"j.model IN ({', '.join(p(m) for m in f.models)})")
    if f.status:
        where.append(f"j.status = {p(f.status)}")
    return where


def job_conditions(f: Filters) -> tuple[str, list[Any]]:
    """A WHERE clause (alias ``j``, "1" when empty) for every filter except the cursor, and its
    parameters."""
    p = _Params()
    return " AND ".join(_job_conditions(f, p)) or "1", p.values


def job_page_sql(f: Filters) -> tuple[str, list[Any]]:
    """SQL returning up to ``limit + 1`` job seqs, newest first."""
    p = _Params()
    before = p(f.after_seq if f.after_seq is not None else NO_CURSOR)
    where = " AND ".join([f"j.seq < {before}", *_job_conditions(f, p)])
    sql = f"SELECT j.seq, j.id FROM jobs j WHERE {where} ORDER BY j.seq DESC LIMIT {p(f.limit + 1)}"
    return sql, p.values
