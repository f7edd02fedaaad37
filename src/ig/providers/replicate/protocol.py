"""Replicate's prediction protocol, as pure functions: the request ig stores and sends (a model or
version, its input, the webhook, the job's deadline as ``Cancel-After``), a create answer judged,
a prediction (as polled or as a webhook body) turned into provider-neutral results and errors,
and the matching that reconciles a create whose answer was lost. No I/O here;
``ig.providers.replicate.client`` does the calls.

See ../shared/reference/providers.md, Part B."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ig.errors import FieldError, ProviderErrorInfo
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
    same_input,
    whole_number,
)
from ig.providers.replicate import models
from ig.providers.schema_dialect import SchemaDialect
from ig.providers.vocabulary import Placement

RUNNING = frozenset({"starting", "processing"})
ENDED_WITHOUT_OUTPUT = {"failed": "prediction_failed", "canceled": "canceled", "aborted": "aborted"}
_VERSION = re.compile(r"[0-9a-f]{64}")
_MEDIA = {"png": "image", "jpg": "image", "jpeg": "image", "webp": "image", "gif": "image", "mp4": "video",
          "webm": "video", "mov": "video", "wav": "audio", "mp3": "audio", "flac": "audio", "ogg": "audio"}  # fmt: skip

# Where ig's common parameters go in a Replicate input; where the model's schema is known, the
# first candidate it has wins.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "text"),
    "negative_prompt": ("negative_prompt",),
    "width": ("width",),
    "height": ("height",),
    "num_outputs": ("num_outputs",),
    "seed": ("seed",),
    "steps": ("num_inference_steps", "steps"),
    "guidance": ("guidance", "guidance_scale"),
    "image": ("image", "input_image", "image_url"),
}


def placements(model: str) -> dict[str, Placement]:
    known = models.model(model)
    properties = set((known.input_schema.get("properties") or {}) if known else ())
    return {
        name: Placement(next((c for c in candidates if c in properties), candidates[0]))
        for name, candidates in _CANDIDATES.items()
    }


def split_ref(model: str) -> tuple[str | None, str | None]:
    """``owner/name``, ``owner/name:<version>`` or ``<version>`` as (owner/name, version)."""
    if _VERSION.fullmatch(model):
        return None, model
    name, _, version = model.partition(":")
    return name, version or None


def build_request(*, model: str, params: dict[str, Any], webhook_url: str | None, timeout_seconds: int) -> dict:
    """What ig stores and sends: the model (or version), its input under Replicate's names, the
    webhook (only its final event is asked for), and the job's deadline, sent as ``Cancel-After``
    so Replicate stops the prediction by itself (``aborted``, free, if it never started)."""
    return {"model": model, "input": params, "webhook": webhook_url, "cancel_after": f"{timeout_seconds}s"}


def create_exchange(reply: Reply) -> Exchange:
    """A create answer judged. Replicate assigns the prediction id and has no idempotency key: a
    failure after the request may have arrived is ``UNKNOWN``, never a blind retry."""
    if reply.status is None:
        info = ProviderErrorInfo("connection", reply.transport_error or "no answer from Replicate")
        return Exchange(reply, Outcome.UNKNOWN, info)
    body = reply.body if isinstance(reply.body, dict) else {}
    if 200 <= reply.status < 300:
        prediction_id = body.get("id")
        if isinstance(prediction_id, str) and prediction_id:
            urls = body.get("urls") if isinstance(body.get("urls"), dict) else {}
            handle = {k: urls[k] for k in ("get", "cancel") if isinstance(urls.get(k), str)}
            return Exchange(reply, Outcome.ACCEPTED, provider_id=prediction_id, handle=handle)
        info = ProviderErrorInfo("no_prediction_id", "Replicate accepted the request without naming it", reply.status)
        return Exchange(reply, Outcome.UNKNOWN, info)
    info = error_info(reply.body, reply.status)
    info.retry_after = reply.retry_after
    if reply.status == 429:  # throttled: the request was refused, nothing was created
        return Exchange(reply, Outcome.TRANSIENT, info)
    if reply.status >= 500 or reply.status == 408:
        return Exchange(reply, Outcome.UNKNOWN, info)
    return Exchange(reply, Outcome.REJECTED, info)


def error_info(body: Any, http_status: int | None) -> ProviderErrorInfo:
    """Replicate's problem details kept verbatim; ``invalid_fields`` (when a 422 names them) give
    the parameters."""
    problem = body if isinstance(body, dict) else {}
    detail = problem.get("detail")
    fields = [str(f["field"]) for f in problem.get("invalid_fields") or [] if isinstance(f, dict) and f.get("field")]
    return ProviderErrorInfo(
        code=str(problem.get("type") or problem.get("title") or f"http_{http_status}"),
        message=str(detail) if detail else f"HTTP {http_status} from Replicate",
        parameter=fields or None,
        http_status=http_status,
        raw=body,
    )


def field_errors(error: ProviderErrorInfo) -> list[FieldError] | None:
    if error.http_status not in (400, 422):
        return None
    fields = error.parameter if isinstance(error.parameter, list) else []
    described = {}
    if isinstance(error.raw, dict):
        for entry in error.raw.get("invalid_fields") or []:
            if isinstance(entry, dict) and entry.get("field"):
                described[str(entry["field"])] = str(entry.get("description") or error.message)
    if not fields:
        return [FieldError("params", error.message, error.code)]
    return [FieldError(f"params.{f}", described.get(f, error.message), error.code) for f in fields]


# --- a prediction -------------------------------------------------------------------------------


def parse(body: Any, prices: dict[str, float]) -> ProviderAnswer:
    """A prediction (polled or a webhook's body) as results and errors: one result once it has
    succeeded, its error once it has failed, been cancelled or aborted; nothing while it runs."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return ProviderAnswer()
    status = body.get("status")
    if status in ENDED_WITHOUT_OUTPUT:
        message = str(body.get("error") or f"the prediction was {status}")
        return ProviderAnswer(errors=[ProviderErrorInfo(ENDED_WITHOUT_OUTPUT[status], message, raw=_slim(body))])
    if status != "succeeded":
        return ProviderAnswer()
    outputs = outputs_of(body.get("output"))
    if not outputs:
        code = "output_removed" if body.get("data_removed") else "no_outputs"
        info = ProviderErrorInfo(code, "the prediction holds no file or text ig could store", raw=_slim(body))
        return ProviderAnswer(errors=[info])
    result = ProviderResult(
        key=f"prediction:{body['id']}",
        outputs=outputs,
        raw=_slim(body),
        seed=_seed(body),
        cost=_cost(body, prices),
    )
    return ProviderAnswer(results=[result])


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith(("https://", "http://", "data:")))


