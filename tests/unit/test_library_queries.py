"""Library queries without a server: the tag rule (``ig.library.tags.normalize_tag``), the query
parameters' bounds (``ig.library.filters.parse_filters``: every bad one listed in one 422), and
the SQL they compile to, planned by SQLite against the real schema."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from ig.errors import ValidationFailed
from ig.library.filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_TAGS_PER_FILTER,
    NO_CURSOR,
    artifact_page_sql,
    encode_cursor,
    job_conditions,
    job_page_sql,
    parse_filters,
)
from ig.library.tags import MAX_TAG_LENGTH, TAG_PATTERN, normalize_tag

SCHEMA = Path(__file__).resolve().parents[2] / "schema.sql"
CAFE_NFC, CAFE_NFD = "caf\u00e9", "cafe\u0301"


def refused(query: dict[str, list[str]], *, for_jobs: bool = False) -> dict[str, str]:
    """The fields ``parse_filters`` refuses, with their codes."""
    with pytest.raises(ValidationFailed) as refusal:
        parse_filters(query, for_jobs=for_jobs)
    return {e.field: e.code for e in refusal.value.errors}


# --- the tag rule --------------------------------------------------------------------------------


def test_a_tag_is_stored_in_nfc_without_surrounding_whitespace():
    assert normalize_tag(CAFE_NFD) == CAFE_NFC
    assert normalize_tag(f" \t{CAFE_NFC}\n") == CAFE_NFC
    assert normalize_tag("  spaced  out ") == "spaced  out"  # inner whitespace is the tag's own
    assert normalize_tag("user:42") == "user:42"


def test_a_tag_is_one_to_128_characters_once_trimmed():
    assert normalize_tag("x" * MAX_TAG_LENGTH) == "x" * MAX_TAG_LENGTH
    assert normalize_tag("  " + "x" * MAX_TAG_LENGTH + "  ") == "x" * MAX_TAG_LENGTH
    assert MAX_TAG_LENGTH == 128
    for bad in ("", "   ", "\t\n", "x" * (MAX_TAG_LENGTH + 1)):
        with pytest.raises(ValueError, match="^tags are 1 to 128 characters, not counting surrounding whitespace$"):
            normalize_tag(bad)


@pytest.mark.parametrize(
    ("what", "tag", "code"),
    [
        ("zero-width space", "a\u200bb", "200B"),
        ("right-to-left override", "admin\u202egnp", "202E"),
        ("byte order mark", "x\ufeffy", "FEFF"),
        ("line separator", "a\u2028b", "2028"),
        ("paragraph separator", "a\u2029b", "2029"),
        ("next line (a C1 control)", "a\u0085b", "0085"),
        ("bell", "a\x07b", "0007"),
        ("soft hyphen", "ta\u00adg", "00AD"),
        ("tag character (outside the BMP)", "flag\U000e0067", "E0067"),
        ("lone surrogate", "a\ud800b", "D800"),
    ],
)
def test_invisible_or_disguising_characters_are_refused_by_code_point(what, tag, code):
    message = f"tags may not contain control, format or separator characters (U+{code})"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        normalize_tag(tag)


def test_the_documented_tag_pattern_refuses_exactly_what_the_rule_refuses_in_the_bmp():
    pattern = re.compile(TAG_PATTERN)
    disagree = []
    for code in (*range(0xD800), *range(0xE000, 0x10000)):  # a JSON Schema pattern sees no lone surrogates
        tag = f"a{chr(code)}b"
        try:
            normalize_tag(tag)
            refused = False
        except ValueError:
            refused = True
        if refused != (pattern.match(tag) is None):
            disagree.append(f"U+{code:04X}")
    assert disagree == []


# --- query parameters ----------------------------------------------------------------------------


def test_no_parameters_mean_the_first_page_of_everything():
    filters = parse_filters({})
    assert filters.limit == DEFAULT_LIMIT == 50 and filters.after_seq is None
    assert (filters.tags, filters.any_tags, filters.not_tags, filters.columns) == ([], [], [], {})
    assert (filters.q, filters.created_after, filters.created_before, filters.role, filters.nsfw) == (None,) * 5


def test_the_page_size_is_an_integer_from_1_to_500():
    assert MAX_LIMIT == 500
    assert parse_filters({"limit": ["1"]}).limit == 1
    assert parse_filters({"limit": ["500"]}).limit == 500
    assert parse_filters({"limit": ["9", "7"]}).limit == 7  # the last value of a repeated parameter
    for bad in ("0", "501", "-1", "ten", "2.5", ""):
        assert refused({"limit": [bad]}) == {"limit": "out_of_range"}, bad


@pytest.mark.parametrize("name", ["tag", "any_tag", "not_tag"])
def test_each_tag_filter_takes_at_most_twenty_tags_normalised_and_deduplicated(name):
    assert MAX_TAGS_PER_FILTER == 20
    twenty = [f"t{i}" for i in range(20)]
    attribute = {"tag": "tags", "any_tag": "any_tags", "not_tag": "not_tags"}[name]
    assert getattr(parse_filters({name: twenty}), attribute) == twenty
    assert refused({name: [*twenty, "t20"]}) == {name: "too_many"}
    assert getattr(parse_filters({name: [CAFE_NFD, f" {CAFE_NFC} ", "b"]}), attribute) == [CAFE_NFC, "b"]
    assert refused({name: ["ok", "", "a\u200bb"]}) == {f"{name}[1]": "invalid_tag", f"{name}[2]": "invalid_tag"}


def test_cursors_are_only_what_the_api_returned():
    assert parse_filters({"cursor": [encode_cursor(41)]}).after_seq == 41
    assert parse_filters({"cursor": [encode_cursor(0)]}).after_seq == 0
    assert parse_filters({"cursor": [encode_cursor(NO_CURSOR)]}).after_seq == NO_CURSOR == 2**53 - 1
    assert parse_filters({"cursor": [""]}).after_seq is None  # empty: the first page
    for bad in ("zzz", encode_cursor(NO_CURSOR + 1), encode_cursor(-1), "eyJzZXEiOiB0cnVlfQ", "eyJzZXEiOiAiMSJ9"):
        assert refused({"cursor": [bad]}) == {"cursor": "invalid_cursor"}, bad  # the last two: true and "1"


@pytest.mark.parametrize(
    ("given", "bound"),
    [
        ("2026-11-21T10:00:00Z", "2026-11-21T10:00:00.000Z"),
        ("2026-11-21t10:00:00z", "2026-11-21T10:00:00.000Z"),
        ("2026-11-21T12:00:00+02:00", "2026-11-21T10:00:00.000Z"),
        ("2026-11-21", "2026-11-21T00:00:00.000Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.000Z"),  # a leap second
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00.000Z"),  # before year 1 in UTC: before everything
    ],
)
def test_time_bounds_are_read_as_rfc_3339_and_kept_as_utc_text(given, bound):
    filters = parse_filters({"created_after": [given], "created_before": [given]})
    assert filters.created_after == filters.created_before == bound


def test_a_model_alias_finds_the_jobs_of_its_air():
    both = parse_filters({"model": ["flux-schnell"]})
    assert (both.columns, both.models) == (
        {},
        ("runware:100@1", "fal-ai/flux/schnell", "black-forest-labs/flux-schnell"),
    )
    on_fal = parse_filters({"model": ["flux-schnell"], "provider": ["fal"]})
    assert (on_fal.columns, on_fal.models) == ({"provider": "fal"}, ("fal-ai/flux/schnell",))
    assert parse_filters({"model": ["civitai:1@2"], "kind": ["video"]}).columns == {
        "model": "civitai:1@2",
        "kind": "video",
    }


def test_artifact_and_job_filters_each_refuse_what_they_do_not_know():
    assert parse_filters({"role": ["input"], "nsfw": ["0"]}).nsfw is False
    assert parse_filters({"nsfw": ["TRUE"]}).nsfw is True
    assert refused({"role": ["both"], "nsfw": ["maybe"]}) == {"role": "invalid_role", "nsfw": "invalid_boolean"}
    assert parse_filters({"status": ["succeeded"]}, for_jobs=True).status == "succeeded"
    assert refused({"status": ["done"]}, for_jobs=True) == {"status": "invalid_status"}
    assert parse_filters({"q": ["red fox*"]}).q == '"red" "fox"*'
    assert refused({"q": ["!!!"]}) == {"q": "empty_query"}


def test_every_bad_parameter_is_listed_in_one_refusal():
    assert refused(
        {
            "limit": ["501"],
            "kind": ["hologram"],
            "cursor": ["zzz"],
            "tag": [""],
            "created_after": ["yesterday"],
            "q": ["!!!"],
        }
    ) == {
        "limit": "out_of_range",
        "kind": "invalid_kind",
        "cursor": "invalid_cursor",
        "tag[0]": "invalid_tag",
        "created_after": "invalid_datetime",
        "q": "empty_query",
    }


# --- the SQL -------------------------------------------------------------------------------------


EVERY_FILTER = {
    "kind": ["image"],
    "task": ["imageInference"],
    "model": ["m1"],
    "provider": ["mock"],
    "created_after": ["2020-01-01"],
    "created_before": ["2030-01-01"],
    "q": ["lighthouse"],
    "limit": ["500"],
}
TWENTY = {
    "tag": [f"t{i}" for i in range(20)],
    "any_tag": [f"o{i}" for i in range(20)],
    "not_tag": [f"n{i}" for i in range(20)],
}


def plan(sql: str, params: list) -> list[str]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA.read_text())
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def no_walk_of_a_whole_table(steps: list[str]) -> bool:
    """No step scans a table or an index from end to end, and nothing is sorted: every walk is
    an index range searched newest first, so the LIMIT stops it after a page."""
    return not [s for s in steps if s.startswith("SCAN") and "VIRTUAL TABLE" not in s or "FOR ORDER BY" in s]


def most_compound_terms(sql: str) -> int:
    """The most terms any one compound SELECT of ``sql`` has (D1 allows 5): UNIONs counted per
    parenthesised level, as SQLite's parser counts them."""
    counts, stack = [], [0]
    for token in re.findall(r"\(|\)|\bUNION\b", sql):
        if token == "(":
            stack.append(0)
        elif token == ")":
            counts.append(stack.pop())
        else:
            stack[-1] += 1
    return max(counts + stack) + 1


