"""Runware's wire protocol, as pure functions: the task ig sends, the envelopes it gets back
(acks, getResponse polls, webhooks in either body shape, errors), and the outputs a result holds.

No I/O here; ``ig.providers.runware.client`` does the calls. See ../shared/reference/runware.md."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
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
from ig.providers.runware import models, tasks
from ig.providers.vocabulary import Placement

RESERVED_PARAMS = frozenset({"taskType", "taskUUID", "deliveryMethod", "webhookURL", "includeCost"})
"""Task fields ig owns; a consumer's params may not set them."""

# Where ig's common parameters go in a Runware task; the prompt's and the image's place depend
# on the task type.
_PLACEMENTS: dict[str, Placement] = {
    "prompt": Placement("positivePrompt"),
    "negative_prompt": Placement("negativePrompt"),
    "width": Placement("width"),
    "height": Placement("height"),
    "num_outputs": Placement("numberResults"),
    "seed": Placement("seed"),
    "steps": Placement("steps"),
    "guidance": Placement("CFGScale"),
    "image": Placement("inputImage"),
}
_BY_TASK: dict[str, dict[str, Placement]] = {
    "imageInference": {"image": Placement("seedImage")},
    "videoInference": {
        "image": Placement(
            "frameImages", vocabulary.as_list("frameImages", lambda v: {"inputImage": v, "frame": "first"})
        )
    },
    "photoMaker": {"image": Placement("inputImages", vocabulary.as_list("inputImages"))},
    "promptEnhance": {"prompt": Placement("prompt"), "num_outputs": Placement("promptVersions")},
    "caption": {"prompt": Placement("prompt")},
    "textInference": {
        "prompt": Placement("messages", vocabulary.as_list("messages", lambda v: {"role": "user", "content": v}))
    },
}


def placements(task: str) -> dict[str, Placement]:
    return {**_PLACEMENTS, **_BY_TASK.get(task, {})}


TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
TRANSIENT_CODES = frozenset(
    {
        "rateLimitExceeded",
        "inferenceRateLimitExceeded",
        "providerRateLimitExceeded",
        "serviceUnavailable",
        "noAvailableServer",
        "internalServerError",
    }
)
ACCEPTED_CODES = frozenset({"conflictTaskUUID"})
"""A resend with the same taskUUID: Runware already has the task."""

# The media UUID fields that tell results of one task apart, in the new SDK's priority order.
_RESULT_ID_FIELDS = (
    "resultIndex",
    "imageUUID",
    "videoUUID",
    "audioUUID",
    "modelUUID",
    "maskImageUUID",
    "guideImageUUID",
    "mediaUUID",
)
_NOT_OUTPUT_URLS = frozenset({"webhookURL", "uploadEndpoint"})
_KIND_PREFIXES = (("video", "video"), ("audio", "audio"), ("image", "image"), ("mask", "image"))


def build_task(
    *, task_uuid: str, task: str, model: str, params: dict[str, Any], webhook_url: str | None
) -> dict[str, Any]:
    """The single task ig sends: the consumer's params under Runware's own names, plus ig's fields."""
    body: dict[str, Any] = {"taskType": task, "taskUUID": task_uuid, "model": model}
    body.update(params)
    body["deliveryMethod"] = "async"
    body["includeCost"] = True
    if webhook_url:
        body["webhookURL"] = webhook_url
    return body


