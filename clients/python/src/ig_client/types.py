"""The keyword arguments of the client's richer calls, typed once for both clients. None always
means "not given": ig's own default applies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypedDict

from ig_client.models import Job

Moment = str | date | datetime
"""An ISO 8601 date or time; a ``datetime`` without a timezone is read by ig as UTC."""
Progress = Callable[[int, int | None], None]
"""``on_progress(done_bytes, total_bytes)`` of a transfer; total is None when unknown."""
JobProgress = Callable[[Job], None]
"""``on_progress(job)`` of a wait: called with the job whenever its status changes."""


class SubmitOptions(TypedDict, total=False):
    """The fields of ``POST /v1/jobs`` (see ig's README), plus ``prompt`` and ``idempotency_key``."""

    model: str | None
    """A model alias (``GET /v1/models``) or the provider's own model id."""
    prompt: str | None
    """Sent as ``params.prompt``, ig's common name, which the server moves to the task's and the
    provider's own prompt parameter (``positivePrompt``, ``messages``, ...)."""
    params: Mapping[str, Any] | None
    task: str | None
    provider: str | Sequence[str] | None
    """``runware``, ``fal``, ``replicate``, ``mock``; several in the order to try; or ``auto``."""
    preset: str | None
    variables: Mapping[str, Any] | None
    tags: Sequence[str] | None
    metadata: Mapping[str, Any] | None
    callback_url: str | None
    callback_events: Sequence[str] | None
    failover_after_accept: bool | None
    timeout_seconds: int | None
    idempotency_key: str | None
    """Sent as ``Idempotency-Key``; a new UUID when not given. Every retry of the submit reuses it,
    so a retried submit never makes a second job."""


class GenerateOptions(SubmitOptions, total=False):
    wait_timeout: float | None
    """Give up waiting (``TimedOut``) after this many seconds; None waits as long as it takes."""
    on_progress: JobProgress | None


class LibraryFilters(TypedDict, total=False):
    tag: str | Sequence[str] | None
    """Every one must be present."""
    any_tag: str | Sequence[str] | None
    """At least one must be present."""
    not_tag: str | Sequence[str] | None
    """None may be present."""
    kind: str | None
    task: str | None
    model: str | None
    provider: str | None
    job_id: str | None
    q: str | None
    """Full text: every word must appear; ``word*`` matches a prefix."""


class JobFilters(LibraryFilters, total=False):
    status: str | None
    created_after: Moment | None
    created_before: Moment | None
    limit: int | None
    """The page size (1-500); the iterator goes on through every page."""


class ArtifactFilters(LibraryFilters, total=False):
    role: str | None
    """``output`` (made by jobs) or ``input`` (uploads)."""
    nsfw: bool | None
    created_after: Moment | None
    created_before: Moment | None
    limit: int | None
    """The page size (1-500); the iterator goes on through every page."""


class UsageFilters(LibraryFilters, total=False):
    status: str | None
    since: Moment | None
    until: Moment | None


class PresetFields(TypedDict, total=False):
    """The fields of ``PUT /v1/presets/{name}``."""

    model: str | None
    task: str | None
    params: Mapping[str, Any] | None
    tags: Sequence[str] | None
    metadata: Mapping[str, Any] | None
    provider: str | Sequence[str] | None
    description: str | None
