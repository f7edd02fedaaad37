"""A validator for the JSON Schema subset that providers' published input schemas use (fal's
per-endpoint OpenAPI documents; Replicate's Cog schemas are the same kind), so a bad request is
refused with every bad field named before anything is spent.

Plain Python on purpose: this ships inside the Worker, where ``jsonschema`` (and its native
``rpds-py`` dependency) would add deploy size and cold-start time for a job a few hundred lines
do. The test suite holds it to ``jsonschema`` on every catalogue endpoint.

Covered: ``type`` (an integer is a whole number, and a boolean is never a number), ``enum``,
``const``, the numeric bounds (``minimum``, ``maximum``, ``exclusiveMinimum``,
``exclusiveMaximum``, ``multipleOf``), ``minLength``/``maxLength``/``pattern``,
``minItems``/``maxItems``/``uniqueItems``/``items``/``prefixItems``, ``properties``,
``required``, ``additionalProperties``, ``patternProperties``, ``min``/``maxProperties``,
``allOf``/``anyOf``/``oneOf``/``not``, ``$ref`` to ``#`` or ``#/...`` inside the same document,
and OpenAPI's ``nullable``. ``default``, ``format`` and annotations are ignored, as a validator
should.

The work is bounded: nesting (of the value and of ``$ref`` chains) stops at ``MAX_DEPTH``, the
number of schema nodes visited at ``MAX_STEPS``, and results for a container value under a given
subschema are remembered, so nested ``anyOf`` branches over the same value never multiply.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Path = tuple[str | int, ...]

MAX_DEPTH = 48
"""Deeper than any fal input (a few levels); deep enough that a real request never meets it."""
MAX_STEPS = 50_000
"""Schema nodes visited in one validation; a fal request takes a few hundred."""
ENUM_SHOWN = 12
"""Choices listed in a message; whisper's language enum has about a hundred."""


@dataclass(frozen=True)
class SchemaError:
    path: Path
    """Where in the value: object keys and list indexes, ``()`` for the value itself."""
    message: str
    code: str


def validate(schema: dict[str, Any] | bool, value: Any) -> list[SchemaError]:
    """Every way ``value`` fails ``schema`` (empty when it is valid), in a stable order."""
    run = _Run(schema)
    errors = run.check(schema, value, 0)
    unique: dict[tuple[Path, str, str], SchemaError] = {}
    for error in errors:
        unique.setdefault((error.path, error.message, error.code), error)
    return list(unique.values())


