"""ig's Python client: submit generative-AI jobs to ig, wait for them, download and organise what
they made.

    from ig_client import Client

    with Client() as ig:  # IG_URL, IG_API_TOKEN
        job = ig.generate(model="flux-schnell", prompt="a fox in snow", tags=["user:42"])
        for artifact in job.artifacts:
            ig.artifacts.download(artifact, "out/")

``AsyncClient`` has the same calls, awaited. Errors are :class:`IgError` and its subclasses
(:mod:`ig_client.errors`); callbacks are verified with :func:`ig_client.webhooks.verify_callback`."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ig_client._async import AsyncArtifacts, AsyncClient, AsyncJobs, AsyncPresets
    from ig_client._sync import Artifacts, Client, Jobs, Presets
    from ig_client.errors import (
        ApiError,
        ChecksumMismatch,
        Conflict,
        ConnectionFailed,
        Gone,
        IgError,
        JobFailed,
        NotFound,
        RateLimited,
        ServerError,
        TimedOut,
        Unauthorized,
        ValidationError,
    )
    from ig_client.models import (
        TERMINAL_STATUSES,
        AliasOnProvider,
        Artifact,
        ArtifactPage,
        Attempt,
        BatchAnswer,
        BatchJob,
        BatchProblem,
        Callback,
        CancelledJob,
        Delivery,
        DeliveryAttempt,
        FieldError,
        Health,
        InputProvenance,
        Job,
        JobError,
        JobPage,
        Lineage,
        ModelInfo,
        OutputProvenance,
        Preset,
        PresetRef,
        Problem,
        ProviderCancel,
        ProviderCapabilities,
        ProviderCheck,
        ProviderError,
        ProviderInfo,
        SignedUrl,
        TagCount,
        TagPage,
        TaskInfo,
        Timings,
        UsageReport,
        UsageRow,
    )
    from ig_client.webhooks import WebhookVerificationError, verify_callback

__all__ = [
    "TERMINAL_STATUSES",
    "AliasOnProvider",
    "ApiError",
    "Artifact",
    "ArtifactPage",
    "Artifacts",
    "AsyncArtifacts",
    "AsyncClient",
    "AsyncJobs",
    "AsyncPresets",
    "Attempt",
    "BatchAnswer",
    "BatchJob",
    "BatchProblem",
    "Callback",
    "CancelledJob",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Delivery",
    "DeliveryAttempt",
    "FieldError",
    "Gone",
    "Health",
    "IgError",
    "InputProvenance",
    "Job",
    "JobError",
    "JobFailed",
    "JobPage",
    "Jobs",
    "Lineage",
    "ModelInfo",
    "NotFound",
    "OutputProvenance",
    "Preset",
    "PresetRef",
    "Presets",
    "Problem",
    "ProviderCancel",
    "ProviderCapabilities",
    "ProviderCheck",
    "ProviderError",
    "ProviderInfo",
    "RateLimited",
    "ServerError",
    "SignedUrl",
    "TagCount",
    "TagPage",
    "TaskInfo",
    "TimedOut",
    "Timings",
    "Unauthorized",
    "UsageReport",
    "UsageRow",
    "ValidationError",
    "WebhookVerificationError",
    "verify_callback",
]

# The names are imported on first use, not here: ``ig_client.cli`` imports this package, and loading
# httpx and pydantic up front would cost ``ig --help`` and every shell-completion TAB most of a second.
_MODULES: dict[str, tuple[str, ...]] = {
    "ig_client._async": (
        "AsyncArtifacts",
        "AsyncClient",
        "AsyncJobs",
        "AsyncPresets",
    ),
    "ig_client._sync": (
        "Artifacts",
        "Client",
        "Jobs",
        "Presets",
    ),
    "ig_client.errors": (
        "ApiError",
        "ChecksumMismatch",
        "Conflict",
        "ConnectionFailed",
        "Gone",
        "IgError",
        "JobFailed",
        "NotFound",
        "RateLimited",
        "ServerError",
        "TimedOut",
        "Unauthorized",
        "ValidationError",
    ),
    "ig_client.models": (
        "TERMINAL_STATUSES",
        "AliasOnProvider",
        "Artifact",
        "ArtifactPage",
        "Attempt",
        "BatchAnswer",
        "BatchJob",
        "BatchProblem",
        "Callback",
        "CancelledJob",
        "Delivery",
        "DeliveryAttempt",
        "FieldError",
        "Health",
        "InputProvenance",
        "Job",
        "JobError",
        "JobPage",
        "Lineage",
        "ModelInfo",
        "OutputProvenance",
        "Preset",
        "PresetRef",
        "Problem",
        "ProviderCancel",
        "ProviderCapabilities",
        "ProviderCheck",
        "ProviderError",
        "ProviderInfo",
        "SignedUrl",
        "TagCount",
        "TagPage",
        "TaskInfo",
        "Timings",
        "UsageReport",
        "UsageRow",
    ),
    "ig_client.webhooks": (
        "WebhookVerificationError",
        "verify_callback",
    ),
}
_HOMES = {name: module for module, names in _MODULES.items() for name in names}

if not TYPE_CHECKING:  # type checkers see the imports above, so a misspelt name stays an error for them

    def __getattr__(name: str) -> object:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
