"""ig's exception tree. Each class knows its HTTP status and problem type; ``ig.api.http`` maps
them to RFC 9457 problem JSON in one place, so nothing else decides status codes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One bad field in a request: a dotted path (``params.width``), what is wrong, and a code."""

    field: str
    message: str
    code: str = "invalid"

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class IgError(Exception):
    """Base of every error ig raises on purpose."""

    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class BadRequest(IgError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class ValidationFailed(IgError):
    """The request is well-formed JSON but some fields are wrong; every bad field is listed."""

    status = 422
    code = "validation_error"
    title = "Request validation failed"

    def __init__(self, errors: list[FieldError], detail: str | None = None, **extra: Any) -> None:
        self.errors = errors
        summary = detail or "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        super().__init__(summary, **extra)


class Unauthorized(IgError):
    status = 401
    code = "unauthorized"
    title = "Missing or wrong bearer token"


class BadSignature(IgError):
    """A provider's webhook whose signature is missing, stale or wrong: nothing is written."""

    status = 401
    code = "bad_signature"
    title = "Missing or wrong webhook signature"


class Forbidden(IgError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(IgError):
    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(IgError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"

    def __init__(self, detail: str, allow: str) -> None:
        super().__init__(detail)
        self.headers = {"allow": allow}  # RFC 9110: a 405 says what the resource does support


class Conflict(IgError):
    """The request is fine but the resource's state forbids it now (a finished job cannot be
    cancelled; an Idempotency-Key whose first request is still running)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(IgError):
    status = 410
    code = "gone"
    title = "Gone"


class PayloadTooLarge(IgError):
    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class UnsupportedMediaType(IgError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RangeNotSatisfiable(IgError):
    status = 416
    code = "range_not_satisfiable"
    title = "Range not satisfiable"

    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.headers = headers


MAX_ERROR_TEXT = 4096
"""Longest message kept in a job's error: the provider event that carried it keeps every byte,
and a job row must fit D1's."""
MAX_RAW_ERROR_BYTES = 16 * 1024


def clipped(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


@dataclass
class ProviderErrorInfo:
    """What a provider said when it refused or failed a task, kept for the job record: verbatim
    when it is of a sane size, else clipped (the provider event keeps the whole body)."""

    code: str
    message: str
    parameter: str | list[str] | None = None
    http_status: int | None = None
    raw: Any = None
    retry_after: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": clipped(self.code, 256), "message": clipped(self.message)}
        if self.parameter is not None:
            out["parameter"] = self.parameter if len(json.dumps(self.parameter)) <= MAX_ERROR_TEXT else "<too long>"
        if self.http_status is not None:
            out["http_status"] = self.http_status
        if self.raw is not None:
            raw = json.dumps(self.raw)
            out["provider_error"] = self.raw if len(raw) <= MAX_RAW_ERROR_BYTES else {"clipped": clipped(raw)}
        return out


class ProviderRejected(IgError):
    """The provider refused the task for good (bad parameter, auth, credits); the job is failed."""

    status = 502
    code = "provider_rejected"
    title = "The provider refused the task"

    def __init__(self, info: ProviderErrorInfo, job_id: str, status: int = 502) -> None:
        super().__init__(f"{info.code}: {info.message}", job_id=job_id, provider_error=info.to_json())
        self.info = info
        self.status = status


class ProviderUnavailable(IgError):
    """A transient provider failure (429, 5xx, network); the caller retries later."""

    status = 503
    code = "provider_unavailable"
    title = "The provider is unavailable"

    def __init__(self, info: ProviderErrorInfo) -> None:
        super().__init__(f"{info.code}: {info.message}")
        self.info = info


class MediaRefused(IgError):
    """A provider result names media ig must not fetch (host not allowed, bad scheme)."""

    status = 422
    code = "media_refused"
    title = "Media location refused"
