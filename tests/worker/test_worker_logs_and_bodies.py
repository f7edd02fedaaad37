"""What the Worker leaves behind besides its answers: info-level log lines in workerd's output
(each naming its job), and no request body left unread when it answers early (behind
`wrangler dev`'s proxy an unread body stalls the next request on the connection)."""

from __future__ import annotations

import json

from fixtures.fake_runware import tiny_png

from .ig_worker import BASE, IMAGE_JOB


def _lines(logs: list[str], marker: str) -> list[str]:
    return [line for line in logs if marker in line]


def test_the_sweepers_report_reaches_the_workers_log_at_info(ig):
    run = ig.h.scheduled()
    assert run["exception"] is None, run["exception"]
    [line] = _lines(ig.h.last_logs, "sweeper: ")
    assert line.startswith("[stderr] INFO ig: sweeper: SweepReport("), ig.h.last_logs


def test_a_queue_message_logs_at_info_with_its_jobs_id(ig):
    ig.fake.drop_webhooks = True
    job_id = ig.submitted(IMAGE_JOB)
    error = {"code": "timeoutProvider", "message": "The external provider did not respond", "taskUUID": job_id}
    assert ig.webhook(job_id, {"errors": [error]}).status == 200
    batch = ig.h.queue()
    assert batch["exception"] is None and [m["body"]["job_id"] for m in batch["messages"]] == [job_id]
    [line] = _lines(ig.h.last_logs, "failed: timeoutProvider")
    assert line == f"[stderr] INFO ig job={job_id}: job {job_id} failed: timeoutProvider"


# ---------------------------------------------------------------------------------------------- unread bodies


def _post(ig, path: str, body: bytes, **headers: str):
    r = ig.h.fetch("POST", BASE + path, body=body, headers=headers, track_body=True)
    assert r.exception is None, r.exception
    return r


def test_a_body_refused_by_its_content_length_is_cancelled_unread(ig):
    body = b" " * (1024 * 1024 + 1)  # one byte over IG's default request limit
    r = _post(ig, "/v1/jobs", body, **{"content-type": "application/json", "content-length": str(len(body))})
    assert r.status == 413, r.text
    assert r.body_fate == "cancelled"


def test_an_upload_without_the_token_is_cancelled_unread(ig):
    ig.configure(IG_API_TOKEN="secret")
    unauthorized = _post(ig, "/v1/uploads", tiny_png(3, 32, 32), **{"content-type": "image/png"})
    assert unauthorized.status == 401, unauthorized.text
    assert unauthorized.body_fate == "cancelled"


def test_an_upload_of_an_unsupported_type_is_cancelled_unread(ig):
    not_media = _post(ig, "/v1/uploads", b"just some words", **{"content-type": "text/plain"})
    assert not_media.status == 415, not_media.text
    assert not_media.body_fate == "cancelled"


def test_an_upload_refused_after_its_first_chunk_is_cancelled(ig):
    mismatched = _post(ig, "/v1/uploads", tiny_png(3, 32, 32), **{"content-type": "image/jpeg"})
    assert mismatched.status == 422, mismatched.text
    assert mismatched.body_fate == "cancelled"


def test_bodies_ig_accepts_are_read_to_their_end(ig):
    # The tracker's other answer: what a handler consumes is not cancelled.
    upload = _post(ig, "/v1/uploads", tiny_png(3, 32, 32), **{"content-type": "image/png"})
    assert upload.status == 201, upload.text
    assert upload.body_fate == "read to end"
    job = _post(ig, "/v1/jobs", json.dumps(IMAGE_JOB).encode(), **{"content-type": "application/json"})
    assert job.status == 202, job.text
    assert job.body_fate == "read to end"
