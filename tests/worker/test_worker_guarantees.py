"""The guarantees that rest on Worker behaviour, repeated on the Worker runtime (Pyodide, with
Miniflare's D1, R2 and the harness's queue model): duplicate webhooks, concurrent and
sequential, store each result once (1); a consumer that crashes mid-batch ends, after
redelivery, with exactly its artifacts (2); a poison message is dead-lettered and fails its job
without holding the others up (3); and every /v1 route refuses a request without the API token
(9). Rows and objects are read back from Node, not through ig."""

from __future__ import annotations

import ast
import hashlib
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from fixtures.auth_requests import PRESET, PUBLIC, REFUSED, request_for

from ig.api.routes import ROUTER

from .ig_worker import BASE, IMAGE_JOB, IgWorker, image_job
from .worker_harness import HarnessResponse

TOKEN = "api-s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}

# Runs inside the Worker's interpreter (``eval_python``): ``copies`` deliveries of one webhook body,
# all at once, each through the entrypoint's own fetch (Default.fetch, on its own Request), so
# their D1 and queue calls interleave as concurrent requests in one isolate do.
CONCURRENT_WEBHOOKS = """
import asyncio
import json
import types

import js
from pyodide.ffi import to_js
from workers import python_from_rpc

url, body, copies = json.loads(ARGS)
worker = types.SimpleNamespace(env=env)  # all Default.fetch reads from its instance


async def deliver():
    init = {"method": "POST", "headers": {"content-type": "application/json"}, "body": body}
    request = python_from_rpc(js.Request.new(url, to_js(init, dict_converter=js.Object.fromEntries)))
    response = await mod.Default.fetch(worker, request)
    return response.status, await response.text()


await asyncio.gather(*(deliver() for _ in range(copies)))
"""

# Handles ``copies`` copies of one queue message at once, as concurrent consumer invocations would.
CONCURRENT_MESSAGES = """
import asyncio
import json

from ig.adapters.cloudflare import bootstrap
from ig.completion.consumer import handle_message

queue, body, copies = json.loads(ARGS)
decisions = await asyncio.gather(
    *(handle_message(bootstrap.deps_from_env(env), queue, body, 1) for _ in range(copies))
)
[type(d).__name__ for d in decisions]
"""

# Makes the consumer die the way a killed isolate does: an exception no handler catches, raised
# in the ``nth`` D1 batch that stores artifacts, before or after that batch commits. The R2 objects
# of that result are already written by then. ``UNPATCH`` puts the real batch back.
CRASH_IN_D1_BATCH = """
import json

from ig.adapters.cloudflare import d1

nth, when = json.loads(ARGS)


class IsolateDied(BaseException):
    pass


real = getattr(d1.D1Database, "_real_batch", d1.D1Database.batch)
calls = []


async def batch(self, statements):
    if any("INSERT INTO artifacts" in sql for sql, _ in statements):
        calls.append(1)
        if len(calls) == nth and when == "before":
            raise IsolateDied("the isolate died before the D1 batch committed")
        done = await real(self, statements)
        if len(calls) == nth:
            raise IsolateDied("the isolate died after the D1 batch committed")
        return done
    return await real(self, statements)


d1.D1Database._real_batch = real
d1.D1Database.batch = batch
"""
UNPATCH = """
from ig.adapters.cloudflare import d1

d1.D1Database.batch = d1.D1Database.__dict__.get("_real_batch", d1.D1Database.batch)
"""


def _eval(ig: IgWorker, code: str, *args: Any) -> str:
    return ig.h.eval_python(f"ARGS = {json.dumps(json.dumps(args))}\n" + code)


def _messages(report: dict) -> list[dict]:
    return [m for b in report["batches"] for m in b["messages"]]


