"""ig's curated catalogue of fal endpoints: what each takes (the JSON Schema of its request body,
from fal's own OpenAPI document) and where its outputs are. The data is ``endpoints_data`` beside
this module (JSON text in a Python module, so the Worker carries it like any code), written by
``scripts/fal_catalogue.py`` and committed: nothing is fetched at run time. It is parsed once,
on first use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ig.providers.json_schema import SchemaError, validate

_ENDPOINT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)+")
_MAX_ID_LENGTH = 200


@dataclass(frozen=True)
class FalEndpoint:
    endpoint_id: str
    """``owner/app[/path]``, as submitted to the queue."""
    category: str
    """fal's own ``x-fal-metadata.category`` (``text-to-image``, ``image-to-video``, ...)."""
    task: str
    """The ig task it runs (``imageInference``, ``upscale``, ...)."""
    title: str
    description: str
    input_schema: dict[str, Any]
    output_files: tuple[str, ...]
    """Output fields holding a file, or a list of files (``images``, ``video``, ``audio``)."""
    output_text: tuple[str, ...]
    """Output fields holding text worth keeping (a transcription's ``text``)."""


@cache
def all_endpoints() -> tuple[FalEndpoint, ...]:
    """Every catalogue endpoint, sorted by id."""
    from ig.providers.fal import endpoints_data  # 50 KB of text: loaded only when first asked

    data = json.loads(endpoints_data.TEXT)
    return tuple(
        FalEndpoint(
            endpoint_id=item["endpoint_id"],
            category=item["category"],
            task=item["task"],
            title=item["title"],
            description=item["description"],
            input_schema=item["input_schema"],
            output_files=tuple(item["output_files"]),
            output_text=tuple(item["output_text"]),
        )
        for item in data["endpoints"]
    )


@cache
def _by_id() -> dict[str, FalEndpoint]:
    return {endpoint.endpoint_id: endpoint for endpoint in all_endpoints()}


def endpoint(endpoint_id: str) -> FalEndpoint | None:
    """The catalogue entry for ``endpoint_id``, or None when ig does not carry it."""
    return _by_id().get(endpoint_id)


def looks_like_endpoint_id(value: object) -> bool:
    """Whether ``value`` has the shape of a fal endpoint id: ``owner/app`` with optional further
        path segments, each of letters, digits, ``-``, ``_`` and ``.`` (some owners are capitalised:
    ``Pixelcut/...``)."""
    return isinstance(value, str) and len(value) <= _MAX_ID_LENGTH and _ENDPOINT_ID.fullmatch(value) is not None


def input_errors(endpoint: FalEndpoint, params: Any) -> list[SchemaError]:
    """Every way ``params`` fails the endpoint's request schema; empty when fal should accept it."""
    return validate(endpoint.input_schema, params)
