"""What a request may make ig store, on D1: a job row holds its task twice, and D1 holds at most
2,000,000 bytes per row (Miniflare's D1 refuses a row of 3 x 900 KB with SQLITE_TOOBIG). A large
request body goes to R2; the task and metadata have limits that keep every row inside D1's."""

from __future__ import annotations

import json

import pytest

from .ig_worker import first_schema_job_sql, harness_before, image_job
from .worker_harness import HarnessError


def _job_with_inline_image(characters: int) -> dict:
    body = image_job(1)
    body["params"]["inputs"] = {"image": "data:image/png;base64," + "A" * characters}
    return body


def test_a_900_kb_parameter_is_stored_on_d1_with_the_request_body_in_r2(ig):
    ig.configure(IG_MAX_TASK_BYTES=900_000)
    body = json.dumps(_job_with_inline_image(880_000)).encode()
    r = ig.fetch("POST", "/v1/jobs", body=body, headers={"content-type": "application/json"})
    assert r.status == 202, r.text
    job_id = r.json()["id"]
    [row] = ig.rows(
        "SELECT request, request_blob_key, length(params) AS params, length(provider_request) AS task FROM jobs"
    )
    assert (row["request"], row["request_blob_key"]) == ("", f"requests/{job_id}.json")
    assert 880_000 < row["params"] < row["task"] and row["params"] + row["task"] < 2_000_000
    assert ig.blob(row["request_blob_key"])["body"] == body
    assert ig.task(job_id)["inputs"] == json.loads(body)["params"]["inputs"]  # Runware got it whole


def test_over_the_task_limit_a_job_is_refused_before_anything_is_written(ig):
    body = json.dumps(_job_with_inline_image(300_000)).encode()
    r = ig.fetch("POST", "/v1/jobs", body=body, headers={"content-type": "application/json"})
    assert r.status == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("params", "task_too_large")]
    assert "262144-byte limit (IG_MAX_TASK_BYTES)" in r.json()["errors"][0]["message"]
    assert ig.rows("SELECT id FROM jobs") == [] and ig.h.r2_keys() == []
    assert ig.fake.requests == [] and ig.h.queue_sent() == []


def test_migration_0004_applies_to_a_d1_database_with_jobs_and_over_tagged_artifacts(make_worker):
    """The race the tag-limit triggers close could already have left an artifact with more than
    50 tags: the migration keeps them, and only refuses to add more."""
    h, last = harness_before(make_worker, "0004_limits.sql")
    h.apply_sql(
        sql=first_schema_job_sql(request="[1]")
        + "INSERT INTO artifacts (id, role, job_id, kind, content_type, size, sha256, blob_key, created_at)"
        " VALUES ('a1', 'output', 'j1', 'image', 'image/png', 1, 'x', 'artifacts/a1', '2026-01-01T00:00:01.000Z');"
        + "".join(f"INSERT INTO artifact_tags (tag, artifact_seq) VALUES ('t{i}', 1);" for i in range(60))
    )
    h.apply_sql(path=last)
    assert h.d1_rows("SELECT request, request_blob_key FROM jobs") == [{"request": "[1]", "request_blob_key": None}]
    assert h.d1_rows("SELECT count(*) AS n FROM artifact_tags") == [{"n": 60}]
    with pytest.raises(HarnessError, match="ig: at most 50 tags"):
        h.apply_sql(sql="INSERT INTO artifact_tags (tag, artifact_seq) VALUES ('t60', 1);")
    h.apply_sql(sql="INSERT OR IGNORE INTO artifact_tags (tag, artifact_seq) VALUES ('t1', 1);")  # already there
    assert h.d1_rows("SELECT count(*) AS n FROM artifact_tags") == [{"n": 60}]


MOCK_JOB = {"provider": "mock", "model": "mock", "task": "imageInference", "params": {"positivePrompt": "x"}}


def test_the_mock_provider_is_off_on_a_deployment_unless_turned_on(ig):
    r = ig.fetch("POST", "/v1/jobs", json=MOCK_JOB)
    assert r.status == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "provider",
            "message": "the mock provider is off here; IG_MOCK_PROVIDER=1 turns it on",
            "code": "unavailable",
        }
    ]
    preset = {key: MOCK_JOB[key] for key in ("provider", "model", "task", "params")}
    assert ig.fetch("PUT", "/v1/presets/pretend", json=preset).status == 422
    assert ig.rows("SELECT id FROM jobs") == [] and ig.rows("SELECT name FROM presets") == []
    assert ig.h.queue_sent() == []

    ig.configure(IG_MOCK_PROVIDER="1")
    r = ig.fetch("POST", "/v1/jobs", json=MOCK_JOB)
    assert r.status == 202, r.text
    ig.drain()
    [artifact] = ig.artifacts(r.json()["id"])
    assert ig.blob(artifact["blob_key"])["body"].startswith(b"\x89PNG")


def test_a_provider_error_of_megabytes_fails_the_job_with_a_clipped_error_on_d1(ig):
    job_id = ig.submitted(image_job(1))
    message = "m" * (3 * 1024 * 1024)
    webhook = {"errors": [{"code": "providerError", "message": message, "taskUUID": job_id}]}
    assert ig.webhook(job_id, webhook).status == 200
    ig.drain()
    job = ig.job(job_id)
    error = json.loads(job["error"])
    assert job["status"] == "failed" and error["code"] == "providerError"
    assert error["message"] == "m" * 4096 + f"... ({len(message)} characters)"
    assert error["provider_error"]["clipped"].startswith('{"code": "providerError", "message": "mmm')
    assert len(job["error"]) < 20_000
    [event] = ig.rows("SELECT body_blob_key FROM provider_events WHERE source = 'webhook'")
    assert json.loads(ig.blob(event["body_blob_key"])["body"]) == webhook  # every byte is kept there
