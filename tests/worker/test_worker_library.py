"""The library features whose bytes cross the Worker adapters: range requests (R2 ranged reads),
uploads (the request body streamed from its JS ReadableStream into R2, multipart for large ones),
deletion (R2 delete) and signed content URLs. Checked in Miniflare's D1 and R2, read from Node.
And the library's queries on D1 itself: what they find, and how many rows D1 says they read."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from fixtures.fake_runware import tiny_png

from ig.library.filters import job_page_sql, parse_filters

from .ig_worker import BASE, IMAGE_JOB, first_schema_job_sql, harness_before, image_job

MiB = 1024 * 1024


def _png(size: int) -> bytes:
    head = tiny_png(7)
    return head + os.urandom(size - len(head))


def test_range_requests_read_only_the_range_from_r2(ig):
    job_id = ig.complete_by_webhooks(image_job(1))
    [artifact] = ig.artifacts(job_id)
    served = ig.fake.served_bytes(artifact["source_url"])
    size = len(served)
    path = f"/v1/artifacts/{artifact['id']}/content"

    cases = {"bytes=0-9": (0, 10), "bytes=10-": (10, size - 10), "bytes=-5": (size - 5, 5), "bytes=3-3": (3, 1)}
    for header, (offset, length) in cases.items():
        r = ig.fetch("GET", path, headers={"range": header})
        assert r.status == 206, (header, r.text)
        assert r.body == served[offset : offset + length]
        assert r.header("content-length") == str(length)
        assert r.header("content-range") == f"bytes {offset}-{offset + length - 1}/{size}"
        assert r.header("content-type") == "image/png"
    whole = ig.fetch("GET", path, headers={"range": "bytes=0-5,9-10"})  # several ranges: the whole body
    assert whole.status == 200 and whole.body == served
    beyond = ig.fetch("GET", path, headers={"range": f"bytes={size}-"})
    assert beyond.status == 416 and beyond.header("content-range") == f"bytes */{size}"


def test_a_range_across_r2_part_boundaries_of_a_large_output(ig):
    ig.fake.large_output_bytes = 17 * MiB  # over 16 MiB: a multipart upload of 8 + 8 + 1 MiB,
    ig.fake.media_chunked = True  # as a body of unknown length goes up (one of known length is piped whole)
    job_id = ig.complete_by_webhooks(image_job(1))
    [artifact] = ig.artifacts(job_id)
    served = ig.fake.served_bytes(artifact["source_url"])
    assert ig.blob(artifact["blob_key"])["etag"].endswith("-3")
    offset, length = 8 * MiB - 100, 8 * MiB + 200  # spans all three parts
    r = ig.fetch(
        "GET", f"/v1/artifacts/{artifact['id']}/content", headers={"range": f"bytes={offset}-{offset + length - 1}"}
    )
    assert r.status == 206 and r.body == served[offset : offset + length]


def test_an_upload_streams_into_r2_and_identical_bytes_are_kept_once(ig):
    png = tiny_png(3, 32, 32)
    r = ig.fetch("POST", "/v1/uploads?tag=upload&tag=user:7", body=png, headers={"content-type": "image/png"})
    assert r.status == 201, r.text
    view = r.json()
    [row] = ig.rows("SELECT * FROM artifacts WHERE id = ?", view["id"])
    assert (row["role"], row["kind"], row["content_type"], row["job_id"]) == ("input", "image", "image/png", None)
    assert (row["width"], row["height"]) == (32, 32) and (view["width"], view["height"]) == (32, 32)  # probed
    assert row["size"] == len(png) and row["sha256"] == hashlib.sha256(png).hexdigest()
    assert row["blob_key"] == f"uploads/{view['id']}"
    obj = ig.blob(row["blob_key"])
    assert obj["body"] == png and obj["httpMetadata"] == {"contentType": "image/png"}
    assert ig.artifact_tags(view["id"]) == ["upload", "user:7"]

    again = ig.fetch("POST", "/v1/uploads", body=png, headers={"content-type": "image/png"})
    assert again.status == 200 and again.json()["id"] == view["id"]
    assert ig.h.r2_keys() == [row["blob_key"]]  # the second copy was removed again
    assert ig.fetch("GET", f"/v1/artifacts/{view['id']}/content").body == png


def test_a_multipart_form_upload_keeps_the_file_name(ig):
    png = tiny_png(4, 24, 24)
    boundary = "----igboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="fox.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    r = ig.fetch(
        "POST", "/v1/uploads", body=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert r.status == 201, r.text
    [row] = ig.rows("SELECT filename, size, blob_key FROM artifacts WHERE id = ?", r.json()["id"])
    assert row["filename"] == "fox.png" and row["size"] == len(png)
    assert ig.blob(row["blob_key"])["body"] == png


def test_a_large_upload_goes_through_r2_multipart(ig):
    data = _png(18 * MiB + 5)
    r = ig.fetch("POST", "/v1/uploads", body=data, headers={"content-type": "image/png"})
    assert r.status == 201, r.text
    [row] = ig.rows("SELECT size, sha256, blob_key FROM artifacts WHERE id = ?", r.json()["id"])
    assert row["size"] == len(data) and row["sha256"] == hashlib.sha256(data).hexdigest()
    obj = ig.blob(row["blob_key"])
    assert obj["etag"].endswith("-3") and obj["body"] == data


def test_an_oversized_or_mismatched_upload_leaves_nothing_behind(ig):
    ig.configure(IG_MAX_UPLOAD_BYTES=MiB)
    big = ig.fetch("POST", "/v1/uploads", body=_png(MiB + 1), headers={"content-type": "image/png"})
    assert big.status == 413, big.text
    wrong = ig.fetch("POST", "/v1/uploads", body=tiny_png(1), headers={"content-type": "image/jpeg"})
    assert wrong.status == 422, wrong.text
    assert ig.rows("SELECT id FROM artifacts") == [] and ig.h.r2_keys() == []


def test_an_upload_refused_midway_through_a_multipart_upload_leaves_nothing(ig):
    ig.configure(IG_MAX_UPLOAD_BYTES=20 * MiB)  # refused after two 8 MiB parts went up
    r = ig.fetch("POST", "/v1/uploads", body=_png(25 * MiB), headers={"content-type": "image/png"})
    assert r.status == 413, r.text
    assert ig.rows("SELECT id FROM artifacts") == [] and ig.h.r2_keys() == []


def test_deleting_an_artifact_removes_its_r2_object_and_keeps_a_tombstone(ig):
    ig.configure(IMAGES="1")  # with thumbnails, which go with their artifacts
    job_id = ig.complete_by_webhooks(image_job(2))
    first, second = ig.artifacts(job_id)
    r = ig.fetch("DELETE", f"/v1/artifacts/{first['id']}")
    assert r.status == 204, r.text
    assert ig.h.r2_get(first["blob_key"]) is None
    assert ig.h.r2_keys() == [second["blob_key"], f"thumbnails/{second['id']}.webp"]  # the first's went with it
    [row] = ig.rows("SELECT deleted_at FROM artifacts WHERE id = ?", first["id"])
    assert row["deleted_at"] is not None
    assert ig.fetch("GET", f"/v1/artifacts/{first['id']}/content").status == 410
    assert ig.fetch("DELETE", f"/v1/artifacts/{first['id']}").status == 204  # twice is fine


def test_a_signed_content_url_works_without_the_api_token(ig):
    ig.configure(IG_API_TOKEN="tok")
    auth = {"authorization": "Bearer tok"}
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(image_job(1), headers=auth)
    ig.deliver_results(job_id)
    ig.drain()
    [artifact] = ig.artifacts(job_id)
    assert ig.fetch("GET", f"/v1/artifacts/{artifact['id']}/content").status == 401
    signed = ig.fetch("GET", f"/v1/artifacts/{artifact['id']}/url?expires_in=60", headers=auth).json()["url"]
    assert signed.startswith(f"{BASE}/v1/artifacts/{artifact['id']}/content?")
    parts = urlsplit(signed)
    r = ig.fetch("GET", f"{parts.path}?{parts.query}")
    assert r.status == 200 and r.body == ig.fake.served_bytes(artifact["source_url"])
    forged = ig.fetch("GET", f"{parts.path}?{parts.query[:-2]}xx")
    assert forged.status == 403


def test_tag_algebra_full_text_tag_counts_and_usage_run_on_d1(ig):
    """FTS5, the tag-count triggers, json_each and window functions, on D1 itself."""
    jobs = {}
    for name, tags, prompt in (
        ("a", ["red", "user:1"], "a lighthouse at dusk"),
        ("b", ["red", "user:2"], "a fox in the snow"),
        ("c", ["blue"], "a lighthouse in fog"),
    ):
        body = image_job(1, tags=tags)
        body["params"]["positivePrompt"] = prompt
        jobs[name] = ig.complete_by_webhooks(body)
    artifact = {name: ig.artifacts(job_id)[0]["id"] for name, job_id in jobs.items()}

    def listed(query: str) -> list[str]:
        r = ig.fetch("GET", f"/v1/artifacts?{query}")
        assert r.status == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    assert listed("tag=red&tag=user:2") == [artifact["b"]]
    assert listed("any_tag=user:1&any_tag=blue") == [artifact["c"], artifact["a"]]
    assert listed("not_tag=red") == [artifact["c"]]
    assert listed("q=lighthouse") == [artifact["c"], artifact["a"]]
    assert listed("q=light*&tag=red") == [artifact["a"]]
    assert listed("tag=red&limit=1") == [artifact["b"]]
    cursor = ig.fetch("GET", "/v1/artifacts?tag=red&limit=1").json()["next_cursor"]
    assert listed(f"tag=red&limit=1&cursor={cursor}") == [artifact["a"]]

    counts = {r["tag"]: r["artifacts"] for r in ig.rows("SELECT tag, artifacts FROM tag_counts")}
    assert counts == {"red": 2, "user:1": 1, "user:2": 1, "blue": 1}
    assert ig.fetch("GET", "/v1/tags?prefix=user:").json()["items"] == [
        {"tag": "user:1", "artifacts": 1},
        {"tag": "user:2", "artifacts": 1},
    ]
    usage = ig.fetch("GET", "/v1/usage?group_by=tag").json()
    by_tag = {i["key"]: i for i in usage["items"]}
    assert by_tag["red"]["jobs"] == 2 and by_tag["red"]["succeeded"] == 2 and by_tag["red"]["results"] == 2
    assert by_tag["red"]["cost"] == sum(r["cost"] for j in ("a", "b") for r in ig.results(jobs[j]))
    assert by_tag["red"]["p50_seconds"] is not None and by_tag["red"]["p50_seconds"] <= by_tag["red"]["p95_seconds"]


def test_every_filter_at_its_documented_maximum_runs_on_d1(ig):
    """20 tags in each of tag, any_tag and not_tag with every other filter at once: D1 allows 100
    bound parameters and 5 terms per compound SELECT, and the OR query is a union of one posting
    list per tag, so it must bind shared values once and nest its unions."""
    jobs = {}
    for name, tags, prompt in (
        ("many", [f"t{i}" for i in range(20)] + ["o19"], "a lighthouse at dusk"),
        *((f"o{i}", [f"o{i}"], "a lighthouse in fog") for i in range(0, 20, 3)),
        ("blocked", ["o1", "n19"], "a lighthouse at night"),
        ("fox", ["o2"], "a fox in the snow"),
    ):
        body = image_job(1, tags=tags)
        body["params"]["positivePrompt"] = prompt
        jobs[name] = ig.complete_by_webhooks(body)
    artifact = {name: ig.artifacts(job_id)[0]["id"] for name, job_id in jobs.items()}
    newest_first = ig.artifact_ids_newest_first()

    any_tags = [("any_tag", f"o{i}") for i in range(20)]
    not_tags = [("not_tag", f"n{i}") for i in range(20)]
    columns = [
        ("kind", "image"),
        ("task", "imageInference"),
        ("model", "runware:101@1"),
        ("provider", "runware"),
        ("created_after", "2000-01-01T00:00:00Z"),
        ("created_before", "2100-01-01T00:00:00Z"),
        ("q", "lighthouse"),
    ]

    def listed(path: str, query: list[tuple[str, str]]) -> list[str]:
        r = ig.fetch("GET", f"{path}?{urlencode(query)}")
        assert r.status == 200, r.text
        return [item["id"] for item in r.json()["items"]]

    artifact_extras = [("role", "output"), ("nsfw", "false"), ("limit", "500")]
    matching = [artifact[n] for n in ("many", *(f"o{i}" for i in range(0, 20, 3)))]
    want = [a for a in newest_first if a in matching]
    assert listed("/v1/artifacts", [*any_tags, *not_tags, *columns, *artifact_extras]) == want
    every_tag = [*((("tag", f"t{i}")) for i in range(20)), *any_tags, *not_tags, *columns, *artifact_extras]
    assert listed("/v1/artifacts", [*every_tag, ("job_id", jobs["many"])]) == [artifact["many"]]
    for page_size in (1, 3):  # the same through pages: the cursor is bound once too
        paged, cursor = [], []
        while True:
            page = ig.fetch(
                "GET", f"/v1/artifacts?{urlencode([*any_tags, *not_tags, *columns, ('limit', page_size), *cursor])}"
            )
            assert page.status == 200, page.text
            paged += [item["id"] for item in page.json()["items"]]
            if not page.json()["next_cursor"]:
                break
            cursor = [("cursor", page.json()["next_cursor"])]
        assert paged == want

    job_query = [*every_tag[:-3], ("status", "succeeded"), ("limit", "500")]
    assert listed("/v1/jobs", job_query) == [jobs["many"]]
    assert listed("/v1/jobs", [*any_tags, *not_tags, *columns, ("status", "succeeded")]) == [
        jobs[n] for n in reversed(["many", *(f"o{i}" for i in range(0, 20, 3))])
    ]
    usage = ig.fetch("GET", f"/v1/usage?{urlencode([*any_tags, *not_tags, *columns[:4], ('group_by', 'tag')])}")
    assert usage.status == 200, usage.text
    by_tag = {item["key"]: item["jobs"] for item in usage.json()["items"]}
    assert (by_tag["o0"], by_tag["o2"], by_tag["o19"], by_tag["t0"]) == (1, 1, 1, 1) and "n19" not in by_tag


# Runs inside the Worker's interpreter: POSTs several JSON bodies at once, each through the
# entrypoint's own fetch, so their D1 calls interleave as concurrent requests in one isolate do.
CONCURRENT_POSTS = """
import asyncio
import json
import types

