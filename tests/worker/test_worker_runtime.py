"""ig's Worker (src/entry.py and ig.adapters.cloudflare) end to end on Pyodide 0.28 with
Miniflare's real D1, R2 and Queues: jobs go to a fake Runware over loopback HTTP, come back as
webhooks (delivered by the test) or getResponse polls driven by queue messages, and land as rows
and blobs that are read back from Node, not through ig."""

from __future__ import annotations

import ast
import hashlib
import json
import sqlite3
import time

import pytest
from fixtures.fake_runware import SubmitScript

from .ig_worker import BASE, CAPTION_JOB, IMAGE_JOB, MIGRATIONS, REPO, image_job

# ---------------------------------------------------------------------------------------------- schema


def _canonical_shape() -> dict[str, list]:
    conn = sqlite3.connect(":memory:")
    conn.executescript((REPO / "schema.sql").read_text())
    conn.row_factory = sqlite3.Row

    def rows(sql: str) -> list[dict]:
        return [dict(r) for r in conn.execute(sql).fetchall()]

    return _shape(rows)


def _shape(rows) -> dict[str, list]:
    """Tables with their columns, indexes with their columns, foreign keys: what a query can see."""
    shape: dict[str, list] = {}
    tables = rows(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name"
    )
    for (name,) in (tuple(t.values()) for t in tables):
        shape[name] = [tuple(c.values()) for c in rows(f"PRAGMA table_info({name})")]
        shape[f"{name} fks"] = sorted(tuple(f.values()) for f in rows(f"PRAGMA foreign_key_list({name})"))
        for index in rows(f"PRAGMA index_list({name})"):
            columns = [tuple(c.values()) for c in rows(f"PRAGMA index_xinfo({index['name']})")]
            shape[f"{name}.{index['name']}"] = [index["unique"], index["origin"], index["partial"], columns]
    return shape


def test_d1_schema_from_migrations_equals_schema_sql(ig):
    # The module's harness applied src/ig/migrations/ to Miniflare's D1, as `wrangler d1 migrations apply` would.
    assert [p.name for p in MIGRATIONS] == [
        "0001_initial.sql",
        "0002_catalogue_presets.sql",
        "0003_reliability.sql",
        "0004_limits.sql",
        "0005_providers.sql",
        "0006_failover.sql",
        "0007_job_queries.sql",
        "0008_thumbnails.sql",
        "0009_video_posters.sql",
    ]
    d1 = _shape(ig.rows)
    canonical = _canonical_shape()
    tables = {k for k in d1 if " " not in k and "." not in k}
    assert {"jobs", "job_tags", "provider_events", "results", "artifacts", "artifact_tags"} <= tables
    assert d1 == canonical
    # ... and the same triggers, views and indexes by name
    conn = sqlite3.connect(":memory:")
    conn.executescript((REPO / "schema.sql").read_text())
    objects = "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'"
    objects += " AND name != 'd1_migrations' ORDER BY type, name"
    assert [tuple(r.values()) for r in ig.rows(objects)] == conn.execute(objects).fetchall()


def test_ffi_conversions_in_the_adapters(ig):
    # Nested JS nulls become None (Pyodide's to_py leaves them as jsnull); integers beyond 2**53,
    # which Pyodide would send as a BigInt that D1 refuses, bind exactly as numbers or not at all.
    code = """
import js
from ig.adapters.cloudflare.convert import to_py
from ig.adapters.cloudflare.d1 import D1Database
db = D1Database(env.DB)
row = await db.first("SELECT ?1 < ?2 AS below, typeof(?2) AS t", [5, 2**62])
try:
    await db.first("SELECT ?1", [2**62 + 1])
    inexact = "bound"
except ValueError as exc:
    inexact = str(exc)
(to_py(js.eval("({a: null, b: [null, {c: null}], d: undefined})")), row, inexact)
"""
    converted, row, inexact = ast.literal_eval(ig.h.eval_python(code))
    assert converted == {"a": None, "b": [None, {"c": None}], "d": None}
    assert row == {"below": 1, "t": "real"}
    assert "cannot bind the integer 4611686018427387905 exactly" in inexact


# ---------------------------------------------------------------------------------------------- submit


