"""What a job request and a preset are (pydantic models, also documented by ``/openapi.json``)
and the limits on what they may make ig store or send: task size, metadata, providers this
deployment can run."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ig.errors import FieldError
from ig.library.tags import MAX_TAG_LENGTH, MAX_TAGS, TAG_PATTERN, normalize_tag
from ig.settings import Settings

MAX_METADATA_BYTES = 64 * 1024
"""Metadata as JSON, a preset's and a job's together: it travels with every job view and callback."""
MAX_TIMEOUT_SECONDS = 24 * 3600
CallbackEvent = Literal["job.succeeded", "job.failed", "artifact.stored"]
MAX_BATCH = 50
TASK_PATTERN = r"^[A-Za-z0-9]+$"
PRESET_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

Tag = Annotated[
    str,
    AfterValidator(normalize_tag),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": TAG_PATTERN}),
]


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique_tags)]
TaskParams = dict[str, Any]
ProviderName = Literal["runware", "fal", "replicate", "mock"]
MAX_PROVIDERS = 4


def _distinct(providers: list[str]) -> list[str]:
    if len(set(providers)) != len(providers):
        raise ValueError("name each provider once")
    return providers


ProviderChoice = (
    ProviderName
    | Annotated[list[ProviderName], Field(min_length=1, max_length=MAX_PROVIDERS), AfterValidator(_distinct)]
    | Literal["auto"]
)
"""One provider; several, in the order to try them; or ``auto``: every provider configured here
that runs the model."""


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
    hint = '; use provider "mock" to try ig' if settings.mock_provider else ""
    if provider == "runware" and not settings.runware_api_key:
        return [FieldError("provider", f"RUNWARE_API_KEY is not configured{hint}", "unavailable")]
    if provider == "fal" and not settings.fal_key:
        return [FieldError("provider", f"FAL_KEY is not configured{hint}", "unavailable")]
    if provider == "replicate" and not settings.replicate_api_token:
        return [FieldError("provider", f"REPLICATE_API_TOKEN is not configured{hint}", "unavailable")]
    return []


class JobRequest(BaseModel):
    """``POST /v1/jobs``: one inference task, given directly or through a preset. Parameters use
    ig's common names (``prompt``, ``width``, ``num_outputs``, ``image`` ...), which work on every
    provider, or the provider's own (Runware's ``positivePrompt``, fal's ``image_size``)."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(None, min_length=1, max_length=64, pattern=TASK_PATTERN)
    """ig's task type, e.g. ``imageInference`` (Runware's taskType); may be left out when the model is known."""
    model: str | None = Field(None, min_length=1, max_length=256)
    """A model alias from ``GET /v1/models``, or the provider's own model: a Runware AIR
    (``runware:101@1``), a fal endpoint id (``fal-ai/flux/dev``)."""
    params: TaskParams = Field(default_factory=dict)
    """Task parameters: ig's common names (``prompt``, ``negative_prompt``, ``width``, ``height``,
    ``num_outputs``, ``seed``, ``steps``, ``guidance``, ``image``) or the provider's own; with a
    preset, overrides of the preset's parameters."""
    tags: Tags = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Opaque to ig; returned with the job."""
    provider: ProviderChoice | None = None
    """``runware`` (the default), ``fal``, ``replicate``, or ``mock`` (a built-in stand-in that needs
    no API key); or a list of them in the order to try (``["fal", "runware"]``), or ``auto`` (every
    provider configured here that runs the model, cheapest first by what it cost there lately). ig
    moves to the next only when that cannot bill twice: the provider refused the request for good,
    or kept failing before accepting it."""
    failover_after_accept: bool = False
    """Also move to the next provider when one fails the job after accepting it, accepting that
    both may bill (for consumers who would rather pay twice than wait)."""
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


class _DocumentedAsJobRequest:
    """JSON Schema only: a batch item is documented as the ``JobRequest`` it must be, while it is
    parsed as a plain object, so that a bad item is that item's error rather than the batch's."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(JobRequest.__pydantic_core_schema__)


class BatchRequest(BaseModel):
    """``POST /v1/jobs/batch``: up to 50 job requests, answered item by item in this order."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[Annotated[dict[str, Any], _DocumentedAsJobRequest()]] = Field(min_length=1, max_length=MAX_BATCH)
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
    provider: ProviderChoice = "runware"
    description: str = Field("", max_length=2000)
