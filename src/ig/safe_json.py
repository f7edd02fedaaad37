"""JSON that arrives from outside (a client's body, a provider's answer), read safely: nesting
past ``MAX_JSON_DEPTH`` is refused before decoding (``json.loads`` recurses once per level), and
``NaN``/``Infinity`` are refused (Python reads them; no strict parser does). Clients' bodies are
read strictly (UTF-8 only, each problem a 422); providers' leniently (None when not JSON)."""

from __future__ import annotations

import array
import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ig.errors import FieldError, ValidationFailed

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects ig decodes. Real bodies nest a handful of levels;
json.loads recurses once per level, so a deeper body is refused before it is decoded."""
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` opens more than ``limit`` arrays or objects inside one another (brackets
    in strings do not count), found by a running sum over its brackets: no recursion, no
    decoding, about 15 ms for a megabyte of brackets."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    outside_strings = _JSON_STRING.sub(b"", raw) if b'"' in raw else raw
    steps = array.array("b", outside_strings.translate(_DEPTH_STEP, _NOT_BRACKETS))
    return max(itertools.accumulate(steps), default=0) > limit


def decode_json(raw: bytes) -> Any:
    """The JSON in ``raw``, or None when it is not JSON (or nested past ``MAX_JSON_DEPTH``)."""
    if json_too_deep(raw):
        return None
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _not_json(constant: str) -> Any:
    """Python reads ``NaN`` and ``Infinity``, but they are not JSON: echoed back or sent on to the
    provider they would make answers strict parsers refuse."""
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is too large for a JSON number")
    return number


def too_deeply_nested() -> ValidationFailed:
    message = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return ValidationFailed([FieldError("body", message, "too_deeply_nested")])


_UTF16_32_MARKS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class JsonBody:
    value: Any
    text: str
    """The body as received, decoded (UTF-8, without a byte order mark): kept for provenance."""


def decode_json_body(raw: bytes) -> JsonBody:
    """A client's JSON body, the one way every route reads one: UTF-8 only (RFC 8259; a UTF-8
    byte order mark is ignored), nesting past ``MAX_JSON_DEPTH`` refused undecoded, and no
    ``\\u`` escape naming half a surrogate pair (no character; storing one fails later)."""
    if not raw:
        raise ValidationFailed([FieldError("body", "a JSON body is required", "missing")])
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        encoding = next((name for mark, name in _UTF16_32_MARKS if raw.startswith(mark)), None)
        message = "JSON bodies must be UTF-8 (RFC 8259)" + (f"; this one is {encoding}" if encoding else "")
        raise ValidationFailed([FieldError("body", message, "not_utf8")]) from None
    if json_too_deep(raw):
        raise too_deeply_nested()
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError as exc:
        raise too_deeply_nested() from exc
    except ValueError as exc:
        raise ValidationFailed([FieldError("body", f"not valid JSON: {exc}", "json_invalid")]) from exc
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            message = "a \\u escape names half of a surrogate pair, which is not a character"
            raise ValidationFailed([FieldError("body", message, "lone_surrogate")]) from None
    return JsonBody(value, text)


def parse_json_body(raw: bytes) -> Any:
    return decode_json_body(raw).value
