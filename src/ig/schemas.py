"""Request models for ig's API (pydantic), and the translation of their validation errors into
ig's field list. Responses are rendered by ``ig.views``."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ig.errors import FieldError, ValidationFailed
from ig.runware import MAX_JSON_DEPTH, RESERVED_PARAMS, json_too_deep
from ig.settings import Settings

MAX_TAGS = 50
MAX_METADATA_BYTES = 64 * 1024
"""Metadata as JSON, a preset's and a job's together: it travels with every job view and callback."""
MAX_TIMEOUT_SECONDS = 24 * 3600
CallbackEvent = Literal["job.succeeded", "job.failed", "artifact.stored"]
MAX_BATCH = 50
TASK_PATTERN = r"^[A-Za-z0-9]+$"
PRESET_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

MAX_TAG_LENGTH = 128
_NOT_IN_TAGS = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories a tag may not hold: control, format (zero-width and bidi marks, BOM) and
surrogate characters, line and paragraph separators; invisible, or able to disguise a tag."""
TAG_RULE = (
    f"1 to {MAX_TAG_LENGTH} characters once normalised to Unicode NFC with surrounding whitespace removed; "
    "no control, format (zero-width, bidi, BOM) or line/paragraph separator characters"
)
TAG_PATTERN = (
    r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*$"
)
"""``TAG_RULE``'s refusals within the Basic Multilingual Plane, as a pattern for the API document
(normalising, and the few format characters beyond the BMP, only ``normalize_tag`` does)."""

ModelT = TypeVar("ModelT", bound=BaseModel)


def normalize_tag(value: str) -> str:
    """The tag as stored and matched (NFC, trimmed), or ``ValueError`` saying what is wrong: so
    "café" typed either way, or with a stray space, is one tag."""
    tag = unicodedata.normalize("NFC", value).strip()
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise ValueError(f"tags are 1 to {MAX_TAG_LENGTH} characters, not counting surrounding whitespace")
    for char in tag:
        if unicodedata.category(char) in _NOT_IN_TAGS:
            raise ValueError(f"tags may not contain control, format or separator characters (U+{ord(char):04X})")
    return tag


Tag = Annotated[
    str,
    AfterValidator(normalize_tag),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": TAG_PATTERN}),
]


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _no_reserved(params: dict[str, Any]) -> dict[str, Any]:
    reserved = sorted(RESERVED_PARAMS & params.keys())
    if reserved:
        raise ValueError(f"ig sets {', '.join(reserved)} itself; leave them out of params")
    return params


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique_tags)]
TaskParams = Annotated[dict[str, Any], AfterValidator(_no_reserved)]


def task_size(params: dict[str, Any]) -> int:
    """A task's size as ig stores it and the provider receives it: its parameters as JSON."""
    return len(json.dumps(params))


def metadata_errors(metadata: dict[str, Any], preset: str | None = None) -> list[FieldError]:
    size = len(json.dumps(metadata))
    if size <= MAX_METADATA_BYTES:
        return []
    made = f"with preset {preset}'s, " if preset else ""
    message = f"{made}metadata is {size} bytes as JSON; at most {MAX_METADATA_BYTES}"
    return [FieldError("metadata", message, "too_large")]


def task_size_errors(params: dict[str, Any], preset: str | None, limit: int) -> list[FieldError]:
    size = task_size(params)
    if size <= limit:
        return []
    made = f"with preset {preset} filled in, " if preset else ""
    message = (
        f"{made}the parameters are {size} bytes as JSON, over the {limit}-byte limit (IG_MAX_TASK_BYTES); "
        'send large inputs as uploads ("artifact:<id>")'
    )
    return [FieldError("params", message, "task_too_large")]


def provider_errors(provider: str, settings: Settings) -> list[FieldError]:
    """Whether this deployment can run the provider at all."""
    if provider == "mock" and not settings.mock_provider:
        return [FieldError("provider", "the mock provider is off here; IG_MOCK_PROVIDER=1 turns it on", "unavailable")]
    if provider == "runware" and not settings.runware_api_key:
        hint = '; use provider "mock" to try ig' if settings.mock_provider else ""
        return [FieldError("provider", f"RUNWARE_API_KEY is not configured{hint}", "unavailable")]
    return []


class JobRequest(BaseModel):
    """``POST /v1/jobs``: one inference task, in Runware's own parameter names, given directly or
    through a preset."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(None, min_length=1, max_length=64, pattern=TASK_PATTERN)
    """A Runware taskType, e.g. ``imageInference``; may be left out when the model is known."""
    model: str | None = Field(None, min_length=1, max_length=256)
    """A model alias from ``GET /v1/models`` or a Runware AIR id (``runware:101@1``)."""
    params: TaskParams = Field(default_factory=dict)
    """Task parameters under Runware's names (``positivePrompt``, ``width``, ...); with a preset,
    overrides of the preset's parameters."""
    tags: Tags = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Opaque to ig; returned with the job."""
    provider: Literal["runware", "mock"] | None = None
    """``runware`` (the default) or ``mock``, a built-in stand-in that needs no API key."""
    preset: str | None = Field(None, pattern=PRESET_NAME_PATTERN)
    """A preset from ``PUT /v1/presets/{name}`` to start from."""
    variables: dict[str, Any] = Field(default_factory=dict)
    """Values for the preset's ``{placeholders}``."""
    timeout_seconds: int | None = Field(None, ge=1, le=MAX_TIMEOUT_SECONDS, strict=True)
    """Fail the job as timed out if it has no result by then; each task type has a default
    (``GET /v1/tasks``). Results that come later are still stored."""
    callback_url: str | None = Field(None, min_length=1, max_length=2048)
    """Where ig POSTs the job's events, signed per Standard Webhooks (https)."""
    callback_events: list[CallbackEvent] | None = Field(None, min_length=1, max_length=3)
    """The events to send; by default ``job.succeeded`` and ``job.failed``."""


class BatchRequest(BaseModel):
    """``POST /v1/jobs/batch``: up to 50 job requests, answered item by item in this order."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)
    """Each item is a ``POST /v1/jobs`` body."""


class PresetRequest(BaseModel):
    """``PUT /v1/presets/{name}``: a server-side job template. Any string in ``params`` may hold
    ``{variable}`` placeholders (``{{`` and ``}}`` for literal braces), filled from a job's
    ``variables``; a string that is exactly one placeholder takes the variable's JSON type."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(None, min_length=1, max_length=64, pattern=TASK_PATTERN)
    model: str = Field(min_length=1, max_length=256)
    params: TaskParams = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)
    """Tags every job made from this preset gets (a job's own tags are added)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    provider: Literal["runware", "mock"] = "runware"
    description: str = Field("", max_length=2000)


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "body"
        errors.append(FieldError(path, err["msg"].removeprefix("Value error, "), err["type"]))
    return errors


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


def _not_json(constant: str) -> float:
    """Python reads ``NaN`` and ``Infinity``, but they are not JSON: echoed back or sent on to the
    provider they would make answers strict parsers refuse."""
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is too large for a JSON number")
    return number


def parse_model(model: type[ModelT], data: Any) -> ModelT:
    """Validate a decoded JSON body; every problem is listed in one ``ValidationFailed``."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object", "object_type")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from exc