def _check_outputs(ig: IgWorker, job_ids: list[str]) -> list[dict[str, Any]]:
    """The jobs' results as rows, once each, and exactly their artifacts (no other job has one),
    with one R2 object per artifact holding the bytes the fake served and nothing else in the
    bucket. Returns the artifacts."""
    artifacts = ig.rows("SELECT * FROM artifacts ORDER BY job_id, result_key")
    results = [r for r in ig.rows("SELECT * FROM results ORDER BY job_id, result_key") if r["job_id"] in job_ids]
    expected = {
        (job_id, f"imageUUID:{item['imageUUID']}", item["imageURL"])
        for job_id in job_ids
        for item in ig.fake.results_for(ig.task(job_id))
    }
    assert len(artifacts) == len(results) == len(expected)
    assert {(a["job_id"], a["result_key"], a["source_url"]) for a in artifacts} == expected
    assert {(r["job_id"], r["result_key"]) for r in results} == {(j, k) for j, k, _ in expected}
    assert all(r["stored_at"] is not None for r in results)
    assert sorted(ig.h.r2_keys()) == sorted(a["blob_key"] for a in artifacts)
    for artifact in artifacts:
        served = ig.fake.served_bytes(artifact["source_url"])
        assert ig.blob(artifact["blob_key"])["body"] == served
        assert artifact["size"] == len(served) and artifact["sha256"] == hashlib.sha256(served).hexdigest()
    tags = ig.rows("SELECT tag, count(*) AS n FROM artifact_tags GROUP BY tag ORDER BY tag")
    assert tags == [{"tag": t, "n": len(artifacts)} for t in sorted(IMAGE_JOB["tags"])]
    counts = ig.rows("SELECT tag, artifacts AS n FROM tag_counts WHERE artifacts > 0 ORDER BY tag")
    assert counts == tags
    assert ig.rows("SELECT count(*) AS n FROM artifact_search") == [{"n": len(artifacts)}]
    return artifacts


# ---------------------------------------------------------------------------------------------- 1


def test_guarantee_1_on_the_worker_60_deliveries_of_one_result_store_it_once(ig, figure):
    job_id = ig.submitted(image_job(2))
    first, second = ig.fake.results_for(ig.task(job_id))
    url = f"{BASE}/webhooks/runware/{job_id}/{ig.token(job_id)}"
    body = json.dumps(first)

    answers = ast.literal_eval(_eval(ig, CONCURRENT_WEBHOOKS, url, body, 50))
    assert answers == [(200, json.dumps({"received": True}, separators=(",", ":")))] * 50
    for _ in range(10):
        r = ig.fetch("POST", f"/webhooks/runware/{job_id}/{ig.token(job_id)}", body=body)
        assert r.status == 200 and r.json() == {"received": True}
    [event] = ig.rows("SELECT * FROM provider_events WHERE source = 'webhook'")
    assert event["deliveries"] == 60 and event["processed_at"] is None

    # Every delivery enqueued the event (none was processed yet); 50 copies are handled at once,
    # as concurrent consumer invocations would, then the 60 real messages go through the queue.
    sent = ig.h.queue_sent()
    assert len(sent) == 60 and {json.dumps(m["body"], sort_keys=True) for m in sent} == {
        json.dumps({"type": "event", "job_id": job_id, "event_id": event["id"]}, sort_keys=True)
    }
    decisions = ast.literal_eval(_eval(ig, CONCURRENT_MESSAGES, "ig-jobs", sent[0]["body"], 50))
    assert decisions == ["Ack"] * 50
    assert len(ig.artifacts(job_id)) == 1 and len(ig.h.r2_keys()) == 1
    report = ig.drain()
    assert len(_messages(report)) == 60 and {m["fate"] for m in _messages(report)} == {"done"}

    assert ig.webhook(job_id, second).status == 200
    ig.drain()
    assert ig.job(job_id)["status"] == "succeeded"
    artifacts = _check_outputs(ig, [job_id])
    assert len(artifacts) == 2
    figure(
        "guarantee 1 (Worker)",
        "50 concurrent + 10 sequential deliveries of one result -> 60 x 200, 1 webhook event (60 deliveries), "
        "50 concurrent + 60 queued handlings -> 1 artifact and 1 R2 object for it (2 of each for the job)",
    )


# ---------------------------------------------------------------------------------------------- 2


