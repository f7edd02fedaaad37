"""``ig``: the local command line. ``ig serve`` runs the whole service on this machine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from ig import logs
from ig.settings import Settings

LOCAL_EXTRA = ("uvicorn", "httptools", "aiohttp", "certifi", "cryptography")
"""The packages of the ``local`` extra: the Worker needs neither, so a plain ``pip install ig`` lacks them."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ig", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run ig locally: API, queue consumer and sweeper")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument("--data-dir", type=Path, default=Path(".ig"), help="where all state is kept")
    serve.add_argument("--sweep-interval", type=float, default=30.0, help="seconds between sweeper runs")
    args = parser.parse_args(argv)

    try:
        from ig.adapters.local.runtime import LocalRuntime
    except ModuleNotFoundError as missing:
        if missing.name not in LOCAL_EXTRA:
            raise
        parser.exit(1, f"ig serve needs {missing.name}, which is not installed: pip install 'ig[local]'\n")
    logs.install(logging.getLogger(), timestamps=True)  # the root, as basicConfig did: other libraries' lines too
    runtime = LocalRuntime(args.data_dir, Settings.from_mapping(os.environ), sweep_interval=args.sweep_interval)
    try:
        asyncio.run(runtime.serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