@dataclass
class Envelope:
    """A Runware body sorted out: finished result items, failures, and how many are still running."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0
    acks: int = 0


def _has_output(item: dict[str, Any]) -> bool:
    return any(
        (k.endswith(("URL", "Base64Data", "DataURI")) and k not in _NOT_OUTPUT_URLS)
        or k in ("text", "structuredData", "outputs", "air")
        for k in item
    )


def parse_envelope(body: Any) -> Envelope:
    """Accept every shape Runware uses: ``{"data": [...]}`` (or a lone object under ``data``),
    a flat result object (webhooks), ``errors`` lists and singular ``error`` objects."""
    env = Envelope()
    if isinstance(body, list):
        items: list[Any] = body
    elif isinstance(body, dict):
        items = []
        data = body.get("data")
        if isinstance(data, list):
            items.extend(data)
        elif isinstance(data, dict):
            items.append(data)
        for key in ("errors", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                env.errors.append(_error_with_task(value, body))
            elif isinstance(value, list):
                env.errors.extend(_error_with_task(e, body) for e in value if isinstance(e, dict))
        if "data" not in body and "errors" not in body and "error" not in body:
            items.append(body)
    else:
        return env
    for item in items:
        if not isinstance(item, dict):
            continue
        status = item.get("status")
        if status == "error" or (isinstance(item.get("error"), dict) and not _has_output(item)):
            err = item.get("error") if isinstance(item.get("error"), dict) else item
            env.errors.append(_error_with_task(err, item))
        elif _has_output(item):
            env.results.append(item)
        elif status == "processing":
            env.pending += 1
        else:
            env.acks += 1
    return env


def _error_with_task(err: dict[str, Any], around: dict[str, Any]) -> dict[str, Any]:
    if "taskUUID" not in err and "taskUUID" in around:
        return {**err, "taskUUID": around["taskUUID"]}
    return err


def error_info(err: dict[str, Any], http_status: int | None = None) -> ProviderErrorInfo:
    return ProviderErrorInfo(
        code=str(err.get("code") or "providerError"),
        message=str(err.get("message") or "The provider reported an error"),
        parameter=err.get("parameter"),
        http_status=http_status,
        raw=err,
    )


def is_transient(info: ProviderErrorInfo) -> bool:
    return (info.http_status in TRANSIENT_HTTP) or info.code in TRANSIENT_CODES


def is_validation(info: ProviderErrorInfo) -> bool:
    """A problem with the consumer's parameters, as opposed to ig's account or the provider."""
    if info.http_status in (401, 402, 403) or info.code in ACCEPTED_CODES:
        return False
    return info.http_status in (400, 422) or info.parameter is not None


def result_key(item: dict[str, Any]) -> str:
    """The key that tells one result of a task from another (several share one taskUUID)."""
    for name in _RESULT_ID_FIELDS:
        value = item.get(name)
        if value is not None and value != "":
            return f"{name}:{value}"
    stable = {k: v for k, v in item.items() if k not in ("status", "cost", "progress")}
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def _kind_for(name: str) -> str:
    lowered = name.lower()
    for prefix, kind in _KIND_PREFIXES:
        if lowered.startswith(prefix):
            return kind
    return "file"


def outputs_of(item: dict[str, Any]) -> list[OutputRef]:
    """Every output a result carries, found generically so new task types need no code."""
    found: list[OutputRef] = []
    for name in sorted(item):
        value = item[name]
        if not isinstance(value, str) or not value:
            continue
        if name.endswith("URL") and name not in _NOT_OUTPUT_URLS:
            found.append(OutputRef(name, _kind_for(name), url=value))
        elif name.endswith(("Base64Data", "DataURI")):
            found.append(OutputRef(name, _kind_for(name), inline=value))
    # One result carries one medium in several encodings at most: prefer URL, then inline.
    by_stem: dict[str, OutputRef] = {}
    for ref in found:
        stem = ref.name.removesuffix("URL").removesuffix("Base64Data").removesuffix("DataURI")
        if stem not in by_stem or (ref.url and not by_stem[stem].url):
            by_stem[stem] = ref
    outputs = list(by_stem.values())
    if isinstance(item.get("text"), str):
        outputs.append(OutputRef("text", "text", text=item["text"], media_hint="text"))
    if item.get("structuredData") is not None:
        outputs.append(
            OutputRef(
                "structuredData",
                "text",
                text=json.dumps(item["structuredData"], ensure_ascii=False),
                media_hint="json",
            )
        )
    files = (item.get("outputs") or {}).get("files") if isinstance(item.get("outputs"), dict) else None
    if isinstance(files, list):
        for i, f in enumerate(files):
            if isinstance(f, dict) and isinstance(f.get("url"), str):
                outputs.append(OutputRef(f"outputs.files[{i}]", "file", url=f["url"]))
    return outputs


def result_cost(item: dict[str, Any]) -> Cost | None:
    """``cost`` as Runware reports it with each result (``includeCost``): USD."""
    cost = item.get("cost")
    if not isinstance(cost, int | float) or isinstance(cost, bool):
        return None
    try:
        value = float(cost)
    except OverflowError:  # an integer beyond any float: not a price
        return None
    return Cost(value, "USD", "reported") if math.isfinite(value) else None


def result_nsfw(item: dict[str, Any]) -> bool | None:
    value = item.get("NSFWContent")
    return value if isinstance(value, bool) else None


def slim_result(item: dict[str, Any]) -> dict[str, Any]:
    """The result as stored for provenance, without repeating large inline outputs, and without
    any text so long that the result's database row would outgrow D1's (the provider event that
    brought it keeps every byte)."""
    slim: dict[str, Any] = {}
    for name, value in item.items():
        if name.endswith(("Base64Data", "DataURI")) and isinstance(value, str) and len(value) > INLINE_KEEP_LIMIT:
            slim[name] = f"<{len(value)} characters, stored as an artifact>"
        elif isinstance(value, str) and len(value) > RESULT_TEXT_KEEP_LIMIT:
            slim[name] = f"<{len(value)} characters, kept in the provider event>"
        else:
            slim[name] = value
    return slim


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
    envelope = parse_envelope(reply.body)
    errors = [error_info(e, reply.status) for e in envelope.errors]
    if any(e.code in ACCEPTED_CODES for e in errors):
        return Outcome.ACCEPTED, None
    if 200 <= reply.status < 300 and not errors:
        return Outcome.ACCEPTED, None
    info = errors[0] if errors else _http_error(reply)
    info.retry_after = reply.retry_after
    if reply.status in TRANSIENT_HTTP or (200 <= reply.status < 300 and is_transient(info)):
        return Outcome.TRANSIENT, info
    return Outcome.REJECTED, info


def _http_error(reply: Reply) -> ProviderErrorInfo:
    snippet = reply.raw[:200].decode("utf-8", "replace")
    return ProviderErrorInfo(
        f"http_{reply.status}", f"HTTP {reply.status} from the provider: {snippet}", http_status=reply.status
    )


def exchange(reply: Reply, job_id: str) -> Exchange:
    """A submit or poll answer judged (``classify``); Runware's id of a task is ig's job id."""
    outcome, error = classify(reply)
    return Exchange(reply, outcome, error, job_id if outcome is Outcome.ACCEPTED else None)


def answer(body: Any, job_id: str) -> ProviderAnswer:
    """A body in any of Runware's shapes as provider-neutral results and errors."""
    envelope = parse_envelope(body)
    found = ProviderAnswer(errors=[error_info(e) for e in envelope.errors])
    for item in envelope.results:
        if item.get("taskUUID") not in (None, job_id):
            found.foreign.append(str(item.get("taskUUID")))
            continue
        found.results.append(
            ProviderResult(
                key=result_key(item),
                outputs=outputs_of(item),
                raw=slim_result(item),
                seed=whole_number(item.get("seed")),
                cost=result_cost(item),
                nsfw=result_nsfw(item),
            )
        )
    return found