class _Run:
    def __init__(self, root: dict[str, Any] | bool) -> None:
        self.root = root
        self.steps = 0
        # Keyed on object identity: both the schema and the value stay alive and unchanged for
        # the whole run, so the same pair always gives the same answer.
        self.memo: dict[tuple[int, int], list[SchemaError]] = {}

    def check(self, schema: Any, value: Any, depth: int) -> list[SchemaError]:
        """Errors with paths relative to ``value``."""
        if schema is True or schema == {}:
            return []
        if schema is False:
            return [SchemaError((), "is not allowed", "not_allowed")]
        if not isinstance(schema, dict):
            raise ValueError(f"not a schema: {schema!r}")
        if depth > MAX_DEPTH:
            return [SchemaError((), "is nested too deeply to validate", "too_deep")]
        self.steps += 1
        if self.steps > MAX_STEPS:
            return [SchemaError((), "is too complex to validate", "too_complex")]
        key = (id(schema), id(value))
        if isinstance(value, dict | list):
            if key in self.memo:
                return self.memo[key]
            # Marks the pair in progress: a $ref cycle that returns to it adds nothing.
            self.memo[key] = []
        errors = self._check(schema, value, depth)
        if isinstance(value, dict | list):
            self.memo[key] = errors
        return errors

    def _check(self, schema: dict[str, Any], value: Any, depth: int) -> list[SchemaError]:
        if value is None and schema.get("nullable") is True:
            return []
        errors: list[SchemaError] = []
        if "$ref" in schema:
            errors += self.check(self._resolve(schema["$ref"]), value, depth + 1)
        if "type" in schema and not _has_type(value, schema["type"]):
            # Nothing else about a value of the wrong type is worth reporting.
            return [*errors, SchemaError((), f"must be {_type_phrase(schema['type'], schema)}", "type")]
        if "enum" in schema and not any(_same(value, choice) for choice in schema["enum"]):
            errors.append(SchemaError((), f"must be one of {_choices(schema['enum'])}", "enum"))
        if "const" in schema and not _same(value, schema["const"]):
            errors.append(SchemaError((), f"must be {_show(schema['const'])}", "const"))
        if _is_number(value):
            errors += _number_errors(schema, value)
        elif isinstance(value, str):
            errors += _string_errors(schema, value)
        elif isinstance(value, list):
            errors += self._array_errors(schema, value, depth)
        elif isinstance(value, dict):
            errors += self._object_errors(schema, value, depth)
        for branch in schema.get("allOf", ()):
            errors += self.check(branch, value, depth + 1)
        if "anyOf" in schema:
            errors += self._alternatives(schema["anyOf"], value, depth, exactly_one=False)
        if "oneOf" in schema:
            errors += self._alternatives(schema["oneOf"], value, depth, exactly_one=True)
        if "not" in schema and not self.check(schema["not"], value, depth + 1):
            errors.append(SchemaError((), "must not match the excluded shape", "not"))
        return errors

    def _resolve(self, ref: str) -> Any:
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            raise ValueError(f"only references inside the schema are supported, not {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ValueError(f"schema reference {ref!r} does not resolve")
        return node

    def _array_errors(self, schema: dict[str, Any], value: list[Any], depth: int) -> list[SchemaError]:
        errors = []
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(SchemaError((), f"must have at least {_items(schema['minItems'])}", "min_items"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(SchemaError((), f"must have at most {_items(schema['maxItems'])}", "max_items"))
        if schema.get("uniqueItems") is True and len({_canonical(item) for item in value}) < len(value):
            errors.append(SchemaError((), "must not repeat an item", "unique_items"))
        prefix = schema.get("prefixItems", ())
        for index, item in enumerate(value):
            item_schema = prefix[index] if index < len(prefix) else schema.get("items", True)
            errors += _under(index, self.check(item_schema, item, depth + 1))
        return errors

    def _object_errors(self, schema: dict[str, Any], value: dict[str, Any], depth: int) -> list[SchemaError]:
        errors = [
            SchemaError((name,), "required", "required") for name in schema.get("required", ()) if name not in value
        ]
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            errors.append(SchemaError((), f"must have at least {schema['minProperties']} fields", "min_properties"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(SchemaError((), f"must have at most {schema['maxProperties']} fields", "max_properties"))
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            matched = False
            if name in properties:
                matched = True
                errors += _under(name, self.check(properties[name], item, depth + 1))
            for pattern, item_schema in patterns.items():
                if _regex(pattern).search(name):
                    matched = True
                    errors += _under(name, self.check(item_schema, item, depth + 1))
            if matched:
                continue
            if extra is False:
                errors.append(SchemaError((name,), "is not an accepted field", "unexpected"))
            else:
                errors += _under(name, self.check(extra, item, depth + 1))
        return errors

    def _alternatives(self, branches: list[Any], value: Any, depth: int, *, exactly_one: bool) -> list[SchemaError]:
        results = [self.check(branch, value, depth + 1) for branch in branches]
        passed = sum(not errors for errors in results)
        if passed == 1 or (passed > 1 and not exactly_one):
            return []
        if passed > 1:
            return [SchemaError((), f"must match exactly one of the allowed shapes, not {passed}", "one_of")]
        # One branch is clearly meant when it is the only one that takes a value of this type
        # (an object given where the choices are {width, height} or a preset name): its own,
        # more precise errors say what is wrong.
        meant = [errors for branch, errors in zip(branches, results, strict=True) if self._takes_type(branch, value)]
        if len(meant) == 1:
            return meant[0]
        shapes = [self._describe(branch) for branch in branches]
        return [SchemaError((), "must be " + " or ".join(dict.fromkeys(shapes)), "any_of")]

    def _branch(self, schema: Any, hops: int = 0) -> Any:
        """The schema a branch stands for once ``$ref`` and single ``allOf`` wrappers are peeled."""
        while isinstance(schema, dict) and hops < MAX_DEPTH:
            hops += 1
            if "$ref" in schema:
                schema = self._resolve(schema["$ref"])
            elif "type" not in schema and len(schema.get("allOf", ())) == 1:
                schema = schema["allOf"][0]
            else:
                break
        return schema

    def _takes_type(self, branch: Any, value: Any) -> bool:
        schema = self._branch(branch)
        if not isinstance(schema, dict):
            return schema is not False
        if "type" in schema:
            return _has_type(value, schema["type"])
        if "enum" in schema or "const" in schema:
            choices = schema.get("enum", [schema.get("const")])
            return any(_json_type(choice) == _json_type(value) for choice in choices)
        return True

    def _describe(self, branch: Any) -> str:
        schema = self._branch(branch)
        if not isinstance(schema, dict):
            return "anything" if schema is not False else "nothing"
        if "enum" in schema:
            return f"one of {_choices(schema['enum'])}"
        if "const" in schema:
            return _show(schema["const"])
        if "type" in schema:
            return _type_phrase(schema["type"], schema)
        return "another allowed shape"


def _under(step: str | int, errors: list[SchemaError]) -> list[SchemaError]:
    return [SchemaError((step, *error.path), error.message, error.code) for error in errors]


def _number_errors(schema: dict[str, Any], value: float) -> list[SchemaError]:
    errors = []
    low, high = schema.get("minimum"), schema.get("maximum")
    # OpenAPI 3.0 spells an exclusive bound as a boolean beside minimum/maximum; fal writes the
    # JSON Schema number form. Both are read.
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_low is True:
        ex_low, low = low, None
    if ex_high is True:
        ex_high, high = high, None
    if _is_number(low) and value < low:
        errors.append(SchemaError((), f"must be at least {_show(low)}", "minimum"))
    if _is_number(ex_low) and value <= ex_low:
        errors.append(SchemaError((), f"must be greater than {_show(ex_low)}", "exclusive_minimum"))
    if _is_number(high) and value > high:
        errors.append(SchemaError((), f"must be at most {_show(high)}", "maximum"))
    if _is_number(ex_high) and value >= ex_high:
        errors.append(SchemaError((), f"must be less than {_show(ex_high)}", "exclusive_maximum"))
    step = schema.get("multipleOf")
    if _is_number(step) and step > 0 and not _multiple(value, step):
        errors.append(SchemaError((), f"must be a multiple of {_show(step)}", "multiple_of"))
    return errors


def _string_errors(schema: dict[str, Any], value: str) -> list[SchemaError]:
    errors = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(SchemaError((), f"must be at least {_chars(schema['minLength'])} long", "min_length"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(SchemaError((), f"must be at most {_chars(schema['maxLength'])} long", "max_length"))
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        errors.append(SchemaError((), f"must match the pattern {schema['pattern']}", "pattern"))
    return errors


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _multiple(value: float, step: float) -> bool:
    if isinstance(value, int) and isinstance(step, int):
        return value % step == 0
    quotient = value / step
    return math.isfinite(quotient) and quotient == int(quotient)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _has_type(value: Any, expected: str | list[str]) -> bool:
    names = [expected] if isinstance(expected, str) else expected
    kind = _json_type(value)
    for name in names:
        if name == kind:
            return True
        # JSON has one number type: 2.0 is an integer, as it is to fal's own (pydantic) check.
        if name == "integer" and kind == "number" and (isinstance(value, int) or float(value).is_integer()):
            return True
    return False


_ARTICLES = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "an object",
}


def _type_phrase(expected: str | list[str], schema: dict[str, Any]) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    if schema.get("nullable") is True and "null" not in names:
        names.append("null")
    return " or ".join(_ARTICLES.get(name, name) for name in names)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1."""
    if _json_type(a) != _json_type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def _choices(choices: list[Any]) -> str:
    shown = ", ".join(_show(choice) for choice in choices[:ENUM_SHOWN])
    hidden = len(choices) - ENUM_SHOWN
    return f"{shown}, … ({hidden} more)" if hidden > 0 else shown


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _chars(count: int) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"