@pytest.mark.parametrize("when", ["before", "after"])
def test_guarantee_2_on_the_worker_a_consumer_crash_mid_batch_ends_with_exactly_n_artifacts(ig, figure, when):
    n, k = 6, 2
    job_ids = [ig.submitted(image_job(1)) for _ in range(n)]
    for job_id in job_ids:
        ig.deliver_results(job_id)
    assert len(ig.h.queue_pending()["ig-jobs"]) == n

    _eval(ig, CRASH_IN_D1_BATCH, k + 1, when)
    try:
        crashed = ig.h.queue()  # one batch holds all n messages
    finally:
        _eval(ig, UNPATCH)
    assert crashed["exception"] is not None and "IsolateDied" in crashed["exception"]["error"]
    calls = [m["call"] for m in crashed["messages"]]
    fates = [m["fate"] for m in crashed["messages"]]
    # Each message is settled as it is handled: the k before the crash stay acked; the one that
    # crashed and those never reached are redelivered.
    assert calls == ["acked"] * k + ["none"] * (n - k)
    assert fates == ["done"] * k + ["requeued"] * (n - k)
    in_d1 = len(ig.rows("SELECT id FROM artifacts"))
    in_r2 = len(ig.h.r2_keys())
    assert in_d1 == (k if when == "before" else k + 1) and in_r2 == k + 1  # the crashed one's object is in R2

    report = ig.drain()
    redelivered = _messages(report)
    assert [m["attempts"] for m in redelivered] == [2] * (n - k)
    assert {(m["call"], m["fate"]) for m in redelivered} == {("acked", "done")}
    assert [ig.job(j)["status"] for j in job_ids] == ["succeeded"] * n
    artifacts = _check_outputs(ig, job_ids)
    assert len(artifacts) == n
    figure(
        "guarantee 2 (Worker)",
        f"crash {when} the D1 commit of message {k + 1} of {n}: {k} acked, {n - k} redelivered; "
        f"at the crash {in_d1} artifact rows and {in_r2} R2 objects; after redelivery {len(artifacts)} artifacts, "
        f"{len(ig.h.r2_keys())} R2 objects, no duplicate rows",
    )


def test_guarantee_2_on_the_worker_a_message_that_throws_mid_batch_holds_up_only_itself(ig, figure):
    n, k = 6, 2
    job_ids = [ig.submitted(image_job(1)) for _ in range(n)]
    for job_id in job_ids:
        ig.deliver_results(job_id)
    [item] = ig.fake.results_for(ig.task(job_ids[k]))
    served = ig.fake.media.pop(item["imageURL"].rsplit("/", 1)[-1])  # message k+1's download fails once

    batch = ig.h.queue()
    assert batch["exception"] is None
    assert [m["call"] for m in batch["messages"]] == ["acked"] * k + ["retried"] + ["acked"] * (n - k - 1)
    assert [ig.job(j)["status"] for j in job_ids].count("succeeded") == n - 1
    ig.fake.media[item["imageURL"].rsplit("/", 1)[-1]] = served
    [again] = ig.h.queue()["messages"]
    assert (again["attempts"], again["call"]) == (2, "acked")
    assert [ig.job(j)["status"] for j in job_ids] == ["succeeded"] * n
    artifacts = _check_outputs(ig, job_ids)
    figure(
        "guarantee 2 (Worker)",
        f"message {k + 1} of {n} throws: it alone is retried (the other {n - 1} acked in the same batch); "
        f"after redelivery {len(artifacts)} artifacts and R2 objects",
    )


# ---------------------------------------------------------------------------------------------- 3


def test_guarantee_3_on_the_worker_a_poison_message_fails_its_job_and_holds_up_no_other(ig, figure):
    # test_worker_failures checks the retry/dead-letter sequence of a lone poison message; here it
    # shares its batches with healthy jobs, which must finish on their first delivery.
    healthy = [ig.submitted(image_job(1)) for _ in range(4)]
    poisoned = ig.submitted(image_job(1))
    for job_id in [healthy[0], healthy[1], poisoned, healthy[2], healthy[3]]:
        ig.deliver_results(job_id)
    [item] = ig.fake.results_for(ig.task(poisoned))
    del ig.fake.media[item["imageURL"].rsplit("/", 1)[-1]]  # its output is gone for good

    first = ig.h.queue()
    assert [m["call"] for m in first["messages"]] == ["acked", "acked", "retried", "acked", "acked"]
    assert [ig.job(j)["status"] for j in healthy] == ["succeeded"] * 4  # done after one batch
    assert ig.job(poisoned)["status"] == "submitted"

    # More healthy work arrives while the poison message is being retried, and is not held up.
    late = ig.submitted(image_job(1))
    ig.deliver_results(late)
    report = ig.drain()
    main = [m for b in report["batches"] if b["queue"] == "ig-jobs" for m in b["messages"]]
    dead = [m for b in report["batches"] if b["queue"] == "ig-jobs-dlq" for m in b["messages"]]
    late_message = next(m for m in main if m["body"]["job_id"] == late)
    assert (late_message["attempts"], late_message["call"]) == (1, "acked")
    poison = [m for m in main if m["body"]["job_id"] == poisoned]
    assert [m["attempts"] for m in poison] == [2, 3, 4, 5, 6] and poison[-1]["fate"] == "dead_lettered:ig-jobs-dlq"
    assert [(m["body"]["job_id"], m["call"]) for m in dead] == [(poisoned, "acked")]

    job = ig.job(poisoned)
    assert job["status"] == "failed" and ig.error(poisoned)["code"] == "dead_lettered"
    assert [ig.job(j)["status"] for j in [*healthy, late]] == ["succeeded"] * 5
    assert ig.artifacts(poisoned) == []
    artifacts = _check_outputs(ig, [*healthy, late])
    assert len(artifacts) == 5
    figure(
        "guarantee 3 (Worker)",
        f"a poison message among 5 healthy jobs: dead-lettered after {len(poison) + 1} deliveries, its job "
        f"failed (dead_lettered); every healthy job succeeded on its first delivery; {len(artifacts)} artifacts "
        "and R2 objects",
    )


