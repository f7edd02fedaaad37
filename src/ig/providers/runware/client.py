"""Runware over HTTP, through the ``HttpClient`` port: submitting a task, polling
``getResponse``, and downloading outputs from the allowed media hosts only."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from ig.byte_sources import ByteSource
from ig.errors import MediaRefused
from ig.ports import HttpClient
from ig.providers.base import (
    Cancelled,
    Capabilities,
    Exchange,
    Outcome,
    Reconciled,
    Reply,
    WebhookCheck,
    download,
)
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
    capabilities = Capabilities(
        webhooks=True, safe_resubmission=True, cancels=False, cost="reported", webhook_per_result=True
    )
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
        reply = await self._post([request])
        exchange = runware.exchange(reply, request["taskUUID"])
        if reply.status is None or reply.unread_over is not None:
            # The task may have arrived: resending is safe here (same taskUUID), leaving for
            # another provider is not.
            return Exchange(reply, Outcome.UNKNOWN, exchange.error)
        return exchange

    async def poll(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Exchange:
        task_uuid = provider_id or request["taskUUID"]
        reply = await self._post([{"taskType": "getResponse", "taskUUID": task_uuid}])
        return runware.exchange(reply, task_uuid)

    async def check_webhook(
        self, *, job_id: str, provider_id: str, headers: Mapping[str, str], raw: bytes, body: Any
    ) -> WebhookCheck:
        # Runware signs nothing: ig's per-job token in the URL, already checked, is the proof.
        return WebhookCheck(problem=runware.webhook_problem(body, job_id))

    async def cancel(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Cancelled:
        return Cancelled(detail="Runware cannot stop a task it has accepted")

    async def reconcile(
        self, request: dict[str, Any], sent_after: datetime, claimed: Callable[[list[str]], Awaitable[set[str]]]
    ) -> Reconciled:
        raise NotImplementedError("a Runware task is safe to resend: it is never reconciled")

    async def check_credentials(self) -> str | None:
        reply = await self._post([{"taskType": "authentication", "apiKey": self._settings.runware_api_key or ""}])
        outcome, error = runware.classify(reply)
        return None if outcome is Outcome.ACCEPTED else (error.message if error else f"HTTP {reply.status}")

    async def open_output(self, url: str) -> ByteSource:
        if url.startswith(MOCK_SCHEME):
            raise MediaRefused("mock outputs are only accepted for mock jobs")
        return await download(self._http, url, self._settings.media_hosts)
