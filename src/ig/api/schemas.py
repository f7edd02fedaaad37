"""What ig's API answers, as pydantic models: the response half of the contract that
``ig.api.openapi`` publishes (the request half is ``ig.jobs.requests``, re-exported here so a route names
every model of its contract in one namespace).

The handlers never use these models: they render plain dicts (``ig.library.views`` and friends), which
keeps pydantic off the hot path and this module out of the Worker's cold start. Tests validate
real answers against these models (``extra="forbid"``), so a view that changes without its
model fails a test instead of drifting from the document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

from ig import job_states
from ig.api.bounds import PRESET_VERSION, TAG_PAGE, URL_LIFETIME_SECONDS, WAIT_SECONDS
from ig.jobs.requests import BatchRequest, JobRequest, PresetRequest, ProviderChoice
from ig.library.filters import DEFAULT_LIMIT, MAX_LIMIT, MAX_TAGS_PER_FILTER
from ig.library.media_types import KINDS
from ig.library.tags import MAX_TAG_LENGTH, TAG_PATTERN, TAG_RULE

__all__ = ["BatchRequest", "JobRequest", "PresetRequest"]  # re-exported: routes name them from here

_CONFIG = ConfigDict(extra="forbid", defer_build=True, use_attribute_docstrings=True)

JobStatus = Literal[tuple(job_states.JobStatus)]  # type: ignore[valid-type]
Provider = Literal["runware", "fal", "replicate", "mock"]
Kind = Literal[KINDS]  # type: ignore[valid-type]
Moment = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC time with milliseconds, e.g. 2026-11-21T05:48:15.844Z.",
        }
    ),
]
Cursor = Annotated[str, Field(description="Pass back as ``cursor`` for the next page; null on the last page.")]


Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG_LENGTH, pattern=TAG_PATTERN, description=TAG_RULE)]
"""As ``ig.jobs.requests.normalize_tag`` stores and matches them."""


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent() -> Any:
    """A field the answer leaves out when it does not apply, rather than sending null. Its
    default (None) is left out of the schema: it is never sent."""
    return Field(None, json_schema_extra=_no_default)


# --- problems ------------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    """One bad field of a request."""

    model_config = _CONFIG

    field: str
    """Dotted path of the field (``params.width``, ``tags.3``, ``body``)."""
    message: str
    """What is wrong, for a person."""
    code: str
    """A stable code for programs (``missing``, ``out_of_range``, or the provider's own code)."""


class ProviderError(BaseModel):
    """The provider's refusal or failure, as it said it."""

    model_config = _CONFIG

    code: str
    message: str
    parameter: str | list[str] = absent()
    """The request parameter(s) the provider objected to."""
    http_status: int = absent()
    """The HTTP status the provider answered with."""
    provider_error: Any = absent()
    """The provider's error object, verbatim."""


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    model_config = _CONFIG

    type: str
    """A URI naming the kind of problem (``https://ig.dev/problems/validation-error``)."""
    title: str
    """A short summary of the kind of problem."""
    status: int
    """The HTTP status code."""
    detail: str
    """What went wrong this time."""
    instance: str
    """The request path (with ``#/jobs/<index>`` for a batch item)."""
    code: str
    """A stable code for programs: ``validation_error``, ``not_found``, ``unauthorized``, ..."""
    errors: list[FieldProblem] = absent()
    """Every bad field, on validation errors (422)."""
    job_id: str = absent()
    """The job that was recorded and failed, when the provider refused it."""
    provider_error: ProviderError = absent()
    """The provider's refusal, when it refused the task."""


# --- jobs and artifacts --------------------------------------------------------------------------


class PresetRef(BaseModel):
    """The preset (and its version) a job was made from."""

    model_config = _CONFIG

    name: str
    version: int


class JobError(BaseModel):
    """Why a job failed: ig's own code (``timeout``, ``dead_lettered``, ...) or the provider's,
    with the provider's error kept verbatim."""

    model_config = _CONFIG

    code: str
    message: str
    parameter: str | list[str] = absent()
    """The request parameter(s) the provider objected to."""
    http_status: int = absent()
    provider_error: Any = absent()
    """The provider's error object, verbatim."""
    last_error: JobError | None = absent()
    """For ``dead_lettered``: the last transient error recorded before ig gave up."""


class Timings(BaseModel):
    """When each step of making an artifact happened."""

    model_config = _CONFIG

    job_created_at: Moment | None
    submitted_at: Moment | None
    result_received_at: Moment | None
    stored_at: Moment | None
    job_completed_at: Moment | None


class OutputProvenance(BaseModel):
    """How a generated artifact was made: everything needed to make it again."""

    model_config = _CONFIG

    provider: Provider
    task: str
    model: str
    """The provider's model the job ran: a Runware AIR, a fal endpoint id."""
    model_alias: str | None
    """The catalogue alias the request named, if it named one."""
    preset: PresetRef | None
    params: dict[str, Any]
    """The parameters sent, under the provider's own names (preset, variables and defaults applied)."""
    provider_task_id: str | None
    """The provider's id of the request (Runware: the job id; fal: its request_id)."""
    output: str | None
    """The result field the artifact came from (``imageURL``, ``text``, ...)."""
    source_url: str | None
    """Where the provider served the file, if it was a URL."""
    result: Any
    """The provider's result item, verbatim (large inline data elided)."""
    timings: Timings


class InputProvenance(BaseModel):
    """Where an uploaded artifact came from."""

    model_config = _CONFIG

    uploaded_at: Moment
    filename: str | None
    """The file name the upload carried, if any."""


class Artifact(BaseModel):
    """A stored file: a job's output (``role: output``) or an upload (``role: input``)."""

    model_config = _CONFIG

    id: str
    job_id: str | None
    """The job that made it; null for uploads."""
    role: Literal["output", "input"]
    kind: Kind
    """Decided from the bytes (magic numbers), then the declared type, then the name."""
    content_type: str
    size: int
    """Bytes."""
    sha256: str
    """Hex digest of the content; also its strong ETag."""
    width: int | None
    """Pixels, from the image or video headers when they say."""
    height: int | None
    duration_seconds: float | None
    """From the audio or video headers when they say."""
    content_url: str
    """Where to download it (``GET``; needs the bearer token unless signed, see ``/url``)."""
    thumbnail_url: str | None
    """Its WebP thumbnail (at most 512 px a side), for PNG, JPEG, WebP and GIF images; null until
    it is made, and for every other kind."""
    tags: list[str]
    created_at: Moment
    seed: int | None
    cost: float | None
    """What the result this artifact belongs to cost, in ``cost_currency``."""
    cost_currency: str | None
    """ISO 4217 (``USD``)."""
    cost_source: Literal["reported", "billed", "estimated"] | None
    """``reported`` by the provider with the result (Runware), ``billed``: the provider's billable
    units times its unit price (fal), or ``estimated``."""
    nsfw: bool | None
    """The provider's content check; null when it was not checked."""
    deleted_at: Moment | None
    """Set once deleted: the bytes are gone, the provenance is kept."""
    arrived_after: Literal[tuple(job_states.ENDED_WITHOUT_RESULTS)] | None  # type: ignore[valid-type]
    """Set when the result came after its job was cancelled or had failed (timed out): kept anyway."""
    provenance: OutputProvenance | InputProvenance


class Callback(BaseModel):
    """Where the job's events go."""

    model_config = _CONFIG

    url: str
    events: list[Literal["job.succeeded", "job.failed", "artifact.stored"]]


class DeliveryAttempt(BaseModel):
    model_config = _CONFIG

    attempt: int
    attempted_at: Moment
    status_code: int | None
    """The consumer's HTTP status; null when no answer came."""
    latency_ms: int | None
    error: str | None


class Delivery(BaseModel):
    """One callback event and its attempts."""

    model_config = _CONFIG

    id: str
    """The ``webhook-id`` header: the same on every attempt and redelivery."""
    event: Literal["job.succeeded", "job.failed", "artifact.stored"]
    artifact_id: str | None
    url: str
    status: Literal["pending", "delivered", "failed"]
    created_at: Moment
    delivered_at: Moment | None
    next_attempt_at: Moment | None
    attempts: list[DeliveryAttempt]


class DeliveryList(BaseModel):
    model_config = _CONFIG

    items: list[Delivery]


class Job(BaseModel):
    """One inference task and its outputs."""

    model_config = _CONFIG

    id: str
    """A UUIDv4, also Runware's ``taskUUID``."""
    status: JobStatus
    """``queued`` (recorded, not yet accepted by the provider), ``submitted``, ``succeeded``, ``failed`` or
    ``cancelled``."""
    provider: Provider
    task: str
    model: str
    """The provider's model: a Runware AIR, a fal endpoint id (an alias in the request is resolved)."""
    model_alias: str | None
    preset: PresetRef | None
    params: dict[str, Any]
    """The parameters sent, under the provider's own names (common names like ``prompt`` mapped)."""
    tags: list[str]
    metadata: dict[str, Any]
    provider_task_id: str | None
    """The provider's id of the request; null until the provider has accepted it (fal assigns its own)."""
    created_at: Moment
    submitted_at: Moment | None
    completed_at: Moment | None
    cancelled_at: Moment | None
    timeout_seconds: int | None
    """The job fails as timed out at ``deadline_at`` = ``created_at`` + this."""
    deadline_at: Moment
    callback: Callback | None
    attempts: list[Attempt]
    """Every provider the job named and how each went, in order; the last is the current one."""
    providers_left: list[Provider]
    """The providers the job may still fail over to, in order."""
    cost: float | None
    """The sum of the cost of the job's results, in ``cost_currency``."""
    cost_currency: str | None
    cost_source: Literal["reported", "billed", "estimated", "mixed"] | None
    """How ig knows the cost (see the artifact's ``cost_source``)."""
    error: JobError | None
    expected_results: int
    artifacts: list[Artifact]
    """The job's live artifacts, in the order they were stored."""


class Attempt(BaseModel):
    """One provider the job named: how it went there. The last entry is the current provider."""

    model_config = _CONFIG

    provider: Provider
    model: str = absent()
    provider_task_id: str | None = absent()
    outcome: str
    """``ineligible`` (it cannot run the request: ``reason`` says why), ``refused`` (it refused
    the request for good), ``unavailable`` (it kept failing before accepting), ``failed`` (it
    failed the job after accepting, and the job asked to fail over then), or, for the current
    provider, the job's status."""
    reason: str = absent()
    error: JobError = absent()
    ended_at: Moment = absent()


class ProviderCancel(BaseModel):
    model_config = _CONFIG

    stopped: bool
    """The provider removed the request before it ran: it is never billed."""
    requested: bool
    """The provider was asked to stop it; a running request may still finish (and bill)."""
    detail: str


class CancelledJob(Job):
    """The job after ``POST /v1/jobs/{id}/cancel``."""

    provider_cancel: ProviderCancel | None
    """What the provider did; null when it cannot stop work (Runware) or was not asked."""


class JobPage(BaseModel):
    """Jobs, newest first."""

    model_config = _CONFIG

    items: list[Job]
    next_cursor: Cursor | None


class ArtifactPage(BaseModel):
    """Artifacts, newest first."""

    model_config = _CONFIG

    items: list[Artifact]
    next_cursor: Cursor | None


class BatchJob(BaseModel):
    """A batch item that was accepted."""

    model_config = _CONFIG

    job: Job


class BatchProblem(BaseModel):
    """A batch item that was refused; the other items are unaffected."""

    model_config = _CONFIG

    error: Problem


class BatchAnswer(BaseModel):
    """One entry per submitted item, in request order."""

    model_config = _CONFIG

    items: list[BatchJob | BatchProblem]


class Lineage(BaseModel):
    """The artifacts a job used as inputs to make this one, and those made from it."""

    model_config = _CONFIG

    parents: list[Artifact]
    children: list[Artifact]


class SignedUrl(BaseModel):
    """A content URL that works without the bearer token until it expires."""

    model_config = _CONFIG

    url: str
    expires_at: Moment


class TagList(BaseModel):
    """The tags after the edit, sorted."""

    model_config = _CONFIG

    tags: list[str]


class TagCount(BaseModel):
    model_config = _CONFIG

    tag: str
    artifacts: int
    """Live artifacts carrying the tag."""


class TagPage(BaseModel):
    """Tags in alphabetical order with their artifact counts."""

    model_config = _CONFIG

    items: list[TagCount]
    next_cursor: str | None
    """Pass back as ``cursor`` for the next page; null on the last page."""


class UsageRow(BaseModel):
    model_config = _CONFIG

    key: str | None
    """The group: a day (``2026-11-21``), model, task, tag or provider."""
    jobs: int
    succeeded: int
    failed: int
    results: int
    success_rate: float | None
    """succeeded / (succeeded + failed): jobs still open or cancelled do not count; null when none ended."""
    cost: float | None
    """USD, summed over every priced result."""
    cost_by_source: dict[str, float]
    """The same sum split by how ig knows it: ``reported``, ``billed``, ``estimated``."""
    p50_seconds: float | None
    """Median time from creation to completion (nearest rank)."""
    p95_seconds: float | None


class UsageReport(BaseModel):
    """Jobs, outcomes, results, cost and latency, grouped."""

    model_config = _CONFIG

    group_by: Literal["day", "model", "task", "tag", "provider"]
    items: list[UsageRow]


# --- catalogue and presets -----------------------------------------------------------------------


class TaskInfo(BaseModel):
    """A task type ig knows, with the JSON Schema of its parameters."""

    model_config = _CONFIG

    task: str
    summary: str
    modality: str
    results_param: str | None
    """The parameter that sets how many results one job makes (``numberResults``), if any."""
    outputs: list[str]
    """The result fields ig stores as artifacts."""
    params_schema: dict[str, Any]
    """JSON Schema of the parameters ig checks; other parameters pass through to Runware."""
    example: dict[str, Any]
    timeout_seconds: int
    """The default deadline of a job of this type."""
    model_aliases: list[str]
    known_models: int
    """How many Runware models of this task ig knows the task of."""


class TaskList(BaseModel):
    model_config = _CONFIG

    items: list[TaskInfo]
    passthrough: str
    """What happens to task types missing from the list."""


class ProviderCapabilities(BaseModel):
    model_config = _CONFIG

    webhooks: bool
    safe_resubmission: bool
    cancels: bool
    cost: Literal["reported", "billed", "estimated"] | None
    webhook_per_result: bool


class ProviderInfo(BaseModel):
    model_config = _CONFIG

    name: Provider
    available: bool
    """Whether jobs may name it here (its key is set; the mock is switched on)."""
    unavailable_because: str | None
    default: bool
    """The provider of a job that names none."""
    capabilities: ProviderCapabilities
    aliases: int
    """How many model aliases run on it."""
    api_url: str | None
    """Where ig calls it (its key is never shown)."""
    in_flight: int
    """Jobs it has accepted that have not finished."""
    last_error: dict[str, Any] | None
    """Its latest failed job: ``job_id``, ``at`` and the job's error."""
    circuit: dict[str, Any]
    """``state``: ``closed``; ``open`` after repeated transient failures (failover skips it, its
    other jobs wait); ``probing`` while one submit tests it. With ``failures``, ``opened_at`` and
    the ``last_error`` that counted."""


class ProviderList(BaseModel):
    model_config = _CONFIG

    items: list[ProviderInfo]


class AliasOnProvider(BaseModel):
    model_config = _CONFIG

    model: str
    """The provider's own model: a Runware AIR, a fal endpoint id."""
    defaults: dict[str, Any]
    """Parameters applied under the request's own (the request's win), in ig's common names or the provider's."""


class ModelInfo(BaseModel):
    """A model alias: one name for the same model on each provider that runs it. A job picks the
    provider with ``"provider"`` (``runware`` by default)."""

    model_config = _CONFIG

    name: str
    task: str
    description: str
    providers: dict[str, AliasOnProvider]
    """By provider name (``runware``, ``fal``)."""


class ModelList(BaseModel):
    model_config = _CONFIG

    items: list[ModelInfo]


class Preset(BaseModel):
    """A named, versioned job template (one version of it)."""

    model_config = _CONFIG

    name: str
    version: int
    task: str | None
    model: str
    params: dict[str, Any]
    tags: list[str]
    metadata: dict[str, Any]
    provider: ProviderChoice
    """As the preset was put: one provider, several in the order to try them, or ``auto``."""
    description: str
    variables: list[str]
    """The ``{placeholders}`` in ``params``, which a job fills from its ``variables``."""
    created_at: Moment | None
    """When the preset was first created; null for a version of a deleted preset."""
    updated_at: Moment | None
    version_created_at: Moment


class PresetList(BaseModel):
    model_config = _CONFIG

    items: list[Preset]


# --- small answers -------------------------------------------------------------------------------


class ProviderCheck(BaseModel):
    model_config = _CONFIG

    ok: bool
    detail: str | None
    """Why the provider did not take ig's key (or could not be reached)."""
    ms: int


class Health(BaseModel):
    model_config = _CONFIG

    status: Literal["ok", "degraded"]
    providers: dict[str, ProviderCheck] = absent()
    """With ``?deep=1``: each configured provider's credentials, checked with its cheapest call."""


class HealthQuery(BaseModel):
    model_config = _CONFIG

    deep: bool = absent()
    """Also check each configured provider's credentials (needs the API token when one is set; 503 when any fails)."""


class WebhookReceipt(BaseModel):
    model_config = _CONFIG

    received: bool


class OpenApiDocument(RootModel[dict[str, Any]]):
    """This document."""

    model_config = ConfigDict(defer_build=True)


# --- request bodies the handlers parse without pydantic ------------------------------------------


class TagEdit(BaseModel):
    """Tags to add and to remove, applied together; removing wins over adding the same tag."""

    model_config = _CONFIG

    add: list[Tag] = Field(default_factory=list)
    remove: list[Tag] = Field(default_factory=list)


class UploadForm(BaseModel):
    """A multipart form with one file part (its own content type is the one checked)."""

    model_config = _CONFIG

    file: Annotated[bytes, WithJsonSchema({"type": "string", "format": "binary"})]
    """The file; the first file part is taken whatever its name."""


class RunwareWebhook(RootModel[Any]):
    """Runware's result or error body, stored as received: a flat result, ``{"data": [...]}``,
    or ``{"errors": [...]}``."""

    model_config = ConfigDict(defer_build=True)


class FalWebhook(BaseModel):
    """fal's completion body, stored as received, with the ``X-Fal-Webhook-*`` signature headers.
    ig then fetches the result from fal (with what it billed) rather than trusting the payload."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    request_id: str
    gateway_request_id: str | None = None
    status: Literal["OK", "ERROR"]
    payload: Any = None
    error: str | None = None
    payload_error: str | None = None


class ReplicateWebhook(BaseModel):
    """Replicate's prediction object, as ``GET /v1/predictions/{id}`` answers, stored as received,
    with the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str
    status: str
    output: Any = None
    error: Any = None


# --- query parameters ----------------------------------------------------------------------------

Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS_PER_FILTER)]
TimeBound = Annotated[str, WithJsonSchema({"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]})]
"""An ISO 8601 time (RFC 3339: ``2026-11-21T10:00:00Z``, ``...+02:00``) or date (``2026-11-21``)."""


class _LibraryFilters(BaseModel):
    model_config = _CONFIG

    tag: Tags = Field(default_factory=list)
    """Repeatable; every one must be present."""
    any_tag: Tags = Field(default_factory=list)
    """Repeatable; at least one must be present."""
    not_tag: Tags = Field(default_factory=list)
    """Repeatable; none may be present."""
    kind: Kind = absent()
    task: str = absent()
    model: str = absent()
    """A Runware AIR or a model alias."""
    provider: str = absent()
    job_id: str = absent()
    q: str = absent()
    """Full text (prompts, text outputs): every word (letters, digits, ``_``) must appear, and there must
    be one; ``word*`` matches a prefix."""


class _TimeRange(BaseModel):
    model_config = _CONFIG

    created_after: TimeBound = absent()
    """ISO 8601 date or time (UTC unless it says otherwise)."""
    created_before: TimeBound = absent()
    """ISO 8601 date or time (UTC unless it says otherwise)."""


class _Page(BaseModel):
    model_config = _CONFIG

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str = absent()
    """``next_cursor`` of the previous page."""


class ArtifactQuery(_Page, _TimeRange, _LibraryFilters):
    role: Literal["output", "input"] = absent()
    """``output`` (made by jobs) or ``input`` (uploads)."""
    nsfw: bool = absent()
    """``true``: flagged by the provider's content check; ``false``: not flagged, including unchecked."""


class JobQuery(_Page, _TimeRange, _LibraryFilters):
    status: JobStatus = absent()


class UsageQuery(_LibraryFilters):
    status: JobStatus = absent()
    group_by: Literal["day", "model", "task", "tag", "provider"] = "day"
    since: TimeBound = absent()
    """Jobs created after this ISO 8601 date or time."""
    until: TimeBound = absent()
    """Jobs created before this ISO 8601 date or time."""


class TagQuery(BaseModel):
    model_config = _CONFIG

    prefix: str = ""
    """Only tags starting with this (``user:``)."""
    limit: int = Field(TAG_PAGE.default, ge=TAG_PAGE.low, le=TAG_PAGE.high)
    cursor: str = absent()
    """``next_cursor`` of the previous page."""


class WaitQuery(BaseModel):
    model_config = _CONFIG

    wait: float = Field(WAIT_SECONDS.default, ge=WAIT_SECONDS.low, le=WAIT_SECONDS.high)
    """Hold the request until the job is finished or this many seconds pass."""


class ModelQuery(BaseModel):
    model_config = _CONFIG

    task: str = absent()
    """Only aliases of this task type."""
    provider: Provider = absent()
    """Only aliases that run on this provider."""


class PresetVersionQuery(BaseModel):
    model_config = _CONFIG

    version: int = Field(None, ge=PRESET_VERSION.low, le=PRESET_VERSION.high, json_schema_extra=_no_default)
    """An earlier version (versions are immutable); the current one when left out."""


class SignedUrlQuery(BaseModel):
    model_config = _CONFIG

    expires_in: int = Field(URL_LIFETIME_SECONDS.default, ge=URL_LIFETIME_SECONDS.low, le=URL_LIFETIME_SECONDS.high)
    """Seconds the URL stays valid."""
    rendition: Literal["content", "thumbnail"] = "content"
    """Which URL to sign: the artifact's ``content`` or its ``thumbnail``."""


class ContentQuery(BaseModel):
    model_config = _CONFIG

    expires: int = absent()
    """With ``sig``: the expiry of a signed URL from ``GET /v1/artifacts/{artifact_id}/url``."""


class UploadQuery(BaseModel):
    model_config = _CONFIG

    tag: Tags = Field(default_factory=list)
    """Repeatable; tags for the uploaded artifact."""
