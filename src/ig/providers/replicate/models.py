"""ig's curated catalogue of Replicate models: what each takes (the JSON Schema of its input, from
the Cog ``openapi_schema`` of the model version it names) and how its output is shaped. The data
is ``models_data`` beside this module (JSON text in a Python module, so the Worker carries it like
any code), written by ``scripts/replicate_catalogue.py`` and committed: nothing is fetched at run
time. It is parsed once, on first use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ig.providers.json_schema import SchemaError, validate

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_VERSION = r"[0-9a-f]{64}"
_MODEL_REF = re.compile(rf"{_SEGMENT}/{_SEGMENT}(:{_VERSION})?|{_VERSION}")
_MAX_REF_LENGTH = 200


@dataclass(frozen=True)
class ReplicateModel:
    model: str
    """``owner/name``."""
    version: str | None
    """The version (64 hex digits) whose schema this is; an official model also runs without one,
    by ``owner/name``, on whatever version Replicate serves."""
    task: str
    """The ig task it runs (``imageInference``, ``transcription``, ...)."""
    title: str
    description: str
    input_schema: dict[str, Any]
    output_kind: str
    """The shape of a prediction's ``output``: ``file`` (one URL), ``files`` (a list of URLs),
    ``text``, ``tokens`` (strings to be joined, as a language model streams them), ``texts`` (a
    list of strings), ``object`` (named fields) or ``other``."""
    output_iterator: bool
    """Whether Cog yields the output piece by piece (``x-cog-array-type: iterator``): while the
    prediction runs, ``output`` holds what has come so far."""
    output_files: tuple[str, ...]
    """For an ``object`` output, the fields holding a file or a list of files (Bark's
    ``audio_out``)."""


@cache
def all_models() -> tuple[ReplicateModel, ...]:
    """Every catalogue model, sorted by ``owner/name``."""
    from ig.providers.replicate import models_data  # 90 KB of text: loaded only when first asked

    data = json.loads(models_data.TEXT)
    return tuple(
        ReplicateModel(
            model=item["model"],
            version=item["version"],
            task=item["task"],
            title=item["title"],
            description=item["description"],
            input_schema=item["input_schema"],
            output_kind=item["output_kind"],
            output_iterator=item["output_iterator"],
            output_files=tuple(item["output_files"]),
        )
        for item in data["models"]
    )


@cache
def _by_name() -> dict[str, ReplicateModel]:
    return {entry.model: entry for entry in all_models()}


@cache
def _by_version() -> dict[str, ReplicateModel]:
    return {entry.version: entry for entry in all_models() if entry.version}


def model(name: str) -> ReplicateModel | None:
    """The catalogue entry for ``owner/name``, or None when ig does not carry it. A reference that
    pins a version (``owner/name:<version>``, or the version id alone) finds the entry only when
    that version is the catalogued one: another version may take other inputs."""
    if not isinstance(name, str):
        return None
    found = _by_version().get(name)
    if found is not None:
        return found
    base, _, version = name.partition(":")
    found = _by_name().get(base)
    if found is None or (version and version != found.version):
        return None
    return found


def looks_like_model_ref(value: object) -> bool:
    """Whether ``value`` names a Replicate model the way a prediction does: ``owner/name``,
    ``owner/name:<version>`` or the version id alone (64 lowercase hex digits). Owners and names
    are letters, digits, ``-``, ``_`` and ``.`` (``meta/meta-llama-3.1-405b-instruct``,
    ``851-labs/...``)."""
    return isinstance(value, str) and len(value) <= _MAX_REF_LENGTH and _MODEL_REF.fullmatch(value) is not None


def input_errors(entry: ReplicateModel, params: Any) -> list[SchemaError]:
    """Every way ``params`` fails the model's input schema; empty when Replicate should accept it."""
    return validate(entry.input_schema, params)
