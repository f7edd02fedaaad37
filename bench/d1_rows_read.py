"""Rows read per D1 query: D1's own ``meta.rows_read``, summed over every statement a library
request runs, for each query form of ``/v1/artifacts``, ``/v1/jobs`` and ``/v1/usage``, on
Miniflare's local D1 (workerd's SQLite) with ig's Worker (src/entry.py) on Pyodide, at 100,000
and at 10,000 artifacts in the same run.

    uv run python bench/d1_rows_read.py [--sizes 10000 100000] [--src src] [--statements]

For each request it prints the items returned, the rows read by the statements that pick the page
(with the tag-count lookup that chooses its driver, when there is one), rows per item, the target
(the page query reads at most 3 × the items + 50 rows, at either size), and the rows read in all
(the page's items read to show them too). ``/v1/usage`` returns no page: its items are the jobs it
counts, and its target 3 × (those jobs + their results) + 50.

The libraries are bench/library_scale.py's (about 3 Zipf-skewed tags per artifact, two
artifacts per job, prompts from a word list), generated once and cached under ~/.cache/ig-bench/.
``--statements`` also prints each statement with its rows read."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from library_scale import STYLES, created_at, dataset  # noqa: E402
from worker.runtime_cache import WorkerRuntimeError, ensure_worker_runtime  # noqa: E402

sys.path.insert(0, str(ROOT / "src"))
from machine import cpu_model  # noqa: E402

from ig.library.filters import encode_cursor  # noqa: E402
from ig.library.views import ARTIFACTS_BY_SEQS, ARTIFACTS_OF_JOBS, JOBS_WITH_EXTRAS  # noqa: E402

PROTO = "@@D1RR "
BASE = "http://ig.test"
PAGE = 50
CONSTANT = 50
"""Rows a page may read beyond 3 per item: the tag-count lookup, the one row past the page, an
FTS5 segment read; the same at any library size."""


def query_forms(count: int) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(group, name, query parameters) of every form measured, for a library of ``count`` artifacts
    (``count // 2`` jobs, created one per second)."""
    jobs = count // 2
    middle = [("created_after", created_at(jobs // 4)), ("created_before", created_at(3 * jobs // 4))]
    twenty = [("any_tag", f"user:{i}") for i in range(1, 21)]
    forms = [
        ("artifacts", "two tags (AND)", [("tag", "channel:1"), ("tag", STYLES[0])]),
        ("artifacts", "any of two tags (OR)", [("any_tag", "user:2"), ("any_tag", "user:3")]),
        ("artifacts", "any of 20 tags (OR)", twenty),
        ("artifacts", "tag, NOT tag", [("tag", "channel:2"), ("not_tag", STYLES[0])]),
        ("artifacts", "q (full text)", [("q", "lighthouse")]),
        ("artifacts", "kind", [("kind", "video")]),
        ("artifacts", "model", [("model", "runware:101@1")]),
        ("artifacts", "created_after + created_before", middle),
        ("artifacts", "deep page", [("cursor", encode_cursor(count // 2))]),
        ("artifacts", "rare tag", [("tag", "user:200")]),
        ("jobs", "tag", [("tag", "channel:1")]),
        ("jobs", "two tags (AND)", [("tag", "channel:1"), ("tag", "user:1")]),
        ("jobs", "any of two tags (OR)", [("any_tag", "user:2"), ("any_tag", "user:3")]),
        ("jobs", "any of 20 tags (OR)", twenty),
        ("jobs", "tag, NOT tag", [("tag", "channel:2"), ("not_tag", "user:1")]),
        ("jobs", "tag + status", [("tag", "channel:1"), ("status", "failed")]),
        ("jobs", "q (full text)", [("q", "lighthouse")]),
        ("jobs", "q + tag", [("q", "lighthouse"), ("tag", "channel:1")]),
        ("jobs", "status", [("status", "failed")]),
        ("jobs", "kind", [("kind", "video")]),
        ("jobs", "model", [("model", "runware:101@1")]),
        ("jobs", "created_after + created_before", middle),
        ("jobs", "deep page", [("cursor", encode_cursor(jobs // 2))]),
        ("jobs", "rare tag (under a page)", [("tag", "user:200")]),
        ("usage", "tag", [("tag", "user:2")]),
        ("usage", "two tags (AND)", [("tag", "user:2"), ("tag", "channel:1")]),
        ("usage", "any of two tags (OR)", [("any_tag", "user:2"), ("any_tag", "user:3")]),
        ("usage", "tag, NOT tag", [("tag", "user:2"), ("not_tag", "channel:1")]),
        ("usage", "q (full text)", [("q", "lighthouse")]),
        ("usage", "kind", [("kind", "audio")]),
        ("usage", "rare tag", [("tag", "user:200")]),
        ("usage", "since + until", [("since", created_at(jobs // 2)), ("until", created_at(jobs // 2 + 600))]),
        ("usage", "model + since", [("model", "runware:101@1"), ("since", created_at(jobs - 3000))]),
    ]
    return forms


def url(group: str, params: list[tuple[str, str]]) -> str:
    if group == "usage":
        return f"{BASE}/v1/usage?{urlencode([('group_by', 'model'), *params])}"
    return f"{BASE}/v1/{group}?{urlencode([*params, ('limit', str(PAGE))])}"


RENDERING = {" ".join(sql.split()) for sql in (ARTIFACTS_BY_SEQS, JOBS_WITH_EXTRAS, ARTIFACTS_OF_JOBS)}
"""The statements that read a page's items to show them (ig.library.views), as opposed to those that
pick the page."""


def is_page_query(sql: str) -> bool:
    return " ".join(sql.split()) not in RENDERING


def measure(count: int, src: Path, paths, keep: Path | None) -> tuple[dict, list[dict]]:
    library = dataset(count) / "ig.sqlite3"
    forms = query_forms(count)
    with tempfile.TemporaryDirectory(prefix="ig-d1-rows-read-") as tmp:
        config = {
            "src": str(src),
            "wheels": [str(w) for w in paths.wheels],
            "seed": str(library),
            "persist": tmp,
            "requests": [{"name": f"{group}: {name}", "url": url(group, params)} for group, name, params in forms],
        }
        script = Path(__file__).resolve().with_name("d1_rows_read.mjs")
        done = subprocess.run(
            [paths.node, str(script), json.dumps(config)], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False
        )
        if keep:
            shutil.copytree(tmp, keep / str(count), dirs_exist_ok=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(PROTO)]
    if done.returncode or not lines:
        sys.exit(f"bench/d1_rows_read.mjs failed (exit {done.returncode}); its log is above")
    report = json.loads(lines[-1][len(PROTO) :])
    figures = []
    for (group, name, _), request in zip(forms, report["requests"], strict=True):
        if request["status"] != 200:
            sys.exit(f"{request['name']}: {request['status']} {request['error']}")
        statements = request["statements"]
        page = sum(s["rows_read"] for s in statements if is_page_query(s["sql"]))
        total = sum(s["rows_read"] for s in statements)
        if group == "usage":  # a report, not a page: what it must read is every job it counts and their results
            items, target = request["jobs"], 3 * (request["jobs"] + request["results"]) + CONSTANT
        else:
            items, target = request["items"], 3 * request["items"] + CONSTANT
        figures.append(
            {
                "group": group,
                "name": name,
                "page": page,
                "total": total,
                "items": items,
                "target": target,
                "statements": statements,
            }
        )
    return report, figures


def machine(report: dict) -> str:
    cpu = cpu_model()
    return (
        f"machine: {cpu}, {os.cpu_count()} cores; Node {report['node'].lstrip('v')}, Pyodide {report['pyodide']},"
        f" Miniflare's D1 (workerd); {PAGE}-item pages; target: page query <= 3 x items + {CONSTANT}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the Worker's source tree (default: src/)")
    parser.add_argument("--statements", action="store_true", help="print every statement with its rows read")
    parser.add_argument("--keep", type=Path, help="copy the Miniflare databases (d1/) into this directory")
    args = parser.parse_args()
    try:
        paths = ensure_worker_runtime()
    except WorkerRuntimeError as exc:
        sys.exit(f"error: {exc}")
    small, large = args.sizes
    runs = {size: measure(size, args.src.resolve(), paths, args.keep) for size in (large, small)}
    print(machine(runs[large][0]))
    print(
        f"{'query':40} {f'items @{large:,}':>14} {'page query':>10} {'per item':>8} {'target':>7}"
        f" {f'items @{small:,}':>13} {'page query':>10} {'target':>7} {f'all @{large:,}':>12} {f'all @{small:,}':>11}"
    )
    misses = 0
    for big, little in zip(runs[large][1], runs[small][1], strict=True):
        ok = big["page"] <= big["target"] and little["page"] <= little["target"]
        misses += not ok
        per_item = f"{big['page'] / big['items']:.2f}" if big["items"] else "-"
        print(
            f"{big['group'] + ': ' + big['name']:40} {big['items']:14,} {big['page']:10,} {per_item:>8}"
            f" {big['target']:7,} {little['items']:13,} {little['page']:10,} {little['target']:7,}"
            f" {big['total']:12,} {little['total']:11,}  {'ok' if ok else 'MISS'}"
        )
        if args.statements:
            for statement in big["statements"]:
                print(f"      {statement['rows_read']:>9,}  {' '.join(statement['sql'].split())[:150]}")
    print(
        f"page query: the statements that pick the page (all: with those that read its items to show them);"
        f" target: 3 x items + {CONSTANT}, for /v1/usage (items: the jobs it counts) 3 x (jobs + results) + {CONSTANT}"
    )
    print(f"{misses} of {len(runs[large][1])} query forms miss the target")


if __name__ == "__main__":
    main()
