"""What every provider shares: a reply kept as received and parsed, the outcome of a call
(accepted, transient, rejected), the ``Provider`` protocol, which hosts an output may be
downloaded from, and inline (base64) outputs as a stream. Runware is ``ig.providers.runware``,
the built-in stand-in ``ig.providers.mock``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

from ig import addresses
from ig.errors import FieldError, ProviderErrorInfo

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
    REJECTED = "rejected"


@dataclass(frozen=True)
class Exchange:
    """One call to a provider and what it came to: the answer as received (stored when it was
    read whole), the outcome, the provider's error when there is one, and for an accepted submit
    the provider's own id of the request."""

    reply: Reply
    outcome: Outcome
    error: ProviderErrorInfo | None = None
    provider_id: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a provider can be relied on for; the core decides by these, never by its name. (Safe
    resubmission, real cancel and cost reporting join when a provider differs on them.)"""

    webhooks: bool
    """It can call ig back when work is done (otherwise ig polls)."""


@dataclass(frozen=True)
class OutputRef:
    """One output inside a result: a URL to download, inline base64/data-URI bytes, or text."""

    name: str
    kind_hint: str
    url: str | None = None
    inline: str | None = None
    text: str | None = None
    media_hint: str | None = None


@dataclass(frozen=True)
class ProviderResult:
    """One finished result, whatever the provider: how to tell it from its siblings, its outputs,
    and what the provider said about it (seed, cost, NSFW flag), with the item kept as received
    (large inline data elided)."""

    key: str
    outputs: list[OutputRef]
    raw: dict[str, Any]
    seed: int | None = None
    cost: float | None = None
    nsfw: bool | None = None


@dataclass
class ProviderAnswer:
    """What a body from the provider (an answer, a webhook) says about a job."""

    results: list[ProviderResult] = field(default_factory=list)
    errors: list[ProviderErrorInfo] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    """Ids of other requests whose results the body also held: left out, and worth a log line."""


class Provider(Protocol):
    """Everything the core asks of a provider. Each provider owns its protocol: how a job becomes
    its request, what its answers mean, how its webhooks prove themselves, how its outputs are
    fetched, and what it can be relied on for."""

    name: str
    capabilities: Capabilities
    first_poll_delay: int

    def build_request(
        self, *, job_id: str, task: str, model: str, params: dict[str, Any], webhook_url: str | None
    ) -> dict[str, Any]:
        """The request for the job, as ig stores it and sends it."""
        ...

    async def submit(self, request: dict[str, Any]) -> Exchange: ...

    async def poll(self, request: dict[str, Any], provider_id: str) -> Exchange:
        """Ask how the request stands; a non-transient answer is then ``parse``d."""
        ...

    def parse(self, body: Any, job_id: str) -> ProviderAnswer: ...

    def webhook_problem(self, body: Any, job_id: str) -> str | None:
        """Why a webhook body, already past ig's own per-job token, is not about this job."""
        ...

    def field_errors(self, error: ProviderErrorInfo) -> list[FieldError] | None:
        """The consumer's fields a refusal names (``params.width``), or None when it is not about them."""
        ...

    def expected_results(self, task: str, params: dict[str, Any]) -> int:
        """How many results the job's request will produce: the job succeeds when all are stored."""
        ...

    def searchable_text(self, params: dict[str, Any]) -> str:
        """The words a job is found by (its prompts)."""
        ...

    def open_output(self, url: str) -> AsyncIterator[bytes]: ...


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
