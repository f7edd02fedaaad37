"""The TypeScript client's types (clients/typescript/src/schema.ts) are what openapi-typescript, with
its default settings, makes of ig's OpenAPI document as the code describes it now: a change to the
API that is not regenerated into the client fails here."""

from __future__ import annotations

import difflib

from fixtures.typescript_client import SCHEMA, generated_schema

SHOWN_DIFF_LINES = 80


def test_the_committed_types_are_generated_from_the_current_document():
    committed, current = SCHEMA.read_text(encoding="utf-8"), generated_schema()
    diff = difflib.unified_diff(
        committed.splitlines(), current.splitlines(), "src/schema.ts (committed)", "generated now", lineterm=""
    )
    shown = "\n".join(line for _, line in zip(range(SHOWN_DIFF_LINES), diff, strict=False))
    assert committed == current, f"run `npm run generate` in clients/typescript:\n{shown}"
