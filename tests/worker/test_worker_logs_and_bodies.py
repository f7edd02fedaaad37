"""What the Worker leaves behind besides its answers: info-level log lines in workerd's output
(each naming its job), and no request body left unread when it answers early (behind
`wrangler dev`'s proxy an unread body stalls the next request on the connection)."""

from __future__ import annotations

from .ig_worker import IMAGE_JOB


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
