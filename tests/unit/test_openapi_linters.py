"""ig's OpenAPI document passes the two linters API tooling reaches for: Redocly's ``recommended``
ruleset (``redocly.yaml``) and Spectral's ``spectral:oas`` (``.spectral.yaml``), with no errors. Their
warnings are printed, so that one creeping in is seen; the README lists the ones that stay."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from worker.runtime_cache import REPO_ROOT, ensure_node_tools

from ig.api import openapi
from ig.api.routes import ROUTER

LINT_SECONDS = 120


@pytest.fixture(scope="module")
def node() -> str:
    return ensure_node_tools()


@pytest.fixture(scope="module")
def document_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(json.dumps(openapi.document(ROUTER, "/"), indent=2))
    return path


def _run(node: str, tool: str, *arguments: str) -> str:
    environment = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    command = [node, str(REPO_ROOT / "node_modules" / ".bin" / tool), *arguments]
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=environment, timeout=LINT_SECONDS)
    assert run.stdout.strip(), f"{tool} printed nothing (exit {run.returncode}): {run.stderr}"
    return run.stdout


def _report(findings: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(finding) for finding in findings)


def test_redocly_recommended_finds_no_error(node: str, document_path: Path) -> None:
    output = _run(node, "redocly", "lint", str(document_path), "--config", "redocly.yaml", "--format", "json")
    problems = json.loads(output)["problems"]
    errors = [p for p in problems if p["severity"] == "error"]
    warnings = [f"{p['ruleId']}: {p['message']} ({p['location'][0]['pointer']})" for p in problems if p not in errors]
    print("Redocly warnings:", *warnings, sep="\n  ")
    assert errors == [], _report(errors)


def test_spectral_oas_finds_no_error(node: str, document_path: Path) -> None:
    output = _run(node, "spectral", "lint", str(document_path), "--ruleset", ".spectral.yaml", "--format", "json")
    findings = json.loads(output[output.index("[") :])  # it may print a notice before the JSON
    errors = [f for f in findings if f["severity"] == 0]
    warnings = [f"{f['code']}: {f['message']} ({'/'.join(map(str, f['path']))})" for f in findings if f not in errors]
    print("Spectral warnings:", *warnings, sep="\n  ")
    assert errors == [], _report(errors)
