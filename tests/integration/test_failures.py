"""What goes wrong and what ig does about it: bad input, provider refusals, transient provider
trouble, forged webhooks, refused media hosts, lost webhooks, deadlines, poisoned messages."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from fixtures.fake_runware import SubmitScript
from fixtures.payloads import IMAGE_JOB
from fixtures.waiting import past

from ig.completion.sweeper import sweep


async def test_bad_input_is_422_listing_every_field_and_records_nothing(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    response = await ig.submit(
        {"task": "", "model": 5, "params": {"taskUUID": "mine"}, "tags": ["ok", "", "x" * 200], "extra": 1}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["type"].endswith("/validation-error")
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"task", "model", "tags.1", "tags.2", "extra"}
    # Which parameters ig sets itself depends on the provider: checked once the request is well formed.
    reserved = await ig.submit({"task": "imageInference", "model": "runware:101@1", "params": {"taskUUID": "mine"}})
    assert [(e["field"], e["code"]) for e in reserved.json()["errors"]] == [("params.taskUUID", "reserved")]
    for raw in (b"{not json", b"[1, 2]", b""):
        bad = await ig.client.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body"
    assert ig.rows("SELECT * FROM jobs") == []
    assert fake_runware.requests == []


async def test_a_runware_validation_error_is_422_naming_the_parameter_and_the_job_is_kept_failed(
    start_ig, fake_runware
):
    error = {
        "code": "invalidParameter",
        "message": "width must be a multiple of 64",
        "parameter": "width",
        "type": "integer",
        "taskType": "imageInference",
    }
    fake_runware.submit_script = [SubmitScript(400, {"errors": [error]})]
    ig = await start_ig(fake_runware)

    response = await ig.submit(IMAGE_JOB)
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [{"field": "params.width", "message": error["message"], "code": "invalidParameter"}]
    [job] = ig.rows("SELECT * FROM jobs")
    assert problem["job_id"] == job["id"]
    assert job["status"] == "failed"
    assert json.loads(job["error"])["provider_error"] == error
    stored = ig.rows("SELECT http_status, body FROM provider_events WHERE job_id = ?", (job["id"],))
    assert stored == [{"http_status": 400, "body": json.dumps({"errors": [error]})}]
    assert (await ig.client.get(f"/v1/jobs/{job['id']}")).json()["error"]["code"] == "invalidParameter"


async def test_insufficient_credits_fail_the_job_with_a_502(start_ig, fake_runware):
    error = {"code": "insufficientCredits", "message": "Not enough credits"}
    fake_runware.submit_script = [SubmitScript(402, {"errors": [error]})]
    ig = await start_ig(fake_runware)
    response = await ig.submit(IMAGE_JOB)
    assert response.status_code == 502
    assert response.json()["provider_error"]["code"] == "insufficientCredits"
    assert ig.rows("SELECT status FROM jobs") == [{"status": "failed"}]


async def test_transient_provider_failures_are_retried_until_accepted(start_ig, fake_runware):
    fake_runware.submit_script = [
        SubmitScript(503, {"errors": [{"code": "serviceUnavailable", "message": "busy"}]}),
        SubmitScript(429, {"errors": [{"code": "rateLimitExceeded", "message": "slow down"}]}, {"retry-after": "1"}),
        SubmitScript(502, b"<html>bad gateway</html>"),
    ]
    ig = await start_ig(fake_runware, time_scale=0.05)  # the backoff is recorded, a 20th of it waited
    response = await ig.submit({**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    job = await ig.wait(response.json()["id"], seconds=40)
    assert job["status"] == "succeeded", job
    assert len(fake_runware.requests) == 4
    [row] = ig.rows("SELECT submit_attempts FROM jobs")
    assert row["submit_attempts"] == 4


async def test_a_resend_after_an_accepted_but_failed_answer_is_not_billed_twice(start_ig, fake_runware):
    # Runware took the task but the answer was lost (a proxy 502); the resend gets conflictTaskUUID.
    fake_runware.submit_script = [SubmitScript(502, b"<html>gateway</html>", accept_anyway=True)]
    ig = await start_ig(fake_runware, webhooks=False, time_scale=0.05)  # polls come at once
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    job = await ig.wait(job_id, seconds=30)
    assert job["status"] == "succeeded"
    assert len(fake_runware.tasks) == 1
    submits = [r for r in fake_runware.requests if r[0]["taskType"] != "getResponse"]
    assert len(submits) == 2 and submits[0][0]["taskUUID"] == submits[1][0]["taskUUID"] == job_id
    assert len(job["artifacts"]) == 2


async def test_forged_webhooks_are_404_and_write_nothing(start_ig, fake_runware):
    fake_runware.drop_webhooks = True
    ig = await start_ig(fake_runware)
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    before = ig.rows("SELECT * FROM provider_events")
    result = fake_runware.results_for(fake_runware.tasks[job_id])[0]
    for path in (
        f"/webhooks/runware/{job_id}/wrong-token",
        "/webhooks/runware/00000000-0000-4000-8000-000000000000/whatever",
        "/webhooks/runware/not-a-uuid/whatever",
    ):
        response = await ig.client.post(path, json=result)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    await ig.drained()
    assert ig.rows("SELECT * FROM provider_events") == before
    assert ig.rows("SELECT * FROM results") == []
    assert ig.runtime.queue.pending() == 0


async def test_a_webhook_naming_another_task_is_refused(start_ig, fake_runware):
    fake_runware.drop_webhooks = True
    ig = await start_ig(fake_runware)
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    token = fake_runware.tasks[job_id]["webhookURL"].rsplit("/", 1)[-1]
    result = {**fake_runware.results_for(fake_runware.tasks[job_id])[0], "taskUUID": "another"}
    response = await ig.client.post(f"/webhooks/runware/{job_id}/{token}", json=result)
    assert response.status_code == 400
    assert ig.rows("SELECT * FROM provider_events WHERE source = 'webhook'") == []


async def test_an_error_webhook_fails_the_job_with_the_provider_error(start_ig, fake_runware):
    fake_runware.result_error = {"code": "timeoutProvider", "message": "The external provider did not respond"}
    ig = await start_ig(fake_runware)
    job = await ig.wait((await ig.submit(IMAGE_JOB)).json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "timeoutProvider"
    assert job["artifacts"] == []


async def test_an_error_found_by_polling_fails_the_job(start_ig, fake_runware):
    fake_runware.result_error = {"code": "contentPolicyViolation", "message": "Content flagged"}
    ig = await start_ig(fake_runware, webhooks=False, time_scale=0.05)  # polls come at once
    job = await ig.wait((await ig.submit(IMAGE_JOB)).json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "contentPolicyViolation" and job["error"]["message"] == "Content flagged"


async def test_outputs_on_hosts_outside_the_allow_list_are_never_fetched(start_ig, fake_runware):
    fake_runware.output_host = "evil.example"
    ig = await start_ig(fake_runware)
    job = await ig.wait((await ig.submit(IMAGE_JOB)).json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "media_refused"
    assert fake_runware.media_gets == []
    assert ig.blob_files() == []


async def test_the_sweeper_recovers_jobs_whose_webhooks_were_lost(start_ig, fake_runware):
    fake_runware.drop_webhooks = True
    ig = await start_ig(fake_runware, quiet_seconds=0)
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    assert (await ig.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "submitted"
    report = await sweep(ig.runtime.deps)
    assert report.polled == 1
    job = await ig.wait(job_id)
    assert job["status"] == "succeeded" and len(job["artifacts"]) == 2
    assert fake_runware.polls[job_id] == 1


async def test_jobs_past_their_deadline_fail_with_a_timeout(start_ig, fake_runware):
    fake_runware.drop_webhooks = True
    # No background sweeper: the job is past its deadline at once, and this test's sweep must be the one to see it.
    ig = await start_ig(fake_runware, job_timeout_seconds=0, background=False)
    submitted = (await ig.submit(IMAGE_JOB)).json()
    job_id = submitted["id"]
    await past(submitted["deadline_at"])
    assert (await sweep(ig.runtime.deps)).timed_out == 1
    job = (await ig.client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "failed" and job["error"]["code"] == "timeout"


async def test_a_poisoned_message_is_retried_then_dead_lettered_and_fails_its_job(start_ig, fake_runware):
    ig = await start_ig(fake_runware, queue_max_retries=2)
    fake_runware.drop_webhooks = True
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    token = fake_runware.tasks[job_id]["webhookURL"].rsplit("/", 1)[-1]
    result = fake_runware.results_for(fake_runware.tasks[job_id])[0]
    fake_runware.media.clear()  # every download now answers 404
    assert (await ig.client.post(f"/webhooks/runware/{job_id}/{token}", json=result)).status_code == 200

    queue_db = sqlite3.connect(ig.data_dir / "queue.sqlite3")
    for _ in range(200):  # fast-forward the retry delays instead of sleeping through them
        queue_db.execute("UPDATE messages SET visible_at = 0")
        queue_db.commit()
        job = (await ig.client.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] == "failed":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "dead_lettered"
    assert "HTTP 404" in job["error"]["last_error"]["message"]
    assert job["error"]["last_error"]["attempts"] == 3
    assert ig.runtime.queue.pending() == 0


MiB = 1024 * 1024


async def test_a_poll_answer_is_read_whole_up_to_the_webhook_limit_and_never_taken_cut_short(start_ig, fake_runware):
    ig = await start_ig(fake_runware, webhooks=False, time_scale=0.05)  # polls come at once
    # 17 MiB of text in one result: over the 16 MiB ig used to read, inside IG_MAX_WEBHOOK_BYTES (32 MiB).
    fake_runware.extra_result_fields = {"notes": "n" * (17 * MiB)}
    stored = await ig.wait(
        (await ig.submit({**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}})).json()["id"]
    )
    assert stored["status"] == "succeeded" and len(stored["artifacts"]) == 1
    [result] = ig.rows("SELECT raw FROM results WHERE job_id = ?", (stored["id"],))
    assert json.loads(result["raw"])["notes"] == f"<{17 * MiB} characters, kept in the provider event>"
    [event] = ig.rows(
        "SELECT body_size, body_blob_key FROM provider_events WHERE job_id = ? AND source = 'poll'", (stored["id"],)
    )
    assert (
        event["body_size"] > 17 * MiB
        and (ig.data_dir / "blobs" / event["body_blob_key"]).stat().st_size == event["body_size"]
    )

    # Two such results make 34 MiB: more than ig reads. The job fails at once saying why, and
    # nothing of the answer is kept (no partial body, no empty result).
    failed = await ig.wait(
        (await ig.submit({**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 2}})).json()["id"]
    )
    assert failed["status"] == "failed" and failed["error"]["code"] == "provider_answer_too_large"
    assert "more than 33554432 bytes" in failed["error"]["message"]
    assert fake_runware.polls[failed["id"]] == 1
    assert ig.rows("SELECT source FROM provider_events WHERE job_id = ?", (failed["id"],)) == [{"source": "submit"}]
    assert ig.rows("SELECT * FROM results WHERE job_id = ?", (failed["id"],)) == []
    events = sorted(p.name for p in (ig.data_dir / "blobs" / "events").rglob("*.json") if failed["id"] in str(p))
    assert events == []
