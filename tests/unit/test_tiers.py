"""The test suite's own layout: every test module sits in one tier, none imports another test
module (shared helpers and payloads live in ``tests/fixtures``), and unit tests start no server."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "worker", "browser")
SERVERS = {
    "start_ig",
    "fake_runware",
    "receiver",
    "ig",
    "ig_harness",
    "make_worker",
    "worker_runtime",
    "library",
    "serve_ig",
    "open_page",
    "browser",
}
"""Fixtures that start ig, a fake server or the Worker harness."""


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "probe" not in p.relative_to(TESTS).parts)


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                names.add(node.module)
            if node.level:  # from . import x: x may be a module
                names |= {alias.name for alias in node.names}
    return names


def test_every_test_module_sits_in_a_tier():
    misplaced = [
        str(p.relative_to(TESTS)) for p in _modules() if p.name.startswith("test_") and p.parent.name not in TIERS
    ]
    assert misplaced == []


def test_no_module_imports_a_test_module():
    found = [
        f"{p.relative_to(TESTS)} imports {name}"
        for p in _modules()
        for name in sorted(_imported(p))
        if name.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert found == []


def test_unit_tests_start_no_server():
    found = []
    for path in sorted((TESTS / "unit").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                used = {a.arg for a in node.args.args} & SERVERS
                found += [f"{path.name}::{node.name} uses {name}" for name in sorted(used)]
    assert found == []