import js
from pyodide.ffi import to_js
from workers import python_from_rpc

url, bodies = json.loads(ARGS)
worker = types.SimpleNamespace(env=env)


async def post(body):
    init = {"method": "POST", "headers": {"content-type": "application/json"}, "body": body}
    request = python_from_rpc(js.Request.new(url, to_js(init, dict_converter=js.Object.fromEntries)))
    response = await mod.Default.fetch(worker, request)
    return response.status


await asyncio.gather(*(post(body) for body in bodies))
"""


def test_concurrent_tag_edits_on_d1_never_pass_fifty_tags(ig):
    job_id = ig.complete_by_webhooks(image_job(1))  # the artifact inherits the job's 2 tags
    [artifact] = ig.artifacts(job_id)
    bodies = [json.dumps({"add": [f"e{edit}-{i}" for i in range(30)]}) for edit in range(8)]
    args = json.dumps(json.dumps([f"{BASE}/v1/artifacts/{artifact['id']}/tags", bodies]))
    statuses = ast.literal_eval(ig.h.eval_python(f"ARGS = {args}\n" + CONCURRENT_POSTS))
    assert sorted(statuses) == [200] + [422] * 7  # one edit fits (2 + 30), any second would make 62
    tags = ig.artifact_tags(artifact["id"])
    assert len(tags) == 32 and sorted(IMAGE_JOB["tags"]) == [t for t in tags if not t.startswith("e")]
    [winner] = {t.split("-")[0] for t in tags if t.startswith("e")}
    assert sorted(t for t in tags if t.startswith("e")) == sorted(f"{winner}-{i}" for i in range(30))
    counts = {r["tag"]: r["artifacts"] for r in ig.rows("SELECT tag, artifacts FROM tag_counts WHERE artifacts > 0")}
    assert counts == dict.fromkeys(tags, 1)

    job_bodies = [json.dumps({"add": [f"j{edit}-{i}" for i in range(26)]}) for edit in range(4)]
    args = json.dumps(json.dumps([f"{BASE}/v1/jobs/{job_id}/tags", job_bodies]))
    statuses = ast.literal_eval(ig.h.eval_python(f"ARGS = {args}\n" + CONCURRENT_POSTS))
    assert sorted(statuses) == [200, 422, 422, 422]
    assert len(ig.rows("SELECT tag FROM job_tags WHERE job_id = ?", job_id)) == 28

    refused = ig.fetch("POST", f"/v1/artifacts/{artifact['id']}/tags", json={"add": [f"x{i}" for i in range(19)]})
    assert refused.status == 422 and refused.json()["errors"][0] == {
        "field": "add",
        "message": "at most 50 tags per job or artifact",
        "code": "too_many",
    }
    assert len(ig.artifact_tags(artifact["id"])) == 32  # the refused write left nothing
    swap = ig.fetch(
        "POST", f"/v1/artifacts/{artifact['id']}/tags", json={"add": [f"x{i}" for i in range(18)], "remove": ["x0"]}
    )
    assert swap.status == 200 and len(swap.json()["tags"]) == 49  # removing x0 wins over adding it


def test_an_uploaded_svg_is_served_from_r2_as_a_sandboxed_download(ig):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="4"><script>alert(1)</script></svg>'
    artifact = ig.fetch("POST", "/v1/uploads", body=svg, headers={"content-type": "image/svg+xml"}).json()
    signed = ig.fetch("GET", f"/v1/artifacts/{artifact['id']}/url").json()["url"]
    r = ig.fetch("GET", signed.removeprefix(BASE))
    assert r.status == 200 and r.body == svg
    assert r.header("content-security-policy") == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    assert r.header("x-content-type-options") == "nosniff"
    assert r.header("content-disposition") == f'attachment; filename="{artifact["id"]}.svg"'


JOBS_ON_D1 = 300
EPOCH = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def _moment(i: int, milliseconds: int = 0) -> str:
    """When job ``i`` of ``_seed_jobs_on_d1`` was created (plus ``milliseconds``)."""
    at = EPOCH + timedelta(seconds=2 * i, milliseconds=milliseconds)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _seed_jobs_on_d1(ig) -> list[str]:
    """300 finished jobs straight into D1, one every two seconds, oldest first (so in seq order):
    every one tagged ``all``, every 10th ``tenth``, every 3rd ``third``, every 7th failed, every
    5th about a lighthouse. The triggers of migration 0007 index them as ig's own writes would."""
    number = "CAST(substr(id, 5) AS INTEGER)"
    ig.h.apply_sql(
        sql=f"""
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {JOBS_ON_D1 - 1})
        INSERT INTO jobs (id, status, provider, task, model, params, metadata, request, provider_request,
                          provider_task_id, expected_results, created_at, deadline_at, next_check_at, updated_at)
        SELECT printf('job-%03d', i), CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'succeeded' END, 'mock',
               'imageInference', 'm' || (i % 4), '{{}}', '{{}}', '{{}}', '{{}}', '', 1,
               strftime('%Y-%m-%dT%H:%M:%S.000Z', {int(EPOCH.timestamp())} + 2 * i, 'unixepoch'),
               '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z'
        FROM n;
        INSERT INTO job_tags (job_id, tag) SELECT id, 'all' FROM jobs;
        INSERT INTO job_tags (job_id, tag) SELECT id, 'tenth' FROM jobs WHERE {number} % 10 = 0;
        INSERT INTO job_tags (job_id, tag) SELECT id, 'third' FROM jobs WHERE {number} % 3 = 0;
        INSERT INTO job_search (rowid, body)
        SELECT seq, CASE WHEN {number} % 5 = 0 THEN 'a lighthouse at dusk' ELSE 'a fox' END FROM jobs;
        """
    )
    assert ig.rows("SELECT created_at FROM jobs WHERE id = 'job-007'") == [{"created_at": _moment(7)}]
    return [f"job-{i:03d}" for i in reversed(range(JOBS_ON_D1))]  # newest first


