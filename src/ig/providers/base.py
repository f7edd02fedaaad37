"""What every provider shares: a reply kept as received and parsed, the outcome of a call
(accepted, transient, rejected), the ``Provider`` protocol, which hosts an output may be
downloaded from, and inline (base64) outputs as a stream. Runware is ``ig.providers.runware``,
the built-in stand-in ``ig.providers.mock``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

from ig import addresses

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


class Provider(Protocol):
    name: str
    sends_webhooks: bool
    first_poll_delay: int

    async def submit(self, task: dict[str, Any]) -> Reply: ...

    async def get_response(self, task: dict[str, Any]) -> Reply: ...

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
