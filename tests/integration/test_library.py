"""The artifact library on the local runtime: every query form (tag AND/OR/NOT, kind, task,
model, provider, job, time range, full-text q, in combination, paged) checked against an
independent computation over the same artifacts; tags and their counts; tag edits; deletion."""

from __future__ import annotations

import asyncio
import json
import random
import re
from itertools import combinations
from typing import Any

import pytest
from fixtures.payloads import PNG

TASKS = ("imageInference", "caption", "audioInference")
WORDS = ("fox", "lighthouse", "harbor", "snow", "neon", "forest", "cathedral", "desert")
TAGS = ("red", "green", "blue", "user:1", "user:2", "channel:9")


def job_body(i: int) -> dict[str, Any]:
    rng = random.Random(i)
    task = TASKS[i % 3]
    prompt = " ".join(rng.sample(WORDS, 2))
    params: dict[str, Any] = {"seed": i * 10 + 1}
    if task == "caption":
        params.update(prompt=prompt, inputs={"image": f"https://example.com/{i}.jpg"})
    else:
        params.update(positivePrompt=prompt, width=64, height=64, numberResults=1 + i % 2)
    return {
        "provider": "mock",
        "task": task,
        "model": f"m{i % 4}",
        "params": params,
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
    }


@pytest.fixture
async def library(start_ig):
    ig = await start_ig(None, webhooks=False)
    ids = [(await ig.submit(job_body(i))).json()["id"] for i in range(24)]
    for job_id in ids:
        assert (await ig.wait(job_id))["status"] == "succeeded"
    everything = await page_through(ig, {}, limit=7)
    for item in everything:
        job = next(j for j in range(24) if ids[j] == item["job_id"])
        params = job_body(job)["params"]
        text = params.get("positivePrompt") or params.get("prompt")
        if item["kind"] == "text":
            text += "\n" + (await ig.client.get(f"/v1/artifacts/{item['id']}/content")).text
        item["_text"] = text
    return ig, ids, everything