def test_submit_records_the_job_in_d1_and_sends_one_task(ig):
    r = ig.submit(IMAGE_JOB)
    assert r.status == 202, r.text
    view = r.json()
    job_id = view["id"]
    assert view["status"] == "submitted" and view["artifacts"] == []
    assert r.header("location") == f"/v1/jobs/{job_id}"
    assert r.header("content-type") == "application/json"

    sent = ig.task(job_id)
    token = ig.token(job_id)
    assert len(ig.fake.requests) == 1 and ig.fake.requests[0] == [sent]
    assert sent == {
        "taskType": "imageInference",
        "taskUUID": job_id,
        "model": "runware:101@1",
        **IMAGE_JOB["params"],
        "deliveryMethod": "async",
        "includeCost": True,
        "webhookURL": f"{BASE}/webhooks/runware/{job_id}/{token}",
    }

    row = ig.job(job_id)
    assert row["status"] == "submitted" and row["provider"] == "runware"
    assert (row["task"], row["model"], row["provider_task_id"]) == ("imageInference", "runware:101@1", job_id)
    assert json.loads(row["params"]) == IMAGE_JOB["params"]
    assert json.loads(row["metadata"]) == IMAGE_JOB["metadata"]
    assert json.loads(row["request"]) == IMAGE_JOB
    assert json.loads(row["provider_request"]) == {
        **sent,
        "webhookURL": sent["webhookURL"].replace(token, "<redacted>"),
    }
    assert token not in row["provider_request"] and row["webhook_token"] == token
    assert row["expected_results"] == 2 and row["submit_attempts"] == 1 and row["poll_seq"] == 0
    assert row["created_at"] <= row["submitted_at"] < row["deadline_at"]
    assert row["completed_at"] is None and row["error"] is None and row["last_error"] is None
    assert ig.rows("SELECT tag FROM job_tags WHERE job_id = ? ORDER BY tag", job_id) == [
        {"tag": "channel:art"},
        {"tag": "user:7"},
    ]
    [event] = ig.rows("SELECT source, http_status, body, deliveries FROM provider_events WHERE job_id = ?", job_id)
    assert event["source"] == "submit" and event["http_status"] == 200 and event["deliveries"] == 1
    assert json.loads(event["body"]) == {"data": [{"taskType": "imageInference", "taskUUID": job_id}]}
    assert ig.h.queue_sent() == []  # webhook mode: nothing to poll


def test_bad_input_is_422_and_writes_nothing(ig):
    r = ig.submit({"task": "", "model": 5, "params": {"taskUUID": "mine"}, "extra": 1})
    assert r.status == 422 and r.header("content-type") == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == ["task", "model", "extra"]
    reserved = ig.submit({"task": "imageInference", "model": "runware:101@1", "params": {"taskUUID": "mine"}})
    assert [(e["field"], e["code"]) for e in reserved.json()["errors"]] == [("params.taskUUID", "reserved")]
    bad = ig.fetch("POST", "/v1/jobs", body=b"{not json", headers={"content-type": "application/json"})
    assert bad.status == 422 and bad.json()["errors"][0]["field"] == "body"
    assert ig.rows("SELECT id FROM jobs") == [] and ig.fake.requests == []


def test_routing_errors_are_problem_json(ig):
    assert ig.fetch("GET", "/healthz").json() == {"status": "ok"}
    missing = ig.fetch("GET", "/nope")
    assert missing.status == 404 and missing.json()["code"] == "not_found"
    wrong = ig.fetch("DELETE", "/v1/jobs")
    assert wrong.status == 405 and wrong.header("content-type") == "application/problem+json"
    unknown = ig.fetch("GET", "/v1/jobs/00000000-0000-4000-8000-000000000000")
    assert unknown.status == 404
    # a method http.HTTPMethod has no member for (workers.Request.method would raise KeyError)
    odd = ig.fetch("PROPFIND", "/v1/jobs")
    assert odd.status == 405 and odd.json()["code"] == "method_not_allowed"


def test_the_openapi_document_is_served_on_pyodide(ig):
    # Its modules are imported only when asked for; this proves those lazy imports work on Pyodide.
    from ig.api import openapi
    from ig.api.routes import ROUTER

    r = ig.fetch("GET", "/openapi.json")
    assert r.status == 200, r.text
    document = r.json()
    assert document["openapi"] == "3.1.0"
    on_cpython = openapi.document(ROUTER, "")["paths"]
    assert {p: sorted(item) for p, item in document["paths"].items()} == {p: sorted(i) for p, i in on_cpython.items()}


