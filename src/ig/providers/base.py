"""What every provider shares: a reply kept as received and parsed, the outcome of a call
(accepted, transient, rejected, unknown), the ``Provider`` protocol, which hosts an output may be
downloaded from, and inline (base64) outputs as a stream. Runware is ``ig.providers.runware``,
the built-in stand-in ``ig.providers.mock``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from ig import addresses
from ig.byte_sources import ByteSource, declared_length
from ig.errors import FieldError, MediaRefused, ProviderErrorInfo
from ig.ports import HttpClient

MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Reply:
    """One answer from a provider, kept as received (``raw``) and parsed (``body``)."""

    status: int | None
    raw: bytes = b""
    body: Any = None
    retry_after: float | None = None
    transport_error: str | None = None
    unread_over: int | None = None
    """Set when the answer ran past this many bytes: it was not read, nothing of it is kept."""

    @property
    def read_whole(self) -> bool:
        """An answer came and was read to its end: it is kept as a provider event."""
        return self.status is not None and self.unread_over is None

    @classmethod
    def of_json(cls, status: int, body: Any) -> Reply:
        return cls(status=status, raw=json.dumps(body).encode(), body=body)


class Outcome(Enum):
    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    """Not taken, and safe to send again later (refused for now, or the connection failed before
    the request was sent)."""
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    """The connection failed after the request may have arrived: the provider may be running it."""


@dataclass(frozen=True)
class Exchange:
    """One call to a provider and what it came to: the answer as received (stored when it was
    read whole), the outcome, the provider's error when there is one, and for an accepted submit
    the provider's own id of the request."""

    reply: Reply
    outcome: Outcome
    error: ProviderErrorInfo | None = None
    provider_id: str | None = None
    handle: dict[str, Any] | None = None
    """What else the answer said to follow the request by (fal's status, result and cancel URLs)."""


@dataclass(frozen=True)
class Capabilities:
    """What a provider can be relied on for; the core decides by these, never by its name."""

    webhooks: bool
    """It can call ig back when work is done (otherwise ig polls)."""
    safe_resubmission: bool
    """Sending a request again cannot run it twice (Runware: the same taskUUID). Without it, a
    submit whose outcome is unknown is reconciled with the provider, never blindly resent."""
    cancels: bool
    """It can stop a request it has accepted (otherwise a cancelled job's work runs on)."""
    cost: str | None
    """How it tells a result's cost: ``reported`` with the result, ``billed`` from billable
    units times a unit price, ``estimated``, or None."""
    webhook_per_result: bool
    """A webhook carries one result (Runware), rather than announcing the whole request (fal)."""


@dataclass(frozen=True)
class Cost:
    """What a result cost, and how ig knows: ``reported`` by the provider, ``billed`` (units the
    provider billed times its unit price) or ``estimated``."""

    amount: float
    currency: str = "USD"
    source: str = "reported"


@dataclass(frozen=True)
class OutputRef:
    """One output inside a result: a URL to download, inline base64/data-URI bytes, or text."""

    name: str
    kind_hint: str
    url: str | None = None
    inline: str | None = None
    text: str | None = None
    media_hint: str | None = None
    poster_url: str | None = None
    """A still the provider made for this (video) output, downloaded like an output (``open_output``)
    to become its thumbnail. Only providers that document one set it."""


@dataclass(frozen=True)
class ProviderResult:
    """One finished result, whatever the provider: how to tell it from its siblings, its outputs,
    and what the provider said about it (seed, cost, NSFW flag), with the item kept as received
    (large inline data elided)."""

    key: str
    outputs: list[OutputRef]
    raw: dict[str, Any]
    seed: int | None = None
    cost: Cost | None = None
    nsfw: bool | None = None


@dataclass
class ProviderAnswer:
    """What a body from the provider (an answer, a webhook) says about a job."""

    results: list[ProviderResult] = field(default_factory=list)
    errors: list[ProviderErrorInfo] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    """Ids of other requests whose results the body also held: left out, and worth a log line."""
    fetch_result: bool = False
    """The body announces the request finished without being its result (a fal webhook): the
    result, with what it was billed, is to be fetched from the provider."""


