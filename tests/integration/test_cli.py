"""The ``ig`` command line as a real process against a real ig on loopback with the mock provider:
what it prints, what it leaves on disk (checked against ig's own rows and blobs), and the exit
status that says what failed. Faults come from a proxy between the two (``fixtures.flaky_proxy``)."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
from fixtures.cli_run import DEV_IG, environment, run_ig
from fixtures.flaky_proxy import FlakyProxy
from fixtures.media_samples import png
from fixtures.waiting import until

MOCK = ("--provider", "mock", "--model", "flux-schnell", "-p", "width=64", "-p", "height=64")
CONTENT = r"/v1/artifacts/[^/]+/content"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifact_rows(ig: Any, job_id: str) -> list[dict[str, Any]]:
    return ig.rows(
        "SELECT id, sha256, size, blob_key, deleted_at FROM artifacts WHERE job_id = ? ORDER BY id", (job_id,)
    )


def job_ids(ig: Any) -> list[str]:
    return [row["id"] for row in ig.rows("SELECT id FROM jobs ORDER BY seq")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_generate_downloads_every_result_and_prints_the_paths(start_ig, tmp_path: Path):
    ig = await start_ig()
    out = tmp_path / "out"
    ran = await run_ig("generate", "a fox in snow", *MOCK, "-n", "2", "--tag", "user:42", "-o", out, url=ig.url)
    assert ran.code == 0, ran
    [job_id] = job_ids(ig)
    [job] = ig.rows("SELECT params, status FROM jobs WHERE id = ?", (job_id,))
    assert job["status"] == "succeeded"
    assert json.loads(job["params"])["numberResults"] == 2
    assert json.loads(job["params"])["positivePrompt"] == "a fox in snow"
    assert [row["tag"] for row in ig.rows("SELECT tag FROM job_tags WHERE job_id = ?", (job_id,))] == ["user:42"]
    rows = artifact_rows(ig, job_id)
    assert len(rows) == 2
    paths = [Path(line) for line in ran.lines()]
    assert sorted(path.name for path in paths) == sorted(f"{row['id']}.png" for row in rows)
    assert sorted(path.parent for path in paths) == [out, out]
    for row in rows:
        saved = out / f"{row['id']}.png"
        blob = ig.data_dir / "blobs" / row["blob_key"]
        assert saved.read_bytes() == blob.read_bytes()
        assert sha256(saved) == row["sha256"] and saved.stat().st_size == row["size"]
    assert sorted(p.name for p in out.iterdir()) == sorted(path.name for path in paths)  # no temporary left
    assert f"job {job_id}: succeeded" in ran.err  # plain progress lines: stderr is not a terminal
    assert ran.err.count("saved ") == 2


async def test_generate_json_prints_the_job_and_the_files_and_nothing_else(start_ig, tmp_path: Path):
    ig = await start_ig()
    ran = await run_ig(
        "generate", "a kettle", *MOCK, "--metadata", "channel.id=123", "--json", url=ig.url, cwd=tmp_path
    )
    assert ran.code == 0, ran
    answer = ran.json()
    assert set(answer) == {"job", "files"}
    assert answer["job"]["status"] == "succeeded" and answer["job"]["metadata"] == {"channel": {"id": 123}}
    [row] = artifact_rows(ig, answer["job"]["id"])
    assert answer["files"] == [str(Path(f"{row['id']}.png"))]
    assert sha256(tmp_path / answer["files"][0]) == row["sha256"]


async def test_a_media_file_parameter_is_uploaded_and_passed_as_an_artifact_reference(start_ig, tmp_path: Path):
    ig = await start_ig()
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(width=32, height=32, seed=5))
    ran = await run_ig(
        "generate", "the same in snow", *MOCK, "-p", f"seedImage=@{photo}", "--json", url=ig.url, cwd=tmp_path
    )
    assert ran.code == 0, ran
    [upload] = ig.rows("SELECT id, sha256, blob_key FROM artifacts WHERE role = 'input'")
    assert upload["sha256"] == sha256(photo)
    assert ran.json()["job"]["params"]["seedImage"] == f"artifact:{upload['id']}"
    assert f"uploaded {photo} as artifact {upload['id']}" in ran.err


async def test_a_rejected_request_exits_6_and_names_every_bad_field(start_ig, tmp_path: Path):
    ig = await start_ig()
    out = tmp_path / "out"
    ran = await run_ig(
        "generate", "x", "--provider", "mock", "-m", "flux-schnell", "-p", "width=3", "-o", out, url=ig.url
    )
    assert ran.code == 6, ran
    assert ran.err.splitlines() == [
        "ig: Request validation failed (422 validation_error)",
        "  params.width: Input should be greater than or equal to 64 (greater_than_equal)",
    ]
    assert ran.out == "" and job_ids(ig) == [] and not out.exists()


async def test_a_bad_key_value_exits_2_before_anything_is_sent(start_ig, tmp_path: Path):
    ig = await start_ig()
    photo = tmp_path / "photo.png"
    photo.write_bytes(png())
    ran = await run_ig("generate", "x", *MOCK, "-p", f"seedImage=@{photo}", "-p", "widthonly", url=ig.url)
    assert ran.code == 2, ran
    assert "--param 'widthonly': expected key=value" in ran.err
    assert ig.rows("SELECT id FROM artifacts") == [] and job_ids(ig) == []  # not even the upload


async def test_an_unreachable_ig_exits_7(tmp_path: Path):
    ran = await run_ig("jobs", "list", url=f"http://127.0.0.1:{free_port()}")
    assert ran.code == 7, ran
    assert "ConnectError" in ran.err


async def test_unknown_ids_exit_4_and_a_missing_token_exits_5(start_ig):
    ig = await start_ig(api_token="s3cret")
    unauthorized = await run_ig("jobs", "list", url=ig.url)
    assert unauthorized.code == 5, unauthorized
    assert "(401" in unauthorized.err
    missing = await run_ig("jobs", "show", "no-such-job", "--token", "s3cret", url=ig.url)
    assert missing.code == 4, missing
    by_environment = await run_ig("artifacts", "list", "--json", url=ig.url, env={"IG_API_TOKEN": "s3cret"})
    assert (by_environment.code, by_environment.json()) == (0, [])


async def test_job_commands_list_show_wait_and_cancel(start_ig, tmp_path: Path):
    ig = await start_ig(background=False)  # no queue consumer: jobs stay open until it starts
    first = (await run_ig("generate", "one", *MOCK, "--tag", "a", "--wait-timeout", "0", url=ig.url)).err
    [job_id] = job_ids(ig)
    assert f"job {job_id} is still submitted" in first
    timed_out = await run_ig("jobs", "wait", job_id, "--timeout", "0.2", url=ig.url)
    assert timed_out.code == 8, timed_out

    cancelled = await run_ig("jobs", "cancel", job_id, "--json", url=ig.url)
    assert cancelled.code == 0, cancelled
    assert cancelled.json()["status"] == "cancelled"
    assert ig.rows("SELECT status FROM jobs WHERE id = ?", (job_id,)) == [{"status": "cancelled"}]
    ended = await run_ig("jobs", "wait", job_id, url=ig.url)
    assert ended.code == 3, ended
    assert f"ig: job {job_id} cancelled" in ended.err
    again = await run_ig("jobs", "cancel", job_id, url=ig.url)
    assert (again.code, job_id in again.out) == (0, True)  # cancelling again is a no-op

    ig.runtime.start_background()
    made = await run_ig("generate", "two", *MOCK, "--tag", "b", "--json", url=ig.url, cwd=tmp_path)
    assert made.code == 0, made
    second = made.json()["job"]["id"]

    listed = await run_ig("jobs", "list", "--json", url=ig.url)
    assert [job["id"] for job in listed.json()] == [second, job_id]
    only_b = await run_ig("jobs", "list", "--tag", "b", "--status", "succeeded", url=ig.url)
    assert [line.split("\t")[:2] for line in only_b.lines()] == [[second, "succeeded"]]
    limited = await run_ig("jobs", "list", "--limit", "1", "--json", url=ig.url)
    assert [job["id"] for job in limited.json()] == [second]

    shown = await run_ig("jobs", "show", second, url=ig.url)
    assert shown.code == 0, shown
    [row] = artifact_rows(ig, second)
    assert "status     succeeded" in shown.out and row["id"] in shown.out
    waited = await run_ig("jobs", "wait", second, "--json", url=ig.url)
    assert (waited.code, waited.json()["id"]) == (0, second)

    tagged = await run_ig("jobs", "tag", second, "--add", "reviewed", "--remove", "b", url=ig.url)
    assert tagged.lines() == ["reviewed"]
    assert ig.rows("SELECT tag FROM job_tags WHERE job_id = ?", (second,)) == [{"tag": "reviewed"}]


async def test_artifact_commands_list_show_download_tag_and_delete(start_ig, tmp_path: Path):
    ig = await start_ig()
    made = await run_ig("generate", "a", *MOCK, "-n", "2", "--tag", "set:1", "--json", url=ig.url, cwd=tmp_path)
    job_id = made.json()["job"]["id"]
    first, second = (row["id"] for row in artifact_rows(ig, job_id))

    listed = await run_ig("artifacts", "list", "--tag", "set:1", "--json", url=ig.url)
    assert sorted(artifact["id"] for artifact in listed.json()) == sorted([first, second])
    rows = await run_ig("artifacts", "list", "--job", job_id, "--kind", "image", url=ig.url)
    assert sorted(line.split("\t")[0] for line in rows.lines()) == sorted([first, second])
    assert all(line.split("\t")[1:3] == ["image", "image/png"] for line in rows.lines())

    shown = await run_ig("artifacts", "show", first, url=ig.url)
    [row] = [r for r in artifact_rows(ig, job_id) if r["id"] == first]
    assert f"sha256      {row['sha256']}" in shown.out

    into = tmp_path / "again"
    downloaded = await run_ig("artifacts", "download", first, second, "-o", into, url=ig.url)
    assert downloaded.code == 0, downloaded
    assert [Path(line).name for line in downloaded.lines()] == [f"{first}.png", f"{second}.png"]
    for r in artifact_rows(ig, job_id):
        assert sha256(into / f"{r['id']}.png") == r["sha256"]

    tagged = await run_ig("artifacts", "tag", first, "--add", "best", "--remove", "set:1", "--json", url=ig.url)
    assert tagged.json() == {"tags": ["best"]}
    seq = ig.rows("SELECT seq FROM artifacts WHERE id = ?", (first,))[0]["seq"]
    assert ig.rows("SELECT tag FROM artifact_tags WHERE artifact_seq = ?", (seq,)) == [{"tag": "best"}]

    deleted = await run_ig("artifacts", "delete", first, "--json", url=ig.url)
    assert (deleted.code, deleted.json()) == (0, {"deleted": first})
    assert ig.rows("SELECT deleted_at FROM artifacts WHERE id = ?", (first,))[0]["deleted_at"] is not None
    gone = await run_ig("artifacts", "download", first, "-o", tmp_path / "gone", url=ig.url)
    assert gone.code == 4, gone
    assert "(410" in gone.err and not (tmp_path / "gone" / f"{first}.png").exists()


async def test_upload_prints_the_artifact_id_and_stores_the_bytes(start_ig, tmp_path: Path):
    ig = await start_ig()
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(width=20, height=10, seed=9))
    ran = await run_ig("upload", photo, "--tag", "input:1", url=ig.url)
    assert ran.code == 0, ran
    [row] = ig.rows("SELECT id, sha256, blob_key, role, width, height FROM artifacts")
    assert ran.lines() == [row["id"]]
    assert (row["role"], row["width"], row["height"]) == ("input", 20, 10)
    assert (ig.data_dir / "blobs" / row["blob_key"]).read_bytes() == photo.read_bytes()
    as_json = await run_ig("upload", photo, "--json", url=ig.url)
    assert as_json.json()["id"] == row["id"]  # identical bytes are stored once


async def test_presets_put_show_list_and_generate_from_one(start_ig, tmp_path: Path):
    ig = await start_ig()
    put = await run_ig(
        "presets", "put", "poster", "--model", "flux-schnell", "--provider", "mock",
        "-p", "positivePrompt=a poster saying {headline}", "-p", "width=64", "-p", "height=64",
        "--description", "Posters", url=ig.url,
    )  # fmt: skip
    assert (put.code, put.lines()) == (0, ["poster version 1"]), put
    shown = await run_ig("presets", "show", "poster", url=ig.url)
    assert shown.json()["params"] == {"positivePrompt": "a poster saying {headline}", "width": 64, "height": 64}
    body = tmp_path / "poster.json"
    body.write_text(json.dumps({**shown.json(), "description": "Posters, v2"}))
    again = await run_ig("presets", "put", "poster", "--file", body, "--json", url=ig.url)
    assert (again.code, again.json()["version"], again.json()["description"]) == (0, 2, "Posters, v2"), again
    listed = await run_ig("presets", "list", url=ig.url)
    assert [line.split("\t")[:2] for line in listed.lines()] == [["poster", "2"]]

    made = await run_ig("generate", "--preset", "poster", "--var", "headline=Sale", "--json", url=ig.url, cwd=tmp_path)
    assert made.code == 0, made
    assert made.json()["job"]["params"]["positivePrompt"] == "a poster saying Sale"
    assert made.json()["job"]["preset"] == {"name": "poster", "version": 2}


async def test_catalogue_and_usage_commands(start_ig, tmp_path: Path):
    ig = await start_ig()
    await run_ig("generate", "a", *MOCK, url=ig.url, cwd=tmp_path)
    models = await run_ig("models", "--task", "videoInference", "--json", url=ig.url)
    assert models.code == 0 and models.json() and {m["task"] for m in models.json()} == {"videoInference"}
    tasks = await run_ig("tasks", url=ig.url)
    assert ["imageInference", "image", "numberResults"] in [line.split("\t")[:3] for line in tasks.lines()]
    usage = await run_ig("usage", "--by", "provider", "--json", url=ig.url)
    assert [(row["key"], row["jobs"], row["succeeded"]) for row in usage.json()["items"]] == [("mock", 1, 1)]


async def test_a_dropped_connection_mid_download_resumes_from_where_it_stopped(start_ig, tmp_path: Path):
    ig = await start_ig()
    made = await run_ig(
        "generate", "big", "--provider", "mock", "-m", "flux-schnell", "--json", url=ig.url, cwd=tmp_path
    )
    [row] = artifact_rows(ig, made.json()["job"]["id"])
    assert row["size"] > 2000
    proxy = FlakyProxy(ig.url).start()
    try:
        proxy.cut_body(CONTENT, after_bytes=1000)
        ran = await run_ig("artifacts", "download", row["id"], "-o", tmp_path / "resumed", url=proxy.url)
        assert ran.code == 0, ran
        ranges = [seen.headers.get("range") for seen in proxy.requests_to(CONTENT)]
    finally:
        proxy.stop()
    assert ranges == [None, "bytes=1000-"]
    assert sha256(tmp_path / "resumed" / f"{row['id']}.png") == row["sha256"]


async def test_a_corrupted_download_exits_9_and_keeps_no_file(start_ig, tmp_path: Path):
    ig = await start_ig()
    made = await run_ig("generate", "x", *MOCK, "--json", url=ig.url, cwd=tmp_path)
    [row] = artifact_rows(ig, made.json()["job"]["id"])
    proxy = FlakyProxy(ig.url).start()
    try:
        proxy.corrupt_body(CONTENT)
        ran = await run_ig("artifacts", "download", row["id"], "-o", tmp_path / "bad", url=proxy.url)
    finally:
        proxy.stop()
    assert ran.code == 9, ran
    assert row["sha256"] in ran.err
    assert list((tmp_path / "bad").iterdir()) == []


async def test_a_429_is_retried_after_retry_after_with_the_same_idempotency_key(start_ig, tmp_path: Path):
    ig = await start_ig()
    proxy = FlakyProxy(ig.url).start()
    try:
        proxy.answer(r"/v1/jobs", 429, retry_after="1", method="POST")
        ran = await run_ig("generate", "x", *MOCK, "-o", tmp_path / "out", url=proxy.url)
        posts = proxy.requests_to(r"/v1/jobs", method="POST")
    finally:
        proxy.stop()
    assert ran.code == 0, ran
    assert [seen.action for seen in posts] == ["answer", None]
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert posts[1].at - posts[0].at >= 1.0
    assert len(job_ids(ig)) == 1 and len(list((tmp_path / "out").iterdir())) == 1


async def test_json_on_the_remaining_commands_is_one_json_document(start_ig, tmp_path: Path):
    """The other tests read --json from generate, jobs list|wait|cancel, artifacts list|tag|delete,
    upload, presets put|show, models and usage; these are the rest."""
    ig = await start_ig()
    made = (await run_ig("generate", "x", *MOCK, "--json", url=ig.url, cwd=tmp_path)).json()
    job_id, artifact_id = made["job"]["id"], made["job"]["artifacts"][0]["id"]
    expected = {
        ("jobs", "show", job_id): lambda answer: answer["id"] == job_id,
        ("jobs", "tag", job_id, "--add", "x"): lambda answer: answer == {"tags": ["x"]},
        ("artifacts", "show", artifact_id): lambda answer: answer["id"] == artifact_id,
        ("artifacts", "download", artifact_id, "-o", tmp_path / "d"): lambda answer: (
            answer == {"files": [str(tmp_path / "d" / f"{artifact_id}.png")]}
        ),
        ("presets", "list"): lambda answer: answer == [],
        ("tasks",): lambda answer: "imageInference" in {task["task"] for task in answer},
    }
    for command, check in expected.items():
        ran = await run_ig(*command, "--json", url=ig.url)
        assert ran.code == 0, (command, ran)
        assert check(ran.json()), (command, ran)  # json.loads refuses anything around the one document


async def test_ig_serve_runs_the_server_with_its_own_options(tmp_path: Path):
    helped = subprocess.run([*DEV_IG, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: ig serve [-h] [--host HOST] [--port PORT]")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [*DEV_IG, "serve", "--port", str(port), "--data-dir", tmp_path / "data"],
        env=environment(None),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy() -> bool:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        await until(healthy, timeout=30, what="ig serve to answer")
        ran = await run_ig("generate", "x", *MOCK, "-o", tmp_path / "out", url=url)
        assert ran.code == 0, ran
        assert (tmp_path / "data" / "ig.sqlite3").exists()
        [saved] = (tmp_path / "out").iterdir()
        assert saved.read_bytes().startswith(b"\x89PNG")
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
