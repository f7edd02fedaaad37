"""Issue 5's features where they cross the Worker runtime: presets and their versions in D1,
batch submit, the task catalogue's schemas built by pydantic on Pyodide, media headers probed as
bytes stream into R2, inline base64 outputs decoded in the Worker, and the NSFW filter on D1."""

from __future__ import annotations

import base64

PRESET = {
    "model": "flux-schnell",
    "params": {"positivePrompt": "Billboard saying {headline}", "width": "{size}"},
    "tags": ["campaign:spring"],
}


def test_presets_are_versioned_in_d1_and_jobs_record_the_version(ig):
    assert ig.fetch("PUT", "/v1/presets/billboard", json=PRESET).status == 201
    assert ig.fetch("PUT", "/v1/presets/billboard", json=PRESET).json()["version"] == 1
    changed = {**PRESET, "params": {**PRESET["params"], "height": 768}}
    assert ig.fetch("PUT", "/v1/presets/billboard", json=changed).json()["version"] == 2
    assert [r["version"] for r in ig.rows("SELECT version FROM preset_versions ORDER BY version")] == [1, 2]

    r = ig.submit({"preset": "billboard", "variables": {"headline": "Sale", "size": 1536}, "tags": ["user:1"]})
    assert r.status == 202, r.text
    job = r.json()
    assert job["preset"] == {"name": "billboard", "version": 2} and job["model"] == "runware:100@1"
    assert job["params"] == {"width": 1536, "height": 768, "steps": 4, "positivePrompt": "Billboard saying Sale"}
    row = ig.job(job["id"])
    assert (row["preset"], row["preset_version"], row["model_alias"]) == ("billboard", 2, "flux-schnell")
    assert ig.task(job["id"])["width"] == 1536

    assert ig.fetch("DELETE", "/v1/presets/billboard").status == 204
    assert ig.fetch("GET", "/v1/presets/billboard").status == 404
    assert ig.fetch("GET", "/v1/presets/billboard?version=1").json()["version"] == 1
    assert ig.fetch("PUT", "/v1/presets/billboard", json=PRESET).json()["version"] == 3


def test_a_batch_in_the_worker_answers_in_order(ig):
    good = {"model": "flux-schnell", "params": {"positivePrompt": "a fox"}}
    r = ig.fetch("POST", "/v1/jobs/batch", json={"jobs": [good, {"model": "nope"}, good]})
    assert r.status == 200, r.text
    items = r.json()["items"]
    assert [next(iter(i)) for i in items] == ["job", "error", "job"]
    assert items[1]["error"]["errors"][0]["field"] == "model"
    assert len(ig.rows("SELECT id FROM jobs")) == 2


def test_the_task_catalogue_is_served_from_pyodide(ig):
    tasks = ig.fetch("GET", "/v1/tasks").json()["items"]
    assert len(tasks) == 12
    image = next(t for t in tasks if t["task"] == "imageInference")
    assert image["params_schema"]["properties"]["numberResults"]["maximum"] == 20
    r = ig.submit({"model": "flux-schnell", "params": {"width": 5}})
    assert r.status == 422
    assert {e["field"] for e in r.json()["errors"]} == {"params.width", "params.positivePrompt"}
    assert ig.rows("SELECT id FROM jobs") == []


def test_video_headers_are_probed_as_the_bytes_stream_into_r2(ig):
    job_id = ig.submitted(
        {"model": "kling-2.5-turbo", "params": {"positivePrompt": "waves", "width": 640, "height": 360, "duration": 5}}
    )
    [item] = ig.deliver_results(job_id)
    ig.drain()
    [artifact] = ig.artifacts(job_id)
    assert (artifact["kind"], artifact["content_type"]) == ("video", "video/mp4")
    assert (artifact["width"], artifact["height"], artifact["duration_seconds"]) == (640, 360, 5.0)
    assert ig.blob(artifact["blob_key"])["body"] == ig.fake.served_bytes(item["videoURL"])


def test_inline_outputs_are_decoded_in_the_worker_and_nsfw_filters_on_d1(ig):
    job_id = ig.submitted(
        {
            "model": "ace-step",
            "params": {"positivePrompt": "rain", "duration": 2, "outputType": "base64Data", "outputFormat": "FLAC"},
        }
    )
    [item] = ig.deliver_results(job_id)
    ig.drain()
    [artifact] = ig.artifacts(job_id)
    assert artifact["content_type"] == "audio/flac" and artifact["duration_seconds"] == 2.0
    assert ig.blob(artifact["blob_key"])["body"] == base64.b64decode(item["audioBase64Data"])

    ig.fake.nsfw_indexes = {0}
    flagged_job = ig.submitted(
        {"model": "flux-schnell", "params": {"positivePrompt": "x", "numberResults": 2, "safety": {"mode": "fast"}}}
    )
    ig.deliver_results(flagged_job)
    ig.drain()
    flags = {a["id"]: a["nsfw"] for a in ig.artifacts(flagged_job)}
    assert sorted(flags.values()) == [0, 1]
    listed = ig.fetch("GET", "/v1/artifacts?nsfw=false").json()["items"]
    assert {a["id"] for a in listed} == {artifact["id"]} | {i for i, f in flags.items() if f == 0}
    assert [a["nsfw"] for a in ig.fetch("GET", "/v1/artifacts?nsfw=true").json()["items"]] == [True]
