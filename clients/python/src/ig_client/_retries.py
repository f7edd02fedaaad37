"""When to try a request again, and how long to wait first: the one retry rule of both clients."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""429 (the request was not handled: always safe to send again) and the gateway answers that say
ig was not reached or did not answer (retried only when the request may be sent twice)."""
FIRST_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` the client waits on its own; asked for longer, it raises and lets
the caller decide (the error carries ``retry_after``)."""
PROBLEM_TYPE = "application/problem+json"
"""How ig itself answers an error; gateways in front of it answer otherwise."""
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport failures that happen before any byte of the request left: safe to retry for any request."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds (``"3"``) or an HTTP date; None when
    absent or unreadable. A date in the past is 0."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable


def backoff(retry: int, rng: random.Random | None = None) -> float:
    """The wait before retry number ``retry`` (0 for the first): exponential from ``FIRST_DELAY``,
    capped at ``MAX_DELAY``, with "equal jitter" (between half and all of it) so clients that
    failed together do not come back together."""
    ceiling = min(MAX_DELAY, FIRST_DELAY * 2.0**retry)
    return ceiling / 2 + (rng.random() if rng else random.random()) * ceiling / 2


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int

    def delay(
        self, outcome: httpx.Response | httpx.TransportError, retry: int, replayable: bool, resendable: bool
    ) -> float | None:
        """Seconds to wait before sending the request again, or None to stop here. ``retry`` counts
        the retries already made; ``replayable``: the request may reach ig twice without harm (a GET,
        a POST carrying an ``Idempotency-Key``); ``resendable``: its body can be sent again (not a
        pipe already read)."""
        if retry >= self.max_retries:
            return None
        if isinstance(outcome, httpx.TransportError):
            return backoff(retry) if replayable or isinstance(outcome, NOT_SENT) else None
        if outcome.status_code not in RETRY_STATUSES:
            return None
        if outcome.status_code != 429 and outcome.headers.get("content-type", "").startswith(PROBLEM_TYPE):
            return None  # ig's own answer (a provider's refusal, a degraded health check): final, not a gateway's
        if not (replayable if outcome.status_code != 429 else resendable):
            return None
        asked = retry_after_seconds(outcome.headers.get("retry-after"))
        if asked is None:
            return backoff(retry)
        return asked if asked <= MAX_RETRY_AFTER else None
