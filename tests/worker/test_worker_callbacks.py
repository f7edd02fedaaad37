"""Issue 6's consumer features on the Worker runtime: callbacks signed on Pyodide and sent through
the runtime's fetch (redirects not followed), their log in D1, Idempotency-Key in D1, cancel
with late results kept in R2, and deadlines from the cron sweeper."""

from __future__ import annotations

from fixtures.callback_receiver import SECRET
from standardwebhooks import Webhook

from .ig_worker import first_schema_job_sql, harness_before, image_job


def test_callbacks_are_signed_in_pyodide_and_name_the_artifacts_in_r2(ig, receiver):
    ig.configure(IG_CALLBACK_SECRET=SECRET, IG_LOCAL_MODE="1")
    body = {**image_job(2), "callback_url": receiver.url, "callback_events": ["artifact.stored", "job.succeeded"]}
    job_id = ig.submitted(body)
    ig.deliver_results(job_id)
    ig.drain()
    assert len(receiver.received) == 3
    artifacts = {a["id"]: a for a in ig.artifacts(job_id)}
    for call in receiver.received:
        payload = Webhook(SECRET).verify(call.body, call.headers)
        assert payload["data"]["artifacts"]
        for artifact in payload["data"]["artifacts"]:
            assert artifact["sha256"] == artifacts[artifact["id"]]["sha256"]
            assert ig.blob(f"artifacts/{artifact['id']}")["size"] == artifact["size"]
            assert "/content?expires=" in artifact["url"]
    assert sorted(c.json()["type"] for c in receiver.received) == ["artifact.stored"] * 2 + ["job.succeeded"]
    deliveries = ig.fetch("GET", f"/v1/jobs/{job_id}/deliveries").json()["items"]
    assert [d["status"] for d in deliveries] == ["delivered"] * 3
    assert all(d["attempts"][0]["status_code"] == 204 for d in deliveries)


def test_a_redirect_is_a_failed_attempt_retried_later_through_the_queue(ig, receiver):
    ig.configure(IG_CALLBACK_SECRET=SECRET, IG_LOCAL_MODE="1", IG_CALLBACK_RETRY_SECONDS="30")
    receiver.answers = [302]
    job_id = ig.submitted({**image_job(1), "callback_url": receiver.url})
    ig.deliver_results(job_id)
    ig.drain()  # the retry waits 30 s in the queue; drain delivers it without waiting
    assert [r.path for r in receiver.received] == ["/hooks/ig", "/hooks/ig"]
    [delivery] = ig.fetch("GET", f"/v1/jobs/{job_id}/deliveries").json()["items"]
    assert [a["status_code"] for a in delivery["attempts"]] == [302, 204]
    assert "redirects are not followed" in delivery["attempts"][0]["error"]
    assert delivery["status"] == "delivered"
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]


def test_without_local_mode_the_worker_refuses_plain_http_callbacks(ig, receiver):
    ig.configure(IG_CALLBACK_SECRET=SECRET)
    r = ig.submit({**image_job(1), "callback_url": receiver.url})
    assert r.status == 422 and r.json()["errors"][0]["field"] == "callback_url"
    assert ig.rows("SELECT id FROM jobs") == [] and ig.fake.tasks == {}


SPELLINGS_OF_PRIVATE_ADDRESSES = [
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://0x7f.1/hook",
    "https://2130706433/hook",
    "https://0177.0.0.1/hook",
    "https://%31%32%37.0.0.1/hook",
    "https://\uff11\uff10\uff0e\uff10\uff0e\uff10\uff0e\uff11/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[2002:c0a8:101::]/hook",
    "https://[fd00::1]/hook",
    "https://localhost./hook",
    "https://hooks.localhost/hook",
]


def test_the_worker_refuses_callback_urls_to_private_addresses_in_any_spelling(ig):
    ig.configure(IG_CALLBACK_SECRET=SECRET)
    for url in SPELLINGS_OF_PRIVATE_ADDRESSES:
        r = ig.submit({**image_job(1), "callback_url": url})
        assert r.status == 422, (url, r.text)
        [error] = r.json()["errors"]
        assert error["field"] == "callback_url" and error["message"].startswith("may not point at"), (url, error)
    assert ig.rows("SELECT id FROM jobs") == [] and ig.rows("SELECT id FROM callbacks") == []
    assert ig.fake.tasks == {} and ig.h.queue_sent() == []
    assert ig.submit({**image_job(1), "callback_url": "https://hooks.example.com/ig"}).status == 202


def test_an_idempotency_key_in_d1_replays_the_first_job(ig):
    key = {"idempotency-key": "worker-order-1"}
    first = ig.submit(image_job(1), headers=key)
    again = ig.submit(image_job(1), headers=key)
    assert first.status == again.status == 202
    assert again.json()["id"] == first.json()["id"] and again.header("idempotent-replayed") == "true"
    other = ig.submit(image_job(2), headers=key)
    assert other.status == 422 and other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert len(ig.rows("SELECT id FROM jobs")) == 1 and len(ig.fake.tasks) == 1
    assert len(ig.rows("SELECT key FROM idempotency_keys")) == 1


def test_a_cancelled_job_keeps_its_late_results_in_r2(ig):
    job_id = ig.submitted(image_job(2))
    r = ig.fetch("POST", f"/v1/jobs/{job_id}/cancel")
    assert r.status == 200 and r.json()["status"] == "cancelled"
    ig.deliver_results(job_id)
    ig.drain()
    artifacts = ig.artifacts(job_id)
    assert [a["arrived_after"] for a in artifacts] == ["cancelled", "cancelled"]
    for artifact in artifacts:
        assert ig.blob(artifact["blob_key"])["size"] == artifact["size"]
    assert ig.job(job_id)["status"] == "cancelled"
    assert ig.fetch("POST", f"/v1/jobs/{job_id}/cancel").status == 200


def test_the_cron_sweeper_fails_a_job_past_its_own_deadline(ig):
    job_id = ig.submitted({**image_job(1), "timeout_seconds": 1})
    assert ig.job(job_id)["timeout_seconds"] == 1
    ig.rows("UPDATE jobs SET deadline_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", job_id)
    ig.h.scheduled()
    ig.drain()
    row = ig.job(job_id)
    assert row["status"] == "failed" and '"code": "timeout"' in row["error"]


def test_migration_0003_rebuilds_jobs_on_d1_without_losing_rows_or_references(make_worker):
    h, last = harness_before(make_worker, "0003_reliability.sql")
    h.apply_sql(
        sql=first_schema_job_sql() + "INSERT INTO job_tags VALUES ('j1', 'kept');"
        "INSERT INTO artifacts (id, role, job_id, kind, content_type, size, sha256, blob_key, created_at)"
        " VALUES ('a1', 'output', 'j1', 'image', 'image/png', 1, 'x', 'artifacts/a1', '2026-01-01T00:00:01.000Z');"
    )
    h.apply_sql(path=last)
    assert h.d1_rows("SELECT seq, id, status, timeout_seconds FROM jobs") == [
        {"seq": 1, "id": "j1", "status": "succeeded", "timeout_seconds": None}
    ]
    assert h.d1_rows("SELECT job_id FROM artifacts") == [{"job_id": "j1"}]
    assert h.d1_rows("PRAGMA foreign_key_check") == []
    h.apply_sql(sql="UPDATE jobs SET status = 'cancelled' WHERE id = 'j1';")
    assert h.d1_rows("SELECT status FROM jobs") == [{"status": "cancelled"}]
