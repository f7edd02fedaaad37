"""Library queries: the filters consumers combine (tag algebra, kind/task/model/provider/job,
time range, full-text ``q``), parsed from query parameters and compiled to SQL that an index
drives, so a page costs the same at a million artifacts as at ten thousand.

Artifacts and jobs are walked newest first along ``seq``. The driving index is picked by what the
query has: the rarest AND tag's posting list, one posting list per OR tag (merged lazily), the FTS5
index for ``q``, the posting list of a kind (jobs), or an ``(column, seq)`` index; a time range
bounds the seqs walked. Tags and words are then checked by key lookups on the candidate's seq, and
only the other filters read its row. bench/d1_rows_read.py measures what each form reads on D1."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
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


# --- the SQL: a driver walks an index newest first, each candidate is checked -------------------

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
    table: str  # artifacts or jobs
    alias: str  # a or j
    postings: str  # its tag posting lists: (tag, seq) rows, newest last in each tag
    posting_seq: str  # the seq column of a posting
    search: str  # its FTS5 table, keyed by the row's seq
    seconds: str  # its (second, first_seq, last_seq) bounds of time ranges
    live: str | None  # what keeps deleted rows out, where a driver may hold them


ARTIFACTS = _Table(
    "artifacts", "a", "artifact_tags", "artifact_seq", "artifact_search", "artifact_seconds", "a.deleted_at IS NULL"
)
JOBS = _Table("jobs", "j", "job_tag_postings", "job_seq", "job_search", "job_seconds", None)


@dataclass
class _Driver:
    """Where the candidates come from, in seq order: a posting list, the FTS5 index, a kind's
    posting list, or the table itself (walked along seq or a ``(column, seq)`` index)."""

    source: str  # the FROM clause of one candidate walk
    seq: str  # the candidate's seq, in the walk's index order
    key: list[str]  # the conditions that select the walk's index range
    live: bool  # it holds live rows only: deleted_at needs no check
    is_table: bool = False


@dataclass
class _Query:
    """A query taken apart: its driver (one per OR tag when OR tags drive), the bounds on the
    seqs it may walk, the checks made on a candidate's seq without reading its row, and the
    conditions on its row."""

    drivers: list[_Driver]
    bounds: Callable[[str], list[str]]
    checks: Callable[[str], list[str]]
    row: list[str]


def _query(f: Filters, t: _Table, p: _Params, driver_tag: str | None, row: list[str], before: str | None) -> _Query:
    """Pick the driver (the rarest AND tag, else one walk per OR tag, else full text, else the
    kind of a job's artifacts, else the table), bound its seqs by the cursor (``before``) and
    the time range, and write every other filter as a check on the candidate's seq (a key
    lookup, which reads nothing when it fails) or on its row."""
    tags = {tag: p(tag) for tag in f.tags}
    any_tags = [p(tag) for tag in f.any_tags]
    not_tags = [p(tag) for tag in f.not_tags]
    q = p(f.q) if f.q else None
    kind = p(f.columns["kind"]) if t is JOBS and "kind" in f.columns else None
    after_moment = p(f.created_after) if f.created_after else None
    before_moment = p(f.created_before) if f.created_before else None

    def posting(tag: str) -> _Driver:
        return _Driver(f"{t.postings} d", f"d.{t.posting_seq}", [f"d.tag = {tag}"], live=True)

    if driver_tag is not None:
        drivers = [posting(tags[driver_tag])]
    elif any_tags:
        drivers = [posting(tag) for tag in any_tags]
    elif q:
        drivers = [_Driver(t.search, f"{t.search}.rowid", [f"{t.search} MATCH {q}"], live=t.live is None)]
    elif kind:
        drivers = [_Driver("job_kinds d", "d.job_seq", [f"d.kind = {kind}"], live=True)]
    else:
        drivers = [_Driver(f"{t.table} {t.alias}", f"{t.alias}.seq", [], live=t.live is None, is_table=True)]
    driver = drivers[0]

    # A time range holds the seqs between these bounds (``t.seconds``): a page walks only those,
    # however far back the range lies, and checks created_at on the row. The cursor and the
    # range's end make one upper bound: SQLite starts an index range at one bound per side, and
    # would walk from the cursor down to the range's end.
    upper = before
    lower = None
    if before_moment:
        second = f"substr({before_moment}, 1, 19)"
        last = f"(SELECT last_seq FROM {t.seconds} WHERE second <= {second} ORDER BY second DESC LIMIT 1)"
        upper = f"min({before}, {last} + 1)" if before else f"{last} + 1"
        row = [*row, f"{t.alias}.created_at < {before_moment}"]
    if after_moment:
        second = f"substr({after_moment}, 1, 19)"
        lower = f"(SELECT first_seq FROM {t.seconds} WHERE second >= {second} ORDER BY second LIMIT 1)"
        row = [*row, f"{t.alias}.created_at > {after_moment}"]
    if not driver.live and t.live:
        row = [t.live, *row]

    def bounds(seq: str) -> list[str]:
        return ([f"{seq} < {upper}"] if upper else []) + ([f"{seq} >= {lower}"] if lower else [])

    def checks(seq: str) -> list[str]:
        has = f"SELECT 1 FROM {t.postings} x WHERE x.{t.posting_seq} = {seq} AND x.tag"
        out = [f"EXISTS ({has} = {tags[tag]})" for tag in f.tags if tag != driver_tag]
        if any_tags and driver_tag is not None:
            out.append(f"EXISTS ({has} IN ({', '.join(any_tags)}))")
        if not_tags:
            out.append(f"NOT EXISTS ({has} IN ({', '.join(not_tags)}))")
        if q and driver.source != t.search:
            out.append(f"EXISTS (SELECT 1 FROM {t.search} WHERE {t.search} MATCH {q} AND rowid = {seq})")
        if kind and driver.source != "job_kinds d":
            out.append(f"EXISTS (SELECT 1 FROM job_kinds k WHERE k.kind = {kind} AND k.job_seq = {seq})")
        return out

    return _Query(drivers, bounds, checks, row)


def _walk(query: _Query, driver: _Driver, t: _Table, *, with_row: bool = True) -> str:
    """One driver's candidates that pass every check, as ``SELECT seq``, in the driver's order."""
    source = driver.source
    row = query.row if with_row else []
    if row and not driver.is_table:
        # CROSS JOIN makes SQLite walk the driver first, newest first, and read only candidates' rows.
        source += f" CROSS JOIN {t.table} {t.alias} ON {t.alias}.seq = {driver.seq}"
    where = [*driver.key, *query.bounds(driver.seq), *query.checks(driver.seq), *row]
    return f"SELECT {driver.seq} AS seq FROM {source} WHERE {' AND '.join(where) or '1'}"


def _union(selects: list[str]) -> str:
    """``selects`` (each yielding ``seq`` in index order) as one UNION that SQLite merges lazily:
    an ``ORDER BY seq ... LIMIT`` on it reads each walk only as far as the page reaches. More than
    ``MAX_COMPOUND_TERMS`` go in groups of UNION ALL subqueries, which SQLite flattens into the
    one merge (a UNION subquery it would compute whole); the outer UNION drops the duplicates."""
    if len(selects) <= MAX_COMPOUND_TERMS:
        return " UNION ".join(selects)
    groups = [selects[i : i + MAX_COMPOUND_TERMS] for i in range(0, len(selects), MAX_COMPOUND_TERMS)]
    if len(groups) > MAX_COMPOUND_TERMS:
        raise ValueError(f"at most {MAX_COMPOUND_TERMS**2} walks in one union")
    return " UNION ".join(f"SELECT seq FROM ({' UNION ALL '.join(group)})" for group in groups)


def _page_sql(f: Filters, t: _Table, p: _Params, driver_tag: str | None, row: list[str]) -> str:
    before = p(f.after_seq if f.after_seq is not None else NO_CURSOR)
    limit = p(f.limit + 1)
    query = _query(f, t, p, driver_tag, row, before)
    return f"{_union([_walk(query, driver, t) for driver in query.drivers])} ORDER BY seq DESC LIMIT {limit}"


# --- artifacts ---------------------------------------------------------------------------------


def artifact_page_sql(f: Filters, driver_tag: str | None) -> tuple[str, list[Any]]:
    """SQL returning up to ``limit + 1`` artifact seqs, newest first. ``driver_tag`` is the
    rarest AND tag (the caller looks it up in tag_counts), if the query has AND tags."""
    p = _Params()
    row = [f"a.{name} = {p(value)}" for name, value in f.columns.items()]
    if f.models:
        row.append(f"a.model IN ({', '.join(p(m) for m in f.models)})")
    if f.role:
        row.append(f"a.role = {p(f.role)}")
    if f.nsfw is True:
        row.append("a.nsfw = 1")
    elif f.nsfw is False:
        row.append("coalesce(a.nsfw, 0) = 0")  # not flagged: checked clean, or never checked
    return _page_sql(f, ARTIFACTS, p, driver_tag, row), p.values


# --- jobs --------------------------------------------------------------------------------------


def _job_row(f: Filters, p: _Params) -> list[str]:
    row = [
        f"{'j.id' if name == 'job_id' else f'j.{name}'} = {p(value)}"
        for name, value in f.columns.items()
        if name != "kind"
    ]
    if f.models:
        row.append(f"j.model IN ({', '.join(p(m) for m in f.models)})")
    if f.status:
        row.append(f"j.status || '' = {p(f.status)}")  # the expression jobs_by_status indexes
    return row


def job_page_sql(f: Filters, driver_tag: str | None) -> tuple[str, list[Any]]:
    """SQL returning up to ``limit + 1`` job seqs, newest first. ``driver_tag`` is the rarest AND
    tag (the caller looks it up in job_tag_counts), if the query has AND tags."""
    p = _Params()
    return _page_sql(f, JOBS, p, driver_tag, _job_row(f, p)), p.values


def job_conditions(f: Filters, driver_tag: str | None) -> tuple[str, list[Any]]:
    """A WHERE clause on ``jobs j`` for every filter (the jobs a usage report counts), driven by
    an index as a page is, and its parameters. ``driver_tag`` as for ``job_page_sql``."""
    p = _Params()
    query = _query(f, JOBS, p, driver_tag, _job_row(f, p), None)
    if query.drivers[0].is_table:
        where = [*query.bounds("j.seq"), *query.checks("j.seq"), *query.row]
    else:
        walks = [_walk(query, driver, JOBS, with_row=False) for driver in query.drivers]
        where = [f"j.seq IN ({_union(walks)})", *query.row]
    return " AND ".join(where) or "1", p.values