# ---------------------------------------------------------------------------------------------- webhooks


@pytest.mark.parametrize("shape", ["flat", "wrapped"])
def test_duplicated_webhooks_in_either_shape_store_each_result_once(ig, shape):
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(IMAGE_JOB)
    items = ig.deliver_results(job_id, shape=shape, copies=3)  # every webhook arrives three times

    sent = ig.h.queue_sent()
    assert len(sent) == 6 and {m["contentType"] for m in sent} == {"json"}
    assert {m["body"]["type"] for m in sent} == {"event"} and {m["body"]["job_id"] for m in sent} == {job_id}
    webhooks = ig.rows("SELECT deliveries, processed_at FROM provider_events WHERE source = 'webhook'")
    assert [(w["deliveries"], w["processed_at"]) for w in webhooks] == [(3, None), (3, None)]

    report = ig.drain()
    delivered = [m for b in report["batches"] for m in b["messages"]]
    assert len(delivered) == 6 and {(m["call"], m["fate"]) for m in delivered} == {("acked", "done")}

    job = ig.job(job_id)
    assert job["status"] == "succeeded" and job["completed_at"] is not None and job["error"] is None
    results = ig.results(job_id)
    assert [r["result_key"] for r in results] == sorted(f"imageUUID:{i['imageUUID']}" for i in items)
    assert sorted(r["seed"] for r in results) == ["42", "43"]  # text: seeds can exceed 2**53
    assert all(r["cost"] == pytest.approx(0.0013) and r["stored_at"] is not None for r in results)
    assert all(r["nsfw"] is None for r in results)

    artifacts = ig.artifacts(job_id)
    assert len(artifacts) == 2
    for artifact in artifacts:
        served = ig.fake.served_bytes(artifact["source_url"])
        assert artifact["blob_key"] == f"artifacts/{artifact['id']}"
        assert (artifact["kind"], artifact["content_type"], artifact["output_name"]) == (
            "image",
            "image/png",
            "imageURL",
        )
        assert artifact["size"] == len(served) and artifact["sha256"] == hashlib.sha256(served).hexdigest()
        obj = ig.blob(artifact["blob_key"])
        assert obj["body"] == served and obj["size"] == len(served)
        assert obj["httpMetadata"] == {"contentType": "image/png"}
        assert obj["customMetadata"] == {"job_id": job_id, "artifact_id": artifact["id"], "output": "imageURL"}
        assert ig.artifact_tags(artifact["id"]) == IMAGE_JOB["tags"]
    assert sorted(ig.h.r2_keys()) == sorted(a["blob_key"] for a in artifacts)

    # A late fourth copy after completion is answered 200, stored as a delivery, and changes nothing.
    body = items[0] if shape == "flat" else {"data": [items[0]]}
    assert ig.webhook(job_id, body).status == 200
    assert ig.h.queue_pending()["ig-jobs"] == []  # already processed: nothing to enqueue
    assert len(ig.results(job_id)) == 2 and len(ig.artifacts(job_id)) == 2 and len(ig.h.r2_keys()) == 2

    view = ig.fetch("GET", f"/v1/jobs/{job_id}").json()
    assert view["status"] == "succeeded" and view["cost"] == pytest.approx(0.0026)
    assert sorted(a["id"] for a in view["artifacts"]) == sorted(a["id"] for a in artifacts)


def test_a_large_webhook_body_is_kept_in_r2_and_read_back_by_the_consumer(ig):
    job_id = ig.submitted(image_job(1))
    [item] = ig.fake.results_for(ig.task(job_id))
    body = {**item, "padding": "p" * (100 * 1024)}  # over the 64 KiB kept inline in D1
    raw = json.dumps(body).encode()
    assert ig.webhook(job_id, body).status == 200
    [event] = ig.rows("SELECT * FROM provider_events WHERE source = 'webhook'")
    assert event["body"] is None and event["body_size"] == len(raw)
    assert event["body_sha256"] == hashlib.sha256(raw).hexdigest()
    stored = ig.blob(event["body_blob_key"])
    assert stored["body"] == raw and stored["httpMetadata"] == {"contentType": "application/json"}
    ig.drain()  # the consumer reads the body back out of R2 (BlobStore.iter_bytes)
    assert ig.job(job_id)["status"] == "succeeded"
    [artifact] = ig.artifacts(job_id)
    assert ig.blob(artifact["blob_key"])["body"] == ig.fake.served_bytes(item["imageURL"])