def test_the_or_query_at_twenty_tags_merges_one_posting_list_per_tag_lazily():
    """Each OR tag's walk searches the (tag, artifact_seq) key newest first, and SQLite merges the
    walks in seq order, so a page reads about a page of postings whatever the posting lists'
    length: no walk is cut, sorted or read ahead. Groups of UNION ALL keep D1's 5 terms per
    compound SELECT; SQLite flattens them into the one merge."""
    query = {"any_tag": TWENTY["any_tag"], "not_tag": TWENTY["not_tag"], "role": ["output"], **EVERY_FILTER}
    sql, params = artifact_page_sql(parse_filters(query), None)
    assert len(params) == 2 + 20 + 20 + 8  # cursor and page size once; one per tag; each other filter once
    steps = plan(sql, params)
    assert steps.count("SEARCH d USING PRIMARY KEY (tag=? AND artifact_seq>? AND artifact_seq<?)") == 20
    assert steps.count("MERGE (UNION)") == 3 and steps.count("MERGE (UNION ALL)") == 16  # one merge of 20 walks
    assert no_walk_of_a_whole_table(steps), steps
    assert most_compound_terms(sql) == 5


@pytest.mark.parametrize(
    "query",
    [
        {"tag": ["t1", "t2"]},
        {"any_tag": ["o1", "o2"]},
        {"tag": ["t1"], "not_tag": ["n1"]},
        {"q": ["lighthouse"]},
        {"q": ["lighthouse"], "tag": ["t1"]},
        {"kind": ["video"]},
        {"status": ["failed"]},
        {"status": ["failed"], "tag": ["t1"]},
        {"model": ["m1"]},
        {"created_after": ["2020-01-01"], "created_before": ["2021-01-01"]},
        {"cursor": [encode_cursor(1000)]},
        {**TWENTY, **EVERY_FILTER, "status": ["succeeded"]},
    ],
    ids=lambda query: "&".join(sorted(query)),
)
def test_every_job_query_walks_an_index_newest_first(query):
    """The job queries are driven as the artifact ones are: the rarest AND tag's posting list
    (job_tag_postings), the OR tags' merged posting lists, full text, a kind's job_kinds list, or a
    (column, seq) index of jobs; never a walk of every job checking each one."""
    filters = parse_filters(query, for_jobs=True)
    sql, params = job_page_sql(filters, filters.tags[0] if filters.tags else None)
    assert len(params) <= 100 and most_compound_terms(sql) <= 5
    assert no_walk_of_a_whole_table(plan(sql, params))


