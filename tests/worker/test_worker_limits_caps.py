"""Per-provider limits (``IG_PROVIDER_LIMITS``) on the Worker runtime: src/entry.py on Pyodide with
Miniflare's D1, R2 and the harness's queue model, against the fake fal (``fixtures/fake_fal.py``)
over loopback, jobs completing by queue-driven polls (no public URL).

Everything that could race runs at once inside the Worker, as concurrent invocations would: a
burst of API requests through the entrypoint's own fetch, then rounds in which every pending queue
message is handled at the same time (each with its own ``Deps``, as separate consumer invocations
have), each invocation starting a little after the one before, so that each finds the others
part way through. A job claims a concurrency slot with one guarded UPDATE on D1, so no
interleaving may put more jobs in flight than the cap; a request rate is one guarded upsert per
submit. What fal saw is read from the fake (fal answers a submit in 0.3 s, and runs a request
nobody polls for 2 s), rows and objects from Node (D1, R2), never through ig."""

from __future__ import annotations

import ast
import hashlib
import json
import math
import time
from collections import Counter
from typing import Any

import pytest
from fixtures.fake_fal import FakeFal

from ig.job_states import OPEN_SQL

from .ig_worker import BASE, IgWorker

ENDPOINT = "fal-ai/flux/schnell"
BURST = 15
STAGGER = 0.05
"""Seconds between the starts of invocations handled at once: each finds the others part way through."""
FAL_SUBMIT_SECONDS = 0.3
"""How long fal takes to answer a submit (the fake holds its answer), about what fal's queue takes."""
FAL_RUN_SECONDS = 2.0
"""How long fal runs a request nobody polls (the fake finishes it on its own, and bills it)."""


def job_body(n: int) -> dict[str, Any]:
    return {"model": "flux-schnell", "provider": "fal", "params": {"prompt": f"lighthouse {n}", "num_outputs": 1}}


# Runs inside the Worker's interpreter (``eval_python``): every request at once, each through the
# entrypoint's own fetch (Default.fetch, on its own Request), so their D1 and queue calls
# interleave as concurrent requests do. The last expression is the answers as JSON.
CONCURRENT_REQUESTS = """
import asyncio
import json
import types

import js
from pyodide.ffi import to_js
from workers import python_from_rpc

requests, stagger = json.loads(ARGS)
worker = types.SimpleNamespace(env=env)  # all Default.fetch reads from its instance


async def send(n, method, url, body):
    await asyncio.sleep(n * stagger)  # requests arrive one after another, then overlap
    init = {"method": method, "headers": {"content-type": "application/json"}, "body": body}
    request = python_from_rpc(js.Request.new(url, to_js(init, dict_converter=js.Object.fromEntries)))
    response = await mod.Default.fetch(worker, request)
    return response.status, await response.text()


json.dumps(await asyncio.gather(*(send(n, *r) for n, r in enumerate(requests))))
"""

# Handles every given message at once, each as its own consumer invocation would (its own Deps).
# The last expression is what the consumer decided for each, as JSON.
CONCURRENT_MESSAGES = """
import asyncio
import json

from ig.adapters.cloudflare import bootstrap
from ig.completion.consumer import handle_message

messages, stagger = json.loads(ARGS)


async def handle(n, message):
    await asyncio.sleep(n * stagger)  # invocations start one after another, then overlap
    return await handle_message(bootstrap.deps_from_env(env), "ig-jobs", message["body"], message["attempts"])


decisions = await asyncio.gather(*(handle(n, m) for n, m in enumerate(messages)))
json.dumps([type(d).__name__ for d in decisions])
"""

# Test-only audit on D1: right after every claim of a slot, in the same statement, the number of
# the provider's open jobs holding one. Holders only grow by a claim, so the largest number ever
# written here is the most D1 ever had at once, with no gap between samples. Dropped again by
# the test (``ig.reset`` empties only ig's own tables).
SLOT_AUDIT = f"""
CREATE TABLE test_slot_audit (n INTEGER NOT NULL, job_id TEXT NOT NULL);
CREATE TRIGGER test_slot_audit_claims AFTER UPDATE OF slot_at ON jobs
WHEN OLD.slot_at IS NULL AND NEW.slot_at IS NOT NULL
BEGIN
    INSERT INTO test_slot_audit (n, job_id)
    SELECT count(*), NEW.id FROM jobs
    WHERE provider = NEW.provider AND slot_at IS NOT NULL AND status IN {OPEN_SQL};
END;
"""
DROP_SLOT_AUDIT = "DROP TRIGGER IF EXISTS test_slot_audit_claims; DROP TABLE IF EXISTS test_slot_audit;"
HOLDING_SLOTS = (
    f"SELECT count(*) AS n FROM jobs WHERE provider = 'fal' AND slot_at IS NOT NULL AND status IN {OPEN_SQL}"
)