def test_forged_webhooks_are_404_and_write_nothing(ig):
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(IMAGE_JOB)
    item = ig.fake.results_for(ig.task(job_id))[0]
    before = ig.rows("SELECT id, deliveries FROM provider_events")
    for job, token in ((job_id, "wrong-token"), ("00000000-0000-4000-8000-000000000000", "x"), ("not-a-uuid", "x")):
        r = ig.webhook(job, item, token=token)
        assert r.status == 404 and r.header("content-type") == "application/problem+json"
    other = ig.webhook(job_id, {**item, "taskUUID": "another"})
    assert other.status == 400
    assert ig.rows("SELECT id, deliveries FROM provider_events") == before
    assert ig.h.queue_sent() == []


def test_an_error_webhook_fails_the_job_with_the_provider_error(ig):
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(IMAGE_JOB)
    error = {"code": "timeoutProvider", "message": "The external provider did not respond", "taskUUID": job_id}
    assert ig.webhook(job_id, {"errors": [error]}).status == 200
    ig.drain()
    job = ig.job(job_id)
    assert job["status"] == "failed" and job["completed_at"] is not None
    assert ig.error(job_id)["code"] == "timeoutProvider"
    assert ig.artifacts(job_id) == [] and ig.h.r2_keys() == []


# ---------------------------------------------------------------------------------------------- polling


def test_polling_path_completes_through_queue_driven_get_response(ig):
    ig.configure(IG_PUBLIC_URL=None)
    ig.fake.polls_before_done = 1
    job_id = ig.submitted(IMAGE_JOB)
    assert "webhookURL" not in ig.task(job_id)
    assert ig.job(job_id)["webhook_token"] is None
    assert [(m["body"], m["delaySeconds"], m["contentType"]) for m in ig.h.queue_sent()] == [
        ({"type": "poll", "job_id": job_id, "seq": 1}, 2, "json")
    ]

    report = ig.drain()  # delays are not waited for: the delayed polls are delivered at once
    polls = [m for b in report["batches"] for m in b["messages"]]
    assert [m["body"]["seq"] for m in polls] == [1, 2]
    assert all(m["outcome"] == "acked" for m in polls)
    assert [m["delaySeconds"] for m in ig.h.queue_sent()] == [2, 3]  # the README's 2, 3, 5, ... schedule

    job = ig.job(job_id)
    assert job["status"] == "succeeded" and job["poll_seq"] == 2
    assert ig.fake.polls[job_id] == 2
    events = ig.rows("SELECT source, http_status, processed_at FROM provider_events WHERE job_id = ?", job_id)
    assert sorted(e["source"] for e in events) == ["poll", "poll", "submit"]
    artifacts = ig.artifacts(job_id)
    assert len(artifacts) == 2
    for artifact in artifacts:
        assert ig.blob(artifact["blob_key"])["body"] == ig.fake.served_bytes(artifact["source_url"])


# ---------------------------------------------------------------------------------------------- the library


def test_artifact_content_is_served_from_r2(ig):
    job_id = ig.complete_by_webhooks(IMAGE_JOB)
    for artifact in ig.artifacts(job_id):
        path = f"/v1/artifacts/{artifact['id']}/content"
        served = ig.fake.served_bytes(artifact["source_url"])
        etag = f'"{artifact["sha256"]}"'

        r = ig.fetch("GET", path)
        assert r.status == 200 and r.body == served == ig.blob(artifact["blob_key"])["body"]
        assert r.header("content-type") == "image/png"
        assert r.header("content-length") == str(len(served))
        assert r.header("etag") == etag
        assert "immutable" in r.header("cache-control")

        cached = ig.fetch("GET", path, headers={"if-none-match": etag})
        assert cached.status == 304 and cached.body == b"" and cached.header("etag") == etag
        other = ig.fetch("GET", path, headers={"if-none-match": '"something-else"'})
        assert other.status == 200 and other.body == served

        head = ig.fetch("HEAD", path)
        assert head.status == 200 and head.body == b""
        assert head.header("content-length") == str(len(served)) and head.header("etag") == etag

        meta = ig.fetch("GET", f"/v1/artifacts/{artifact['id']}").json()
        assert meta["content_url"] == f"{BASE}{path}"
        assert (meta["size"], meta["sha256"], meta["job_id"]) == (len(served), artifact["sha256"], job_id)

    missing = ig.fetch("GET", "/v1/artifacts/00000000-0000-4000-8000-000000000000/content")
    assert missing.status == 404 and missing.header("content-type") == "application/problem+json"


