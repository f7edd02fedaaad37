"""Cold-start import benchmark for the ig Python Worker (Pyodide 0.28.2 in Node).

    uv run python bench/worker_import.py [--runs 5] [--no-breakdown] [--variants bare,pydantic,workers,ig]

Sets up node_modules and the wheel cache exactly as the worker tests do
(tests/worker/runtime_cache.py, idempotent), then runs bench/worker_import.mjs with the harness's
node binary. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from worker.runtime_cache import WorkerRuntimeError, ensure_worker_runtime  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh interpreters per variant (default 5)")
    ap.add_argument("--variants", default="bare,pydantic,workers,ig", help="comma-separated subset")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the incremental and -X importtime runs")
    ap.add_argument("--src", default=str(ROOT / "src"), help="Worker source tree (default: src/)")
    args = ap.parse_args()

    try:
        paths = ensure_worker_runtime()
    except WorkerRuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    cfg = {
        "src": str(Path(args.src).resolve()),
        "wheels": [str(w) for w in paths.wheels],
        "runs": args.runs,
        "variants": [v for v in args.variants.split(",") if v],
        "breakdown": not args.no_breakdown,
    }
    script = Path(__file__).resolve().with_name("worker_import.mjs")
    return subprocess.run([paths.node, str(script), json.dumps(cfg)], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
