"""Talking to providers: Runware over HTTP through the ``HttpClient`` port, and the outcome of
each call sorted into accepted, transient or rejected. The mock provider lives in ``ig.mock``."""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from ig import runware
from ig.errors import MediaRefused, ProviderErrorInfo
from ig.ports import HttpClient
from ig.settings import Settings

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


def classify(reply: Reply) -> tuple[Outcome, ProviderErrorInfo | None]:
    """Sort a submit (or poll) answer: did the provider take the task, should we try again, or
    has it refused for good? ``conflictTaskUUID`` means an earlier send already got through."""
    if reply.status is None:
        info = ProviderErrorInfo("connection", reply.transport_error or "no answer from the provider")
        return Outcome.TRANSIENT, info
    if reply.unread_over is not None:
        # Never read as an answer: cut short it would look like one with fewer results. A resent
        # submit is safe (same taskUUID); a poll says what happened (``consumer.poll``).
        message = f"the provider answered with more than {reply.unread_over} bytes (IG_MAX_WEBHOOK_BYTES); not read"
        return Outcome.TRANSIENT, ProviderErrorInfo("provider_answer_too_large", message, http_status=reply.status)
    envelope = runware.parse_envelope(reply.body)
    errors = [runware.error_info(e, reply.status) for e in envelope.errors]
    if any(e.code in runware.ACCEPTED_CODES for e in errors):
        return Outcome.ACCEPTED, None
    if 200 <= reply.status < 300 and not errors:
        return Outcome.ACCEPTED, None
    info = errors[0] if errors else _http_error(reply)
    info.retry_after = reply.retry_after
    if reply.status in runware.TRANSIENT_HTTP or (200 <= reply.status < 300 and runware.is_transient(info)):
        return Outcome.TRANSIENT, info
    return Outcome.REJECTED, info


def _http_error(reply: Reply) -> ProviderErrorInfo:
    snippet = reply.raw[:200].decode("utf-8", "replace")
    return ProviderErrorInfo(
        f"http_{reply.status}", f"HTTP {reply.status} from the provider: {snippet}", http_status=reply.status
    )


class Provider(Protocol):
    name: str
    sends_webhooks: bool
    first_poll_delay: int

    async def submit(self, task: dict[str, Any]) -> Reply: ...

    async def get_response(self, task: dict[str, Any]) -> Reply: ...

    def open_output(self, url: str) -> AsyncIterator[bytes]: ...


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from APIs, and our own backoff covers it


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
            return host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True


class RunwareProvider:
    name = "runware"
    sends_webhooks = True
    first_poll_delay = 2

    def __init__(self, http: HttpClient, settings: Settings) -> None:
        self._http = http
        self._settings = settings

    async def _post(self, tasks: list[dict[str, Any]]) -> Reply:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self._settings.runware_api_key:
            headers["authorization"] = f"Bearer {self._settings.runware_api_key}"
        try:
            response = await self._http.send(
                "POST",
                self._settings.runware_api_url,
                headers=headers,
                body=json.dumps(tasks).encode(),
                timeout=60.0,
            )
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Reply(status=None, transport_error=f"{type(exc).__name__}: {exc}")
        limit = self._settings.max_webhook_bytes  # answers may be as large as webhooks, no larger
        try:
            raw = bytearray()
            async for chunk in response.iter_bytes():
                raw += chunk
                if len(raw) > limit:
                    return Reply(status=response.status, unread_over=limit)
        finally:
            await response.aclose()
        return Reply(
            status=response.status,
            raw=bytes(raw),
            body=runware.decode_json(bytes(raw)),
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    async def submit(self, task: dict[str, Any]) -> Reply:
        return await self._post([task])

    async def get_response(self, task: dict[str, Any]) -> Reply:
        return await self._post([{"taskType": "getResponse", "taskUUID": task["taskUUID"]}])

    async def open_output(self, url: str) -> AsyncIterator[bytes]:
        """Download an output from an allowed media host, following redirects only to allowed
        hosts, so a forged result cannot make ig fetch arbitrary URLs."""
        for _ in range(MAX_REDIRECTS + 1):
            if not host_allowed(url, self._settings.media_hosts):
                raise MediaRefused(f"output host not in IG_MEDIA_HOSTS: {urlsplit(url).hostname}")
            response = await self._http.send("GET", url, timeout=300.0)
            if response.status in (301, 302, 303, 307, 308) and response.headers.get("location"):
                await response.aclose()
                url = urljoin(url, response.headers["location"])
                continue
            try:
                if response.status != 200:
                    raise ConnectionError(f"HTTP {response.status} downloading {urlsplit(url).path}")
                async for chunk in response.iter_bytes():
                    yield chunk
            finally:
                await response.aclose()
            return
        raise ConnectionError("too many redirects downloading an output")


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