def test_content_of_an_artifact_whose_blob_is_gone_is_404(ig):
    job_id = ig.complete_by_webhooks(image_job(1))
    [artifact] = ig.artifacts(job_id)
    ig.h.r2_delete(artifact["blob_key"])
    assert ig.fetch("GET", f"/v1/artifacts/{artifact['id']}/content").status == 404


def test_tag_queries_return_the_right_items_newest_first(ig):
    first = ig.complete_by_webhooks(image_job(2, tags=["a", "b"]))
    time.sleep(0.005)  # distinct millisecond timestamps
    second = ig.complete_by_webhooks(image_job(1, tags=["a"]))

    def listing(query: str) -> dict:
        r = ig.fetch("GET", "/v1/artifacts" + query)
        assert r.status == 200, r.text
        return r.json()

    newest_first = ig.artifact_ids_newest_first()  # from D1 directly
    only_a = listing("?tag=a")
    assert [a["id"] for a in only_a["items"]] == newest_first and only_a["next_cursor"] is None
    assert [a["job_id"] for a in only_a["items"]] == [second, first, first]
    both = listing("?tag=a&tag=b")
    assert [a["id"] for a in both["items"]] == [i for i in newest_first if i in {a["id"] for a in ig.artifacts(first)}]
    assert all(a["tags"] == ["a", "b"] for a in both["items"])
    assert listing("?tag=b&tag=a&tag=a") == both  # order and repeats do not matter
    assert listing("?tag=nope") == {"items": [], "next_cursor": None}

    page1 = listing("?tag=a&limit=2")
    page2 = listing(f"?tag=a&limit=2&cursor={page1['next_cursor']}")
    assert [a["id"] for a in page1["items"] + page2["items"]] == newest_first
    assert page2["next_cursor"] is None
    assert ig.fetch("GET", "/v1/artifacts?limit=0").status == 422


# ---------------------------------------------------------------------------------------------- sweeper


def test_the_sweeper_polls_a_quiet_job_whose_webhooks_were_lost(ig):
    ig.configure(IG_QUIET_SECONDS=0)
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(IMAGE_JOB)
    assert ig.h.queue_sent() == []
    time.sleep(0.005)  # next_check_at (= submitted_at + 0 s) is now in the past

    run = ig.h.scheduled(cron="* * * * *", scheduled_time=time.time() * 1000)
    assert run["exception"] is None, run["exception"]
    assert [(m["body"], m["delaySeconds"]) for m in ig.h.queue_sent()] == [
        ({"type": "poll", "job_id": job_id, "seq": 1}, 0)
    ]
    ig.drain()
    job = ig.job(job_id)
    assert job["status"] == "succeeded" and job["poll_seq"] == 1
    assert ig.fake.polls[job_id] == 1
    assert len(ig.artifacts(job_id)) == 2 and len(ig.h.r2_keys()) == 2
    assert ig.h.queue_sent(clear=True) and ig.h.scheduled()["exception"] is None
    assert ig.h.queue_sent() == []  # a finished job is not swept again


def test_the_sweeper_fails_jobs_past_their_deadline_with_timeout(ig):
    ig.configure(IG_JOB_TIMEOUT_SECONDS=0)
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(IMAGE_JOB)
    time.sleep(0.005)
    assert ig.h.scheduled()["exception"] is None
    job = ig.job(job_id)
    assert job["status"] == "failed" and job["completed_at"] is not None
    assert ig.error(job_id) == {"code": "timeout", "message": "no result within 0 seconds"}
    view = ig.fetch("GET", f"/v1/jobs/{job_id}").json()
    assert view["status"] == "failed" and view["error"]["code"] == "timeout"

    # Results arriving after the deadline are stored but cannot revive the job.
    ig.deliver_results(job_id)
    ig.drain()
    assert ig.job(job_id)["status"] == "failed"


