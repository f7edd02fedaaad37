"""fal's queue protocol, as pure functions: the request ig stores and sends (an endpoint and its
input), the answers to a submit, a status check and a result fetch judged, a webhook or result
body turned into provider-neutral results and errors, and fal's 422 ``detail`` mapped onto the
consumer's fields. No I/O here; ``ig.providers.fal.client`` does the calls.

See ../shared/reference/providers.md, Part A."""

from __future__ import annotations

import math
from typing import Any

from ig.errors import FieldError, ProviderErrorInfo
from ig.providers import vocabulary
from ig.providers.base import (
    INLINE_KEEP_LIMIT,
    RESULT_TEXT_KEEP_LIMIT,
    Cost,
    Exchange,
    Outcome,
    OutputRef,
    ProviderAnswer,
    ProviderResult,
    Reply,
    whole_number,
)
from ig.providers.fal import endpoints
from ig.providers.schema_dialect import SchemaDialect
from ig.providers.vocabulary import Placement

RESULT_KIND = "fal-result"
"""Marks the body ``client.poll`` makes of a fetched result: the model's output as fal returned
it, with the status it came with and what fal billed for it."""
_KINDS = ("image", "video", "audio")

# Where ig's common parameters go in a fal input, by the names fal's endpoints use; where an
# endpoint's schema is known, the first candidate it has wins.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "text"),
    "negative_prompt": ("negative_prompt",),
    "num_outputs": ("num_images",),
    "seed": ("seed",),
    "steps": ("num_inference_steps",),
    "guidance": ("guidance_scale",),
    "image": ("image_url", "start_image_url", "image_urls"),
}


def placements(model: str) -> dict[str, Placement]:
    known = endpoints.endpoint(model)
    properties = set((known.input_schema.get("properties") or {}) if known else ())
    found: dict[str, Placement] = {}
    for name, candidates in _CANDIDATES.items():
        target = next((c for c in candidates if c in properties), candidates[0])
        write = vocabulary.as_list(target) if target.endswith("_urls") else None
        found[name] = Placement(target, write)
    if known is not None and "image_size" not in properties and {"width", "height"} <= properties:
        found["width"], found["height"] = Placement("width"), Placement("height")
    else:
        found["width"] = Placement("image_size", vocabulary.into_object("image_size", "width"))
        found["height"] = Placement("image_size", vocabulary.into_object("image_size", "height"))
    return found


def build_request(*, model: str, params: dict[str, Any], webhook_url: str | None) -> dict[str, Any]:
    """What ig stores and sends: the endpoint, its input (the consumer's params, fal's names),
    and the webhook fal is asked to call (sent as ``fal_webhook``)."""
    return {"endpoint": model, "input": params, "webhook": webhook_url}


def queue_base(endpoint_id: str) -> str:
    """``owner/app`` (one more leading segment for the ``workflows/`` and ``comfy/`` namespaces):
    the part of an endpoint id fal's status, result and cancel URLs are built on."""
    parts = endpoint_id.split("/")
    keep = 3 if parts[0] in ("workflows", "comfy") else 2
    return "/".join(parts[:keep])


def handle_for(queue_url: str, endpoint_id: str, request_id: str) -> dict[str, str]:
    """The URLs of a request ig knows only by id (adopted from a webhook or a listing; a submit
    answer gives them, and those are followed instead)."""
    base = f"{queue_url.rstrip('/')}/{queue_base(endpoint_id)}/requests/{request_id}"
    return {"status_url": f"{base}/status", "response_url": base, "cancel_url": f"{base}/cancel"}


# --- answers -------------------------------------------------------------------------------------


