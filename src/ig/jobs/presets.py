"""Presets: named, versioned job templates kept by ig. Every change is a new immutable version;
a job made from a preset records (name, version) and its fully resolved parameters, so any
artifact can be re-created exactly even after the preset changes or is deleted."""

from __future__ import annotations

import json
from typing import Any

from ig.errors import NotFound, ValidationFailed
from ig.jobs import placeholders
from ig.jobs.requests import (
    PresetRequest,
    metadata_errors,
    provider_errors,
    task_size_errors,
)
from ig.ports import Database, Row
from ig.providers import catalogue
from ig.providers.registry import dialect_for
from ig.settings import Settings
from ig.validation import parse_model

SELECT_CURRENT = """
SELECT p.name, p.version, p.created_at, p.updated_at, v.body, v.created_at AS version_created_at
FROM presets p JOIN preset_versions v ON v.name = p.name AND v.version = p.version
"""
SELECT_VERSION = """
SELECT v.name, v.version, v.body, v.created_at AS version_created_at, p.created_at, p.updated_at
FROM preset_versions v LEFT JOIN presets p ON p.name = v.name
WHERE v.name = ?1 AND v.version = ?2
"""
# The next version number continues after deletions, so (name, version) never means two things.
INSERT_VERSION = """
INSERT INTO preset_versions (name, version, body, created_at)
SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3 FROM preset_versions WHERE name = ?1
"""
POINT_AT_LATEST = """
INSERT INTO presets (name, version, created_at, updated_at)
SELECT ?1, max(version), ?2, ?2 FROM preset_versions WHERE name = ?1
ON CONFLICT (name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at
"""
DELETE_PRESET = "DELETE FROM presets WHERE name = ?1"
MAX_LISTED = 1000


def check_preset(body: PresetRequest, settings: Settings) -> None:
    """What can be checked before the variables are known: the provider, the model and task,
    every parameter that holds no placeholder, and the sizes (a template over the task limit can
    make no job)."""
    # A preset naming several providers is checked for the first; each job made from it checks them all.
    provider = (catalogue.provider_order(body.provider, body.model, lambda name: True) or ["runware"])[0]
    errors = [
        *task_size_errors(body.params, None, settings.max_task_bytes),
        *metadata_errors(body.metadata),
        *(e for e in provider_errors(provider, settings) if provider == "mock"),
    ]
    choice = catalogue.choose_model(body.model, body.task, provider, errors)
    if choice.task is not None:
        dialect = dialect_for(provider)
        params, naming = catalogue.native_params(dialect, choice.task, choice.model, body.params, choice.defaults)
        errors += naming
        if not naming:
            # A templated common name (``prompt: "{subject}"``) is checked under its native name.
            native_templated = dialect.native_params(
                choice.task, choice.model, {k: v for k, v in body.params.items() if placeholders.names_in(v)}
            )[0]
            errors.extend(dialect.param_errors(choice.task, choice.model, params, skip=frozenset(native_templated)))
    if errors:
        raise ValidationFailed(errors)


def render(row: Row) -> dict[str, Any]:
    body = json.loads(row["body"])
    return {
        "name": row["name"],
        "version": row["version"],
        **body,
        "variables": sorted(placeholders.names_in(body["params"])),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version_created_at": row["version_created_at"],
    }


async def put_preset(db: Database, name: str, data: Any, now: str, settings: Settings) -> tuple[dict[str, Any], bool]:
    """Create or update; returns the preset and whether a new version was written. Putting the
    same body again writes nothing (PUT is idempotent)."""
    body = parse_model(PresetRequest, data)
    check_preset(body, settings)
    stored = json.dumps(body.model_dump(), sort_keys=True)
    current = await db.first(SELECT_CURRENT + " WHERE p.name = ?1", [name])
    if current is not None and current["body"] == stored:  # stored bodies are written in this same form
        return render(current), False
    await db.batch([(INSERT_VERSION, [name, stored, now]), (POINT_AT_LATEST, [name, now])])
    row = await db.first(SELECT_CURRENT + " WHERE p.name = ?1", [name])
    assert row is not None
    return render(row), True


async def get_preset(db: Database, name: str, version: int | None = None) -> dict[str, Any]:
    if version is None:
        row = await db.first(SELECT_CURRENT + " WHERE p.name = ?1", [name])
    else:
        row = await db.first(SELECT_VERSION, [name, version])
    if row is None:
        raise NotFound(f"no preset {name}" + (f" version {version}" if version is not None else ""))
    return render(row)


async def list_presets(db: Database) -> dict[str, Any]:
    rows = await db.all(SELECT_CURRENT + " ORDER BY p.name LIMIT ?1", [MAX_LISTED])
    return {"items": [render(r) for r in rows]}


async def delete_preset(db: Database, name: str) -> None:
    if await db.run(DELETE_PRESET, [name]) == 0:
        raise NotFound(f"no preset {name}")


async def current_version(db: Database, name: str) -> tuple[int, PresetRequest] | None:
    row = await db.first(SELECT_CURRENT + " WHERE p.name = ?1", [name])
    if row is None:
        return None
    return row["version"], PresetRequest.model_validate(json.loads(row["body"]))