def webhook_problem(body: Any, job_id: str) -> str | None:
    """A webhook names its task in every item; one that names another is not about this job."""
    task_ids = {item.get("taskUUID") for item in _items(body)} - {None}
    return "webhook body names another task" if task_ids - {job_id} else None


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [i for i in body if isinstance(i, dict)]
    found = [body]
    for key in ("data", "errors", "error"):
        value = body.get(key)
        if isinstance(value, dict):
            found.append(value)
        elif isinstance(value, list):
            found.extend(i for i in value if isinstance(i, dict))
    return found


def field_errors(error: ProviderErrorInfo) -> list[FieldError] | None:
    """A refusal of the consumer's parameters, as the fields it names (``params.width``)."""
    if not is_validation(error):
        return None
    parameters = error.parameter if isinstance(error.parameter, list) else [error.parameter or "params"]
    return [FieldError(f"params.{p}" if p != "params" else p, error.message, error.code) for p in parameters]


def searchable_text(params: dict[str, Any]) -> str:
    """The words a job is found by: its prompts (not the negative one) and chat messages."""
    parts = [params.get(k) for k in ("positivePrompt", "prompt", "text")]
    speech = params.get("speech")
    if isinstance(speech, dict):
        parts.append(speech.get("text"))
    messages = params.get("messages")
    if isinstance(messages, list):
        parts.extend(m.get("content") for m in messages if isinstance(m, dict))
    return "\n".join(p for p in parts if isinstance(p, str))


def looks_like_air(model: str) -> bool:
    """``source:id@version``: what Runware accepts as a model."""
    source, colon, rest = model.partition(":")
    return bool(source and colon and "@" in rest)


class SpeaksRunware:
    """Reading and writing Runware's protocol, for every provider that speaks it (Runware itself,
    and the mock, which stands in for it)."""

    name = "runware"
    unknown_model_task: str | None = None
    aliases_of = "runware"

    def model_problem(self, model: str) -> str | None:
        if looks_like_air(model):
            return None
        return "not a Runware AIR (source:id@version, like runware:101@1)"

    def task_of(self, model: str) -> str | None:
        return models.task_of(model)

    def native_params(self, task: str, model: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        return vocabulary.to_native(params, placements(task), RESERVED_PARAMS)

    def param_errors(
        self, task: str, model: str, params: dict[str, Any], skip: frozenset[str] = frozenset()
    ) -> list[FieldError]:
        return tasks.validate_params(task, params, skip=skip)

    def default_timeout(self, task: str, model: str) -> int:
        return tasks.default_timeout(task)

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
        return build_task(task_uuid=job_id, task=task, model=model, params=params, webhook_url=webhook_url)

    def parse(self, body: Any, job_id: str) -> ProviderAnswer:
        return answer(body, job_id)

    def field_errors(self, error: ProviderErrorInfo) -> list[FieldError] | None:
        return field_errors(error)

    def expected_results(self, task: str, params: dict[str, Any]) -> int:
        return tasks.expected_results(task, params)

    def searchable_text(self, params: dict[str, Any]) -> str:
        return searchable_text(params)
