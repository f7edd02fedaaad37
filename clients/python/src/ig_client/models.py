"""What ig answers, as pydantic models named after the schemas of ig's OpenAPI document
(``GET /openapi.json``). Every model allows fields it does not know, so an older client keeps
working against a newer server; and the values ig may add to (statuses, providers, kinds) are
plain strings for the same reason. Times are timezone-aware ``datetime``s."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
"""Job statuses that do not change any more; ``queued`` and ``submitted`` are still open."""


class IgModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# --- problems ------------------------------------------------------------------------------------


class FieldError(IgModel):
    """One bad field of a request (``FieldProblem`` in the document)."""

    field: str
    """Dotted path of the field: ``params.width``, ``tags.3``, ``variables.headline``."""
    message: str
    code: str


class ProviderError(IgModel):
    code: str
    message: str
    parameter: str | list[str] | None = None
    http_status: int | None = None
    provider_error: Any = None


class Problem(IgModel):
    """An RFC 9457 problem, as ig answers every error."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    errors: list[FieldError] | None = None
    job_id: str | None = None
    provider_error: ProviderError | None = None


# --- jobs and artifacts --------------------------------------------------------------------------


class PresetRef(IgModel):
    name: str
    version: int


class JobError(IgModel):
    code: str
    message: str
    parameter: str | list[str] | None = None
    http_status: int | None = None
    provider_error: Any = None
    last_error: JobError | None = None


class Timings(IgModel):
    job_created_at: datetime | None
    submitted_at: datetime | None
    result_received_at: datetime | None
    stored_at: datetime | None
    job_completed_at: datetime | None


class OutputProvenance(IgModel):
    provider: str
    task: str
    model: str
    model_alias: str | None
    preset: PresetRef | None
    params: dict[str, Any]
    provider_task_id: str | None
    output: str | None
    source_url: str | None
    result: Any
    timings: Timings


class InputProvenance(IgModel):
    uploaded_at: datetime
    filename: str | None


class Artifact(IgModel):
    """A stored file: a job's output (``role: output``) or an upload (``role: input``)."""

    id: str
    job_id: str | None
    role: str
    kind: str
    content_type: str
    size: int
    sha256: str
    width: int | None
    height: int | None
    duration_seconds: float | None
    content_url: str
    thumbnail_url: str | None
    """The WebP thumbnail (at most 512 px a side) of a PNG, JPEG, WebP or GIF image; None until it is made."""
    tags: list[str]
    created_at: datetime
    seed: int | None
    cost: float | None
    cost_currency: str | None
    cost_source: str | None
    nsfw: bool | None
    deleted_at: datetime | None
    arrived_after: str | None
    provenance: OutputProvenance | InputProvenance


class Callback(IgModel):
    url: str
    events: list[str]


class DeliveryAttempt(IgModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None


class Delivery(IgModel):
    """One callback event and its delivery attempts."""

    id: str
    event: str
    artifact_id: str | None
    url: str
    status: str
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    attempts: list[DeliveryAttempt]


class DeliveryList(IgModel):
    items: list[Delivery]


class Attempt(IgModel):
    """One provider the job named and how it went there; the last is the current one."""

    provider: str
    model: str | None = None
    provider_task_id: str | None = None
    outcome: str
    reason: str | None = None
    error: JobError | None = None
    ended_at: datetime | None = None


class Job(IgModel):
    """One inference task and its outputs."""

    id: str
    status: str
    """``queued``, ``submitted``, ``succeeded``, ``failed`` or ``cancelled``."""
    provider: str
    task: str
    model: str
    model_alias: str | None
    preset: PresetRef | None
    params: dict[str, Any]
    tags: list[str]
    metadata: dict[str, Any]
    provider_task_id: str | None
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    timeout_seconds: int | None
    deadline_at: datetime
    callback: Callback | None
    attempts: list[Attempt]
    providers_left: list[str]
    cost: float | None
    cost_currency: str | None
    cost_source: str | None
    error: JobError | None
    expected_results: int
    artifacts: list[Artifact]

    @property
    def finished(self) -> bool:
        """Whether the job has reached a status that does not change any more."""
        return self.status in TERMINAL_STATUSES


class ProviderCancel(IgModel):
    stopped: bool
    requested: bool
    detail: str


class CancelledJob(Job):
    """The job after ``POST /v1/jobs/{id}/cancel``, with what the provider did about it."""

    provider_cancel: ProviderCancel | None


class Page(IgModel, Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last."""

    items: list[T]
    next_cursor: str | None


class JobPage(Page[Job]):
    pass


class ArtifactPage(Page[Artifact]):
    pass


class BatchJob(IgModel):
    job: Job


class BatchProblem(IgModel):
    error: Problem


class BatchAnswer(IgModel):
    items: list[BatchJob | BatchProblem]


class Lineage(IgModel):
    parents: list[Artifact]
    children: list[Artifact]


class SignedUrl(IgModel):
    url: str
    expires_at: datetime


class TagList(IgModel):
    tags: list[str]


class TagCount(IgModel):
    tag: str
    artifacts: int


class TagPage(Page[TagCount]):
    pass


class UsageRow(IgModel):
    key: str | None
    jobs: int
    succeeded: int
    failed: int
    results: int
    success_rate: float | None
    cost: float | None
    cost_by_source: dict[str, float]
    p50_seconds: float | None
    p95_seconds: float | None


class UsageReport(IgModel):
    group_by: str
    items: list[UsageRow]


# --- catalogue and presets -----------------------------------------------------------------------


class TaskInfo(IgModel):
    task: str
    summary: str
    modality: str
    results_param: str | None
    outputs: list[str]
    params_schema: dict[str, Any]
    example: dict[str, Any]
    timeout_seconds: int
    model_aliases: list[str]
    known_models: int


class TaskList(IgModel):
    items: list[TaskInfo]
    passthrough: str


class ProviderCapabilities(IgModel):
    webhooks: bool
    safe_resubmission: bool
    cancels: bool
    cost: str | None
    webhook_per_result: bool


class ProviderInfo(IgModel):
    name: str
    available: bool
    unavailable_because: str | None
    default: bool
    capabilities: ProviderCapabilities
    aliases: int
    api_url: str | None
    in_flight: int
    last_error: dict[str, Any] | None
    circuit: dict[str, Any]


class ProviderList(IgModel):
    items: list[ProviderInfo]


class AliasOnProvider(IgModel):
    model: str
    defaults: dict[str, Any]


class ModelInfo(IgModel):
    """A model alias: one name for the same model on each provider that runs it."""

    name: str
    task: str
    description: str
    providers: dict[str, AliasOnProvider]


class ModelList(IgModel):
    items: list[ModelInfo]


class Preset(IgModel):
    """One version of a named job template."""

    name: str
    version: int
    task: str | None
    model: str
    params: dict[str, Any]
    tags: list[str]
    metadata: dict[str, Any]
    provider: str | list[str]
    description: str
    variables: list[str]
    created_at: datetime | None
    updated_at: datetime | None
    version_created_at: datetime


class PresetList(IgModel):
    items: list[Preset]


class ProviderCheck(IgModel):
    ok: bool
    detail: str | None
    ms: int


class Health(IgModel):
    status: str
    providers: dict[str, ProviderCheck] | None = None
