"""Runware over HTTP, through the ``HttpClient`` port: submitting a task, polling
``getResponse``, and downloading outputs from the allowed media hosts only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from ig.errors import MediaRefused
from ig.ports import HttpClient
from ig.providers.base import MAX_REDIRECTS, Capabilities, Exchange, Reply, host_allowed
from ig.providers.mock import MOCK_SCHEME
from ig.providers.runware import protocol as runware
from ig.safe_json import decode_json
from ig.settings import Settings


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from APIs, and our own backoff covers it


class RunwareProvider(runware.SpeaksRunware):
    name = "runware"
    capabilities = Capabilities(webhooks=True)
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
            body=decode_json(bytes(raw)),
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    async def submit(self, request: dict[str, Any]) -> Exchange:
        return runware.exchange(await self._post([request]), request["taskUUID"])

    async def poll(self, request: dict[str, Any], provider_id: str) -> Exchange:
        reply = await self._post([{"taskType": "getResponse", "taskUUID": provider_id}])
        return runware.exchange(reply, provider_id)

    def webhook_problem(self, body: Any, job_id: str) -> str | None:
        return runware.webhook_problem(body, job_id)

    async def open_output(self, url: str) -> AsyncIterator[bytes]:
        """Download an output from an allowed media host, following redirects only to allowed
        hosts, so a forged result cannot make ig fetch arbitrary URLs."""
        if url.startswith(MOCK_SCHEME):
            raise MediaRefused("mock outputs are only accepted for mock jobs")
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
