"""``ig serve``'s queue consumer handles up to ``IG_QUEUE_MAX_CONCURRENCY`` batches at once (as
Queues does with ``max_concurrency``): downloads of several results overlap, never more than
that many, and each result is stored once."""

from __future__ import annotations

from typing import Any

from fixtures.fake_runware import FakeRunware
from fixtures.waiting import until


def image_job(seed: int) -> dict[str, Any]:
    params = {"positivePrompt": "a kite over dunes", "width": 128, "height": 128, "numberResults": 1, "seed": seed}
    return {"task": "imageInference", "model": "runware:101@1", "params": params}


async def deliver(ig: Any, fake: FakeRunware, job_id: str) -> None:
    task = fake.tasks[job_id]
    [result] = fake.results_for(task)
    token = task["webhookURL"].rsplit("/", 1)[-1]
    response = await ig.client.post(f"/webhooks/runware/{job_id}/{token}", json=result)
    assert response.status_code == 200


async def test_up_to_queue_max_concurrency_results_are_downloaded_at_once(start_ig, fake_runware):
    fake_runware.drop_webhooks = True  # the test delivers them, one at a time
    fake_runware.media_pause = 0.5  # each download sends half its file, then waits
    ig = await start_ig(fake_runware, queue_max_concurrency=3)
    job_ids = [(await ig.submit(image_job(seed=i))).json()["id"] for i in range(6)]
    peak = 0

    def downloading() -> int:
        nonlocal peak
        peak = max(peak, fake_runware.media_in_flight)
        return fake_runware.media_in_flight

    for count, job_id in enumerate(job_ids[:3], start=1):
        await deliver(ig, fake_runware, job_id)
        await until(lambda count=count: downloading() == count, what=f"{count} downloads at once")
    for job_id in job_ids[3:]:  # these wait for a consumer to come free
        await deliver(ig, fake_runware, job_id)

    def all_stored() -> bool:
        downloading()
        rows = ig.rows("SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'")
        return rows[0]["n"] == len(job_ids)

    await until(all_stored, what="every job to succeed")
    await ig.drained()
    assert peak == 3
    artifacts = ig.rows("SELECT job_id, count(*) AS n FROM artifacts GROUP BY job_id")
    assert sorted((a["job_id"], a["n"]) for a in artifacts) == sorted((job_id, 1) for job_id in job_ids)
    assert len(ig.blob_files()) == len(job_ids)
