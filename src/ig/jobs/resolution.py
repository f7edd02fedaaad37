"""From what a consumer asked for to the exact request ig will send: a preset filled with its
variables, a model alias turned into the chosen provider's model with its defaults, the task type
inferred or checked against the model, ig's common parameter names moved to the provider's own,
and the parameters checked by the provider's rules (Runware's task rules, fal's endpoint schema).

Nothing is recorded or spent here; every problem found is reported together in one 422."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ig import addresses
from ig.errors import FieldError, ValidationFailed
from ig.jobs import callback_outbox, placeholders, presets
from ig.jobs.requests import (
    MAX_TAGS,
    JobRequest,
    PresetRequest,
    metadata_errors,
    provider_errors,
    task_size_errors,
)
from ig.ports import Database
from ig.providers import catalogue
from ig.providers.registry import dialect_for
from ig.settings import Settings
from ig.validation import parse_model


@dataclass
class ResolvedJob:
    provider: str
    task: str
    model: str
    """The provider's model: a Runware AIR, a fal endpoint id (for the mock provider, any name)."""
    params: dict[str, Any]
    """Fully resolved, under the provider's names: preset filled in, alias defaults applied,
    overrides on top."""
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    model_alias: str | None = None
    preset: str | None = None
    preset_version: int | None = None
    timeout_seconds: int = 1800
    callback_url: str | None = None
    callback_events: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    """The providers to fail over to, in order, each resolved and checked."""
    ineligible: list[dict[str, str]] = field(default_factory=list)
    """Providers the request named that cannot run it, and why: the job's first attempts."""
    failover_after_accept: bool = False


async def resolve_job(db: Database, settings: Settings, data: Any) -> ResolvedJob:
    """Validate a ``POST /v1/jobs`` body (decoded JSON) into the job to run."""
    request = parse_model(JobRequest, data)
    errors: list[FieldError] = _callback_errors(request, settings)
    preset_body: PresetRequest | None = None
    version: int | None = None
    if request.preset is not None:
        found = await presets.current_version(db, request.preset)
        if found is None:
            raise ValidationFailed([FieldError("preset", f"no preset named {request.preset!r}", "not_found")])
        version, preset_body = found
    elif request.variables:
        errors.append(FieldError("variables", "variables fill a preset's placeholders; name a preset", "unused"))

    model = request.model or (preset_body.model if preset_body else None)
    task = request.task or (preset_body.task if preset_body else None)
    provider = request.provider or (preset_body.provider if preset_body else "runware")
    params = dict(request.params)
    tags = list(request.tags)
    metadata = dict(request.metadata)
    variables_ok = True
    if preset_body is not None:
        # Overridden parameters drop out before filling: their placeholders need no variable.
        template = {k: v for k, v in preset_body.params.items() if k not in request.params}
        wanted = placeholders.names_in(template)
        for name in sorted(wanted - request.variables.keys()):
            errors.append(FieldError(f"variables.{name}", f"preset {request.preset} needs this variable", "missing"))
        for name in sorted(request.variables.keys() - placeholders.names_in(preset_body.params)):
            errors.append(FieldError(f"variables.{name}", f"preset {request.preset} has no {{{name}}}", "unused"))
        variables_ok = wanted <= request.variables.keys()
        if variables_ok:
            # Checked before filling: a short template can repeat a large variable thousands of times.
            oversized = _expansion_errors(request.preset, template, request.variables, settings.max_task_bytes)
            errors += oversized
            variables_ok = not oversized
        if variables_ok:
            params = {**placeholders.fill(template, request.variables), **request.params}
        tags = list(dict.fromkeys([*preset_body.tags, *request.tags]))
        if len(tags) > MAX_TAGS:
            message = f"with preset {request.preset}'s tags, at most {MAX_TAGS} tags"
            errors.append(FieldError("tags", message, "too_many"))
        metadata = {**preset_body.metadata, **request.metadata}

    errors += metadata_errors(metadata, request.preset)
    if model is None:
        errors += provider_errors(provider, settings) if isinstance(provider, str) and provider != "auto" else []
        errors.append(FieldError("model", "required: a model alias or the provider's own model id", "missing"))
        raise ValidationFailed(errors)
    order = catalogue.provider_order(provider, model, lambda name: not provider_errors(name, settings))
    if not order:
        errors.append(FieldError("provider", f"auto: no provider configured here runs {model}", "unavailable"))
        raise ValidationFailed(errors)
    candidates: list[Candidate] = []
    ineligible: list[tuple[str, list[FieldError]]] = []
    for name in order:
        found = _candidate(name, model, task, params, settings, variables_ok, request.preset)
        if isinstance(found, Candidate):
            candidates.append(found)
        else:
            ineligible.append((name, found))
    if provider == "auto":
        candidates = await _cheapest_first(db, candidates)
    if not candidates:
        # One provider: its problems, field by field. Several: the first one's, and why each other was out.
        errors += ineligible[0][1]
        errors += [
            FieldError("provider", f"{name} cannot run this request: {_summary(problems)}", "ineligible")
            for name, problems in ineligible[1:]
        ]
    if errors:
        raise ValidationFailed(errors)
    first = candidates[0]
    timeout = request.timeout_seconds or settings.job_timeout_seconds
    return ResolvedJob(
        provider=first.provider,
        task=first.task,
        model=first.model,
        params=first.params,
        tags=tags,
        metadata=metadata,
        model_alias=first.alias,
        preset=request.preset,
        preset_version=version,
        timeout_seconds=timeout if timeout is not None else first.default_timeout,
        callback_url=request.callback_url,
        callback_events=list(request.callback_events or callback_outbox.DEFAULT_EVENTS),
        candidates=candidates[1:],
        ineligible=[
            {"provider": name, "outcome": "ineligible", "reason": _summary(problems)} for name, problems in ineligible
        ],
        failover_after_accept=request.failover_after_accept,
    )