# ---------------------------------------------------------------------------------------------- nulls


def test_absent_fields_are_null_in_d1_and_in_the_api(ig):
    # A caption job: no tags, no metadata; its result is text (no seed, no URL, no nsfw flag).
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(CAPTION_JOB)
    row = ig.job(job_id)
    assert json.loads(row["metadata"]) == {} and json.loads(row["request"]) == CAPTION_JOB
    assert (row["error"], row["last_error"], row["completed_at"]) == (None, None, None)
    assert ig.rows("SELECT * FROM job_tags") == []
    view = ig.fetch("GET", f"/v1/jobs/{job_id}").json()
    assert (view["tags"], view["metadata"], view["error"], view["completed_at"], view["cost"]) == (
        [],
        {},
        None,
        None,
        None,
    )

    ig.deliver_results(job_id)
    ig.drain()
    [result] = ig.results(job_id)
    assert result["seed"] is None and result["nsfw"] is None and result["cost"] == 0
    [artifact] = ig.artifacts(job_id)
    assert artifact["kind"] == "text" and artifact["content_type"].startswith("text/plain")
    assert artifact["source_url"] is None and artifact["output_name"] == "text"
    assert ig.rows("SELECT * FROM artifact_tags") == []
    text = f"caption 0 for {job_id}".encode()
    assert ig.blob(artifact["blob_key"])["body"] == text and artifact["size"] == len(text)

    [item] = ig.fetch("GET", f"/v1/jobs/{job_id}").json()["artifacts"]
    assert (item["seed"], item["nsfw"], item["tags"], item["cost"]) == (None, None, [], 0)
    assert item["provenance"]["source_url"] is None
    assert ig.fetch("GET", f"/v1/artifacts/{artifact['id']}/content").body == text


def test_a_job_not_yet_accepted_has_null_submitted_at_and_is_resubmitted(ig):
    ig.fake.submit_script = [SubmitScript(503, {"errors": [{"code": "serviceUnavailable", "message": "busy"}]})]
    r = ig.submit(image_job(1))
    assert r.status == 202, r.text
    view = r.json()
    job_id = view["id"]
    assert view["status"] == "queued" and view["submitted_at"] is None
    row = ig.job(job_id)
    assert row["status"] == "queued" and row["submitted_at"] is None and row["error"] is None
    assert json.loads(row["last_error"])["code"] == "serviceUnavailable"
    [resubmit] = ig.h.queue_sent()
    assert resubmit["body"] == {"type": "submit", "job_id": job_id} and resubmit["delaySeconds"] >= 1

    ig.drain()
    row = ig.job(job_id)
    assert row["status"] == "submitted" and row["submitted_at"] is not None and row["last_error"] is None
    assert row["submit_attempts"] == 2 and len(ig.fake.requests) == 2


# ---------------------------------------------------------------------------------------------- large


def test_a_large_output_of_unknown_length_goes_through_r2_multipart_and_reads_back_intact(ig):
    ig.fake.large_output_bytes = 20 * 1024 * 1024  # three parts: 8 + 8 + 4 MiB
    ig.fake.media_chunked = True  # no Content-Length: R2 cannot take the stream whole
    job_id = ig.complete_by_webhooks(image_job(1))
    [artifact] = ig.artifacts(job_id)
    served = ig.fake.served_bytes(artifact["source_url"])
    assert len(served) == 20 * 1024 * 1024
    obj = ig.blob(artifact["blob_key"])
    assert obj["etag"].endswith("-3"), obj["etag"]  # R2's etag of a 3-part multipart upload
    assert obj["size"] == len(served) and obj["body"] == served
    assert obj["httpMetadata"] == {"contentType": "image/png"}
    assert artifact["size"] == len(served) and artifact["sha256"] == hashlib.sha256(served).hexdigest()
    r = ig.fetch("GET", f"/v1/artifacts/{artifact['id']}/content")
    assert r.status == 200 and r.header("content-length") == str(len(served)) and r.body == served
