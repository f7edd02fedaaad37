"""fal over HTTP, through the ``HttpClient`` port: submitting to the queue, following the status,
result and cancel URLs the submit answer gave, pricing what fal billed, verifying webhooks
(``webhook_auth``), finding a request whose submit answer was lost, and downloading outputs
from the allowed media hosts only."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from ig.byte_sources import ByteSource
from ig.errors import ProviderErrorInfo
from ig.ports import Ed25519Verifier, HttpClient
from ig.providers.base import (
    Cancelled,
    Capabilities,
    Exchange,
    Outcome,
    Reconciled,
    Reply,
    WebhookCheck,
    download,
    same_input,
)
from ig.providers.fal import protocol, webhook_auth
from ig.providers.fal.protocol import SpeaksFal
from ig.safe_json import decode_json
from ig.settings import Settings

PRICE_TTL_SECONDS = 3600
LISTING_PAGE = 100
LISTING_PAGES = 10
"""At most this many pages of fal's request listing are read to reconcile one job."""
LISTING_SLACK = timedelta(seconds=60)
"""fal's clock and ig's may differ: the listing is read from this long before ig sent the request."""

# unit prices by (pricing URL, endpoint): (fetched at, price or None). Per process; prices change rarely.
_prices: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class FalProvider(SpeaksFal):
    capabilities = Capabilities(
        webhooks=True, safe_resubmission=False, cancels=True, cost="billed", webhook_per_result=False
    )
    first_poll_delay = 2

    def __init__(self, http: HttpClient, settings: Settings, verifier: Ed25519Verifier | None) -> None:
        self._http = http
        self._settings = settings
        self._verifier = verifier

    def _headers(self, **extra: str) -> dict[str, str]:
        headers = {"accept": "application/json", **extra}
        if self._settings.fal_key:
            headers["authorization"] = f"Key {self._settings.fal_key}"
        return headers

    async def _call(
        self, method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[Reply, Mapping[str, str]]:
        """One call, its answer read whole (bounded as webhooks are) and decoded."""
        try:
            response = await self._http.send(method, url, headers=headers or self._headers(), body=body, timeout=60.0)
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Reply(status=None, transport_error=f"{type(exc).__name__}: {exc}"), {}
        limit = self._settings.max_webhook_bytes
        try:
            raw = bytearray()
            async for chunk in response.iter_bytes():
                raw += chunk
                if len(raw) > limit:
                    return Reply(status=response.status, unread_over=limit), response.headers
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Reply(status=None, transport_error=f"{type(exc).__name__}: {exc}"), {}
        finally:
            await response.aclose()
        reply = Reply(
            status=response.status,
            raw=bytes(raw),
            body=decode_json(bytes(raw)) if raw else None,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
        return reply, response.headers

    # --- submit and poll ---------------------------------------------------------------------

    async def submit(self, request: dict[str, Any]) -> Exchange:
        url = f"{self._settings.fal_queue_url}/{request['endpoint']}"
        if request.get("webhook"):
            url += "?" + urlencode({"fal_webhook": request["webhook"]})
        headers = self._headers(**{"content-type": "application/json"})
        if self._settings.fal_media_ttl_seconds:
            # ig keeps its own copy: fal need not keep the files longer than ig needs to fetch them.
            preference = {"expiration_duration_seconds": self._settings.fal_media_ttl_seconds}
            headers["x-fal-object-lifecycle-preference"] = json.dumps(preference)
        reply, response_headers = await self._call("POST", url, json.dumps(request["input"]).encode(), headers)
        if reply.unread_over is not None:
            info = ProviderErrorInfo("provider_answer_too_large", "fal's submit answer was too large to read")
            return Exchange(reply, Outcome.UNKNOWN, info)
        return protocol.submit_exchange(reply, response_headers.get("x-fal-request-id"))

    def _urls(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> dict[str, str]:
        built = protocol.handle_for(self._settings.fal_queue_url, request["endpoint"], provider_id)
        return {**built, **(handle or {})}

    async def poll(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Exchange:
        """The request's status; once COMPLETED, its result (the model's output or error) with
        what fal billed for it."""
        urls = self._urls(request, provider_id, handle)
        status, _ = await self._call("GET", urls["status_url"] + "?logs=0")
        if status.status is None or status.unread_over is not None or status.status >= 500 or status.status == 429:
            return Exchange(status, Outcome.TRANSIENT, _transient(status))
        body = status.body if isinstance(status.body, dict) else {}
        if status.status == 404:
            info = protocol.error_info(status.body, 404, "fal has no such request")
            return Exchange(status, Outcome.REJECTED, info)
        if status.status >= 400:
            return Exchange(status, Outcome.TRANSIENT, protocol.error_info(status.body, status.status))
        if body.get("status") != "COMPLETED":
            return Exchange(status, Outcome.ACCEPTED)  # still queued or running: parses to nothing
        result, headers = await self._call("GET", urls["response_url"])
        if result.status is None or result.unread_over is not None or result.status == 429:
            return Exchange(result, Outcome.TRANSIENT, _transient(result))
        failed = bool(body.get("error"))
        if result.status >= 500 and not failed:
            return Exchange(result, Outcome.TRANSIENT, protocol.error_info(result.body, result.status))
        billing = await self._billing(request["endpoint"], headers.get("x-fal-billable-units"))
        envelope = protocol.result_body(provider_id, result, failed, billing)
        return Exchange(Reply(result.status, result.raw, envelope), Outcome.ACCEPTED)

    async def _billing(self, endpoint: str, units_header: str | None) -> dict[str, Any] | None:
        """What fal billed: the units it reported (``X-Fal-Billable-Units``) and its unit price."""
        if not units_header:
            return None
        try:
            units = float(units_header)
        except ValueError:
            return {"units_header": units_header}
        found: dict[str, Any] = {"units": units}
        price = await self._price(endpoint)
        if price:
            found.update(unit_price=price["unit_price"], unit=price.get("unit"), currency=price.get("currency", "USD"))
        return found

    async def _price(self, endpoint: str) -> dict[str, Any] | None:
        key = (self._settings.fal_api_url, endpoint)
        cached = _prices.get(key)
        if cached and time.monotonic() - cached[0] < PRICE_TTL_SECONDS:
            return cached[1]
        url = f"{self._settings.fal_api_url}/models/pricing?" + urlencode({"endpoint_id": endpoint})
        reply, _ = await self._call("GET", url)
        if reply.status != 200 or not isinstance(reply.body, dict):
            return None  # not cached: asked again with the next result
        price = next(
            (
                p
                for p in reply.body.get("prices") or []
                if isinstance(p, dict)
                and p.get("endpoint_id") == endpoint
                and isinstance(p.get("unit_price"), int | float)
            ),
            None,
        )
        _prices[key] = (time.monotonic(), price)
        return price

    # --- webhooks, cancel, reconciliation ----------------------------------------------------

    async def check_webhook(
        self, *, job_id: str, provider_id: str, headers: Mapping[str, str], raw: bytes, body: Any
    ) -> WebhookCheck:
        if self._verifier is None:
            return WebhookCheck("this runtime cannot verify Ed25519 signatures", status=401)
        problem = await webhook_auth.webhook_problem(
            headers=headers,
            body=raw,
            jwks_url=self._settings.fal_jwks_url,
            http=self._http,
            verifier=self._verifier,
            now=time.time(),
        )
        if problem is not None:
            return WebhookCheck(problem, status=401)
        lowered = {k.lower(): v for k, v in headers.items()}
        signed_id = lowered.get("x-fal-webhook-request-id", "")
        body_id = body.get("request_id") if isinstance(body, dict) else None
        if body_id is not None and body_id != signed_id:
            return WebhookCheck("the body's request_id is not the signed X-Fal-Webhook-Request-Id")
        if provider_id and signed_id != provider_id:
            return WebhookCheck(f"the webhook is about fal request {signed_id}, not this job's")
        return WebhookCheck(provider_id=signed_id)

    async def cancel(self, request: dict[str, Any], provider_id: str, handle: dict[str, Any] | None) -> Cancelled:
        """fal removes a queued request (never billed) and signals a running one (the app decides).
        fal's answer is the same for both, so the status is asked first."""
        if not provider_id:
            return Cancelled(detail="fal has not named the request yet")
        urls = self._urls(request, provider_id, handle)
        status, _ = await self._call("GET", urls["status_url"] + "?logs=0")
        queued = isinstance(status.body, dict) and status.body.get("status") == "IN_QUEUE"
        reply, _ = await self._call("PUT", urls["cancel_url"])
        body = reply.body if isinstance(reply.body, dict) else {}
        said = body.get("status")
        # fal's documents disagree on the answer: a status word, or the OpenAPI's {"success": bool}.
        if reply.status in (200, 202) and (said in ("OK", "CANCELLATION_REQUESTED") or body.get("success") is True):
            return Cancelled(stopped=queued, requested=True, detail=f"fal: {said or 'cancelled'}")
        if said == "ALREADY_COMPLETED":
            return Cancelled(detail="fal had already completed the request")
        return Cancelled(detail=f"fal answered the cancel with HTTP {reply.status}")

    async def reconcile(
        self, request: dict[str, Any], sent_after: datetime, claimed: Callable[[list[str]], Awaitable[set[str]]]
    ) -> Reconciled:
        """fal has no idempotency key: the request is looked up in fal's listing of the endpoint's
        requests (with their inputs) from just before ig sent it. One whose input is the job's and
        that no other job owns is adopted; when the listing has none, fal provably has nothing."""
        endpoint = request["endpoint"]
        start = (sent_after - LISTING_SLACK).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = {"endpoint_id": endpoint, "start": start, "expand": "payloads", "limit": str(LISTING_PAGE)}
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(LISTING_PAGES):
            url = f"{self._settings.fal_api_url}/models/requests/by-endpoint?" + urlencode(
                {**query, **({"cursor": cursor} if cursor else {})}, quote_via=quote
            )
            reply, _ = await self._call("GET", url)
            if reply.status != 200 or not isinstance(reply.body, dict):
                return Reconciled(problem=_transient(reply))
            items += [i for i in reply.body.get("items") or [] if isinstance(i, dict)]
            cursor = reply.body.get("next_cursor")
            if not reply.body.get("has_more") or not cursor:
                break
        else:
            info = ProviderErrorInfo("listing_too_long", "fal lists more requests than ig reads to reconcile one")
            return Reconciled(problem=info)
        ids = [str(i.get("request_id")) for i in items if i.get("request_id")]
        owned = await claimed(ids) if ids else set()
        unowned = [i for i in items if i.get("request_id") and str(i["request_id"]) not in owned]
        matches = [i for i in unowned if same_input(request["input"], i.get("json_input"))]
        if matches:
            request_id = str(min(matches, key=lambda i: str(i.get("sent_at") or ""))["request_id"])
            handle = protocol.handle_for(self._settings.fal_queue_url, endpoint, request_id)
            return Reconciled(provider_id=request_id, handle=handle)
        if any(i.get("json_input") is None for i in unowned):
            # A request listed without its input could be this one: nothing is proven absent.
            info = ProviderErrorInfo("listing_without_inputs", "fal listed requests without their inputs")
            return Reconciled(problem=info)
        return Reconciled(absent=True)

    async def check_credentials(self) -> str | None:
        url = f"{self._settings.fal_api_url}/models/pricing?" + urlencode({"endpoint_id": "fal-ai/flux/schnell"})
        reply, _ = await self._call("GET", url)
        return None if reply.status == 200 else _transient(reply).message

    async def open_output(self, url: str) -> ByteSource:
        return await download(self._http, url, self._settings.media_hosts)


def _transient(reply: Reply) -> ProviderErrorInfo:
    if reply.status is None:
        return ProviderErrorInfo("connection", reply.transport_error or "no answer from fal")
    if reply.unread_over is not None:
        return ProviderErrorInfo(
            "provider_answer_too_large", "fal's answer was too large to read", http_status=reply.status
        )
    info = protocol.error_info(reply.body, reply.status)
    info.retry_after = reply.retry_after
    return info
