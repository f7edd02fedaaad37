"""Inputs on the local runtime: how JSON bodies are decoded (UTF-8 only, one way for every
route), and the bounds on what a request can make ig store or send: the resolved task, preset
placeholders that multiply a variable, metadata, and inlined ``artifact:`` references. Each
refusal is a 422 naming the field, and leaves every table, blob and the provider untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_service import MOCK_JOB

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