def test_job_queries_on_d1_are_exact_and_read_about_a_page(ig):
    """The job filters on D1 itself, through the Worker: tag AND/OR/NOT, q, status and a time range,
    paged by cursor, and a tag edited after the fact. And what each page query reads, by D1's own
    ``rows_read``: a walk of the posting lists, the FTS index or the seqs a time range holds, about
    a page's worth (at most 3 rows per item and 10 more), never the 300 jobs."""
    newest_first = _seed_jobs_on_d1(ig)

    def where(keep) -> list[str]:
        return [job_id for job_id in newest_first if keep(int(job_id[4:]))]

    def paged(query: list[tuple[str, str]], limit: int) -> list[str]:
        ids, cursor = [], []
        while True:
            r = ig.fetch("GET", f"/v1/jobs?{urlencode([*query, ('limit', limit), *cursor])}")
            assert r.status == 200, r.text
            ids += [job["id"] for job in r.json()["items"]]
            if not r.json()["next_cursor"]:
                return ids
            assert len(r.json()["items"]) == limit
            cursor = [("cursor", r.json()["next_cursor"])]

    cases = {
        (("tag", "tenth"),): where(lambda i: i % 10 == 0),
        (("tag", "tenth"), ("tag", "third")): where(lambda i: i % 30 == 0),
        (("any_tag", "tenth"), ("any_tag", "third")): where(lambda i: i % 10 == 0 or i % 3 == 0),
        (("tag", "third"), ("not_tag", "tenth")): where(lambda i: i % 3 == 0 and i % 10),
        (("q", "lighthouse"), ("tag", "third")): where(lambda i: i % 15 == 0),
        (("status", "failed"), ("any_tag", "tenth"), ("any_tag", "nope")): where(lambda i: i % 70 == 0),
        (("created_after", _moment(40, -1)), ("created_before", _moment(60, 1))): where(lambda i: 40 <= i <= 60),
        (("created_before", _moment(30)), ("tag", "tenth")): where(lambda i: i < 30 and i % 10 == 0),
    }
    for query, want in cases.items():
        assert want and paged(list(query), 500) == want, query
        assert paged(list(query), 3) == want, query

    edited = ig.fetch("POST", "/v1/jobs/job-007/tags", json={"add": ["tenth"], "remove": ["all"]})
    assert edited.status == 200 and edited.json()["tags"] == ["tenth"]
    assert paged([("tag", "tenth")], 4) == where(lambda i: i % 10 == 0 or i == 7)
    assert paged([("tag", "tenth"), ("tag", "all")], 4) == where(lambda i: i % 10 == 0)
    assert paged([("tag", "all"), ("created_before", _moment(9))], 2) == where(lambda i: i < 9 and i != 7)

    limit = 10
    for query in (
        {"tag": ["tenth"]},
        {"tag": ["all"], "not_tag": ["third"]},
        {"any_tag": ["tenth", "third"]},
        {"q": ["lighthouse"]},
        {"status": ["failed"]},
        {"created_after": [_moment(40)], "created_before": [_moment(60)]},
        {"created_before": [_moment(30)], "tag": ["all"]},
    ):
        filters = parse_filters({**query, "limit": [str(limit)]}, for_jobs=True)
        driver = min(filters.tags, key=lambda t: t != "tenth") if filters.tags else None
        sql, params = job_page_sql(filters, driver)
        result = ig.h.d1(sql, *params)
        assert len(result["results"]) == limit + 1, query
        assert result["meta"]["rows_read"] <= 3 * (limit + 1) + 10, (query, result["meta"]["rows_read"])


