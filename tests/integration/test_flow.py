"""End to end on the local runtime: jobs go to a fake Runware over HTTP, come back through
webhooks or polling, and land as artifacts whose bytes match what the provider served."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from fixtures.payloads import IMAGE_JOB
from fixtures.waiting import until


async def content_of(ig, artifact) -> httpx.Response:
    response = await ig.client.get(f"/v1/artifacts/{artifact['id']}/content")
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("shape", ["flat", "wrapped"])
async def test_webhook_path_stores_every_result_once_with_the_served_bytes(start_ig, fake_runware, shape):
    fake_runware.webhook_shape = shape
    fake_runware.webhook_copies = 3  # Runware retries: every webhook arrives three times
    ig = await start_ig(fake_runware)

    response = await ig.submit(IMAGE_JOB)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.json()["status"] == "submitted"

    job = await ig.wait(job_id)
    assert job["status"] == "succeeded", job
    assert len(job["artifacts"]) == 2
    assert job["cost"] == pytest.approx(0.0026)
    sent = fake_runware.tasks[job_id]
    assert sent["deliveryMethod"] == "async" and sent["includeCost"] is True
    assert sent["webhookURL"].startswith(f"{ig.url}/webhooks/runware/{job_id}/")
    for artifact in job["artifacts"]:
        served = fake_runware.served_bytes(artifact["provenance"]["source_url"])
        body = (await content_of(ig, artifact)).content
        assert body == served
        assert artifact["sha256"] == hashlib.sha256(served).hexdigest()
        assert artifact["size"] == len(served)
        assert artifact["kind"] == "image" and artifact["content_type"] == "image/png"
        assert artifact["tags"] == ["channel:art", "user:7"]
        assert artifact["cost"] == pytest.approx(0.0013)
    assert sorted(a["seed"] for a in job["artifacts"]) == [42, 43]  # seed, then seed + 1 for the second image

    # Six deliveries, two results: exactly two result rows, two artifacts, two blobs.
    await until(lambda: len(fake_runware.webhook_posts) == 6, what="all six deliveries")
    await ig.drained()
    assert [status for _, status in fake_runware.webhook_posts] == [200] * 6
    assert len(ig.rows("SELECT * FROM results WHERE job_id = ?", (job_id,))) == 2
    assert len(ig.rows("SELECT * FROM artifacts WHERE job_id = ?", (job_id,))) == 2
    assert len(ig.blob_files()) == 2
    webhooks = ig.rows("SELECT deliveries FROM provider_events WHERE job_id = ? AND source = 'webhook'", (job_id,))
    assert sorted(r["deliveries"] for r in webhooks) == [3, 3]


async def test_everything_about_a_job_is_stored(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    job = await ig.wait(job_id)
    [row] = ig.rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
    assert json.loads(row["request"]) == IMAGE_JOB  # as received
    sent = fake_runware.tasks[job_id]
    token = sent["webhookURL"].rsplit("/", 1)[-1]
    stored_task = json.loads(row["provider_request"])
    assert stored_task == {**sent, "webhookURL": sent["webhookURL"].replace(token, "<redacted>")}
    assert token not in row["provider_request"] and token not in row["request"]
    events = ig.rows(
        "SELECT source, http_status, body FROM provider_events WHERE job_id = ? ORDER BY source", (job_id,)
    )
    assert [e["source"] for e in events] == ["submit", "webhook", "webhook"]
    assert json.loads(events[0]["body"]) == {"data": [{"taskType": "imageInference", "taskUUID": job_id}]}
    webhook_bodies = sorted(json.loads(e["body"])["imageUUID"] for e in events[1:])
    assert webhook_bodies == sorted(r["imageUUID"] for r in fake_runware.results_for(sent))
    for artifact in job["artifacts"]:
        timings = artifact["provenance"]["timings"]
        assert job["created_at"] <= timings["submitted_at"] <= timings["result_received_at"]
        assert timings["result_received_at"] <= timings["stored_at"] <= job["completed_at"]
        assert artifact["provenance"]["result"]["imageUUID"] in webhook_bodies
    assert job["metadata"] == IMAGE_JOB["metadata"] and job["params"] == IMAGE_JOB["params"]


async def test_polling_path_completes_without_webhooks(start_ig, fake_runware):
    fake_runware.polls_before_done = 2
    ig = await start_ig(fake_runware, webhooks=False, time_scale=0.05)  # polls come at once

    job_id = (await ig.submit(IMAGE_JOB)).json()["id"]
    assert "webhookURL" not in fake_runware.tasks[job_id]
    job = await ig.wait(job_id, seconds=30)

    assert job["status"] == "succeeded", job
    assert fake_runware.polls[job_id] == 3
    for artifact in job["artifacts"]:
        served = fake_runware.served_bytes(artifact["provenance"]["source_url"])
        assert (await content_of(ig, artifact)).content == served
    polls = ig.rows("SELECT body FROM provider_events WHERE job_id = ? AND source = 'poll'", (job_id,))
    assert len(polls) == 2  # two identical "processing" bodies stored once, then the results


async def test_tag_queries_return_newest_first_and_require_every_tag(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    first = (await ig.submit({**IMAGE_JOB, "tags": ["a", "b"]})).json()["id"]
    await ig.wait(first)
    second = (await ig.submit({**IMAGE_JOB, "tags": ["a"]})).json()["id"]
    await ig.wait(second)

    only_a = (await ig.client.get("/v1/artifacts", params=[("tag", "a")])).json()
    assert [a["job_id"] for a in only_a["items"]] == [second, second, first, first]
    both = (await ig.client.get("/v1/artifacts", params=[("tag", "a"), ("tag", "b")])).json()
    assert {a["job_id"] for a in both["items"]} == {first} and len(both["items"]) == 2
    assert (await ig.client.get("/v1/artifacts", params=[("tag", "nope")])).json() == {
        "items": [],
        "next_cursor": None,
    }

    page1 = (await ig.client.get("/v1/artifacts", params={"limit": 3})).json()
    page2 = (await ig.client.get("/v1/artifacts", params={"limit": 3, "cursor": page1["next_cursor"]})).json()
    ids = [a["id"] for a in page1["items"] + page2["items"]]
    assert len(ids) == 4 and len(set(ids)) == 4 and page2["next_cursor"] is None


async def test_text_results_are_text_artifacts(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    job_id = (
        await ig.submit(
            {"task": "caption", "model": "runware:150@2", "params": {"inputs": {"image": "https://x/y.jpg"}}}
        )
    ).json()["id"]
    job = await ig.wait(job_id)
    assert job["status"] == "succeeded"
    [artifact] = job["artifacts"]
    assert artifact["kind"] == "text" and artifact["content_type"].startswith("text/plain")
    assert (await content_of(ig, artifact)).text == f"caption 0 for {job_id}"


async def test_a_large_output_streams_into_the_blob_store_intact(start_ig, fake_runware):
    fake_runware.large_output_bytes = 8 * 1024 * 1024 + 17
    ig = await start_ig(fake_runware)
    job_id = (await ig.submit({**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}})).json()["id"]
    job = await ig.wait(job_id)
    [artifact] = job["artifacts"]
    served = fake_runware.served_bytes(artifact["provenance"]["source_url"])
    assert artifact["size"] == len(served) == 8 * 1024 * 1024 + 17
    assert (await content_of(ig, artifact)).content == served


async def test_the_mock_provider_completes_through_the_same_pipeline(start_ig):
    ig = await start_ig(None, webhooks=False)
    body = {
        "provider": "mock",
        "task": "imageInference",
        "model": "mock",
        "params": {"positivePrompt": "x", "width": 320, "height": 192, "seed": 5, "numberResults": 2},
        "tags": ["mock"],
    }
    job = await ig.wait((await ig.submit(body)).json()["id"])
    assert job["status"] == "succeeded"
    pngs = [(await content_of(ig, a)).content for a in job["artifacts"]]
    for png in pngs:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert int.from_bytes(png[16:20], "big") == 320 and int.from_bytes(png[20:24], "big") == 192
    assert pngs[0] != pngs[1]  # seeds 5 and 6 give different images
    again = await ig.wait((await ig.submit(body)).json()["id"])
    assert [(await content_of(ig, a)).content for a in again["artifacts"]] == pngs  # deterministic