@pytest.fixture
def fal(ig: IgWorker, fake_fal: FakeFal) -> FakeFal:
    """The session's Worker (emptied by ``ig``) pointed at this test's fake fal, polling it."""
    ig.configure(
        FAL_KEY=fake_fal.api_key,
        FAL_QUEUE_URL=fake_fal.queue_url,
        FAL_API_URL=fake_fal.api_url,
        FAL_JWKS_URL=fake_fal.jwks_url,
        IG_PUBLIC_URL=None,  # no webhooks: a request ends when the Worker polls it to COMPLETED
    )
    return fake_fal


@pytest.fixture
def slot_audit(ig: IgWorker) -> Any:
    ig.tables()  # ig's own tables are listed (and cached) before the audit table exists
    ig.h.apply_sql(sql=SLOT_AUDIT)
    try:
        yield lambda: ig.rows("SELECT n, job_id FROM test_slot_audit")
    finally:
        ig.h.apply_sql(sql=DROP_SLOT_AUDIT)


def _eval(ig: IgWorker, code: str, *args: Any) -> Any:
    """Run ``code`` in the Worker with ``ARGS``; its last expression (a JSON string) decoded."""
    return json.loads(ast.literal_eval(ig.h.eval_python(f"ARGS = {json.dumps(json.dumps(args))}\n" + code)))


def submit_at_once(ig: IgWorker, bodies: list[dict[str, Any]], stagger: float = STAGGER) -> list[str]:
    """POST every body to /v1/jobs at once inside the Worker, each request arriving ``stagger``
    seconds after the one before; all must be 202. The job ids, in the order sent."""
    requests = [["POST", f"{BASE}/v1/jobs", json.dumps(b)] for b in bodies]
    answers = _eval(ig, CONCURRENT_REQUESTS, requests, stagger)
    assert [status for status, _ in answers] == [202] * len(bodies), answers
    return [json.loads(text)["id"] for _, text in answers]


def handle_pending_at_once(
    ig: IgWorker, stagger: float = STAGGER, *, defer_retries: bool = True
) -> list[dict[str, Any]]:
    """Take the messages waiting on ig-jobs and handle them all at once inside the Worker, each
    invocation starting ``stagger`` seconds after the one before; each must be acked. Delays are
    not waited for, except (``defer_retries``) a waiting job's own retry, a delayed submit: that
    one comes due only when nothing else is left to do, as if its delay had passed. The messages
    handled."""
    pending = ig.h.queue_pending()
    assert pending["ig-jobs-dlq"] == [], pending["ig-jobs-dlq"]
    retries = [m for m in pending["ig-jobs"] if defer_retries and m["body"]["type"] == "submit" and m["delaySeconds"]]
    due = [m for m in pending["ig-jobs"] if m not in retries] or retries
    if not due:
        return []
    ig.h.queue_clear()  # taken: what the handlers send lands in the emptied queue
    for m in retries if due is not retries else []:
        ig.h.queue_send(m["body"], content_type=m["contentType"], delay_seconds=m["delaySeconds"])
    decisions = _eval(ig, CONCURRENT_MESSAGES, [{"body": m["body"], "attempts": m["attempts"]} for m in due], stagger)
    assert decisions == ["Ack"] * len(due), [(m["body"], d) for m, d in zip(due, decisions, strict=True)]
    return due


def most_at_once(fake: FakeFal) -> int:
    """The most requests fal held at once (sent, not yet ended); an end and a send in the same
    millisecond count as one after the other."""
    edges = []
    for request in fake.requests.values():
        edges += [(request.sent_at, 1), (request.ended_at or math.inf, -1)]
    running = peak = 0
    for _, step in sorted(edges):
        running += step
        peak = max(peak, running)
    return peak


