"""The client's retry rule (``ig_client._retries``): how ``Retry-After`` is read, how long it backs
off, and which failures it retries for which requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest
from ig_client._retries import FIRST_DELAY, MAX_DELAY, MAX_RETRY_AFTER, RetryPolicy, backoff, retry_after_seconds

NOW = datetime(2026, 11, 21, 5, 48, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Sat, 21 Nov 2026 05:48:45 GMT", 30.0),  # an HTTP date, 30 s from NOW
        ("Sat, 21 Nov 2026 05:40:00 GMT", 0.0),  # already past: go now
        ("-4", 0.0),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header, seconds):
    assert retry_after_seconds(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "Sat, 99 Foo 2026"])
def test_an_unreadable_retry_after_is_none(header):
    assert retry_after_seconds(header, now=NOW) is None


def test_backoff_doubles_up_to_its_cap_with_jitter_between_half_and_all():
    rng = random.Random(7)
    for retry in range(12):
        ceiling = min(MAX_DELAY, FIRST_DELAY * 2**retry)
        delays = [backoff(retry, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not constant
    assert backoff(30, rng) <= MAX_DELAY


def _answer(status: int, retry_after: str | None = None) -> httpx.Response:
    return httpx.Response(status, headers={"retry-after": retry_after} if retry_after is not None else {})


POLICY = RetryPolicy(max_retries=3)
REQUEST = httpx.Request("GET", "http://127.0.0.1:1/v1/jobs")


def test_429_is_retried_after_what_it_asks_even_for_a_request_that_must_not_run_twice():
    assert POLICY.delay(_answer(429, "2"), retry=0, replayable=False, resendable=True) == 2.0


def test_429_is_not_retried_when_the_body_cannot_be_sent_again():
    assert POLICY.delay(_answer(429, "2"), retry=0, replayable=False, resendable=False) is None


def test_a_retry_after_longer_than_the_client_waits_on_its_own_is_left_to_the_caller():
    assert POLICY.delay(_answer(429, str(MAX_RETRY_AFTER + 1)), 0, True, True) is None
    assert POLICY.delay(_answer(429, str(MAX_RETRY_AFTER)), 0, True, True) == MAX_RETRY_AFTER


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_failures_are_retried_only_for_requests_that_may_run_twice(status):
    delay = POLICY.delay(_answer(status), 1, replayable=True, resendable=True)
    assert delay is not None and FIRST_DELAY <= delay <= 2 * FIRST_DELAY  # the second retry's backoff
    assert POLICY.delay(_answer(status, "4"), 0, True, True) == 4.0
    assert POLICY.delay(_answer(status), 0, replayable=False, resendable=True) is None


@pytest.mark.parametrize("status", [502, 503])
def test_igs_own_502_and_503_are_final_answers(status):
    """ig answers 502 when the provider refused the task (the job is recorded as failed) and 503
    for a degraded deep health check: sending again gets the same answer."""
    ig_answer = httpx.Response(status, headers={"content-type": "application/problem+json"})
    assert POLICY.delay(ig_answer, 0, replayable=True, resendable=True) is None


@pytest.mark.parametrize("status", [400, 401, 404, 409, 410, 422, 500])
def test_other_errors_are_not_retried(status):
    assert POLICY.delay(_answer(status), 0, True, True) is None


def test_a_connection_that_never_opened_is_retried_for_any_request():
    refused = httpx.ConnectError("refused", request=REQUEST)
    assert POLICY.delay(refused, 0, replayable=False, resendable=False) is not None


def test_a_connection_lost_after_sending_is_retried_only_for_requests_that_may_run_twice():
    dropped = httpx.RemoteProtocolError("Server disconnected without sending a response.", request=REQUEST)
    assert POLICY.delay(dropped, 0, replayable=True, resendable=True) is not None
    assert POLICY.delay(dropped, 0, replayable=False, resendable=True) is None


def test_retries_stop_at_max_retries():
    assert POLICY.delay(_answer(503), 2, True, True) is not None
    assert POLICY.delay(_answer(503), 3, True, True) is None
    assert RetryPolicy(max_retries=0).delay(_answer(429, "1"), 0, True, True) is None