# Makes handling one job's message kill the whole invocation, as running out of memory or CPU
# does: the download of ``doomed`` (a media URL) raises an exception no handler catches, before
# anything of that result is written. ``UNPATCH_FETCH`` puts the real fetch back.
KILL_ON_DOWNLOAD = """
import json

from ig.adapters.cloudflare import fetch

(doomed,) = json.loads(ARGS)


class IsolateDied(BaseException):
    pass


real = getattr(fetch.FetchClient, "_real_send", fetch.FetchClient.send)


async def send(self, method, url, **kwargs):
    if url == doomed:
        raise IsolateDied("the isolate ran out of memory")
    return await real(self, method, url, **kwargs)


fetch.FetchClient._real_send = real
fetch.FetchClient.send = send
"""
UNPATCH_FETCH = """
from ig.adapters.cloudflare import fetch

fetch.FetchClient.send = fetch.FetchClient.__dict__.get("_real_send", fetch.FetchClient.send)
"""


def test_guarantee_3_on_the_worker_a_message_that_kills_its_invocation_fails_only_its_own_job(ig, figure):
    # Each batch it is in dies, so the healthy messages behind it are never settled and go to
    # the dead-letter queue with it; there each gets a last attempt alone.
    jobs = [ig.submitted(image_job(1)) for _ in range(4)]
    killer, healthy = jobs[1], [jobs[0], *jobs[2:]]
    for job_id in jobs:
        ig.deliver_results(job_id)
    [item] = ig.fake.results_for(ig.task(killer))
    _eval(ig, KILL_ON_DOWNLOAD, item["imageURL"])
    try:
        report = ig.h.drain()
    finally:
        _eval(ig, UNPATCH_FETCH)
    assert report["remaining"] == {"ig-jobs": 0, "ig-jobs-dlq": 0}
    main = [b for b in report["batches"] if b["queue"] == "ig-jobs"]
    dead = [b for b in report["batches"] if b["queue"] == "ig-jobs-dlq"]
    assert [len(b["messages"]) for b in main] == [4] + [3] * 5
    assert all("IsolateDied" in b["exception"]["error"] for b in main)
    taken_down = [(m["body"]["job_id"], m["attempts"], m["fate"]) for m in _messages({"batches": main})]
    assert [m for m in taken_down if m[0] != killer] == [(jobs[0], 1, "done")] + [
        (job_id, attempt, "requeued" if attempt < 6 else "dead_lettered:ig-jobs-dlq")
        for attempt in range(1, 7)
        for job_id in jobs[2:]
    ]
    in_dlq = [(b["messages"][0]["body"]["job_id"], b["messages"][0]["attempts"]) for b in dead]
    assert all(len(b["messages"]) == 1 for b in dead)  # one per invocation, as wrangler.toml says
    assert in_dlq == [(killer, 1), (jobs[2], 1), (jobs[3], 1), (killer, 2)]
    assert [b["exception"] is not None for b in dead] == [True, False, False, False]

    assert [ig.job(j)["status"] for j in healthy] == ["succeeded"] * 3
    assert [ig.error(j) for j in healthy] == [None] * 3
    assert ig.job(killer)["status"] == "failed"
    assert ig.error(killer) == {
        "code": "dead_lettered",
        "message": "ig gave up on the job's event message after repeated failures",
        "last_error": None,  # it never got as far as raising: each attempt ended the invocation
    }
    assert ig.artifacts(killer) == []
    artifacts = _check_outputs(ig, healthy)
    assert len(artifacts) == 3 and all(a["arrived_after"] is None for a in artifacts)
    figure(
        "guarantee 3 (Worker)",
        "a message that kills its invocation, batched with 3 healthy ones: 2 of them dead-lettered with it, "
        "each then handled alone in the dead-letter queue; 3 healthy jobs succeeded with 3 artifacts and R2 objects, "
        "only the killer's job failed (dead_lettered)",
    )


# ---------------------------------------------------------------------------------------------- 9