def assert_all_stored(ig: IgWorker, fake: FakeFal, job_ids: list[str]) -> None:
    """Every job succeeded on fal with its one image in R2 byte for byte, taken from the request
    the job names (billed once); nothing else in the bucket."""
    jobs = {row["id"]: row for row in ig.rows("SELECT * FROM jobs")}
    assert sorted(jobs) == sorted(job_ids)
    assert {j["status"] for j in jobs.values()} == {"succeeded"}, [
        (j["id"], j["status"], j["last_error"]) for j in jobs.values() if j["status"] != "succeeded"
    ]
    artifacts = ig.rows("SELECT * FROM artifacts ORDER BY job_id")
    assert sorted(a["job_id"] for a in artifacts) == sorted(job_ids)
    for artifact in artifacts:
        request = fake.requests[jobs[artifact["job_id"]]["provider_task_id"]]
        assert request.endpoint_id == ENDPOINT and request.state == "COMPLETED"
        assert fake.billed[request.request_id] == 1
        [image] = request.output["images"]
        served = fake.media[image["url"].rsplit("/", 1)[1]]
        assert artifact["source_url"] == image["url"]
        assert artifact["size"] == len(served) and artifact["sha256"] == hashlib.sha256(served).hexdigest()
        assert ig.blob(artifact["blob_key"])["body"] == served
    assert sorted(ig.h.r2_keys()) == sorted(a["blob_key"] for a in artifacts)


def assert_each_sent_once(fake: FakeFal, bodies: list[dict[str, Any]]) -> None:
    """fal got one submit, and made one request, per job: none was sent twice."""
    sent = Counter(s.body["prompt"] for s in fake.submissions)
    twice = {prompt: n for prompt, n in sent.items() if n > 1}
    assert not twice, (
        f"{len(twice)} of {len(bodies)} jobs sent to fal more than once ({len(fake.submissions)} submits, "
        f"at most {most_at_once(fake)} requests in flight at once): {twice}"
    )
    assert sorted(sent) == sorted(b["params"]["prompt"] for b in bodies)
    assert len(fake.requests) == len(bodies)


# ---------------------------------------------------------------------------------------------- concurrency cap


def test_a_concurrent_burst_against_a_cap_of_5_never_has_more_than_5_at_fal_or_holding_slots(
    ig, fal, slot_audit, figure
):
    """Fifteen jobs race for five slots in one burst of API requests, then in every round of queue
    messages (each slot that frees wakes the five oldest waiting jobs, so they race in copies):
    D1 never has more than five holding slots, fal never more than five requests in flight, each
    job is sent once, and all of them succeed with their images in R2."""
    burst, cap = BURST, 5
    fal.statuses_before_done = 0  # the first poll finds a request done: ig's poll ends it at fal
    fal.run_unpolled_after = FAL_RUN_SECONDS  # one nobody asks about (never, if each is sent once) runs anyway
    fal.hang_submits(FAL_SUBMIT_SECONDS, count=None)
    ig.configure(IG_PROVIDER_LIMITS=f"fal={cap}")
    started = time.monotonic()

    bodies = [job_body(n) for n in range(burst)]
    job_ids = submit_at_once(ig, bodies)
    holding = [ig.rows(HOLDING_SLOTS)[0]["n"]]
    assert 1 <= holding[0] <= cap and len(fal.submissions) == holding[0]  # the rest wait, queued

    rounds = handled = 0
    while messages := handle_pending_at_once(ig):
        rounds += 1
        handled += len(messages)
        holding.append(ig.rows(HOLDING_SLOTS)[0]["n"])
        assert holding[-1] <= cap, holding
        assert rounds < 100, f"still {len(messages)} messages after {rounds} rounds"
    seconds = time.monotonic() - started

    # D1: every job claimed a slot once, and no claim ever made more than the cap held at once.
    claims = slot_audit()
    assert sorted(c["job_id"] for c in claims) == sorted(job_ids)
    assert max(c["n"] for c in claims) == cap and max(holding) == cap and holding[-1] == 0
    assert_all_stored(ig, fal, job_ids)
    # fal: each job sent once, and never more than the cap in flight there (the cap was used).
    assert_each_sent_once(fal, bodies)
    peak = most_at_once(fal)
    assert peak == cap
    figure(
        "limits (Worker)",
        f"{burst} concurrent submits against fal={cap}, then {rounds} rounds handling {handled} queue messages "
        f"at once: at most {peak} in flight at fal, at most {max(c['n'] for c in claims)} slots held on D1, "
        f"each job sent once, all succeeded with their images in R2 ({seconds:.1f} s)",
    )


