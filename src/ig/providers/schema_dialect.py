"""What fal and Replicate share as dialects: each model in ig's catalogue carries the JSON Schema
of its input (generated from the provider's own published schema), so a request is resolved and
checked against it; a model outside the catalogue is passed through unchecked."""

from __future__ import annotations

from typing import Any, Protocol

from ig.errors import FieldError
from ig.providers import vocabulary
from ig.providers.json_schema import validate
from ig.providers.runware import tasks
from ig.providers.vocabulary import Placement


class CatalogueEntry(Protocol):
    task: str
    input_schema: dict[str, Any]


class SchemaDialect:
    unknown_model_task = "inference"
    """A model outside the catalogue runs as this generic task when the request names none."""

    def entry(self, model: str) -> CatalogueEntry | None:
        raise NotImplementedError

    def placements(self, model: str) -> dict[str, Placement]:
        raise NotImplementedError

    def task_of(self, model: str) -> str | None:
        known = self.entry(model)
        return known.task if known else None

    def native_params(self, task: str, model: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        known = self.entry(model)
        accepted = frozenset(known.input_schema.get("properties") or ()) if known else None
        return vocabulary.to_native(params, self.placements(model), accepted=accepted)

    def param_errors(
        self, task: str, model: str, params: dict[str, Any], skip: frozenset[str] = frozenset()
    ) -> list[FieldError]:
        known = self.entry(model)
        if known is None:
            return []
        errors = []
        for error in validate(known.input_schema, {k: v for k, v in params.items() if k not in skip}):
            if error.path and error.path[0] in skip:
                continue
            if error.code == "required" and error.path and error.path[-1] in skip:
                continue
            path = "params" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
            errors.append(FieldError(path, error.message, error.code))
        return errors

    def default_timeout(self, task: str, model: str) -> int:
        # ig's task types (and their deadlines) are specified with Runware's, where they came from:
        # an image job gets the same deadline on every provider.
        return tasks.default_timeout(task)

    def expected_results(self, task: str, params: dict[str, Any]) -> int:
        return 1  # one request, one result, however many files it holds

    def searchable_text(self, params: dict[str, Any]) -> str:
        return "\n".join(params[k] for k in ("prompt", "text") if isinstance(params.get(k), str))