def _file(name: str, url: str) -> OutputRef:
    if url.startswith("data:"):
        kind = url[5:].split("/")[0]
        return OutputRef(name, kind if kind in ("image", "video", "audio") else "file", inline=url)
    extension = url.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower()
    return OutputRef(name, _MEDIA.get(extension, "file"), url=url)


def outputs_of(output: Any) -> list[OutputRef]:
    """Every file and text in an output, whatever the model's Output schema: a URL, a list of
    URLs, a string, a list of strings (a language model's tokens, joined), or an object (kept as
    JSON, its URLs as files)."""
    if output is None:
        return []
    if _is_url(output):
        return [_file("output", output)]
    if isinstance(output, str):
        return [OutputRef("output", "text", text=output, media_hint="text")] if output else []
    if isinstance(output, list):
        if output and all(_is_url(item) for item in output):
            return [_file(f"output[{index}]", item) for index, item in enumerate(output)]
        if all(isinstance(item, str) for item in output):
            text = "".join(output)
            return [OutputRef("output", "text", text=text, media_hint="text")] if text else []
    found = [OutputRef("output", "text", text=json.dumps(output, ensure_ascii=False), media_hint="json")]
    if isinstance(output, dict):
        found += [_file(f"output.{name}", value) for name, value in sorted(output.items()) if _is_url(value)]
    return found


def _seed(body: dict[str, Any]) -> int | None:
    found = whole_number((body.get("input") or {}).get("seed")) if isinstance(body.get("input"), dict) else None
    return found


def _cost(body: dict[str, Any], prices: dict[str, float]) -> Cost | None:
    """Replicate reports no cost: estimated from the seconds it ran and a configured price per
    second for the model, when there is one."""
    metrics = body.get("metrics") if isinstance(body.get("metrics"), dict) else {}
    seconds = metrics.get("predict_time")
    name, _ = split_ref(str(body.get("model") or ""))
    price = prices.get(name or "") if name else None
    if price is None or not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    amount = float(seconds) * price
    return Cost(amount, "USD", "estimated") if math.isfinite(amount) else None


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """The prediction as stored for provenance: its input is the job's already, and long text or
    inline files are left to the provider event that brought them."""

    def slim(value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("data:") and len(value) > INLINE_KEEP_LIMIT:
                return f"<{len(value)} characters, stored as an artifact>"
            return value if len(value) <= RESULT_TEXT_KEEP_LIMIT else f"<{len(value)} characters, in the event>"
        if isinstance(value, dict):
            return {k: slim(v) for k, v in value.items()}
        if isinstance(value, list):
            return [slim(v) for v in value]
        return value

    return {k: slim(v) for k, v in body.items() if k != "input"}


def is_the_request(prediction: dict[str, Any], request: dict[str, Any]) -> bool:
    """Whether a listed prediction is the one ig created for ``request``: the same model (or
    version) and the same input."""
    name, version = split_ref(request["model"])
    if name is not None and prediction.get("model") != name:
        return False
    if version is not None and prediction.get("version") != version:
        return False
    return same_input(request["input"], prediction.get("input"))


class SpeaksReplicate(SchemaDialect):
    """Reading and writing Replicate's protocol: models are ``owner/name`` (or a version), the
    parameters Replicate's own."""

    name = "replicate"
    aliases_of = "replicate"
    _prices: dict[str, float] = {}

    def entry(self, model: str) -> models.ReplicateModel | None:
        return models.model(model)

    def placements(self, model: str) -> dict[str, Placement]:
        return placements(model)

    def model_problem(self, model: str) -> str | None:
        if models.looks_like_model_ref(model):
            return None
        return "not a Replicate model (owner/name, owner/name:<version> or a version id)"

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
        return build_request(model=model, params=params, webhook_url=webhook_url, timeout_seconds=timeout_seconds)

    def parse(self, body: Any, job_id: str) -> ProviderAnswer:
        return parse(body, self._prices)

    def field_errors(self, error: ProviderErrorInfo) -> list[FieldError] | None:
        return field_errors(error)
