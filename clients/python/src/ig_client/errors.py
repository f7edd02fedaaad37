"""Every error the client raises, in one small tree rooted at :class:`IgError`:

- :class:`ApiError`: ig answered with a problem (RFC 9457); by status :class:`ValidationError` (422),
  :class:`NotFound` (404), :class:`Gone` (410), :class:`Conflict` (409), :class:`Unauthorized` (401, 403),
  :class:`RateLimited` (429), :class:`ServerError` (5xx).
- :class:`ConnectionFailed`: no answer from ig (refused, dropped, timed out), after the retries.
- :class:`JobFailed`: a job ``generate`` waited for ended ``failed`` or ``cancelled``.
- :class:`TimedOut`: ``wait`` gave up before the job finished.
- :class:`ChecksumMismatch`: a download's bytes are not the artifact's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ig_client.models import FieldError, Job


class IgError(Exception):
    """Anything that went wrong talking to ig."""


class ApiError(IgError):
    """ig answered with an error status. ``problem`` is the problem JSON as received (a dict; empty
    when the body was not problem JSON, e.g. from a proxy in between)."""

    def __init__(
        self,
        status: int,
        problem: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
        self.code: str | None = _text(problem.get("code"))
        self.title: str | None = _text(problem.get("title"))
        self.detail: str | None = _text(problem.get("detail"))
        self.errors: list[FieldError] = _field_errors(problem.get("errors"))
        self.job_id: str | None = _text(problem.get("job_id"))
        self.headers: dict[str, str] = dict(headers or {})
        self.retry_after = retry_after
        """Seconds ig asked the client to wait (``Retry-After``), when it said."""
        super().__init__(self._message())

    def _message(self) -> str:
        what = self.detail or self.title or "no problem details"
        code = f" {self.code}" if self.code else ""
        return f"{self.status}{code}: {what}"


class ValidationError(ApiError):
    """422: the request had bad fields; ``errors`` names every one."""


class Unauthorized(ApiError):
    """401 or 403: the API token (``IG_API_TOKEN``) is missing or wrong, or a signed URL expired."""


class NotFound(ApiError):
    """404: nothing by that id."""


class Conflict(ApiError):
    """409: the request conflicts with the resource's state (cancelling a finished job)."""


class Gone(ApiError):
    """410: the artifact was deleted; its record (``artifacts.get``) is still readable."""


class RateLimited(ApiError):
    """429, still after the retries (or asking for a longer wait than the client takes on itself)."""


class ServerError(ApiError):
    """5xx, still after the retries where the request was safe to retry."""


class ConnectionFailed(IgError):
    """No answer from ig: the connection was refused, dropped or timed out, after the retries."""


class TimedOut(IgError):
    """``wait`` gave up before the job finished; ``job`` is the job as last seen."""

    def __init__(self, job: Job, waited: float) -> None:
        self.job = job
        super().__init__(f"job {job.id} is still {job.status} after {waited:.0f} s")


class JobFailed(IgError):
    """The job ended without succeeding (``failed`` or ``cancelled``); ``job`` has its ``error``."""

    def __init__(self, job: Job) -> None:
        self.job = job
        reason = f": {job.error.code}: {job.error.message}" if job.error else ""
        super().__init__(f"job {job.id} {job.status}{reason}")


class ChecksumMismatch(IgError):
    """The downloaded bytes are not the artifact's (their sha256 or size differ); nothing was kept
    (``path`` is where the file would have gone)."""

    def __init__(self, artifact_id: str, path: Path | None, detail: str) -> None:
        self.artifact_id, self.path = artifact_id, path
        kept = f"; {path} not written" if path else ""
        super().__init__(f"artifact {artifact_id}: the downloaded bytes are wrong: {detail}{kept}")


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: ValidationError,
    429: RateLimited,
}


def api_error(
    status: int, problem: Mapping[str, Any], headers: Mapping[str, str], retry_after: float | None
) -> ApiError:
    """The exception for an error answer, by its status."""
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, problem, headers=headers, retry_after=retry_after)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _field_errors(value: Any) -> list[FieldError]:
    if not isinstance(value, list):
        return []
    return [FieldError.model_validate(item) for item in value if isinstance(item, dict) and _is_field_error(item)]


def _is_field_error(item: Mapping[str, Any]) -> bool:
    return all(isinstance(item.get(key), str) for key in ("field", "message", "code"))
