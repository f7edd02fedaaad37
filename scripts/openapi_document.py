"""Prints ig's OpenAPI document as JSON: the document ``GET /openapi.json`` serves, with ``servers``
naming ``ig serve``'s default address, so that code generated from it (the TypeScript client's types)
can be regenerated, and checked to be current, without a running server.

    uv run python scripts/openapi_document.py                  # to stdout
    uv run python scripts/openapi_document.py openapi.json     # to a file

The output depends only on the code: keys keep the document's own order, and it ends with a newline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ig.api import openapi
from ig.api.routes import ROUTER

SERVER_URL = "http://127.0.0.1:8787"


def text() -> str:
    return json.dumps(openapi.document(ROUTER, SERVER_URL), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        Path(argv[1]).write_text(text(), encoding="utf-8")
    else:
        sys.stdout.write(text())


if __name__ == "__main__":
    main(sys.argv)