@dataclass(frozen=True)
class Candidate:
    """One provider a job may run on, its request resolved and checked for that provider."""

    provider: str
    model: str
    task: str
    params: dict[str, Any]
    alias: str | None
    default_timeout: int

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "task": self.task, "params": self.params}


def _candidate(
    provider: str,
    model: str,
    task: str | None,
    params: dict[str, Any],
    settings: Settings,
    variables_ok: bool,
    preset: str | None,
) -> Candidate | list[FieldError]:
    """The request resolved for one provider, or every reason it cannot run there."""
    errors = provider_errors(provider, settings)
    choice = catalogue.choose_model(model, task, provider, errors)
    dialect = dialect_for(provider)
    native = params
    if choice.task is not None and variables_ok:
        native, naming = catalogue.native_params(dialect, choice.task, choice.model, params, choice.defaults)
        errors += naming
        errors += task_size_errors(native, preset, settings.max_task_bytes)
        if not naming:
            errors.extend(dialect.param_errors(choice.task, choice.model, native))
    if errors or choice.task is None or not variables_ok:
        return errors
    return Candidate(
        provider, choice.model, choice.task, native, choice.alias, dialect.default_timeout(choice.task, choice.model)
    )


RECENT_COST = """
SELECT avg(c) AS cost FROM (
    SELECT (SELECT sum(r.cost) FROM results r WHERE r.job_id = j.id) AS c
    FROM jobs j WHERE j.model = ?1 AND j.provider = ?2 AND j.status = 'succeeded'
    ORDER BY j.seq DESC LIMIT 20
) WHERE c IS NOT NULL
"""


async def _cheapest_first(db: Database, candidates: list[Candidate]) -> list[Candidate]:
    """``auto``'s order: by what the model cost per job on each provider lately (ig keeps every
    job's cost), cheapest first; a provider with no priced job yet comes after, in the usual order."""
    costs = {}
    for candidate in candidates:
        row = await db.first(RECENT_COST, [candidate.model, candidate.provider])
        costs[candidate.provider] = row["cost"] if row and row["cost"] is not None else None
    known = sorted((c for c in candidates if costs[c.provider] is not None), key=lambda c: costs[c.provider])
    return known + [c for c in candidates if costs[c.provider] is None]


def _summary(problems: list[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in problems[:3]) or "not usable"


def _expansion_errors(
    preset: str | None, template: dict[str, Any], variables: dict[str, Any], limit: int
) -> list[FieldError]:
    """The variables that would make the filled-in preset too large, largest share first, as
    many as it takes to account for the excess; estimated without filling anything in."""
    counts = placeholders.occurrences(template)
    # Each "{name}" (as a whole string, or its text inside one) gives way to the value's JSON.
    shares = {name: count * (len(json.dumps(variables[name])) - len(name) - 4) for name, count in counts.items()}
    estimate = len(json.dumps(template)) + sum(shares.values())
    excess = estimate - limit
    errors = []
    for name in sorted(shares, key=shares.__getitem__, reverse=True):
        if excess <= 0:
            break
        message = (
            f"preset {preset} uses {{{name}}} {counts[name]} times: filled in with this value its parameters "
            f"would be about {estimate} bytes, over the {limit}-byte limit (IG_MAX_TASK_BYTES)"
        )
        errors.append(FieldError(f"variables.{name}", message, "task_too_large"))
        excess -= shares[name]
    return errors


def _callback_errors(request: JobRequest, settings: Settings) -> list[FieldError]:
    if request.callback_url is None:
        if request.callback_events is not None:
            return [FieldError("callback_events", "name a callback_url to send events to", "unused")]
        return []
    if not settings.callback_secret:
        return [FieldError("callback_url", "callbacks need IG_CALLBACK_SECRET set on the service", "unavailable")]
    problem = addresses.url_problem(request.callback_url, local_mode=settings.local_mode)
    return [FieldError("callback_url", problem, "invalid_url")] if problem else []