def _fetch(ig: IgWorker, method: str, spec: dict[str, Any]) -> HarnessResponse:
    """An httpx-style request (path, json, content, params, headers) through the harness."""
    path = spec["path"] + (f"?{urlencode(spec['params'])}" if spec.get("params") else "")
    headers = dict(spec.get("headers", {}))
    body = spec.get("content")
    if "json" in spec:
        body = json.dumps(spec["json"]).encode()
        headers.setdefault("content-type", "application/json")
    return ig.fetch(method, path, headers=headers, body=body)


def _d1_state(ig: IgWorker) -> dict[str, list[str]]:
    return {t: sorted(json.dumps(r, sort_keys=True) for r in ig.rows(f"SELECT * FROM {t}")) for t in ig.tables()}


def _assert_401(r: HarnessResponse, path: str, what: str) -> None:
    assert r.status == 401, (what, r.status, r.text)
    assert r.header("www-authenticate") == 'Bearer realm="ig"', what
    assert r.header("content-type") == "application/problem+json", what
    if r.body:
        problem = r.json()
        assert (problem["status"], problem["code"], problem["instance"]) == (401, "unauthorized", path), what


def test_guarantee_9_on_the_worker_every_v1_route_refuses_requests_without_the_api_token(ig, figure):
    ig.configure(IG_API_TOKEN=TOKEN)
    job_id = ig.submitted(image_job(2), headers=AUTH)
    ig.deliver_results(job_id)
    ig.drain()
    artifact_id = ig.artifacts(job_id)[0]["id"]
    preset = _fetch(ig, "PUT", {"path": "/v1/presets/auth-preset", "json": PRESET, "headers": AUTH})
    assert preset.status == 201, preset.text
    ids = {"job_id": job_id, "artifact_id": artifact_id, "name": "auth-preset"}
    assert {r.pattern for r in ROUTER.routes if not r.pattern.startswith("/v1/")} == PUBLIC
    routes = [r for r in ROUTER.routes if r.pattern.startswith("/v1/")]

    before = _d1_state(ig), ig.h.r2_keys(), len(ig.h.queue_sent()), len(ig.fake.requests)
    refused = 0
    for route in routes:
        spec = request_for(route, ids)
        for method in [route.method, "HEAD"] if route.method == "GET" else [route.method]:
            for case, headers in REFUSED.items():
                attempt = {**spec, "headers": {**spec.get("headers", {}), **headers}}
                variants = [attempt]
                if case == "token as a query parameter":
                    variants = [{**attempt, "params": {name: TOKEN}} for name in ("token", "access_token")]
                for variant in variants:
                    _assert_401(_fetch(ig, method, variant), spec["path"], f"{method} {route.pattern}: {case}")
                    refused += 1
    after = _d1_state(ig), ig.h.r2_keys(), len(ig.h.queue_sent()), len(ig.fake.requests)
    assert after == before, "a refused request wrote to D1, R2 or the queue, or reached the provider"

    # Webhooks take only their own job's token; the API token opens neither them nor content.
    [item, _] = ig.fake.results_for(ig.task(job_id))
    for token, headers in ((TOKEN, {}), (TOKEN, AUTH), ("0" * len(ig.token(job_id)), AUTH)):
        r = ig.fetch("POST", f"/webhooks/runware/{job_id}/{token}", json=item, headers=headers)
        assert r.status == 404, r.text
    assert ig.webhook(job_id, item).status == 200
    content = f"/v1/artifacts/{artifact_id}/content"
    signed = urlsplit(ig.fetch("GET", f"/v1/artifacts/{artifact_id}/url", headers=AUTH).json()["url"])
    expires = dict(p.split("=", 1) for p in signed.query.split("&"))["expires"]
    assert ig.fetch("GET", f"{content}?expires={expires}&sig={TOKEN}").status == 403
    assert ig.fetch("GET", f"{content}?sig={TOKEN}").status == 403
    opened = ig.fetch("GET", f"{signed.path}?{signed.query}")
    assert opened.status == 200 and opened.body == ig.blob(ig.artifacts(job_id)[0]["blob_key"])["body"]
    _assert_401(ig.fetch("GET", f"/v1/artifacts/{artifact_id}?{signed.query}"), f"/v1/artifacts/{artifact_id}", "sig")
    figure(
        "guarantee 9 (Worker)",
        f"{len(routes)} /v1 routes x {len(REFUSED)} credential cases: {refused} requests refused 401, nothing "
        "written to D1/R2/queue; API token refused as webhook token (404) and as signature (403)",
    )