def test_migration_0007_indexes_the_jobs_and_tags_a_d1_database_already_has(make_worker):
    """On D1 itself: 0007 fills the job posting lists, tag counts, kinds and time bounds from the
    rows already there (window functions, INSERT ... SELECT), and drops a tag a deleted artifact
    held; its triggers keep them from then on."""
    h, migration = harness_before(make_worker, "0007_job_queries.sql")
    artifact = (
        "INSERT INTO artifacts (id, role, job_id, kind, content_type, size, sha256, blob_key, created_at, deleted_at)"
        " VALUES ('{id}', 'output', 'j1', '{kind}', 'x/y', 1, 'x', 'artifacts/{id}', '2026-01-01T00:00:0{n}.000Z',"
        " {deleted});"
    )
    h.apply_sql(
        sql=first_schema_job_sql()
        + "INSERT INTO job_tags (job_id, tag) VALUES ('j1', 'kept'), ('j1', 'user:1');"
        + artifact.format(id="a1", kind="image", n=1, deleted="NULL")
        + artifact.format(id="a2", kind="image", n=2, deleted="NULL")
        + artifact.format(id="a3", kind="text", n=3, deleted="'2026-01-02T00:00:00.000Z'")
        + "INSERT INTO artifact_tags (tag, artifact_seq) SELECT 'kept', seq FROM artifacts;"
    )
    h.apply_sql(path=migration)
    [job] = h.d1_rows("SELECT seq FROM jobs")
    assert h.d1_rows("SELECT tag, job_seq FROM job_tag_postings ORDER BY tag") == [
        {"tag": "kept", "job_seq": job["seq"]},
        {"tag": "user:1", "job_seq": job["seq"]},
    ]
    assert h.d1_rows("SELECT tag, jobs FROM job_tag_counts ORDER BY tag") == [
        {"tag": "kept", "jobs": 1},
        {"tag": "user:1", "jobs": 1},
    ]
    assert h.d1_rows("SELECT kind, job_seq, artifacts FROM job_kinds") == [
        {"kind": "image", "job_seq": job["seq"], "artifacts": 2}
    ]
    assert h.d1_rows("SELECT second, first_seq, last_seq FROM job_seconds") == [
        {"second": "2026-01-01T00:00:00", "first_seq": job["seq"], "last_seq": job["seq"]}
    ]
    assert [r["second"] for r in h.d1_rows("SELECT second FROM artifact_seconds ORDER BY second")] == [
        "2026-01-01T00:00:01",
        "2026-01-01T00:00:02",
        "2026-01-01T00:00:03",
    ]
    assert h.d1_rows("SELECT tag, artifacts FROM tag_counts") == [{"tag": "kept", "artifacts": 2}]  # a3 is deleted
    h.apply_sql(sql="INSERT INTO artifact_tags (tag, artifact_seq) SELECT 'late', seq FROM artifacts;")
    assert h.d1_rows("SELECT count(*) AS n FROM artifact_tags WHERE tag = 'late'") == [{"n": 2}]
    h.apply_sql(sql="DELETE FROM job_tags WHERE tag = 'user:1';")
    assert h.d1_rows("SELECT tag FROM job_tag_postings") == [{"tag": "kept"}]
    assert h.d1_rows("SELECT jobs FROM job_tag_counts WHERE tag = 'user:1'") == [{"jobs": 0}]
