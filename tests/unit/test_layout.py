"""The layout is the architecture: packages by responsibility, dependencies pointing one way
(``web`` → ``gallery`` → ``api`` → ``completion`` → ``jobs`` → ``library`` → ``providers`` → the
base modules; the runtimes' ``adapters`` on top), no import
cycle anywhere inside ``ig``, and every module importable on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
LAYERS = ("providers", "library", "jobs", "completion", "api", "gallery", "web", "adapters")
"""Lowest first; the modules directly in ``ig`` (ports, deps, settings, errors, ...) sit below all."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "ig").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """Every ``ig`` module ``name`` imports, at the top or inside a function."""
    path, found = MODULES[name], set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in MODULES and m != name}


def _layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS.index(parts[1]) + 1 if len(parts) >= 2 and parts[1] in LAYERS else 0


def test_dependencies_point_one_way():
    upward = [f"{name} imports {other}" for name in MODULES for other in _imports(name) if _layer(other) > _layer(name)]
    assert upward == []


def test_there_is_no_import_cycle_inside_ig():
    graph = {name: _imports(name) for name in MODULES}
    cycles, state = [], {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                cycles.append(" -> ".join([*path[path.index(other) :], other]))
            elif other not in state:
                visit(other, [*path, other])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = sorted(n for n in MODULES if not n.startswith("ig.adapters.cloudflare"))
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"

    def alone(name: str) -> str | None:  # one interpreter each: an import that works only after another passes together
        done = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, cwd=SRC)
        return f"{name}: {done.stderr.strip().splitlines()[-1]}" if done.returncode else None

    with ThreadPoolExecutor(4) as pool:
        assert [failure for failure in pool.map(alone, names) if failure] == []


def test_the_schema_spells_the_job_states_of_ig_job_states():
    """The one place SQL cannot import them: the CHECK constraint and the partial indexes on open
    jobs. Held here to the enum, so adding a state is one change and this test's reminder."""
    from ig.adapters.local.sqlite_db import SqliteDatabase
    from ig.job_states import OPEN_SQL, JobStatus, sql_list

    db = SqliteDatabase(":memory:")
    db.migrate()
    [jobs] = db._conn.execute("SELECT sql FROM sqlite_master WHERE name = 'jobs'").fetchall()
    assert f"CHECK (status IN {sql_list(tuple(JobStatus))})" in jobs["sql"]
    partial = db._conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'")
    by_status = {row["name"]: row["sql"] for row in partial if "jobs" in row["sql"]}
    assert sorted(by_status) == [
        "jobs_failed_by_provider",
        "jobs_holding_slots",
        "jobs_open",
        "jobs_overdue",
        "jobs_waiting_for_slots",
    ]
    assert by_status.pop("jobs_failed_by_provider").endswith(f"WHERE status = '{JobStatus.FAILED}'")
    assert by_status.pop("jobs_holding_slots").endswith("WHERE slot_at IS NOT NULL")
    assert by_status.pop("jobs_waiting_for_slots").endswith(f"WHERE status = '{JobStatus.QUEUED}' AND slot_at IS NULL")
    assert all(sql.endswith(f"WHERE status IN {OPEN_SQL}") for sql in by_status.values())


def test_the_core_reaches_providers_only_through_their_interface():
    """Completion (the receiver, the consumer, ingest, the sweeper, callbacks) and submission know
    the ``Provider`` protocol and the registry, never a provider's own modules (Runware's or fal's).
    Resolving a request also reads the model aliases; each provider's own rules come through its
    ``Dialect``."""
    interface = {"ig.providers", "ig.providers.base", "ig.providers.registry"}
    catalogue = {"ig.providers.catalogue"}
    may_also_read = {"ig.jobs.resolution": catalogue, "ig.jobs.presets": catalogue}
    reaching_in = [
        f"{name} imports {other}"
        for name in MODULES
        if name.startswith(("ig.jobs", "ig.completion"))
        for other in _imports(name)
        if other.startswith("ig.providers") and other not in interface | may_also_read.get(name, set())
    ]
    assert reaching_in == []
