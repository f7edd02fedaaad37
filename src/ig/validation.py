"""Pydantic validation errors as ig's field list: every problem in one 422, each with its path."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ig.errors import FieldError, ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "body"
        errors.append(FieldError(path, err["msg"].removeprefix("Value error, "), err["type"]))
    return errors


def parse_model(model: type[ModelT], data: Any) -> ModelT:
    """Validate a decoded JSON body; every problem is listed in one ``ValidationFailed``."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object", "object_type")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from exc
