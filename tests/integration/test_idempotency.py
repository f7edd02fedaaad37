"""Idempotency-Key on POST /v1/jobs and /v1/jobs/batch, and Prefer: wait=N."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime

from fixtures.fake_runware import SubmitScript
from fixtures.payloads import IMAGE_JOB, MOCK_JOB

from ig.completion.sweeper import sweep


def submissions(fake, job_id: str) -> int:
    """How many submit requests for ``job_id`` reached Runware (getResponse polls excluded)."""
    return sum(1 for r in fake.requests if r[0].get("taskUUID") == job_id and r[0]["taskType"] != "getResponse")


async def test_the_same_key_and_body_answer_with_the_first_job_and_runware_sees_one_task(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    key = {"idempotency-key": "order-1234"}
    first = await ig.submit(IMAGE_JOB, headers=key)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    job_id = first.json()["id"]
    reordered = dict(reversed(list(IMAGE_JOB.items())))  # the same JSON, keys in another order
    again = await ig.submit(reordered, headers=key)
    assert again.status_code == 202 and again.json()["id"] == job_id
    assert again.headers["idempotent-replayed"] == "true"
    assert len(ig.rows("SELECT id FROM jobs")) == 1 and submissions(fake_runware, job_id) == 1

    other = await ig.submit({**IMAGE_JOB, "tags": ["another"]}, headers=key)
    assert other.status_code == 422 and other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert len(ig.rows("SELECT id FROM jobs")) == 1 and len(fake_runware.tasks) == 1

    [row] = ig.rows("SELECT * FROM idempotency_keys")
    kept = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["created_at"])
    assert kept.total_seconds() == 24 * 3600 and row["job_id"] == job_id
    # Another key is another job.
    assert (await ig.submit(IMAGE_JOB, headers={"idempotency-key": "order-1235"})).json()["id"] != job_id


async def test_racing_retries_with_one_key_make_one_job(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    answers = await asyncio.gather(*(ig.submit(IMAGE_JOB, headers={"idempotency-key": "race"}) for _ in range(10)))
    assert {a.status_code for a in answers} == {202}
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    [job_id] = ids
    assert [r["id"] for r in ig.rows("SELECT id FROM jobs")] == [job_id]
    assert submissions(fake_runware, job_id) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 9
    assert len((await ig.wait(job_id))["artifacts"]) == 2


async def test_a_retry_after_transient_trouble_does_not_submit_again(start_ig, fake_runware):
    fake_runware.submit_script = [SubmitScript(503, {"errors": [{"code": "serviceUnavailable", "message": "busy"}]})]
    ig = await start_ig(fake_runware)
    key = {"idempotency-key": "flaky"}
    first = await ig.submit(IMAGE_JOB, headers=key)
    assert first.json()["status"] == "queued"
    again = await ig.submit(IMAGE_JOB, headers=key)
    assert again.json()["id"] == first.json()["id"]
    assert len(fake_runware.requests) == 1  # the replay sent nothing; ig's own backoff resubmits


async def test_bad_input_with_a_key_records_nothing_and_bad_keys_are_refused(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    bad = await ig.submit({**IMAGE_JOB, "params": {"width": "wide"}}, headers={"idempotency-key": "k1"})
    assert bad.status_code == 422
    assert ig.rows("SELECT * FROM idempotency_keys") == [] and ig.rows("SELECT * FROM jobs") == []
    fixed = await ig.submit(IMAGE_JOB, headers={"idempotency-key": "k1"})
    assert fixed.status_code == 202  # the key was not spent on the bad request
    for key in ("x" * 256, "with space", "tab\there"):
        refused = await ig.submit(IMAGE_JOB, headers={"idempotency-key": key})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert len(ig.rows("SELECT * FROM jobs")) == 1


async def test_keys_expire_after_24_hours_and_are_swept(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    first = (await ig.submit(IMAGE_JOB, headers={"idempotency-key": "old"})).json()["id"]
    with sqlite3.connect(ig.data_dir / "ig.sqlite3") as db:
        db.execute("UPDATE idempotency_keys SET expires_at = '2000-01-02T00:00:00.000Z'")
    second = (await ig.submit(IMAGE_JOB, headers={"idempotency-key": "old"})).json()["id"]
    assert second != first  # an expired key is a new request
    with sqlite3.connect(ig.data_dir / "ig.sqlite3") as db:
        db.execute("UPDATE idempotency_keys SET expires_at = '2000-01-02T00:00:00.000Z'")
    assert (await sweep(ig.runtime.deps)).keys_expired == 1
    assert ig.rows("SELECT * FROM idempotency_keys") == []


async def test_a_retried_batch_makes_only_the_jobs_that_were_missing(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    key = {"idempotency-key": "batch-7"}
    bad = {**IMAGE_JOB, "params": {"width": "wide"}}
    body = {"jobs": [IMAGE_JOB, bad, {**IMAGE_JOB, "tags": ["b"]}]}
    first = (await ig.client.post("/v1/jobs/batch", json=body, headers=key)).json()["items"]
    again = (await ig.client.post("/v1/jobs/batch", json=body, headers=key)).json()["items"]
    made = [item["job"]["id"] for item in first if "job" in item]
    assert len(made) == 2 and [item["job"]["id"] for item in again if "job" in item] == made
    assert first[1]["error"]["status"] == again[1]["error"]["status"] == 422
    assert len(ig.rows("SELECT * FROM jobs")) == 2 and len(fake_runware.tasks) == 2
    changed = await ig.client.post("/v1/jobs/batch", json={"jobs": [IMAGE_JOB]}, headers=key)
    assert changed.status_code == 422 and changed.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert len(ig.rows("SELECT * FROM jobs")) == 2


async def test_prefer_wait_answers_200_with_the_finished_job(start_ig):
    ig = await start_ig(None, webhooks=False)
    answer = await ig.submit(MOCK_JOB, headers={"prefer": "respond-async, wait=20"})
    assert answer.status_code == 200 and answer.headers["preference-applied"] == "wait=20"
    job = answer.json()
    assert job["status"] == "succeeded" and len(job["artifacts"]) == 1
    assert ig.blob_files()[0].stat().st_size == job["artifacts"][0]["size"]
    capped = await ig.submit(MOCK_JOB, headers={"prefer": "wait=600"})
    assert capped.status_code == 200 and capped.headers["preference-applied"] == "wait=60"


async def test_prefer_wait_answers_202_when_the_job_is_not_done_in_time(start_ig, fake_runware):
    fake_runware.drop_webhooks = True
    ig = await start_ig(fake_runware)
    started = time.monotonic()
    answer = await ig.submit(IMAGE_JOB, headers={"prefer": "wait=1"})
    waited = time.monotonic() - started
    assert answer.status_code == 202 and answer.json()["status"] == "submitted"
    assert 0.9 <= waited < 5
    plain = await ig.submit(IMAGE_JOB)
    assert plain.status_code == 202 and "preference-applied" not in plain.headers
