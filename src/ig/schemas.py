"""Request models for ig's API (pydantic), and the translation of their validation errors into
ig's field list. Responses are rendered by ``ig.views``."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ig.errors import FieldError, ValidationFailed
from ig.runware import RESERVED_PARAMS

MAX_TAGS = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Tag = Annotated[str, Field(min_length=1, max_length=128)]


def check_tag(tag: str) -> str:
    if _CONTROL.search(tag):
        raise ValueError("tags may not contain control characters")
    return tag


class JobRequest(BaseModel):
    """``POST /v1/jobs``: one inference task, in Runware's own parameter names."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    """A Runware taskType, e.g. ``imageInference``."""
    model: str = Field(min_length=1, max_length=256)
    """A Runware AIR id (``runware:101@1``); any string for the mock provider."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Task parameters under Runware's names (``positivePrompt``, ``width``, ...)."""
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Opaque to ig; returned with the job."""
    provider: Literal["runware", "mock"] = "runware"

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            check_tag(tag)
        return list(dict.fromkeys(tags))

    @field_validator("params")
    @classmethod
    def _params(cls, params: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_PARAMS & params.keys())
        if reserved:
            raise ValueError(f"ig sets {', '.join(reserved)} itself; leave them out of params")
        return params


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "body"
        errors.append(FieldError(path, err["msg"].removeprefix("Value error, "), err["type"]))
    return errors


def parse_json_body(raw: bytes) -> Any:
    if not raw:
        raise ValidationFailed([FieldError("body", "a JSON body is required", "missing")])
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed([FieldError("body", f"not valid JSON: {exc}", "json_invalid")]) from exc


def parse_job_request(raw: bytes) -> JobRequest:
    data = parse_json_body(raw)
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object", "object_type")])
    try:
        return JobRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from exc
