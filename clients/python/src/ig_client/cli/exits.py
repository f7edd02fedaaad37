"""What ``ig``'s exit status says failed: one table, read by ``main`` and printed in ``ig --help``."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ig_client.errors import IgError


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    JOB_FAILED = 3
    NOT_FOUND = 4
    UNAUTHORIZED = 5
    REJECTED = 6
    UNREACHABLE = 7
    TIMED_OUT = 8
    INTEGRITY = 9
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.ERROR: "anything else: ig refused otherwise (409, 413, 5xx, still 429 after retries) or a bug",
    ExitCode.USAGE: "wrong command line: unknown option, bad key=value, missing file",
    ExitCode.JOB_FAILED: "the job ended failed or cancelled (its error is printed)",
    ExitCode.NOT_FOUND: "no such job, artifact or preset (404), or the artifact was deleted (410)",
    ExitCode.UNAUTHORIZED: "no or wrong token: set IG_API_TOKEN or --token (401/403)",
    ExitCode.REJECTED: "ig rejected the input (422): every bad field is printed",
    ExitCode.UNREACHABLE: "ig did not answer at IG_URL or --url (connection failed after retries)",
    ExitCode.TIMED_OUT: "gave up waiting (--wait-timeout, --timeout of jobs wait)",
    ExitCode.INTEGRITY: "a download did not match the artifact's sha256",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_for(error: IgError) -> ExitCode:
    # imported here, not at the top: ``ig --help`` and shell completion import this module, and
    # ig_client.errors loads pydantic
    from ig_client.errors import (
        ChecksumMismatch,
        ConnectionFailed,
        Gone,
        JobFailed,
        NotFound,
        TimedOut,
        Unauthorized,
        ValidationError,
    )

    by_error: tuple[tuple[type[IgError], ExitCode], ...] = (
        (JobFailed, ExitCode.JOB_FAILED),
        (NotFound, ExitCode.NOT_FOUND),
        (Gone, ExitCode.NOT_FOUND),
        (Unauthorized, ExitCode.UNAUTHORIZED),
        (ValidationError, ExitCode.REJECTED),
        (ConnectionFailed, ExitCode.UNREACHABLE),
        (TimedOut, ExitCode.TIMED_OUT),
        (ChecksumMismatch, ExitCode.INTEGRITY),
    )
    for kind, code in by_error:
        if isinstance(error, kind):
            return code
    return ExitCode.ERROR


def epilog() -> str:
    """The table for ``ig --help`` (``\\b`` keeps click from rewrapping it)."""
    rows = "\n".join(f"  {int(code):>3}  {meaning}" for code, meaning in MEANINGS.items())
    return f"\b\nExit status:\n{rows}"