def error_info(body: Any, http_status: int | None, fallback: str = "") -> ProviderErrorInfo:
    """fal's error, kept verbatim in ``raw``: a validation ``detail`` list (its first entry gives
    the code, every entry's ``loc`` the parameters), or a flat ``{detail, error_type}``."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        first = detail[0]
        paths = [p for p in (_param_path(d.get("loc")) for d in detail) if p]
        message = "; ".join(f"{_param_path(d.get('loc')) or 'input'}: {d.get('msg')}" for d in detail)
        return ProviderErrorInfo(
            code=str(first.get("type") or "validation_error"),
            message=message,
            parameter=paths or None,
            http_status=http_status,
            raw=body,
        )
    code = (body.get("error_type") if isinstance(body, dict) else None) or (
        f"http_{http_status}" if http_status else "fal_error"
    )
    if isinstance(detail, str):
        message = detail
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    else:
        message = fallback or f"HTTP {http_status} from fal"
    return ProviderErrorInfo(code=str(code), message=message, http_status=http_status, raw=body)


def _param_path(loc: Any) -> str | None:
    """``["body", "image_size", "width"]`` → ``image_size.width`` (list indexes kept as ``[0]``)."""
    if not isinstance(loc, list) or not loc:
        return None
    parts = loc[1:] if loc[0] == "body" else loc
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None


def submit_exchange(reply: Reply, request_id_header: str | None) -> Exchange:
    """A submit answer judged. fal assigns the request id; without the answer ig cannot know
    whether fal has the request, so a failure after sending is ``UNKNOWN``, never a blind retry."""
    if reply.status is None:
        info = ProviderErrorInfo("connection", reply.transport_error or "no answer from fal")
        return Exchange(reply, Outcome.UNKNOWN, info)
    body = reply.body if isinstance(reply.body, dict) else {}
    if 200 <= reply.status < 300:
        request_id = body.get("request_id")
        if isinstance(request_id, str) and request_id:
            handle = {k: body[k] for k in ("status_url", "response_url", "cancel_url") if isinstance(body.get(k), str)}
            return Exchange(reply, Outcome.ACCEPTED, provider_id=request_id, handle=handle)
        info = ProviderErrorInfo("no_request_id", "fal accepted the request without naming it", reply.status)
        return Exchange(reply, Outcome.UNKNOWN, info)
    info = error_info(reply.body, reply.status)
    info.retry_after = reply.retry_after
    if reply.status in (408, 429) or (reply.status >= 500 and not request_id_header):
        # Refused before a request existed (fal's own clients retry these): safe to send again.
        return Exchange(reply, Outcome.TRANSIENT, info)
    if reply.status >= 500:
        # An answer from past fal's gateway (it named a request): the request may exist.
        return Exchange(reply, Outcome.UNKNOWN, info)
    return Exchange(reply, Outcome.REJECTED, info)


def result_body(request_id: str, reply: Reply, failed: bool, billing: dict[str, Any] | None) -> dict[str, Any]:
    """The body ``parse`` reads for a fetched result: the output (or the model's error) as fal
    returned it, the HTTP status it came with, and what fal billed."""
    return {
        "kind": RESULT_KIND,
        "request_id": request_id,
        "ok": not failed and reply.status is not None and 200 <= reply.status < 300,
        "http_status": reply.status,
        "payload": reply.body,
        "billing": billing,
    }


def parse(body: Any, job_id: str) -> ProviderAnswer:
    """A status, a webhook or a fetched result as provider-neutral results and errors. A webhook
    only announces the end: the result, and what fal billed for it, is fetched (``fetch_result``)."""
    if not isinstance(body, dict):
        return ProviderAnswer()
    if body.get("kind") == RESULT_KIND:
        return _result_answer(body)
    if body.get("status") in ("OK", "ERROR") and "request_id" in body:
        return ProviderAnswer(fetch_result=True)
    return ProviderAnswer()  # a queue status: still waiting


def _result_answer(body: dict[str, Any]) -> ProviderAnswer:
    payload = body.get("payload")
    if not body.get("ok"):
        return ProviderAnswer(errors=[error_info(payload, body.get("http_status"))])
    if not isinstance(payload, dict):
        info = ProviderErrorInfo("unreadable_result", "fal's result is not a JSON object", raw=payload)
        return ProviderAnswer(errors=[info])
    outputs = outputs_of(payload)
    if not outputs:
        info = ProviderErrorInfo("no_outputs", "fal's result holds no file or text ig could store", raw=payload)
        return ProviderAnswer(errors=[info])
    billing = body.get("billing") if isinstance(body.get("billing"), dict) else None
    raw = slim_result(payload)
    if billing:
        raw["ig_billing"] = billing
    result = ProviderResult(
        key=f"request:{body.get('request_id')}",
        outputs=outputs,
        raw=raw,
        seed=whole_number(payload.get("seed")),
        cost=_cost(billing),
        nsfw=_nsfw(payload),
    )
    return ProviderAnswer(results=[result])


def _kind(name: str, item: dict[str, Any]) -> str:
    content_type = item.get("content_type")
    if isinstance(content_type, str) and content_type.split("/")[0] in _KINDS:
        return content_type.split("/")[0]
    lowered = name.lower()
    return next((k for k in _KINDS if k in lowered), "file")


def _file_ref(name: str, item: dict[str, Any]) -> OutputRef | None:
    url = item.get("url")
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("data:"):  # sync_mode answers carry the bytes as data URIs
        return OutputRef(name, _kind(name, item), inline=url)
    return OutputRef(name, _kind(name, item), url=url)


def outputs_of(payload: dict[str, Any]) -> list[OutputRef]:
    """Every file in an output (``images[].url``, ``image.url``, ``video.url``, ``audio.url``, any
    other object with a ``url``) and its text (``text``, ``output``), found generically so a new
    endpoint needs no code."""
    found: list[OutputRef] = []
    for name in sorted(payload):
        value = payload[name]
        if isinstance(value, dict):
            ref = _file_ref(name, value)
            if ref:
                found.append(ref)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    ref = _file_ref(f"{name}[{index}]", item)
                    if ref:
                        found.append(ref)
        elif name in ("text", "output") and isinstance(value, str) and value:
            found.append(OutputRef(name, "text", text=value, media_hint="text"))
    return found


def _nsfw(payload: dict[str, Any]) -> bool | None:
    flags = payload.get("has_nsfw_concepts")
    if isinstance(flags, list) and flags and all(isinstance(f, bool) for f in flags):
        return any(flags)
    return None


def _cost(billing: dict[str, Any] | None) -> Cost | None:
    if not billing:
        return None
    units, price = billing.get("units"), billing.get("unit_price")
    if not isinstance(units, int | float) or not isinstance(price, int | float):
        return None
    amount = float(units) * float(price)
    if not math.isfinite(amount):
        return None
    return Cost(amount, str(billing.get("currency") or "USD"), "billed")


def slim_result(payload: dict[str, Any]) -> dict[str, Any]:
    """The output as stored for provenance, without repeating inline files or very long text
    (the provider event that brought it keeps every byte)."""

    def slim(value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("data:") and len(value) > INLINE_KEEP_LIMIT:
                return f"<{len(value)} characters, stored as an artifact>"
            if len(value) > RESULT_TEXT_KEEP_LIMIT:
                return f"<{len(value)} characters, kept in the provider event>"
            return value
        if isinstance(value, dict):
            return {k: slim(v) for k, v in value.items()}
        if isinstance(value, list):
            return [slim(v) for v in value]
        return value

    return slim(payload)


def field_errors(error: ProviderErrorInfo) -> list[FieldError] | None:
    """A 422 about the input, as the consumer's fields (``params.image_size.width``)."""
    if error.http_status not in (400, 422) or not error.parameter:
        return None
    paths = error.parameter if isinstance(error.parameter, list) else [error.parameter]
    detail = error.raw.get("detail") if isinstance(error.raw, dict) else None
    messages = {}
    if isinstance(detail, list):
        for entry in detail:
            if isinstance(entry, dict):
                messages.setdefault(_param_path(entry.get("loc")), (str(entry.get("msg")), str(entry.get("type"))))
    return [FieldError(f"params.{p}", *messages.get(p, (error.message, error.code))) for p in paths]


class SpeaksFal(SchemaDialect):
    """Reading and writing fal's protocol: models are endpoint ids, parameters fal's own names."""

    name = "fal"
    aliases_of = "fal"

    def entry(self, model: str) -> endpoints.FalEndpoint | None:
        return endpoints.endpoint(model)

    def placements(self, model: str) -> dict[str, Placement]:
        return placements(model)

    def model_problem(self, model: str) -> str | None:
        if endpoints.looks_like_endpoint_id(model):
            return None
        return "not a fal endpoint id (owner/app[/path], like fal-ai/flux/dev)"

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
        return build_request(model=model, params=params, webhook_url=webhook_url)

    def parse(self, body: Any, job_id: str) -> ProviderAnswer:
        return parse(body, job_id)

    def field_errors(self, error: ProviderErrorInfo) -> list[FieldError] | None:
        return field_errors(error)
