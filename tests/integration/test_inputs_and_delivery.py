"""Uploads, lineage through ``artifact:<id>`` parameters, content delivery (ranges,
revalidation, file names, signed URLs) and usage rollups, on the local runtime."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx
from fixtures import media_samples
from fixtures.payloads import MOCK_JOB, PNG, upload
from fixtures.waiting import past

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)


def blob_count(ig) -> int:
    """The originals stored (thumbnails, made of some of them, live apart under ``thumbnails/``)."""
    root = ig.data_dir / "blobs"
    found = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")]
    return len([p for p in found if "thumbnails" not in p.relative_to(root).parts])


async def test_uploads_are_stored_once_and_returned_as_input_artifacts(start_ig):
    ig = await start_ig(None, webhooks=False)
    first = await upload(ig, PNG, "image/png", tag="source")
    assert first.status_code == 201
    artifact = first.json()
    assert artifact["role"] == "input" and artifact["kind"] == "image" and artifact["tags"] == ["source"]
    assert artifact["sha256"] == hashlib.sha256(PNG).hexdigest() and artifact["size"] == len(PNG)
    again = await upload(ig, PNG, "image/png")
    assert again.status_code == 200 and again.json()["id"] == artifact["id"]
    assert blob_count(ig) == 1
    assert (await ig.client.get(f"/v1/artifacts/{artifact['id']}/content")).content == PNG

    boundary = "----igboundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tone.wav"\r\n'
            f"Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + WAV
        + f"\r\n--{boundary}--\r\n".encode()
    )
    multipart = await upload(ig, form, f"multipart/form-data; boundary={boundary}")
    assert multipart.status_code == 201, multipart.text
    wav = multipart.json()
    assert wav["kind"] == "audio" and wav["content_type"] == "audio/wav" and wav["size"] == len(WAV)
    assert wav["provenance"]["filename"] == "tone.wav"
    assert (await ig.client.get(f"/v1/artifacts/{wav['id']}/content")).content == WAV
    inputs = (await ig.client.get("/v1/artifacts", params={"role": "input"})).json()["items"]
    assert {a["id"] for a in inputs} == {artifact["id"], wav["id"]}


async def test_bad_uploads_leave_nothing_behind(start_ig):
    ig = await start_ig(None, webhooks=False, max_upload_bytes=1000)
    mismatch = await upload(ig, PNG, "image/jpeg")
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["code"] == "type_mismatch"
    assert (await upload(ig, b"hello", "text/plain")).status_code == 415
    big = await upload(ig, PNG + bytes(2000), "image/png")
    assert big.status_code == 413
    assert ig.rows("SELECT * FROM artifacts") == []
    assert blob_count(ig) == 0
    assert [p for p in (ig.data_dir / "blobs").rglob("*") if p.is_file()] == []  # no temporary files either


async def test_artifact_parameters_become_inputs_with_lineage(start_ig, fake_runware):
    ig = await start_ig(fake_runware, webhooks=False, time_scale=0.05)  # polls come at once
    source = (await upload(ig, PNG, "image/png")).json()
    body = {
        "task": "imageInference",
        "model": "runware:101@1",
        "params": {
            "positivePrompt": "make it snow",
            "seedImage": f"artifact:{source['id']}",
            "width": 64,
            "height": 64,
        },
    }
    job = await ig.wait((await ig.submit(body)).json()["id"])
    assert job["status"] == "succeeded"
    sent = fake_runware.tasks[job["id"]]
    assert sent["seedImage"].startswith("data:image/png;base64,")  # no public URL: sent inline
    assert job["params"]["seedImage"] == f"artifact:{source['id']}"  # provenance keeps the reference
    [child] = job["artifacts"]
    upscale = {
        "task": "upscale",
        "model": "runware:500@1",
        "params": {"inputs": {"image": f"artifact:{child['id']}"}, "upscaleFactor": 2},
    }
    grandchild_job = await ig.wait((await ig.submit(upscale)).json()["id"])
    [grandchild] = grandchild_job["artifacts"]

    middle = (await ig.client.get(f"/v1/artifacts/{child['id']}/lineage")).json()
    assert [a["id"] for a in middle["parents"]] == [source["id"]]
    assert [a["id"] for a in middle["children"]] == [grandchild["id"]]
    root = (await ig.client.get(f"/v1/artifacts/{source['id']}/lineage")).json()
    assert root["parents"] == [] and [a["id"] for a in root["children"]] == [child["id"]]

    unknown = await ig.submit(
        {**body, "params": {**body["params"], "maskImage": "artifact:nope", "referenceImages": ["artifact:gone"]}}
    )
    assert unknown.status_code == 422
    assert {e["field"] for e in unknown.json()["errors"]} == {"params.maskImage", "params.referenceImages[0]"}


async def test_with_a_public_url_inputs_go_as_signed_urls(start_ig, fake_runware):
    ig = await start_ig(fake_runware, webhooks=True, api_token="tok")
    auth = {"authorization": "Bearer tok"}
    source = (await ig.client.post("/v1/uploads", content=PNG, headers={**auth, "content-type": "image/png"})).json()
    body = {
        "task": "imageInference",
        "model": "runware:101@1",
        "params": {"positivePrompt": "x", "seedImage": f"artifact:{source['id']}", "width": 64, "height": 64},
    }
    job_id = (await ig.submit(body, headers=auth)).json()["id"]
    url = fake_runware.tasks[job_id]["seedImage"]
    assert url.startswith(f"{ig.url}/v1/artifacts/{source['id']}/content?expires=")
    fetched = await ig.client.get(url)  # what the provider does: no bearer token
    assert fetched.status_code == 200 and fetched.content == PNG


async def test_content_ranges_revalidation_and_file_names(start_ig):
    ig = await start_ig(None, webhooks=False)
    job = await ig.wait((await ig.submit(MOCK_JOB)).json()["id"])
    [artifact] = job["artifacts"]
    url = f"/v1/artifacts/{artifact['id']}/content"
    full = (await ig.client.get(url)).content
    size = len(full)
    assert (await ig.client.get(url)).headers["content-disposition"] == f'inline; filename="{artifact["id"]}.png"'
    part = await ig.client.get(url, headers={"range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == full[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}" and part.headers["content-length"] == "10"
    tail = await ig.client.get(url, headers={"range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == full[-5:]
    open_ended = await ig.client.get(url, headers={"range": f"bytes={size - 3}-"})
    assert open_ended.content == full[-3:]
    beyond = await ig.client.get(url, headers={"range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    head = await ig.client.head(url, headers={"range": "bytes=0-3"})
    assert head.status_code == 206 and head.headers["content-length"] == "4" and head.content == b""
    etag = (await ig.client.get(url)).headers["etag"]
    assert (await ig.client.get(url, headers={"if-none-match": f'"x", {etag}'})).status_code == 304


async def test_signed_urls_work_without_the_token_until_they_expire(start_ig):
    ig = await start_ig(None, webhooks=False, api_token="tok")
    auth = {"authorization": "Bearer tok"}
    job_id = (await ig.submit(MOCK_JOB, headers=auth)).json()["id"]
    job = (await ig.client.get(f"/v1/jobs/{job_id}", params={"wait": 10}, headers=auth)).json()
    [artifact] = job["artifacts"]
    assert (await ig.client.get(f"/v1/artifacts/{artifact['id']}/content")).status_code == 401
    signed = (
        await ig.client.get(f"/v1/artifacts/{artifact['id']}/url", params={"expires_in": 60}, headers=auth)
    ).json()
    expires_at = datetime.fromisoformat(signed["expires_at"].replace("Z", "+00:00"))
    assert 50 < (expires_at - datetime.now(UTC)).total_seconds() <= 60
    good = await ig.client.get(signed["url"])
    assert good.status_code == 200 and hashlib.sha256(good.content).hexdigest() == artifact["sha256"]
    tampered = signed["url"][:-2] + ("AA" if not signed["url"].endswith("AA") else "BB")
    assert (await ig.client.get(tampered)).status_code == 403
    other = signed["url"].replace(artifact["id"], "00000000-0000-4000-8000-000000000000")
    assert (await ig.client.get(other)).status_code == 403
    expired = (
        await ig.client.get(f"/v1/artifacts/{artifact['id']}/url", params={"expires_in": 1}, headers=auth)
    ).json()
    expires = int(httpx.URL(expired["url"]).params["expires"])
    await past(expires + 1)  # valid through the second it names, refused from the next
    assert (await ig.client.get(expired["url"])).status_code == 403


async def test_usage_rolls_up_counts_cost_and_latency(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    bodies = [
        {
            "task": "imageInference",
            "model": "runware:101@1",
            "tags": ["a"],
            "params": {"positivePrompt": "x", "width": 64, "height": 64, "numberResults": 2},
        },
        {
            "task": "imageInference",
            "model": "runware:101@1",
            "tags": ["a", "b"],
            "params": {"positivePrompt": "y", "width": 64, "height": 64},
        },
        {"task": "caption", "model": "runware:150@2", "tags": ["b"], "params": {"inputs": {"image": "https://x/y"}}},
    ]
    for body in bodies:
        await ig.wait((await ig.submit(body)).json()["id"])
    fake_runware.result_error = {"code": "timeoutProvider", "message": "late"}
    await ig.wait((await ig.submit({**bodies[0], "tags": ["c"]})).json()["id"])
    jobs = (await ig.client.get("/v1/jobs", params={"limit": 500})).json()["items"]

    def seconds(job):
        parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
        return (parse(job["completed_at"]) - parse(job["created_at"])).total_seconds()

    def nearest_rank(values, p):
        ordered = sorted(values)
        return ordered[max(0, -(-len(ordered) * p // 1) - 1).__int__()]

    for group_by, key_of in (
        ("model", lambda j: [j["model"]]),
        ("task", lambda j: [j["task"]]),
        ("tag", lambda j: j["tags"]),
        ("day", lambda j: [j["created_at"][:10]]),
        ("provider", lambda j: [j["provider"]]),
    ):
        report = (await ig.client.get("/v1/usage", params={"group_by": group_by})).json()
        assert report["group_by"] == group_by
        want = {}
        for job in jobs:
            for key in key_of(job):
                want.setdefault(key, []).append(job)
        assert [i["key"] for i in report["items"]] == sorted(want)
        for item in report["items"]:
            group = want[item["key"]]
            assert item["jobs"] == len(group)
            assert item["succeeded"] == sum(j["status"] == "succeeded" for j in group)
            assert item["failed"] == sum(j["status"] == "failed" for j in group)
            assert item["results"] == sum(len(j["artifacts"]) for j in group)
            costs = [j["cost"] for j in group if j["cost"] is not None]
            assert item["cost"] == (round(sum(costs), 10) if costs else None)
            durations = [seconds(j) for j in group]
            assert abs(item["p50_seconds"] - nearest_rank(durations, 0.5)) < 0.002
            assert abs(item["p95_seconds"] - nearest_rank(durations, 0.95)) < 0.002
            assert item["p50_seconds"] <= item["p95_seconds"] <= max(durations) + 0.002
    filtered = (await ig.client.get("/v1/usage", params={"group_by": "model", "tag": "b"})).json()["items"]
    assert {i["key"]: i["jobs"] for i in filtered} == {"runware:101@1": 1, "runware:150@2": 1}
    assert (await ig.client.get("/v1/usage", params={"group_by": "color"})).status_code == 422


SCRIPTED_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><script>fetch("/v1/jobs")</script>'
    b'<rect width="20" height="15"/></svg>'
)
CONTENT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


async def test_artifact_content_never_runs_as_a_page_on_igs_origin(start_ig):
    ig = await start_ig(None, webhooks=False, api_token="t0ken")
    auth = {"authorization": "Bearer t0ken"}
    svg = (
        await ig.client.post("/v1/uploads", content=SCRIPTED_SVG, headers={**auth, "content-type": "image/svg+xml"})
    ).json()
    png = (await ig.client.post("/v1/uploads", content=PNG, headers={**auth, "content-type": "image/png"})).json()
    signed = (await ig.client.get(f"/v1/artifacts/{svg['id']}/url", headers=auth)).json()["url"]
    answers = {
        "svg with the token": await ig.client.get(f"/v1/artifacts/{svg['id']}/content", headers=auth),
        "svg through a signed url": await ig.client.get(signed.removeprefix(ig.url)),
        "svg, HEAD": await ig.client.head(f"/v1/artifacts/{svg['id']}/content", headers=auth),
        "svg, a range": await ig.client.get(
            f"/v1/artifacts/{svg['id']}/content", headers={**auth, "range": "bytes=0-9"}
        ),
        "png": await ig.client.get(f"/v1/artifacts/{png['id']}/content", headers=auth),
    }
    for what, answer in answers.items():
        assert answer.status_code == (206 if what == "svg, a range" else 200), what
        assert answer.headers["content-security-policy"] == CONTENT_POLICY, what
        assert answer.headers["x-content-type-options"] == "nosniff", what
        kind = "inline" if what == "png" else "attachment"
        name = f"{png['id']}.png" if what == "png" else f"{svg['id']}.svg"
        assert answer.headers["content-disposition"] == f'{kind}; filename="{name}"', what
    assert answers["svg through a signed url"].content == SCRIPTED_SVG
    assert answers["svg with the token"].headers["content-type"] == "image/svg+xml"
    revalidated = await ig.client.get(
        f"/v1/artifacts/{svg['id']}/content", headers={**auth, "if-none-match": answers["svg, HEAD"].headers["etag"]}
    )
    assert revalidated.status_code == 304 and revalidated.headers["content-security-policy"] == CONTENT_POLICY


async def test_uploads_are_probed_like_outputs(start_ig):
    ig = await start_ig(None, webhooks=False)
    cases = {
        "image/png": (media_samples.png(width=40, height=30), (40, 30, None)),
        "image/jpeg": (media_samples.jpeg(width=33, height=21, exif_bytes=2000), (33, 21, None)),
        "image/webp": (media_samples.webp(width=20, height=10), (20, 10, None)),
        "image/svg+xml": (media_samples.svg(width=64, height=32), (64, 32, None)),
        "audio/wav": (media_samples.wav(seconds=1.5), (None, None, 1.5)),
        "video/mp4": (media_samples.mp4(width=320, height=240, seconds=2.5), (320, 240, 2.5)),
    }
    for content_type, (data, want) in cases.items():
        answer = await upload(ig, data, content_type)
        assert answer.status_code == 201, answer.text
        view = answer.json()
        [row] = ig.rows("SELECT width, height, duration_seconds FROM artifacts WHERE id = ?", (view["id"],))
        assert (row["width"], row["height"], row["duration_seconds"]) == want, content_type
        assert (view["width"], view["height"], view["duration_seconds"]) == want, content_type