async def page_through(ig, params: dict[str, Any] | list[tuple[str, str]], limit: int) -> list[dict[str, Any]]:
    items, cursor = [], None
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    while True:
        query = pairs + [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
        response = await ig.client.get("/v1/artifacts", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit


def words_match(text: str, query: str) -> bool:
    tokens = re.findall(r"\w+", text.lower())
    for word, star in re.findall(r"(\w+)(\*?)", query.lower()):
        if not any(t.startswith(word) if star else t == word for t in tokens):
            return False
    return True


def expected(items, *, tag=(), any_tag=(), not_tag=(), q=None, after=None, before=None, **columns):
    out = []
    for a in items:
        tags = set(a["tags"])
        if not set(tag) <= tags or (any_tag and not tags & set(any_tag)) or tags & set(not_tag):
            continue
        values = {
            "kind": a["kind"],
            "task": a["provenance"]["task"],
            "model": a["provenance"]["model"],
            "provider": a["provenance"]["provider"],
            "job_id": a["job_id"],
        }
        if any(values[k] != v for k, v in columns.items()):
            continue
        if (after and not a["created_at"] > after) or (before and not a["created_at"] < before):
            continue
        if q and not words_match(a["_text"], q):
            continue
        out.append(a["id"])
    return out


def as_params(tag=(), any_tag=(), not_tag=(), q=None, after=None, before=None, **columns):
    params = [("tag", t) for t in tag] + [("any_tag", t) for t in any_tag] + [("not_tag", t) for t in not_tag]
    params += list(columns.items())
    if q:
        params.append(("q", q))
    if after:
        params.append(("created_after", after))
    if before:
        params.append(("created_before", before))
    return params


async def test_listing_is_newest_first_and_complete(library):
    ig, ids, everything = library
    assert len(everything) == sum(1 + (i % 2 if TASKS[i % 3] != "caption" else 0) for i in range(24))
    assert len({a["id"] for a in everything}) == len(everything)
    assert [a["created_at"] for a in everything] == sorted((a["created_at"] for a in everything), reverse=True)
    assert everything[-1]["job_id"] == ids[0] and everything[0]["job_id"] == ids[-1]


async def test_every_query_form_matches_an_independent_computation(library):
    ig, ids, everything = library
    middle = everything[len(everything) // 2]["created_at"]
    cases = [{"tag": (t,)} for t in TAGS]
    cases += [{"tag": pair} for pair in combinations(TAGS[:4], 2)]
    cases += [{"any_tag": pair} for pair in combinations(TAGS[:4], 2)]
    cases += [{"not_tag": (t,)} for t in TAGS[:3]]
    cases += [
        {"any_tag": ("red", "green", "blue")},
        {"tag": ("red",), "not_tag": ("blue",), "any_tag": ("user:1", "user:2")},
        {"kind": "text"},
        {"kind": "image", "not_tag": ("green",)},
        {"kind": "audio", "tag": ("red",)},
        {"task": "caption", "any_tag": ("green", "red")},
        {"model": "m1"},
        {"model": "m2", "kind": "image"},
        {"provider": "mock"},
        {"provider": "runware"},
        {"job_id": ids[5]},
        {"job_id": ids[4], "kind": "image"},
        {"after": middle},
        {"before": middle},
        {"after": middle, "tag": ("red",)},
        {"q": "fox"},
        {"q": "harb"},
        {"q": "harb*"},
        {"q": "ca* fo*"},
        {"q": "neon forest"},
        {"q": "fox", "tag": ("red",)},
        {"q": "snow", "any_tag": ("blue", "green")},
        {"q": "mock"},
        {"q": "cathedral", "kind": "text"},
        {"tag": ("red", "nope")},
        {"any_tag": ("nope",)},
        {"tag": ("red",), "q": "fox", "not_tag": ("user:2",), "model": "m0"},
    ]
    for case in cases:
        want = expected(everything, **case)
        got = [a["id"] for a in await page_through(ig, as_params(**case), limit=500)]
        assert got == want, case
        if len(want) > 2:  # the same through small pages: every driver path keeps the keyset
            paged = [a["id"] for a in await page_through(ig, as_params(**case), limit=2)]
            assert paged == want, case
    assert any(expected(everything, **c) for c in cases)  # the data set exercises real matches


async def test_paging_while_artifacts_arrive_never_repeats_or_skips(library):
    ig, _, everything = library
    seen, cursor = [], None
    for i in range(100):
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await ig.client.get("/v1/artifacts", params=params)).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        await ig.wait((await ig.submit(job_body(100 + i))).json()["id"])  # newer than anything paged
    assert seen == [a["id"] for a in everything]


async def test_bad_query_parameters_are_listed(library):
    ig, _, _ = library
    response = await ig.client.get(
        "/v1/artifacts",
        params=[
            ("limit", "501"),
            ("kind", "hologram"),
            ("cursor", "zzz"),
            ("tag", ""),
            ("created_after", "yesterday"),
            ("q", "!!!"),
        ],
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"limit", "kind", "cursor", "tag[0]", "created_after", "q"}


async def test_tags_list_their_live_artifact_counts(library):
    ig, _, everything = library
    counts: dict[str, int] = {}
    for a in everything:
        for t in a["tags"]:
            counts[t] = counts.get(t, 0) + 1
    listed = (await ig.client.get("/v1/tags")).json()
    assert {i["tag"]: i["artifacts"] for i in listed["items"]} == counts
    users = (await ig.client.get("/v1/tags", params={"prefix": "user:"})).json()["items"]
    assert [i["tag"] for i in users] == sorted(t for t in counts if t.startswith("user:"))
    first = (await ig.client.get("/v1/tags", params={"limit": 2})).json()
    rest = (await ig.client.get("/v1/tags", params={"limit": 100, "cursor": first["next_cursor"]})).json()
    assert [i["tag"] for i in first["items"] + rest["items"]] == sorted(counts)


async def test_tags_are_edited_on_artifacts_and_jobs(library):
    ig, ids, everything = library
    artifact = everything[0]
    response = await ig.client.post(
        f"/v1/artifacts/{artifact['id']}/tags",
        json={"add": ["best", "red"], "remove": [t for t in artifact["tags"] if t != "red"]},
    )
    assert response.status_code == 200 and response.json() == {"tags": ["best", "red"]}
    assert [a["id"] for a in (await ig.client.get("/v1/artifacts", params={"tag": "best"})).json()["items"]] == [
        artifact["id"]
    ]
    assert {"tag": "best", "artifacts": 1} in (await ig.client.get("/v1/tags")).json()["items"]
    bad = await ig.client.post(f"/v1/artifacts/{artifact['id']}/tags", json={"add": ["ok", "bad\x07tag"], "x": 1})
    assert bad.status_code == 422
    bad = await ig.client.post(f"/v1/artifacts/{artifact['id']}/tags", json={"add": ["ok", "a\nb"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "add.1"
    assert (await ig.client.get(f"/v1/artifacts/{artifact['id']}")).json()["tags"] == ["best", "red"]
    job = await ig.client.post(f"/v1/jobs/{ids[0]}/tags", json={"add": ["reviewed"]})
    assert "reviewed" in job.json()["tags"]
    assert [j["id"] for j in (await ig.client.get("/v1/jobs", params={"tag": "reviewed"})).json()["items"]] == [ids[0]]
    assert (await ig.client.post("/v1/artifacts/nope/tags", json={"add": ["x"]})).status_code == 404


async def test_job_listing_filters(library):
    ig, ids, _ = library
    all_jobs = (await ig.client.get("/v1/jobs", params={"limit": 500})).json()["items"]
    assert [j["id"] for j in all_jobs] == ids[::-1]
    captions = (await ig.client.get("/v1/jobs", params={"task": "caption", "status": "succeeded"})).json()["items"]
    assert [j["id"] for j in captions] == [ids[i] for i in range(23, -1, -1) if TASKS[i % 3] == "caption"]
    red = (await ig.client.get("/v1/jobs", params={"tag": "red"})).json()["items"]
    assert [j["id"] for j in red] == [ids[i] for i in range(23, -1, -1) if "red" in job_body(i)["tags"]]
    foxes = (await ig.client.get("/v1/jobs", params={"q": "fox"})).json()["items"]
    want = [ids[i] for i in range(23, -1, -1) if "fox" in str(job_body(i)["params"])]
    assert [j["id"] for j in foxes] == want and want


async def test_deleting_keeps_a_tombstone_and_drops_it_from_queries(library):
    ig, _, everything = library
    victim = next(a for a in everything if "red" in a["tags"])
    before = {i["tag"]: i["artifacts"] for i in (await ig.client.get("/v1/tags")).json()["items"]}
    assert (await ig.client.delete(f"/v1/artifacts/{victim['id']}")).status_code == 204
    assert (await ig.client.delete(f"/v1/artifacts/{victim['id']}")).status_code == 204  # idempotent
    assert (await ig.client.get(f"/v1/artifacts/{victim['id']}/content")).status_code == 410
    tombstone = (await ig.client.get(f"/v1/artifacts/{victim['id']}")).json()
    assert tombstone["deleted_at"] is not None and tombstone["provenance"] == victim["provenance"]
    remaining = await page_through(ig, {"tag": "red"}, limit=500)
    assert victim["id"] not in [a["id"] for a in remaining]
    after = {i["tag"]: i["artifacts"] for i in (await ig.client.get("/v1/tags")).json()["items"]}
    assert after["red"] == before["red"] - 1
    blob = ig.rows("SELECT blob_key FROM artifacts WHERE id = ?", (victim["id"],))[0]["blob_key"]
    assert not (ig.data_dir / "blobs" / blob).exists()
    assert (await ig.client.delete("/v1/artifacts/nope")).status_code == 404
    await asyncio.sleep(0)


CAFE_NFC, CAFE_NFD = "caf\u00e9", "cafe\u0301"
INVISIBLE_OR_DISGUISING = {
    "zero-width space": "a\u200bb",
    "right-to-left override": "admin\u202egnp",
    "byte order mark": "x\ufeffy",
    "line separator": "a\u2028b",
    "next line (a C1 control)": "a\u0085b",
    "bell": "a\x07b",
    "soft hyphen": "ta\u00adg",
    "tag character (outside the BMP)": "flag\U000e0067",
}


async def test_tags_are_normalised_to_nfc_and_trimmed_and_invisible_characters_are_refused(start_ig):
    ig = await start_ig(None, webhooks=False)
    job = await ig.submit(
        {
            "provider": "mock",
            "task": "imageInference",
            "model": "mock",
            "params": {"positivePrompt": "a cafe", "width": 64, "height": 64},
            "tags": [CAFE_NFD, f"  {CAFE_NFC}\t", " spaced out "],
        }
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    assert job.json()["tags"] == [CAFE_NFC, "spaced out"]
    artifact = (await ig.wait(job_id))["artifacts"][0]
    assert [r["tag"] for r in ig.rows("SELECT tag FROM job_tags WHERE job_id = ? ORDER BY tag", (job_id,))] == [
        CAFE_NFC,
        "spaced out",
    ]
    stored = ig.rows("SELECT t.tag FROM artifact_tags t JOIN artifacts a ON a.seq = t.artifact_seq ORDER BY t.tag")
    assert [r["tag"].encode() for r in stored] == [CAFE_NFC.encode(), b"spaced out"]

    for spelling in (CAFE_NFD, f" {CAFE_NFC} ", CAFE_NFC):  # every spelling finds the one tag
        for path, key in (("/v1/artifacts", "tag"), ("/v1/artifacts", "any_tag"), ("/v1/jobs", "tag")):
            found = (await ig.client.get(path, params={key: spelling})).json()["items"]
            assert [i["id"] for i in found] == [artifact["id"] if path == "/v1/artifacts" else job_id]
        assert (await ig.client.get("/v1/artifacts", params={"not_tag": spelling})).json()["items"] == []
    assert (await ig.client.get("/v1/tags")).json()["items"] == [
        {"tag": CAFE_NFC, "artifacts": 1},
        {"tag": "spaced out", "artifacts": 1},
    ]

    edited = await ig.client.post(
        f"/v1/artifacts/{artifact['id']}/tags", json={"add": [" new tag ", "o\u0308"], "remove": [CAFE_NFD]}
    )
    assert edited.status_code == 200 and edited.json() == {"tags": ["new tag", "spaced out", "\u00f6"]}

    uploaded = await ig.client.post(
        "/v1/uploads", params={"tag": CAFE_NFD}, content=PNG, headers={"content-type": "image/png"}
    )
    assert uploaded.status_code == 201 and uploaded.json()["tags"] == [CAFE_NFC]

    before = ig.rows("SELECT * FROM job_tags"), ig.rows("SELECT * FROM artifact_tags"), ig.rows("SELECT id FROM jobs")
    for what, tag in INVISIBLE_OR_DISGUISING.items():
        body = {"provider": "mock", "model": "mock", "task": "imageInference", "params": {}, "tags": ["ok", tag]}
        refused = await ig.client.post(
            "/v1/jobs", content=json.dumps(body), headers={"content-type": "application/json"}
        )
        assert refused.status_code == 422, (what, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["tags.1"], what
        edit = await ig.client.post(f"/v1/artifacts/{artifact['id']}/tags", content=json.dumps({"add": [tag]}).encode())
        assert edit.status_code == 422 and edit.json()["errors"][0]["field"] == "add.0", what
        listed = await ig.client.get("/v1/artifacts", params={"tag": tag})
        assert listed.status_code == 422 and listed.json()["errors"][0]["field"] == "tag[0]", what
    for blank in ("", "   ", "\t\n"):
        assert (await ig.client.post(f"/v1/jobs/{job_id}/tags", json={"add": [blank]})).status_code == 422
    assert (
        ig.rows("SELECT * FROM job_tags"),
        ig.rows("SELECT * FROM artifact_tags"),
        ig.rows("SELECT id FROM jobs"),
    ) == before
