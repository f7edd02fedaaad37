"""Inputs on the local runtime: how JSON bodies are decoded (UTF-8 only, one way for every
route), and the bounds on what a request can make ig store or send: the resolved task, preset
placeholders that multiply a variable, metadata, and inlined ``artifact:`` references. Each
refusal is a 422 naming the field, and leaves every table, blob and the provider untouched."""

from __future__ import annotations

import base64
import json
import tracemalloc
from typing import Any

import pytest
from fixtures.fake_runware import tiny_png
from fixtures.payloads import MOCK_JOB

JSON = {"content-type": "application/json"}


def tables(ig: Any) -> dict[str, list[dict[str, Any]]]:
    names = [
        r["name"] for r in ig.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%search%'")
    ]
    return {name: ig.rows(f'SELECT * FROM "{name}"') for name in names}


@pytest.fixture
async def ig(start_ig):
    ig = await start_ig(None, webhooks=False)
    preset = await ig.client.put(
        "/v1/presets/house",
        json={"model": "mock", "provider": "mock", "task": "imageInference", "params": {"positivePrompt": "x"}},
    )
    assert preset.status_code == 201, preset.text
    job = await ig.wait((await ig.submit(MOCK_JOB)).json()["id"])
    ig.job = job
    return ig


def json_routes(ig: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", "/v1/jobs", MOCK_JOB),
        ("POST", "/v1/jobs/batch", {"jobs": [MOCK_JOB]}),
        (
            "PUT",
            "/v1/presets/other",
            {"model": "mock", "provider": "mock", "task": "imageInference", "params": {"positivePrompt": "x"}},
        ),
        ("POST", f"/v1/artifacts/{ig.job['artifacts'][0]['id']}/tags", {"add": ["x"]}),
        ("POST", f"/v1/jobs/{ig.job['id']}/tags", {"add": ["x"]}),
    ]


@pytest.mark.parametrize(
    ("encoding", "bom", "code", "says"),
    [
        ("utf-16-le", b"\xff\xfe", "not_utf8", "this one is UTF-16"),
        ("utf-16-be", b"\xfe\xff", "not_utf8", "this one is UTF-16"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "not_utf8", "this one is UTF-32"),
        ("utf-32-be", b"\x00\x00\xfe\xff", "not_utf8", "this one is UTF-32"),
        ("latin-1", b"", "not_utf8", "JSON bodies must be UTF-8 (RFC 8259)"),
        ("utf-16-le", b"", "not_utf8", "JSON bodies must be UTF-8 (RFC 8259)"),
    ],
)
async def test_every_json_route_reads_utf8_only(ig, encoding, bom, code, says):
    before = tables(ig)
    for method, path, body in json_routes(ig):
        text = json.dumps(body, ensure_ascii=False).replace('"x"', '"caf\u00e9"')
        response = await ig.client.request(method, path, content=bom + text.encode(encoding), headers=JSON)
        assert response.status_code == 422, (path, response.text)
        [error] = response.json()["errors"]
        assert (error["field"], error["code"]) == ("body", code), path
        assert says in error["message"], path
    assert tables(ig) == before


async def test_a_utf8_byte_order_mark_is_ignored_and_not_kept(ig):
    body = json.dumps({**MOCK_JOB, "params": {**MOCK_JOB["params"], "positivePrompt": "caf\u00e9"}}, ensure_ascii=False)
    for method, path, _ in json_routes(ig)[:1]:
        response = await ig.client.request(method, path, content=b"\xef\xbb\xbf" + body.encode(), headers=JSON)
        assert response.status_code == 202, response.text
        [row] = ig.rows("SELECT request FROM jobs WHERE id = ?", (response.json()["id"],))
        assert row["request"] == body


async def test_half_a_surrogate_pair_is_refused_and_a_whole_one_is_a_character(ig):
    before = tables(ig)
    for escape in ("\\ud83d", "\\ude00", "\\udBFF x"):
        body = json.dumps({**MOCK_JOB, "metadata": {"note": "NOTE"}}).replace("NOTE", f"a {escape}")
        for method, path, _ in json_routes(ig)[:3]:  # a job, a batch of it, a preset made of it
            response = await ig.client.request(method, path, content=body.encode(), headers=JSON)
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["code"] == "lone_surrogate", (path, response.text)
    assert tables(ig) == before
    paired = json.dumps(MOCK_JOB).replace('"positivePrompt": "x"', '"positivePrompt": "a \\ud83d\\ude00"')
    response = await ig.client.post("/v1/jobs", content=paired.encode(), headers=JSON)
    assert response.status_code == 202 and response.json()["params"]["positivePrompt"] == "a \U0001f600"


def mock_preset(params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "mock", "provider": "mock", "task": "imageInference", "params": params, **extra}


async def test_a_preset_repeating_a_variable_past_the_task_limit_is_refused_before_it_is_filled(ig):
    # 8,000 copies of {a} in a 24 KB preset, and a 5 KB variable: 40 MB of parameters if filled.
    template = {"positivePrompt": "x", "styles": ["{a}"] * 8000, "note": "{b}"}
    assert (await ig.client.put("/v1/presets/many", json=mock_preset(template))).status_code == 201
    before, blobs = tables(ig), sorted(p.name for p in (ig.data_dir / "blobs").rglob("*"))
    tracemalloc.start()
    try:
        response = await ig.submit({"preset": "many", "variables": {"a": "y" * 5000, "b": "small"}})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("variables.a", "task_too_large")
    assert "preset many uses {a} 8000 times" in error["message"] and "262144" in error["message"]
    assert peak < 8 * 1024 * 1024  # nothing was filled in: not 40 MB of parameters and their copies
    assert tables(ig) == before and sorted(p.name for p in (ig.data_dir / "blobs").rglob("*")) == blobs

    # Two variables that only together are too large are both named, the larger first.
    response = await ig.submit({"preset": "many", "variables": {"a": "y" * 20, "b": "z" * 300_000}})
    assert [e["field"] for e in response.json()["errors"]] == ["variables.b"]
    response = await ig.submit({"preset": "many", "variables": {"a": "y" * 20, "b": "z" * 60_000}})
    assert response.status_code == 202, response.text  # 8000 x 24 + 60 KB, just inside 256 KiB
    assert len(json.dumps(response.json()["params"])) <= 262_144