@pytest.mark.parametrize("form", ["tag", "any_tag", "q", "kind", "created"])
def test_a_usage_report_reads_the_jobs_its_filters_find(form):
    """The jobs a usage report counts come from the same index walks as a page (no ORDER BY,
    no LIMIT): a report over a tag reads that tag's jobs, not every job."""
    query = {
        "tag": {"tag": ["t1"]},
        "any_tag": {"any_tag": TWENTY["any_tag"]},
        "q": {"q": ["lighthouse"]},
        "kind": {"kind": ["text"]},
        "created": {"created_after": ["2020-01-01"], "created_before": ["2021-01-01"]},
    }[form]
    filters = parse_filters(query, for_jobs=True)
    where, params = job_conditions(filters, filters.tags[0] if filters.tags else None)
    steps = plan(f"SELECT j.seq FROM jobs j WHERE {where}", params)
    assert no_walk_of_a_whole_table(steps), steps


def test_the_status_index_serves_the_library_only():
    """jobs_by_status indexes an expression only the library's status filter writes: the queries
    on open jobs keep the indexes made for them (the waiting jobs' partial index, (model, seq))."""
    from ig.jobs.limits import OLDEST_WAITING
    from ig.jobs.resolution import RECENT_COST

    assert plan(OLDEST_WAITING, ["fal", 10]) == ["SEARCH jobs USING INDEX jobs_waiting_for_slots (provider=?)"]
    assert "SEARCH j USING INDEX jobs_by_model (model=?)" in plan(RECENT_COST, ["m", "fal"])
    sql, params = job_page_sql(parse_filters({"status": ["failed"]}, for_jobs=True), None)
    assert plan(sql, params) == ["SEARCH j USING INDEX jobs_by_status (<expr>=? AND seq<?)"]
