"""The OpenAPI document a running ig serves is usable as-is by the mainstream generators: a Python
client from ``openapi-python-client`` and TypeScript types from ``openapi-typescript`` (each with its
default settings, but for the one the Python config explains), each used by a small script that must
pass ``mypy --strict`` or ``tsc --strict`` and then runs ig's core flow against that ig: submit
(with an idempotency key, replayed), wait, list (following a cursor), download and a 206, upload raw
and as a form, edit tags, and a 422 read as a typed problem with its field errors. The scripts assert
what each answer says; this test then checks what ig recorded: rows and the bytes of its blobs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from worker.runtime_cache import REPO_ROOT, ensure_node_tools

from ig.api import routes

FIXTURES = Path(__file__).parents[1] / "fixtures" / "generated_clients"
TOKEN = "generated-clients-token"
STEP_SECONDS = 300
PACKAGE = "ig_openapi_client"


def _run(command: list[str | Path], cwd: Path, **environment: str) -> str:
    """Run a step of the flow; its output, or a failure that shows all of it."""
    env = {**os.environ, **environment}
    run = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_SECONDS
    )
    assert run.returncode == 0, f"{command[0]} {command[1]} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    return run.stdout + run.stderr


async def _serve(start_ig: Any, tmp_path: Path) -> tuple[Any, Path]:
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    served = await ig.client.get("/openapi.json")
    assert served.status_code == 200
    document = tmp_path / "openapi.json"
    document.write_bytes(served.content)
    return ig, document


def _summary(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_what_ig_recorded(ig: Any, summary: dict[str, Any], tag: str) -> None:
    jobs = ig.rows("SELECT id, status FROM jobs")
    assert jobs == [{"id": summary["job"], "status": "succeeded"}]  # the replay and the 422 recorded nothing
    assert ig.rows("SELECT tag FROM job_tags WHERE job_id = ?", (summary["job"],)) == [{"tag": tag}]
    [artifact] = ig.rows("SELECT blob_key, sha256 FROM artifacts WHERE id = ?", (summary["artifact"],))
    assert artifact["sha256"] == summary["artifact_sha256"] == _sha256(ig.data_dir / "blobs" / artifact["blob_key"])
    artifact_tags = ig.rows(
        "SELECT t.tag FROM artifact_tags t JOIN artifacts a ON a.seq = t.artifact_seq WHERE a.id = ? ORDER BY t.tag",
        (summary["artifact"],),
    )
    assert [row["tag"] for row in artifact_tags] == summary["tags"] == ["best", "user:42"]
    uploads = ig.rows("SELECT id, sha256, blob_key, content_type FROM artifacts WHERE role = 'input' ORDER BY id")
    assert {row["id"]: row["sha256"] for row in uploads} == summary["uploads"] and len(uploads) == 2
    for row in uploads:
        assert _sha256(ig.data_dir / "blobs" / row["blob_key"]) == row["sha256"] and row["content_type"] == "image/png"
    assert summary["problem_fields"] == ["params.height", "params.width"]


async def test_a_python_client_generated_from_the_document_type_checks_and_runs_the_core_flow(start_ig, tmp_path):
    ig, document = await _serve(start_ig, tmp_path)
    tools = Path(sys.executable).parent  # the generator, and ruff for its formatting hook
    path = f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"
    generate = [tools / "openapi-python-client", "generate", "--path", document, "--output-path", tmp_path / PACKAGE]
    generate += ["--meta", "none", "--config", FIXTURES / "openapi-python-client.yaml"]
    log = await asyncio.to_thread(_run, generate, tmp_path, PATH=path)
    # What it could not generate is only the raw upload types it has no setting for: every operation,
    # model and answer of the document made it into the client.
    skipped = [line for line in log.splitlines() if line.startswith("WARNING parsing")]
    unsupported = [line.split()[-1] for line in log.splitlines() if line.startswith("Unsupported content type")]
    assert set(skipped) == {"WARNING parsing POST /v1/uploads within artifacts."}, log
    assert unsupported == [t for t in routes.UPLOAD_TYPES if t != "image/png"] and len(skipped) == len(unsupported)
    assert "Error" not in log, log

    script = FIXTURES / "python_flow.py"
    mypy = [sys.executable, "-m", "mypy", "--config-file", FIXTURES / "mypy.ini", "--cache-dir", tmp_path / "mypy"]
    await asyncio.to_thread(_run, [*mypy, script], tmp_path, MYPYPATH=str(tmp_path))
    output = await asyncio.to_thread(
        _run, [sys.executable, script], tmp_path, PYTHONPATH=str(tmp_path), IG_URL=ig.url, IG_API_TOKEN=TOKEN
    )
    _check_what_ig_recorded(ig, _summary(output), "generated:python")


async def test_typescript_types_generated_from_the_document_type_check_and_run_the_core_flow(start_ig, tmp_path):
    node = await asyncio.to_thread(ensure_node_tools)
    ig, document = await _serve(start_ig, tmp_path)
    bin_dir = REPO_ROOT / "node_modules" / ".bin"
    await asyncio.to_thread(_run, [node, bin_dir / "openapi-typescript", document, "-o", "schema.d.ts"], tmp_path)
    for name in ("typescript_flow.ts", "tsconfig.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "package.json").write_text('{"type": "module"}\n')
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")  # openapi-fetch, @types/node
    await asyncio.to_thread(_run, [node, bin_dir / "tsc", "-p", "tsconfig.json"], tmp_path)
    output = await asyncio.to_thread(
        _run, [node, tmp_path / "out" / "typescript_flow.js"], tmp_path, IG_URL=ig.url, IG_API_TOKEN=TOKEN
    )
    _check_what_ig_recorded(ig, _summary(output), "generated:typescript")
