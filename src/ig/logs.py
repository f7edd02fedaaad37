"""Log lines for both runtimes: info and above, each naming the job it is about when there is one.

Work for one job marks itself with ``working_on(job_id)``; every line logged afterwards in the same
task (an HTTP request, a queue message, a sweep) carries ``job=<id>`` without each call site
repeating it. Each runtime installs the handler once, from its own entry point, never at import."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

_current_job: ContextVar[str | None] = ContextVar("ig_current_job", default=None)

LINE_FORMAT = "%(levelname)s %(name)s%(job)s: %(message)s"


def working_on(job_id: str | None) -> None:
    """Name the job the rest of this task works for (``None``: no job). Each asyncio task (and each
    Worker invocation) has its own copy, so concurrent requests never see each other's job."""
    _current_job.set(job_id)


class JobFilter(logging.Filter):
    """Gives every record ``job``: `` job=<id>`` for the current job, else empty."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id = _current_job.get()
        record.job = f" job={job_id}" if job_id else ""
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged: a Worker's memory snapshot and
    pytest's capture both replace it after handlers are made."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


def install(logger: logging.Logger, *, timestamps: bool = False) -> None:
    """Send ``logger``'s info and above to stderr, once: calling it again for the same logger
    changes nothing, so a warm isolate never doubles its lines."""
    if any(isinstance(f, JobFilter) for h in logger.handlers for f in h.filters):
        return
    handler = _StderrHandler()
    handler.addFilter(JobFilter())
    handler.setFormatter(logging.Formatter(("%(asctime)s " if timestamps else "") + LINE_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
