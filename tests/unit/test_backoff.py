"""Resubmission backoff (``ig.jobs.submission.backoff_seconds``): 2, 4, 8 ... seconds with +-20 %
jitter, capped, never sooner than the provider's Retry-After, never under a second."""

from __future__ import annotations

import pytest

from ig.jobs.submission import backoff_seconds

DRAWS = 400


def draws(attempt: int, retry_after: float | None = None, cap: int = 300) -> set[int]:
    return {backoff_seconds(attempt, retry_after, cap) for _ in range(DRAWS)}


@pytest.mark.parametrize(("attempt", "base"), [(0, 2), (1, 2), (2, 4), (3, 8), (5, 32), (8, 256)])
def test_each_attempt_doubles_the_wait_within_twenty_percent(attempt, base):
    seen = draws(attempt)
    assert seen <= set(range(round(base * 0.8), round(base * 1.2) + 1)), sorted(seen)
    if base >= 8:
        assert len(seen) > 1  # jittered: retries of many jobs do not arrive together
        assert min(seen) < base < max(seen)


def test_the_wait_is_capped():
    assert draws(9) <= set(range(240, 361)) and draws(30) <= set(range(240, 361))
    assert draws(9, cap=60) <= set(range(48, 73))


def test_retry_after_is_honoured_as_a_floor():
    assert draws(1, retry_after=7) == {7}  # 1.6 to 2.4 s: Retry-After is later
    assert draws(3, retry_after=7) <= set(range(7, 11))  # 6.4 to 9.6 s, never before 7
    assert draws(1, retry_after=900) == {900}  # past the cap too: the provider said so
    assert draws(1, retry_after=0) == {2}


def test_never_less_than_a_second():
    assert draws(1, cap=1) == {1}
    assert draws(1, cap=0) == {1}