def test_two_submit_messages_for_one_waiting_job_handled_at_once_send_it_to_fal_once(ig, fal):
    """A waiting job gets a submit message each time a slot frees (``wake_waiting``) besides its
    own delayed retry, so two invocations may handle it at once. Only one may send it: the other
    finds the slot taken by the first, which has not heard back from fal yet."""
    fal.statuses_before_done = 0
    fal.run_unpolled_after = FAL_RUN_SECONDS
    ig.configure(IG_PROVIDER_LIMITS="fal=1")
    bodies = [job_body(0), job_body(1)]
    first, waiting = submit_at_once(ig, bodies)
    [retry] = [m for m in ig.h.queue_pending()["ig-jobs"] if m["body"]["type"] == "submit"]
    assert retry["body"] == {"type": "submit", "job_id": waiting} and retry["delaySeconds"] > 0
    assert handle_pending_at_once(ig)[0]["body"]["type"] == "poll"  # the first job ends at fal and in ig
    assert ig.job(first)["status"] == "succeeded"
    wake = [m for m in ig.h.queue_pending()["ig-jobs"] if not m["delaySeconds"]]
    assert [m["body"] for m in wake] == [{"type": "submit", "job_id": waiting}]

    # The wake and the job's own retry (as if its delay had passed) are handled together, the
    # retry starting while fal is still answering the submit the wake made.
    fal.hang_submits(FAL_SUBMIT_SECONDS, count=None)
    ig.h.queue_clear()
    decisions = _eval(ig, CONCURRENT_MESSAGES, [wake[0], retry], FAL_SUBMIT_SECONDS / 3)
    assert decisions == ["Ack", "Ack"]
    assert_each_sent_once(fal, bodies)
    assert most_at_once(fal) == 1
    while handle_pending_at_once(ig):
        pass
    assert_all_stored(ig, fal, [first, waiting])


# ---------------------------------------------------------------------------------------------- request rate


def _sleep_until_second_fraction(fraction: float) -> None:
    """Sleep to ``fraction`` of a second: the current second if not past it, else the next."""
    now = time.time()
    target = math.floor(now) + fraction
    time.sleep(target - now if target > now else target + 1 - now)


def test_a_concurrent_burst_against_a_rate_of_2_per_second_sends_at_most_2_in_any_second(ig, fal, figure):
    """Six jobs at once against fal=2/s: two go in the burst's second, the others wait queued and
    are sent two per second by their own retries; all succeed."""
    burst, rate = 6, 2
    ig.configure(IG_PROVIDER_LIMITS=f"fal={rate}/s")
    # Every step that may submit starts early in a second and takes its requests of the window
    # well before the second ends, so a submit fal receives falls in the same second as the
    # Worker's window it was counted in (both clocks are this machine's).
    _sleep_until_second_fraction(0.05)
    bodies = [job_body(n) for n in range(burst)]
    job_ids = submit_at_once(ig, bodies, stagger=0.01)
    assert len(fal.submissions) < burst  # the rest wait, queued (a loaded machine may cross into the next second)

    rounds = 0
    while ig.h.queue_pending()["ig-jobs"]:
        _sleep_until_second_fraction(next(f for f in (0.05, 0.3, 1.05) if f > time.time() % 1))
        handle_pending_at_once(ig, stagger=0.01, defer_retries=False)
        rounds += 1
        assert rounds < 40, "the burst did not complete"

    assert_all_stored(ig, fal, job_ids)
    assert_each_sent_once(fal, bodies)
    per_second: dict[int, int] = {}
    for submission in fal.submissions:
        per_second[int(submission.at)] = per_second.get(int(submission.at), 0) + 1
    # ig's own record of its sends on D1: never more than the rate in any one second (a sliding
    # window). What fal saw adds the network's jitter, so it is held only to twice the rate.
    sent = sorted(r["at"] for r in ig.rows("SELECT at FROM provider_sends WHERE provider = 'fal'"))
    assert len(sent) == burst and all(
        later - earlier >= 1 for earlier, later in zip(sent, sent[rate:], strict=False)
    ), sent
    assert max(per_second.values()) <= 2 * rate and len(per_second) >= burst // rate, per_second
    figure(
        "limits (Worker)",
        f"{burst} concurrent submits against fal={rate}/s: fal got {sorted(per_second.values())} per second "
        f"over {len(per_second)} seconds, all succeeded",
    )
