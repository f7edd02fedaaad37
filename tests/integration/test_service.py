"""The local service as a consumer sees it: delivery headers, waiting, auth, restarts, and the
README's own command (``ig serve``) in a real subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fixtures.payloads import IMAGE_JOB, MOCK_JOB

from ig.settings import Settings


async def test_content_is_served_with_type_length_etag_and_revalidation(start_ig):
    ig = await start_ig(None, webhooks=False)
    job = await ig.wait((await ig.submit(MOCK_JOB)).json()["id"])
    [artifact] = job["artifacts"]
    url = f"/v1/artifacts/{artifact['id']}/content"
    response = await ig.client.get(url)
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(artifact["size"]) == str(len(response.content))
    assert response.headers["etag"] == f'"{artifact["sha256"]}"'
    assert "immutable" in response.headers["cache-control"]
    cached = await ig.client.get(url, headers={"if-none-match": response.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    head = await ig.client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(artifact["size"]) and head.content == b""
    assert (await ig.client.get("/v1/artifacts/nope/content")).status_code == 404
    single = (await ig.client.get(f"/v1/artifacts/{artifact['id']}")).json()
    assert single == artifact


async def test_wait_holds_until_the_job_finishes_and_is_bounded(start_ig):
    ig = await start_ig(None, webhooks=False)
    job_id = (await ig.submit(MOCK_JOB)).json()["id"]
    assert (await ig.wait(job_id, seconds=10))["status"] == "succeeded"
    for bad in ("61", "-1", "soon"):
        response = await ig.client.get(f"/v1/jobs/{job_id}", params={"wait": bad})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "wait"
    assert (await ig.client.get("/v1/jobs/00000000-0000-4000-8000-000000000000")).status_code == 404


async def test_with_an_api_token_every_v1_route_needs_it_but_webhooks_and_health_do_not(start_ig, fake_runware):
    ig = await start_ig(fake_runware, api_token="s3cret")
    for method, path in (
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs/x"),
        ("GET", "/v1/artifacts"),
        ("GET", "/v1/artifacts/x"),
        ("GET", "/v1/artifacts/x/content"),
    ):
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            response = await ig.client.request(method, path, headers=headers, json=IMAGE_JOB)
            assert response.status_code == 401, (method, path, headers)
    assert ig.rows("SELECT * FROM jobs") == []
    assert (await ig.client.get("/healthz")).status_code == 200
    authed = {"authorization": "Bearer s3cret"}
    response = await ig.submit(IMAGE_JOB, headers=authed)
    assert response.status_code == 202
    job = (await ig.client.get(f"/v1/jobs/{response.json()['id']}", params={"wait": 20}, headers=authed)).json()
    assert job["status"] == "succeeded"  # the webhooks got in without the bearer token


async def test_unknown_routes_and_methods_are_problem_json(start_ig):
    ig = await start_ig(None, webhooks=False)
    missing = await ig.client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    wrong = await ig.client.delete("/v1/jobs")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST, GET, HEAD"
    content = await ig.client.put("/v1/artifacts/x/content")
    assert content.headers["allow"] == "GET, HEAD"
    big = await ig.client.post("/v1/jobs", content=b"{" + b" " * (1024 * 1024 + 1) + b"}")
    assert big.status_code == 413 and big.json()["status"] == 413
    assert ig.rows("SELECT * FROM jobs") == []


async def test_a_restart_on_the_same_data_dir_loses_nothing(start_ig, tmp_path):
    data = tmp_path / "kept"
    first = await start_ig(None, webhooks=False, data_dir=data)
    job = await first.wait((await first.submit(MOCK_JOB)).json()["id"])
    content = (await first.client.get(f"/v1/artifacts/{job['artifacts'][0]['id']}/content")).content
    await first.runtime.stop()

    second = await start_ig(None, webhooks=False, data_dir=data)
    again = (await second.client.get(f"/v1/jobs/{job['id']}")).json()
    assert again["status"] == "succeeded" and again["artifacts"][0]["id"] == job["artifacts"][0]["id"]
    assert (await second.client.get(f"/v1/artifacts/{job['artifacts'][0]['id']}/content")).content == content
    assert [a["id"] for a in (await second.client.get("/v1/artifacts?tag=t")).json()["items"]] == [
        job["artifacts"][0]["id"]
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_ig_serve_runs_the_service_from_the_command_line(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IG_", "RUNWARE_"))}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ig.adapters.local.cli",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    await asyncio.sleep(0.1)
            job_id = (await client.post("/v1/jobs", json=MOCK_JOB)).json()["id"]
            job = (await client.get(f"/v1/jobs/{job_id}", params={"wait": 15})).json()
            assert job["status"] == "succeeded"
            png = (await client.get(job["artifacts"][0]["content_url"])).content
            assert png.startswith(b"\x89PNG")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (tmp_path / "d" / "ig.sqlite3").exists()


async def test_ig_serve_keeps_answering_while_the_mock_makes_twenty_4096_pixel_images(start_ig, figure):
    ig = await start_ig(None, webhooks=False)
    params = {"positivePrompt": "x", "width": 4096, "height": 4096, "numberResults": 20}
    job_id = (await ig.submit({**MOCK_JOB, "params": params})).json()["id"]
    stored_at_each_answer, slowest = [], 0.0
    while not stored_at_each_answer or stored_at_each_answer[-1] < 20:
        started = time.perf_counter()
        assert (await ig.client.get("/healthz")).status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        [row] = ig.rows("SELECT count(*) AS n FROM artifacts WHERE job_id = ?", (job_id,))
        stored_at_each_answer.append(row["n"])
    during = [n for n in stored_at_each_answer if 0 < n < 20]
    assert during, "/healthz was answered only before and after the images were made"
    sizes = ig.rows("SELECT DISTINCT width, height, content_type FROM artifacts WHERE job_id = ?", (job_id,))
    assert sizes == [{"width": 4096, "height": 4096, "content_type": "image/png"}]
    figure(
        "mock off the event loop",
        f"20 PNGs of 4096 x 4096: /healthz answered {len(stored_at_each_answer)} times, {len(during)} of them "
        f"while the job was part stored; slowest answer {slowest * 1000:.0f} ms",
    )


async def test_ig_serve_offers_the_mock_provider_unless_it_is_turned_off(start_ig):
    assert Settings.from_mapping({}).mock_provider is None  # unset: each runtime decides
    assert Settings.from_mapping({"IG_MOCK_PROVIDER": "0"}).mock_provider is False
    on = await start_ig(None, webhooks=False)
    assert (await on.submit(MOCK_JOB)).status_code == 202
    off = await start_ig(None, webhooks=False, mock_provider=False)
    refused = await off.submit(MOCK_JOB)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "provider"
    assert off.rows("SELECT id FROM jobs") == []
