"""``ig-server`` (also ``ig serve``, through the ``ig.commands`` entry point the client's ``ig`` reads):
runs the whole service on this machine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from ig import logs
from ig.settings import Settings

LOCAL_EXTRA = ("uvicorn", "httptools", "aiohttp", "certifi", "cryptography", "PIL")
"""The import names of the ``local`` extra's packages (Pillow's is ``PIL``): the Worker needs none of them,
so a plain ``pip install ig`` lacks them."""

DEFAULT_PROG = "ig-server"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=_prog(), description="Run ig locally: API, queue consumer and sweeper, all state under --data-dir."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--data-dir", type=Path, default=Path(".ig"), help="where all state is kept")
    parser.add_argument("--sweep-interval", type=float, default=30.0, help="seconds between sweeper runs")
    args = parser.parse_args(argv)

    try:
        from ig.adapters.local.runtime import LocalRuntime
    except ModuleNotFoundError as missing:
        if missing.name not in LOCAL_EXTRA:
            raise
        parser.exit(1, f"{parser.prog} needs {missing.name}, which is not installed: pip install 'ig[local]'\n")
    logs.install(logging.getLogger(), timestamps=True)  # the root, as basicConfig did: other libraries' lines too
    runtime = LocalRuntime(args.data_dir, Settings.from_mapping(os.environ), sweep_interval=args.sweep_interval)
    try:
        asyncio.run(runtime.serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


def _prog() -> str:
    """The name the user typed: ``ig-server``, or ``ig serve`` (the client's ``ig`` sets ``argv[0]`` so);
    ``python -m`` would show ``cli.py``, which nobody typed."""
    typed = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return DEFAULT_PROG if not typed or typed.endswith(".py") else typed


if __name__ == "__main__":
    main()
