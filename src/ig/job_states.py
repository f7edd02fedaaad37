"""A job's states, defined once: the enum, which are open, which are final, and the same lists
as SQL for the statements that touch only jobs in them. The schema's CHECK and partial indexes
repeat the lists in SQL, and a test holds them to this module."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"  # recorded, not yet accepted by the provider
    SUBMITTED = "submitted"  # the provider has the task
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by the consumer; results that still arrive are kept, flagged


OPEN_STATUSES = (JobStatus.QUEUED, JobStatus.SUBMITTED)
"""Still waiting for the provider: the sweeper, the poll chain and every transition act on these."""
TERMINAL_STATUSES = frozenset(set(JobStatus) - set(OPEN_STATUSES))
ENDED_WITHOUT_RESULTS = (JobStatus.CANCELLED, JobStatus.FAILED)
"""Final states a late result can still arrive in (it is kept, flagged ``arrived_after``)."""


def sql_list(states: tuple[JobStatus, ...]) -> str:
    """``('queued', 'submitted')``: states as a SQL list, for ``status IN {...}``."""
    return "(" + ", ".join(f"'{state}'" for state in states) + ")"


OPEN_SQL = sql_list(OPEN_STATUSES)


def is_terminal(job: dict) -> bool:
    return job["status"] in TERMINAL_STATUSES
