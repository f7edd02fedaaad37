"""Per-provider limits (``IG_PROVIDER_LIMITS``), end to end with the fake fal on loopback: a burst
beyond a concurrency cap never has more than the cap in flight at the provider, is sent in
arrival order, and all of it completes; a request rate is never exceeded in any window."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from fixtures.fake_fal import FakeFal

from ig.settings import ProviderLimit, Settings

BODY = {"model": "flux-schnell", "provider": "fal", "params": {"prompt": "a lighthouse"}}


def fal_settings(fake: FakeFal, limits: str) -> dict[str, object]:
    return {
        "fal_key": fake.api_key,
        "fal_queue_url": fake.queue_url,
        "fal_api_url": fake.api_url,
        "fal_jwks_url": fake.jwks_url,
        "provider_limits": Settings.from_mapping({"IG_PROVIDER_LIMITS": limits}).provider_limits,
    }


def most_at_once(fake: FakeFal) -> int:
    """The most requests fal held at once (sent, not yet ended)."""
    edges = []
    for request in fake.requests.values():
        edges += [(request.sent_at, 1), (request.ended_at or math.inf, -1)]
    running = peak = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        peak = max(peak, running)
    return peak


def test_limits_are_read_as_caps_and_rates():
    limits = Settings.from_mapping({"IG_PROVIDER_LIMITS": "runware=4/s, fal=10,replicate=600/min,fal=5/s"})
    assert limits.provider_limits == {
        "runware": ProviderLimit(None, (4, 1)),
        "fal": ProviderLimit(10, (5, 1)),
        "replicate": ProviderLimit(None, (600, 60)),
    }
    for bad in ("fal", "fal=0", "fal=x", "fal=3/day", "=3"):
        with pytest.raises(ValueError, match="IG_PROVIDER_LIMITS"):
            Settings.from_mapping({"IG_PROVIDER_LIMITS": bad})


async def test_a_burst_beyond_a_concurrency_cap_never_exceeds_it_and_all_completes_in_order(start_ig, fake_fal, figure):
    burst, cap = 200, 5
    fake_fal.webhook_delay = 0.02
    ig = await start_ig(None, **fal_settings(fake_fal, f"fal={cap}"))
    responses = await asyncio.gather(*(ig.submit({**BODY, "params": {"prompt": f"job {n}"}}) for n in range(burst)))
    assert {r.status_code for r in responses} == {202}
    await ig.drained(timeout=120)
    jobs = [await ig.wait(r.json()["id"]) for r in responses]
    assert [j["status"] for j in jobs] == ["succeeded"] * burst
    peak = most_at_once(fake_fal)
    assert peak == cap  # the cap was used, and never exceeded
    assert len(fake_fal.requests) == burst == len(fake_fal.billed)
    # Arrival order: slots go to the oldest waiting job, so the i-th request fal saw is the i-th
    # job made, give or take the few sent at the same moment.
    arrival = [json.loads(r["params"])["prompt"] for r in ig.rows("SELECT params FROM jobs ORDER BY seq")]
    sent = [s.body["prompt"] for s in fake_fal.submissions]
    assert sorted(sent) == sorted(arrival)
    assert max(abs(arrival.index(prompt) - i) for i, prompt in enumerate(sent)) < cap
    figure(
        "limits",
        f"{burst} jobs against fal={cap}: at most {peak} in flight at fal, sent in arrival order, all succeeded",
    )


async def test_a_request_rate_is_never_exceeded_in_any_window(start_ig, fake_fal):
    fake_fal.webhook_delay = 0.01
    ig = await start_ig(None, **fal_settings(fake_fal, "fal=3/s"))
    responses = await asyncio.gather(*(ig.submit(BODY) for _ in range(9)))
    jobs = [await ig.wait(r.json()["id"], seconds=30) for r in responses]
    assert [j["status"] for j in jobs] == ["succeeded"] * 9
    # ig's own record of its sends: never more than 3 in any one second (a sliding window) ...
    sent = sorted(r["at"] for r in ig.rows("SELECT at FROM provider_sends WHERE provider = 'fal'"))
    assert len(sent) == 9 and all(later - earlier >= 1 for earlier, later in zip(sent, sent[3:], strict=False))
    # ... and fal received them spread over at least three seconds.
    assert max(s.at for s in fake_fal.submissions) - min(s.at for s in fake_fal.submissions) >= 2


async def test_two_submit_messages_for_one_job_handled_at_once_send_it_once(start_ig, fake_fal):
    """fal has no idempotency key: a duplicated or concurrent submit message must not send the job
    twice. One invocation holds the send; the other sends nothing."""
    from ig.completion.consumer import resubmit

    fake_fal.fail_submits(503)  # the first try fails: the job is queued with a retry on its way
    ig = await start_ig(None, webhooks=False, background=False, **fal_settings(fake_fal, ""))
    job_id = (await ig.submit(BODY)).json()["id"]
    fake_fal.hang_submits(0.3, count=None)  # every answer now takes a while: the sends overlap
    await asyncio.gather(*(resubmit(ig.runtime.deps, job_id) for _ in range(5)))
    assert len(fake_fal.submissions) == 2 and len(fake_fal.requests) == 1  # the failed try, then one send
    [row] = ig.rows("SELECT status, sending_at FROM jobs WHERE id = ?", (job_id,))
    assert (row["status"], row["sending_at"]) == ("submitted", None)
