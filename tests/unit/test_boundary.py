"""The one FFI boundary: only src/entry.py and ig.adapters.cloudflare may import js, pyodide or
workers; everything else imports on plain CPython without touching clock or entropy."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import ig

SRC = Path(__file__).resolve().parents[2] / "src"
FFI = {"js", "pyodide", "workers"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_entry_and_the_cloudflare_adapters_touch_the_ffi():
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if _imports(p) & FFI
        and p.relative_to(SRC).parts[:3] != ("ig", "adapters", "cloudflare")
        and p.relative_to(SRC) != Path("entry.py")
    ]
    assert offenders == []


def test_every_other_module_imports_on_cpython():
    for module in pkgutil.walk_packages(ig.__path__, "ig."):
        if not module.name.startswith("ig.adapters.cloudflare"):
            importlib.import_module(module.name)


def test_the_core_never_imports_an_adapter():
    core = [p for p in (SRC / "ig").rglob("*.py") if "adapters" not in p.relative_to(SRC / "ig").parts]
    assert core and all(not any(n.startswith("ig.adapters") for n in _module_imports(p)) for p in core)


def _module_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found
