"""Cancelling a job and per-job deadlines: ig stops waiting, and whatever Runware still delivers
(and bills) is stored with its cost, flagged as having arrived after the job ended."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from datetime import datetime

from fixtures.payloads import IMAGE_JOB
from fixtures.waiting import past

from ig.completion.sweeper import sweep


def held_webhooks(fake):
    """Hold every webhook until the returned event is set (the fake delivers in its own thread)."""
    release = threading.Event()
    fake.before_webhook = lambda task, index: release.wait(20)
    return release


async def stored_artifacts(ig, job_id: str, count: int) -> list[dict]:
    for _ in range(200):
        rows = ig.rows("SELECT * FROM artifacts WHERE job_id = ? ORDER BY seq", (job_id,))
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rows)} of {count} artifacts stored")


async def test_a_cancelled_job_stops_being_polled_and_keeps_late_results_with_their_cost(start_ig, fake_runware):
    release = held_webhooks(fake_runware)
    ig = await start_ig(fake_runware, quiet_seconds=0)
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    answer = await ig.client.post(f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 200
    job = answer.json()
    assert job["status"] == "cancelled" and job["cancelled_at"] and job["completed_at"] == job["cancelled_at"]
    again = await ig.client.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 200 and again.json()["cancelled_at"] == job["cancelled_at"]

    report = await sweep(ig.runtime.deps)
    assert (report.polled, report.timed_out, report.resubmitted) == (0, 0, 0)  # a cancelled job is not chased
    assert fake_runware.polls.get(job_id, 0) == 0

    release.set()  # Runware finishes anyway and bills it
    rows = await stored_artifacts(ig, job_id, 2)
    assert {r["arrived_after"] for r in rows} == {"cancelled"}
    for row in rows:
        assert hashlib.sha256((ig.data_dir / "blobs" / row["blob_key"]).read_bytes()).hexdigest() == row["sha256"]
    costs = [r["cost"] for r in ig.rows("SELECT cost FROM results WHERE job_id = ?", (job_id,))]
    assert len(costs) == 2 and all(c > 0 for c in costs)
    view = (await ig.client.get(f"/v1/jobs/{job_id}")).json()
    assert view["status"] == "cancelled" and view["cost"] == sum(costs)
    assert [a["arrived_after"] for a in view["artifacts"]] == ["cancelled", "cancelled"]
    listed = (await ig.client.get("/v1/jobs", params={"status": "cancelled"})).json()["items"]
    assert [j["id"] for j in listed] == [job_id]


async def test_only_open_jobs_can_be_cancelled(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    assert (await ig.wait(job_id))["status"] == "succeeded"
    conflict = await ig.client.post(f"/v1/jobs/{job_id}/cancel")
    assert conflict.status_code == 409 and conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["job_id"] == job_id
    assert (await ig.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "succeeded"
    missing = await ig.client.post("/v1/jobs/00000000-0000-4000-8000-000000000000/cancel")
    assert missing.status_code == 404


async def test_each_task_type_has_its_own_default_deadline_and_a_job_may_set_one(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    image = (await ig.submit(IMAGE_JOB)).json()
    video = (
        await ig.submit({"task": "videoInference", "model": "klingai:5@3", "params": {"positivePrompt": "a boat"}})
    ).json()
    own = (await ig.submit({**IMAGE_JOB, "timeout_seconds": 45})).json()
    for job, seconds in ((image, 600), (video, 3600), (own, 45)):
        assert job["timeout_seconds"] == seconds
        span = datetime.fromisoformat(job["deadline_at"]) - datetime.fromisoformat(job["created_at"])
        assert span.total_seconds() == seconds
    tasks = {t["task"]: t["timeout_seconds"] for t in (await ig.client.get("/v1/tasks")).json()["items"]}
    assert tasks["imageInference"] == 600 and tasks["videoInference"] == 3600 and tasks["caption"] == 300
    for bad in (0, 86401, "60"):
        problem = (await ig.submit({**IMAGE_JOB, "timeout_seconds": bad})).json()
        assert problem["errors"][0]["field"] == "timeout_seconds"


async def test_a_job_past_its_deadline_fails_and_results_that_come_later_are_kept(start_ig, fake_runware):
    release = held_webhooks(fake_runware)
    # The background sweeper starts after this test's own sweep: its first run, late on a loaded
    # machine, could otherwise be the one that finds the job past its deadline.
    ig = await start_ig(fake_runware, background=False)
    submitted = (await ig.submit({**IMAGE_JOB, "timeout_seconds": 1})).json()
    job_id = submitted["id"]
    await past(submitted["deadline_at"])
    assert (await sweep(ig.runtime.deps)).timed_out == 1
    ig.runtime.start_background()
    job = (await ig.client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "failed" and job["error"] == {"code": "timeout", "message": "no result within 1 seconds"}
    release.set()
    rows = await stored_artifacts(ig, job_id, 2)
    assert {r["arrived_after"] for r in rows} == {"failed"}
    assert (await ig.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "failed"
