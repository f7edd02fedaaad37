"""Replicate over HTTP, through the ``HttpClient`` port: creating a prediction (with the job's
deadline as ``Cancel-After``), following and cancelling it by the URLs Replicate answered with,
verifying its Standard Webhooks signatures, finding a prediction whose create answer was lost,
and downloading outputs from the allowed media hosts only."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from ig import standard_webhooks
from ig.byte_sources import ByteSource
from ig.errors import ProviderErrorInfo
from ig.ports import HttpClient
from ig.providers.base import Cancelled, Capabilities, Exchange, Outcome, Reconciled, Reply, WebhookCheck, download
from ig.providers.replicate import protocol
from ig.providers.replicate.protocol import SpeaksReplicate
from ig.safe_json import decode_json
from ig.settings import Settings

LISTING_PAGES = 10
"""At most this many pages (100 predictions each) are read to reconcile one job."""
LISTING_SLACK = timedelta(seconds=60)
"""Replicate's clock and ig's may differ: the listing is read from this long before ig sent it."""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def capabilities(settings: Settings) -> Capabilities:
    # Webhooks only when ig can verify them: Replicate signs with the account's secret.
    return Capabilities(
        webhooks=bool(settings.replicate_webhook_secret),
        safe_resubmission=False,
        cancels=True,
        cost="estimated",
        webhook_per_result=False,
    )


class ReplicateProvider(SpeaksReplicate):
    first_poll_delay = 2

    def __init__(self, http: HttpClient, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self._prices = settings.replicate_prices
        self.capabilities = capabilities(settings)

    def _headers(self, **extra: str) -> dict[str, str]:
        headers = {"accept": "application/json", **extra}
        if self._settings.replicate_api_token:
            headers["authorization"] = f"Bearer {self._settings.replicate_api_token}"
        return headers

    async def _call(self, method: str, url: str, body: Any = None, **headers: str) -> Reply:
        """One call, its answer read whole (bounded as webhooks are) and decoded."""
        sent = json.dumps(body).encode() if body is not None else None
        extra = {"content-type": "application/json", **headers} if sent is not None else headers
        try:
            response = await self._http.send(method, url, headers=self._headers(**extra), body=sent, timeout=60.0)
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Reply(status=None, transport_error=f"{type(exc).__name__}: {exc}")
        limit = self._settings.max_webhook_bytes
        try:
            raw = bytearray()
            async for chunk in response.iter_bytes():
                raw += chunk
                if len(raw) > limit:
                    return Reply(status=response.status, unread_over=limit)
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Reply(status=None, transport_error=f"{type(exc).__name__}: {exc}")
        finally:
            await response.aclose()
        return Reply(
            status=response.status,
            raw=bytes(raw),
            body=decode_json(bytes(raw)) if raw else None,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    def _url(self, path: str) -> str:
        return f"{self._settings.replicate_api_url}{path}"

    async def submit(self, request: dict[str, Any]) -> Exchange:
        name, version = protocol.split_ref(request["model"])
        body: dict[str, Any] = {"input": request["input"]}
        if request.get("webhook"):
            body.update(webhook=request["webhook"], webhook_events_filter=["completed"])
        if version is not None:
            url = self._url("/predictions")
            body["version"] = request["model"]
        else:
            url = self._url(f"/models/{name}/predictions")
        reply = await self._call("POST", url, body, **{"cancel-after": request["cancel_after"]})
        if reply.unread_over is not None:
            info = ProviderErrorInfo("provider_answer_too_large", "Replicate's answer was too large to read")
            return Exchange(reply, Outcome.UNKNOWN, info)
        return protocol.create_exchange(reply)

    def _urls(self, provider_id: str, handle: dict[str, Any] | None) -> dict[str, str]:
        built = {
            "get": self._url(f"/predictions/{provider_id}"),
            "cancel": self._url(f"/predictions/{provider_id}/cancel"),
        }
        return {**built, **(handle or {})}

    async def poll(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Exchange:
        reply = await self._call("GET", self._urls(provider_id, handle)["get"])
        if reply.status is None or reply.unread_over is not None or reply.status in (429,) or reply.status >= 500:
            info = protocol.error_info(reply.body, reply.status) if reply.status else None
            info = info or ProviderErrorInfo("connection", reply.transport_error or "no answer from Replicate")
            if reply.unread_over is not None:
                info = ProviderErrorInfo("provider_answer_too_large", "Replicate's answer was too large to read")
            info.retry_after = reply.retry_after
            return Exchange(reply, Outcome.TRANSIENT, info)
        if reply.status != 200:
            return Exchange(reply, Outcome.REJECTED, protocol.error_info(reply.body, reply.status))
        return Exchange(reply, Outcome.ACCEPTED)

    async def check_webhook(
        self, *, job_id: str, provider_id: str, headers: Mapping[str, str], raw: bytes, body: Any
    ) -> WebhookCheck:
        keys = standard_webhooks.decode_secrets(self._settings.replicate_webhook_secret, "REPLICATE_WEBHOOK_SECRET")
        if not keys:
            return WebhookCheck("REPLICATE_WEBHOOK_SECRET is not set: ig cannot verify Replicate's webhooks", 401)
        problem = standard_webhooks.problem(keys, headers, raw, time.time())
        if problem is not None:
            return WebhookCheck(problem, status=401)
        prediction_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(prediction_id, str) or not prediction_id:
            return WebhookCheck("the webhook body is not a prediction")
        if provider_id and prediction_id != provider_id:
            return WebhookCheck(f"the webhook is about prediction {prediction_id}, not this job's")
        urls = body.get("urls") if isinstance(body.get("urls"), dict) else {}
        handle = {k: urls[k] for k in ("get", "cancel") if isinstance(urls.get(k), str)} or None
        return WebhookCheck(provider_id=prediction_id, handle=handle)

    async def cancel(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Cancelled:
        """Replicate cancels for real: a prediction that had not started costs nothing, a running
        one is billed for the time it ran."""
        if not provider_id:
            return Cancelled(detail="Replicate has not named the prediction yet")
        reply = await self._call("POST", self._urls(provider_id, handle)["cancel"])
        body = reply.body if isinstance(reply.body, dict) else {}
        status = body.get("status")
        if reply.status == 200 and status == "canceled":
            stopped = not body.get("started_at")
            return Cancelled(
                stopped=stopped, requested=True, detail=f"Replicate: canceled{'' if stopped else ' while running'}"
            )
        if status in ("succeeded", "failed", "aborted"):
            return Cancelled(detail=f"the prediction had already {status}")
        return Cancelled(detail=f"Replicate answered the cancel with HTTP {reply.status}")

    async def reconcile(
        self, request: dict[str, Any], sent_after: datetime, claimed: Callable[[list[str]], Awaitable[set[str]]]
    ) -> Reconciled:
        """Replicate has no idempotency key: the prediction is looked up among those created from
        just before ig sent it (newest first, with their inputs). One with the job's model and
        input that no other job owns is adopted; when there is none, Replicate provably has none."""
        start = (sent_after - LISTING_SLACK).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        url: str | None = self._url("/predictions?" + urlencode({"created_after": start}))
        found: list[dict[str, Any]] = []
        for _ in range(LISTING_PAGES):
            if url is None:
                break
            reply = await self._call("GET", url)
            if reply.status != 200 or not isinstance(reply.body, dict):
                info = (
                    protocol.error_info(reply.body, reply.status)
                    if reply.status
                    else ProviderErrorInfo("connection", reply.transport_error or "no answer from Replicate")
                )
                return Reconciled(problem=info)
            found += [p for p in reply.body.get("results") or [] if isinstance(p, dict) and p.get("id")]
            following = reply.body.get("next")
            url = following if isinstance(following, str) and following else None
        else:
            if url is not None:
                info = ProviderErrorInfo("listing_too_long", "Replicate lists more predictions than ig reads")
                return Reconciled(problem=info)
        owned = await claimed([str(p["id"]) for p in found]) if found else set()
        matches = [p for p in found if str(p["id"]) not in owned and protocol.is_the_request(p, request)]
        if not matches:
            return Reconciled(absent=True)
        chosen = min(matches, key=lambda p: str(p.get("created_at") or ""))
        urls = chosen.get("urls") if isinstance(chosen.get("urls"), dict) else {}
        handle = {k: urls[k] for k in ("get", "cancel") if isinstance(urls.get(k), str)} or None
        return Reconciled(provider_id=str(chosen["id"]), handle=handle)

    async def check_credentials(self) -> str | None:
        reply = await self._call("GET", self._url("/predictions"))
        if reply.status == 200:
            return None
        return protocol.error_info(reply.body, reply.status).message if reply.status else reply.transport_error

    async def open_output(self, url: str) -> ByteSource:
        return await download(self._http, url, self._settings.media_hosts)
