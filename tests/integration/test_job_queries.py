"""Job queries on the local runtime: every filter of ``GET /v1/jobs`` (tag AND/OR/NOT, full-text q,
status, task, model, provider, kind, time range, in combination, paged by cursor) and of
``GET /v1/usage`` checked against an independent computation over the jobs themselves; tag edits
and artifact deletions after the fact; and migration 0007 building from existing rows exactly the
job indexes its triggers keep for new ones."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

import pytest

from ig.adapters.local.sqlite_db import SqliteDatabase, packaged_migrations

TASKS = ("imageInference", "caption", "audioInference")
WORDS = ("fox", "lighthouse", "harbor", "snow", "neon", "forest", "cathedral", "desert")
TAGS = ("red", "green", "blue", "user:1", "user:2", "channel:9")
JOBS = 30
CANCELLED = range(3, JOBS, 7)
"""Jobs cancelled before the consumer ever sees them: no artifacts, status cancelled."""
DERIVED = ("job_tag_postings", "job_tag_counts", "job_kinds", "artifact_seconds", "job_seconds")
"""What migration 0007 derives from existing rows and its triggers keep from then on."""


def job_body(i: int) -> dict[str, Any]:
    rng = random.Random(1000 + i)
    task = TASKS[i % 3]
    prompt = " ".join(rng.sample(WORDS, 2))
    params: dict[str, Any] = {"seed": i * 10 + 1}
    if task == "caption":
        params.update(prompt=prompt, inputs={"image": f"https://example.com/{i}.jpg"})
    else:
        params.update(positivePrompt=prompt, width=64, height=64, numberResults=1 + i % 2)
    return {"provider": "mock", "task": task, "model": f"m{i % 4}", "params": params, "tags": rng.sample(TAGS, 2)}


def prompt_of(i: int) -> str:
    params = job_body(i)["params"]
    return params.get("positivePrompt") or params["prompt"]


@pytest.fixture
async def library(start_ig):
    ig = await start_ig(None, webhooks=False, background=False)
    ids = []
    for i in range(JOBS):
        if i == JOBS // 2:  # a second boundary between two jobs, for the time ranges' bounds
            await asyncio.sleep(1.01 - time.time() % 1)
        ids.append((await ig.submit(job_body(i))).json()["id"])
    for i in CANCELLED:
        assert (await ig.client.post(f"/v1/jobs/{ids[i]}/cancel")).status_code == 200
    ig.runtime.start_background()
    for job_id in ids:
        assert (await ig.wait(job_id))["status"] in ("succeeded", "cancelled")
    return ig, ids


async def job_views(ig, ids: list[str]) -> list[dict[str, Any]]:
    """Every job as ``GET /v1/jobs/{id}`` shows it, newest first, with the words it is found by."""
    views = []
    for i in reversed(range(len(ids))):
        view = (await ig.client.get(f"/v1/jobs/{ids[i]}")).json()
        view["_prompt"] = prompt_of(i)
        views.append(view)
    return views


async def page_through(ig, params: list[tuple[str, str]], limit: int) -> list[str]:
    ids, cursor = [], None
    while True:
        query = [*params, ("limit", str(limit)), *([("cursor", cursor)] if cursor else [])]
        response = await ig.client.get("/v1/jobs", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [job["id"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
        assert len(page["items"]) == limit


def expected(views, *, tag=(), any_tag=(), not_tag=(), q=(), after=None, before=None, kind=None, **columns):
    out = []
    for job in views:
        tags = set(job["tags"])
        if not set(tag) <= tags or (any_tag and not tags & set(any_tag)) or tags & set(not_tag):
            continue
        if any(job["id" if name == "job_id" else name] != value for name, value in columns.items()):
            continue
        if (after and not job["created_at"] > after) or (before and not job["created_at"] < before):
            continue
        if not set(q) <= set(job["_prompt"].split()):
            continue
        if kind and kind not in {a["kind"] for a in job["artifacts"]}:
            continue
        out.append(job["id"])
    return out


def as_params(*, tag=(), any_tag=(), not_tag=(), q=(), after=None, before=None, **columns) -> list[tuple[str, str]]:
    params = [("tag", t) for t in tag] + [("any_tag", t) for t in any_tag] + [("not_tag", t) for t in not_tag]
    params += [(name, value) for name, value in columns.items()]
    if q:
        params.append(("q", " ".join(q)))
    if after:
        params.append(("created_after", after))
    if before:
        params.append(("created_before", before))
    return params


def moved(moment: str, milliseconds: int) -> str:
    at = datetime.fromisoformat(moment.replace("Z", "+00:00")) + timedelta(milliseconds=milliseconds)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def cases(views) -> list[dict[str, Any]]:
    middle, late = views[len(views) // 2]["created_at"], views[3]["created_at"]
    # The last job of one second and the first of the next: a range ending within the first's
    # second, or starting within the next one's, is bounded by exactly that job's seq.
    last, first = views[JOBS // 2]["created_at"], views[JOBS // 2 - 1]["created_at"]
    assert last[:19] < first[:19]
    found = [{"tag": (t,)} for t in TAGS]
    found += [{"tag": pair} for pair in combinations(TAGS[:4], 2)]
    found += [{"any_tag": pair} for pair in combinations(TAGS[:4], 2)]
    found += [{"not_tag": (t,)} for t in TAGS[:3]]
    return (
        found
        + [
            {"any_tag": ("red", "green", "blue", "user:1", "user:2", "channel:9")},  # more walks than a compound holds
            {"tag": ("red",), "not_tag": ("blue",), "any_tag": ("user:1", "user:2")},
            {"tag": ("red", "nope")},
            {"any_tag": ("nope",)},
            {"q": ("fox",)},
            {"q": ("neon", "forest")},
            {"q": ("fox",), "tag": ("red",)},
            {"q": ("snow",), "any_tag": ("blue", "green")},
            {"q": ("harbor",), "not_tag": ("user:1",)},
            {"status": "cancelled"},
            {"status": "succeeded", "tag": ("green",)},
            {"status": "cancelled", "any_tag": ("red", "blue")},
            {"status": "succeeded", "q": ("lighthouse",)},
            {"kind": "text"},
            {"kind": "audio", "tag": ("user:2",)},
            {"kind": "image", "any_tag": ("red", "channel:9"), "not_tag": ("blue",)},
            {"kind": "image", "q": ("desert",)},
            {"kind": "video"},
            {"task": "caption", "any_tag": ("green", "red")},
            {"model": "m1"},
            {"model": "m2", "status": "succeeded", "not_tag": ("red",)},
            {"provider": "mock", "tag": ("blue",)},
            {"job_id": views[4]["id"]},
            {"job_id": views[4]["id"], "tag": tuple(views[4]["tags"])},
            {"after": middle},
            {"before": middle},
            {"after": late, "before": middle},
            {"after": middle, "tag": ("red",)},
            {"before": middle, "any_tag": ("user:1", "blue"), "kind": "image"},
            {"before": middle, "q": ("fox",)},
            {"after": views[-1]["created_at"], "before": views[0]["created_at"], "status": "succeeded"},
            {"after": moved(middle, -1)},  # the bounds of a range that starts or ends between two jobs
            {"before": moved(middle, 1)},
            {"after": moved(late, -1), "before": moved(middle, 1)},
            {"before": last[:19] + ".999Z"},
            {"after": first[:19] + ".000Z"},
            {"after": first[:19] + ".000Z", "before": first[:19] + ".999Z", "any_tag": TAGS},
        ]
    )


async def test_every_job_query_form_matches_an_independent_computation(library):
    ig, ids = library
    views = await job_views(ig, ids)
    assert {v["status"] for v in views} == {"succeeded", "cancelled"}
    assert {a["kind"] for v in views for a in v["artifacts"]} == {"image", "text", "audio"}
    nonempty = 0
    for case in cases(views):
        want = expected(views, **case)
        nonempty += bool(want)
        assert await page_through(ig, as_params(**case), limit=500) == want, case
        if len(want) > 1:  # the same through pages of one and of two: every driver keeps the keyset
            assert await page_through(ig, as_params(**case), limit=1) == want, case
            assert await page_through(ig, as_params(**case), limit=2) == want, case
    assert nonempty > 40  # the data set exercises real matches, not empty pages


async def test_a_page_boundary_ends_with_a_cursor_only_when_more_match(library):
    ig, ids = library
    views = await job_views(ig, ids)
    red = expected(views, tag=("red",))
    exact = (await ig.client.get("/v1/jobs", params={"tag": "red", "limit": len(red)})).json()
    assert [j["id"] for j in exact["items"]] == red and exact["next_cursor"] is None
    short = (await ig.client.get("/v1/jobs", params={"tag": "red", "limit": len(red) - 1})).json()
    assert [j["id"] for j in short["items"]] == red[:-1] and short["next_cursor"] is not None
    rest = (await ig.client.get("/v1/jobs", params={"tag": "red", "cursor": short["next_cursor"]})).json()
    assert [j["id"] for j in rest["items"]] == red[-1:] and rest["next_cursor"] is None


async def test_job_tag_edits_are_found_at_once(library):
    ig, ids = library
    views = await job_views(ig, ids)
    job = next(v for v in views if "red" in v["tags"] and "green" not in v["tags"])
    edited = await ig.client.post(f"/v1/jobs/{job['id']}/tags", json={"add": ["fresh", "green"], "remove": ["red"]})
    assert edited.status_code == 200
    views = await job_views(ig, ids)
    assert next(v for v in views if v["id"] == job["id"])["tags"] == sorted({*job["tags"], "fresh", "green"} - {"red"})
    for case in (
        {"tag": ("fresh",)},
        {"tag": ("fresh", "green")},
        {"tag": ("red",)},
        {"tag": ("green",)},
        {"any_tag": ("fresh", "red")},
        {"not_tag": ("red",)},
        {"tag": ("green",), "not_tag": ("fresh",)},
        {"tag": ("fresh", "red")},
    ):
        want = expected(views, **case)
        assert await page_through(ig, as_params(**case), limit=2) == want, case
    assert await page_through(ig, [("tag", "fresh")], limit=5) == [job["id"]]
    await ig.client.post(f"/v1/jobs/{job['id']}/tags", json={"remove": ["fresh"]})
    assert await page_through(ig, [("tag", "fresh")], limit=5) == []
    assert await page_through(ig, [("any_tag", "fresh"), ("any_tag", "nope")], limit=5) == []
    counts = {r["tag"]: r["jobs"] for r in ig.rows("SELECT tag, jobs FROM job_tag_counts WHERE jobs > 0")}
    assert counts == Counter(t for v in await job_views(ig, ids) for t in v["tags"])


async def test_a_jobs_kind_follows_its_live_artifacts(library):
    ig, ids = library
    views = await job_views(ig, ids)
    pair = next(v for v in views if [a["kind"] for a in v["artifacts"]] == ["image", "image"])
    caption = next(v for v in views if [a["kind"] for a in v["artifacts"]] == ["text"])
    assert pair["id"] in await page_through(ig, [("kind", "image")], limit=50)
    await ig.client.delete(f"/v1/artifacts/{pair['artifacts'][0]['id']}")
    assert pair["id"] in await page_through(ig, [("kind", "image")], limit=50)  # one image left
    await ig.client.delete(f"/v1/artifacts/{pair['artifacts'][1]['id']}")
    await ig.client.delete(f"/v1/artifacts/{caption['artifacts'][0]['id']}")
    views = await job_views(ig, ids)
    for kind in ("image", "text", "audio"):
        got = await page_through(ig, [("kind", kind)], limit=3)
        assert got == expected(views, kind=kind), kind
    assert pair["id"] not in got and caption["id"] not in await page_through(ig, [("kind", "text")], limit=3)


async def test_usage_counts_the_jobs_the_same_filters_find(library):
    ig, ids = library
    views = await job_views(ig, ids)
    middle = views[len(views) // 2]["created_at"]
    for case in (
        {},
        {"tag": ("red",)},
        {"tag": ("red", "green")},
        {"any_tag": ("user:1", "user:2", "blue", "green", "red", "channel:9")},
        {"tag": ("blue",), "not_tag": ("user:1",)},
        {"q": ("fox",)},
        {"kind": "image"},
        {"status": "cancelled"},
        {"after": middle},
        {"before": middle, "tag": ("red",)},
    ):
        renamed = {"created_after": "since", "created_before": "until"}
        params = [(renamed.get(name, name), value) for name, value in as_params(**case)]
        for group_by, key in (("task", lambda v: [v["task"]]), ("tag", lambda v: v["tags"])):
            report = await ig.client.get("/v1/usage", params=[*params, ("group_by", group_by)])
            assert report.status_code == 200, report.text
            matching = [v for v in views if v["id"] in expected(views, **case)]
            want = Counter(k for v in matching for k in key(v))
            assert {item["key"]: item["jobs"] for item in report.json()["items"]} == want, (case, group_by)
            results = Counter()
            for v in matching:
                for k in key(v):
                    results[k] += len(ig.rows("SELECT 1 FROM results WHERE job_id = ?", (v["id"],)))
            assert {item["key"]: item["results"] for item in report.json()["items"]} == results, (case, group_by)


def schema_objects(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))


async def test_migration_0007_derives_from_existing_rows_what_its_triggers_keep(library, tmp_path):
    """A database from before 0007 (the same rows, without what 0007 adds), migrated, holds the
    same posting lists, counts, kinds and time bounds as one kept by the triggers all along; a
    tag a redelivery gave a deleted artifact before 0007 is dropped, and no write can add one."""
    ig, ids = library
    views = await job_views(ig, ids)
    victim = next(a for v in views for a in v["artifacts"] if v["tags"])
    assert (await ig.client.delete(f"/v1/artifacts/{victim['id']}")).status_code == 204
    await ig.client.post(f"/v1/jobs/{ids[0]}/tags", json={"add": ["late"], "remove": [views[-1]["tags"][0]]})

    earlier = tmp_path / "0001-0006"
    earlier.mkdir()
    for path in sorted(packaged_migrations().iterdir(), key=lambda path: path.name):
        if path.name.endswith(".sql") and path.name < "0007":
            (earlier / path.name).write_text(path.read_text())
    earlier_db = SqliteDatabase(tmp_path / "0006.sqlite3")
    earlier_db.migrate(earlier)
    earlier_db.close()
    conn = sqlite3.connect(tmp_path / "0006.sqlite3")
    before = schema_objects(conn)
    conn.close()

    copy = tmp_path / "copy.sqlite3"
    source = sqlite3.connect(ig.data_dir / "ig.sqlite3")
    source.execute(f"VACUUM INTO '{copy}'")
    source.close()
    kept = sqlite3.connect(copy)
    want = {name: sorted(kept.execute(f"SELECT * FROM {name}")) for name in DERIVED}
    want_counts = sorted(kept.execute("SELECT * FROM tag_counts"))
    added_by_0007 = {n: t for n, t in schema_objects(kept).items() if n not in before}
    assert set(DERIVED) <= set(added_by_0007) and "jobs_by_status" in added_by_0007
    for kind in ("trigger", "index", "table"):
        for name in [n for n, t in added_by_0007.items() if t == kind]:
            kept.execute(f"DROP {kind.upper()} {name}")
    kept.execute("DELETE FROM d1_migrations WHERE name = '0007_job_queries.sql'")
    seq = kept.execute("SELECT seq FROM artifacts WHERE id = ?", (victim["id"],)).fetchone()[0]
    kept.execute("INSERT INTO artifact_tags (tag, artifact_seq) VALUES ('red', ?)", (seq,))  # as a redelivery could
    kept.commit()
    kept.close()

    db = SqliteDatabase(copy)
    assert db.migrate() == ["0007_job_queries.sql"]
    db.close()
    migrated = sqlite3.connect(copy)
    assert {name: sorted(migrated.execute(f"SELECT * FROM {name}")) for name in DERIVED} == want
    assert sorted(migrated.execute("SELECT * FROM tag_counts")) == want_counts
    assert all(want[name] for name in DERIVED)  # each of them holds something
    migrated.execute("INSERT INTO artifact_tags (tag, artifact_seq) VALUES ('red', ?)", (seq,))
    assert migrated.execute("SELECT count(*) FROM artifact_tags WHERE artifact_seq = ?", (seq,)).fetchone() == (0,)
    migrated.close()