@dataclass(frozen=True)
class WebhookCheck:
    """A provider's verdict on a webhook that passed ig's own per-job token: why it is refused
    (``problem``, answered with ``status``), or which of the provider's requests it is about."""

    problem: str | None = None
    status: int = 400
    provider_id: str | None = None
    handle: dict[str, Any] | None = None


@dataclass(frozen=True)
class Reconciled:
    """What the provider knows of a request whose submit outcome was unknown: it has it
    (``provider_id``), it provably has nothing (``absent``), or it could not tell (``problem``)."""

    provider_id: str | None = None
    handle: dict[str, Any] | None = None
    absent: bool = False
    problem: ProviderErrorInfo | None = None


@dataclass(frozen=True)
class Cancelled:
    """What a cancel did at the provider: ``stopped`` before it ran (never billed), or only
    ``requested`` (it may run and bill anyway), or nothing (``detail`` says why)."""

    stopped: bool = False
    requested: bool = False
    detail: str = ""


class Dialect(Protocol):
    """The pure half of a provider, used before anything is recorded or sent: which models it
    runs, its own names for ig's common parameters, its checks of a request, and how its bodies
    read. Each provider owns its protocol."""

    name: str
    unknown_model_task: str | None
    """The task of a model outside ig's catalogue when the request names none (None: required)."""
    aliases_of: str
    """Whose models an alias resolves to: its own name, or the provider it stands in for (the mock
    runs Runware's)."""

    def model_problem(self, model: str) -> str | None:
        """Why ``model`` cannot name one of this provider's models, or None."""
        ...

    def task_of(self, model: str) -> str | None:
        """The ig task a known model runs (``imageInference``), or None."""
        ...

    def native_params(self, task: str, model: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        """``params`` under the provider's own names (common names such as ``prompt`` moved to
        their place), and what is wrong: a parameter ig sets itself, a common name given with
        its native twin."""
        ...

    def param_errors(
        self, task: str, model: str, params: dict[str, Any], skip: frozenset[str] = frozenset()
    ) -> list[FieldError]:
        """Every rule the native ``params`` break (``skip``: top-level names not to check yet)."""
        ...

    def default_timeout(self, task: str, model: str) -> int: ...

    def build_request(
        self,
        *,
        job_id: str,
        task: str,
        model: str,
        params: dict[str, Any],
        webhook_url: str | None,
        timeout_seconds: int,
    ) -> dict[str, Any]:
        """The request for the job, as ig stores it and sends it (``timeout_seconds``: the job's
        deadline, for a provider that can stop by itself)."""
        ...

    def parse(self, body: Any, job_id: str) -> ProviderAnswer: ...

    def field_errors(self, error: ProviderErrorInfo) -> list[FieldError] | None:
        """The consumer's fields a refusal names (``params.width``), or None when it is not about them."""
        ...

    def expected_results(self, task: str, params: dict[str, Any]) -> int:
        """How many results the job's request will produce: the job succeeds when all are stored."""
        ...

    def searchable_text(self, params: dict[str, Any]) -> str:
        """The words a job is found by (its prompts)."""
        ...


class Provider(Dialect, Protocol):
    """Everything the core asks of a provider: its dialect, and the calls (submit, poll, cancel,
    reconcile, webhooks, downloads) with what it can be relied on for."""

    capabilities: Capabilities
    first_poll_delay: int

    async def submit(self, request: dict[str, Any]) -> Exchange: ...

    async def poll(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Exchange:
        """Ask how the request stands; a non-transient answer is then ``parse``d."""
        ...

    async def check_webhook(
        self, *, job_id: str, provider_id: str, headers: Mapping[str, str], raw: bytes, body: Any
    ) -> WebhookCheck:
        """Whether a webhook, already past ig's own per-job token, is authentic and about this
        job's request (``provider_id``, '' while ig does not know it yet)."""
        ...

    async def cancel(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Cancelled:
        """Stop the request, where the provider can (``capabilities.cancels``)."""
        ...

    async def reconcile(
        self,
        request: dict[str, Any],
        sent_after: datetime,
        claimed: Callable[[list[str]], Awaitable[set[str]]],
    ) -> Reconciled:
        """Look for the request ig sent (``request``, its submit begun after ``sent_after``) when
        the outcome was unknown; ``claimed`` says which of the provider's ids other jobs own.
        Only called when ``capabilities.safe_resubmission`` is False."""
        ...

    async def open_output(self, url: str) -> ByteSource:
        """An output's bytes, open (the caller closes it), from an allowed host."""
        ...

    async def check_credentials(self) -> str | None:
        """Its cheapest call that needs ig's key: None when the provider takes the key, else why not."""
        ...


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """https to an allowed host; plain http only to an allowed loopback host (local testing)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http"):
        return False
    matched = any(host == h or (h.startswith(".") and host.endswith(h)) for h in allowed)
    if not matched:
        return False
    if parts.scheme == "http":
        try:
            return addresses.parse_host(f"[{host}]" if ":" in host else host).is_loopback
        except ValueError:
            return False
    return True


async def download(http: HttpClient, url: str, allowed: tuple[str, ...]) -> ByteSource:
    """An output's bytes from an allowed media host (``IG_MEDIA_HOSTS``), following redirects only
    to allowed hosts, so a forged result cannot make ig fetch arbitrary URLs."""
    for _ in range(MAX_REDIRECTS + 1):
        if not host_allowed(url, allowed):
            raise MediaRefused(f"output host not in IG_MEDIA_HOSTS: {urlsplit(url).hostname}")
        response = await http.send("GET", url, timeout=300.0)
        if response.status in (301, 302, 303, 307, 308) and response.headers.get("location"):
            await response.aclose()
            url = urljoin(url, response.headers["location"])
            continue
        if response.status != 200:
            await response.aclose()
            raise ConnectionError(f"HTTP {response.status} downloading {urlsplit(url).path}")
        return ByteSource(response.iter_bytes(), length=declared_length(response.headers), response=response)
    raise ConnectionError("too many redirects downloading an output")


INLINE_KEEP_LIMIT = 1024
"""Inline outputs longer than this are not repeated in a stored result (the artifact has them)."""
RESULT_TEXT_KEEP_LIMIT = 64 * 1024
"""Other text longer than this is left out of a stored result (its provider event has it), so
the result's row stays far inside D1's."""


def whole_number(value: Any) -> int | None:
    """``value`` when it is an integer (a seed; JSON booleans are not), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def same_input(sent: Any, listed: Any) -> bool:
    """Whether a provider's record of a request's input (a listing ig reconciles with) is the
    input ig stored. An ``artifact:<id>`` reference was sent as a URL or data URI made at send
    time, so any string matches it."""
    if isinstance(sent, str) and sent.startswith("artifact:"):
        return isinstance(listed, str)
    if isinstance(sent, dict):
        return (
            isinstance(listed, dict)
            and sent.keys() == listed.keys()
            and all(same_input(sent[k], listed[k]) for k in sent)
        )
    if isinstance(sent, list):
        return isinstance(listed, list) and len(sent) == len(listed) and all(map(same_input, sent, listed))
    return json.dumps(sent, sort_keys=True) == json.dumps(listed, sort_keys=True)


INLINE_SLICE = 1024 * 1024
"""Base64 characters decoded at a time (a multiple of 4): an inline output is never copied whole."""


def decode_inline(value: str) -> tuple[AsyncIterator[bytes], str | None]:
    """The bytes of a ``base64Data`` or ``dataURI`` output as a stream, and its declared type."""
    declared = None
    start = 0
    if value.startswith("data:"):
        comma = value.find(",")
        declared = value[5:comma].split(";")[0] or None
        start = comma + 1

    async def chunks() -> AsyncIterator[bytes]:
        for offset in range(start, len(value), INLINE_SLICE):
            piece = value[offset : offset + INLINE_SLICE]
            yield base64.b64decode(piece + "=" * (-len(piece) % 4))

    return chunks(), declared