async def test_parameters_and_metadata_have_size_limits_and_a_large_request_is_kept_in_the_blob_store(start_ig):
    ig = await start_ig(None, webhooks=False, max_task_bytes=300_000)
    before = tables(ig)
    too_big = {
        **MOCK_JOB,
        "params": {**MOCK_JOB["params"], "inputs": {"image": "data:image/png;base64," + "A" * 300_000}},
    }
    response = await ig.submit(too_big)
    assert response.status_code == 422 and [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("params", "task_too_large")
    ]
    response = await ig.submit({**MOCK_JOB, "metadata": {"pad": "m" * 70_000}})
    assert response.status_code == 422 and [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("metadata", "too_large")
    ]
    assert (
        await ig.client.put("/v1/presets/fat", json=mock_preset({"positivePrompt": "x", "pad": "p" * 300_000}))
    ).status_code == 422
    meta = mock_preset({"positivePrompt": "x"}, metadata={"house": "h" * 40_000})
    assert (await ig.client.put("/v1/presets/meta", json=meta)).status_code == 201
    response = await ig.submit({"preset": "meta", "metadata": {"own": "o" * 40_000}})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "metadata"
    assert "with preset meta's" in response.json()["errors"][0]["message"]
    before.update({k: v for k, v in tables(ig).items() if k.startswith("preset")})
    assert tables(ig) == before

    fits = {**MOCK_JOB, "params": {**MOCK_JOB["params"], "inputs": {"image": "data:image/png;base64," + "A" * 290_000}}}
    body = json.dumps(fits).encode()
    response = await ig.client.post("/v1/jobs", content=body, headers=JSON)
    assert response.status_code == 202, response.text
    [row] = ig.rows("SELECT request, request_blob_key FROM jobs WHERE id = ?", (response.json()["id"],))
    assert row == {"request": "", "request_blob_key": f"requests/{response.json()['id']}.json"}
    assert (ig.data_dir / "blobs" / row["request_blob_key"]).read_bytes() == body
    small = await ig.client.post("/v1/jobs", content=json.dumps(MOCK_JOB).encode(), headers=JSON)
    [row] = ig.rows("SELECT request, request_blob_key FROM jobs WHERE id = ?", (small.json()["id"],))
    assert row == {"request": json.dumps(MOCK_JOB), "request_blob_key": None}


async def test_inline_inputs_are_bounded_counting_every_reference(start_ig, fake_runware):
    ig = await start_ig(fake_runware, webhooks=False)  # no IG_PUBLIC_URL: inputs travel as data URIs
    image = tiny_png(3, 16, 16)
    image += b"\0" * (2_000_000 - len(image))
    upload = await ig.client.post("/v1/uploads", content=image, headers={"content-type": "image/png"})
    assert upload.status_code == 201, upload.text
    reference = f"artifact:{upload.json()['id']}"

    def job(references: int) -> dict[str, Any]:
        params = {
            "positivePrompt": "the same fox",
            "width": 512,
            "height": 512,
            "referenceImages": [reference] * references,
        }
        return {"task": "imageInference", "model": "runware:101@1", "params": params}

    await ig.drained()  # the upload's thumbnail is made first, so only the refusal could change anything
    before = tables(ig)
    refused = await ig.submit(job(30))  # 30 x 2 MB: 60 MB (80 MB as base64) in one task
    assert refused.status_code == 422, refused.text
    errors = refused.json()["errors"]
    assert [e["field"] for e in errors] == [f"params.referenceImages[{i}]" for i in range(30)]
    assert {e["code"] for e in errors} == {"inline_inputs_too_large"} and "60000000 bytes" in errors[0]["message"]
    assert tables(ig) == before and fake_runware.requests == []

    accepted = await ig.submit(job(5))  # 10 MB, inside the 10 MiB bound
    assert accepted.status_code == 202, accepted.text
    sent = fake_runware.tasks[accepted.json()["id"]]["referenceImages"]
    assert sent == ["data:image/png;base64," + base64.b64encode(image).decode()] * 5


async def test_with_a_public_url_references_are_signed_urls_however_many(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    image = tiny_png(3, 16, 16) + b"\0" * 1_000_000
    artifact = (await ig.client.post("/v1/uploads", content=image, headers={"content-type": "image/png"})).json()
    params = {
        "positivePrompt": "x",
        "width": 512,
        "height": 512,
        "referenceImages": [f"artifact:{artifact['id']}"] * 30,
    }
    answer = await ig.submit({"task": "imageInference", "model": "runware:101@1", "params": params})
    assert answer.status_code == 202, answer.text
    sent = fake_runware.tasks[answer.json()["id"]]["referenceImages"]
    assert len(sent) == 30 and all(url.startswith(f"{ig.url}/v1/artifacts/{artifact['id']}/content?") for url in sent)
