"""The catalogue as the API shows it: ``GET /v1/providers`` (what each provider can be relied on
for, and whether this deployment can use it), ``GET /v1/tasks`` (each task type with the JSON
Schema of its parameters) and ``GET /v1/models`` (the model aliases)."""

from __future__ import annotations

from functools import cache
from typing import Any

from ig.providers import catalogue
from ig.providers.registry import PROVIDERS, capabilities_of
from ig.providers.runware import models, tasks
from ig.settings import Settings


@cache
def task_list() -> dict[str, Any]:
    # Built once per process: schema generation costs ~80 ms and never changes at run time.
    aliases_by_task: dict[str, list[str]] = {}
    for alias in catalogue.ALIASES:
        aliases_by_task.setdefault(alias.task, []).append(alias.name)
    return {
        "items": [
            {
                "task": spec.name,
                "summary": spec.summary,
                "modality": spec.modality,
                "results_param": spec.results_param,
                "outputs": list(spec.outputs),
                "params_schema": tasks.params_schema(spec),
                "example": spec.example,
                "timeout_seconds": spec.timeout_seconds,
                "model_aliases": aliases_by_task.get(spec.name, []),
                "known_models": len(models.MODELS_BY_TASK.get(spec.name, ())),
            }
            for spec in tasks.TASKS.values()
        ],
        "passthrough": "Other Runware task types are sent as given; their outputs are found generically. fal "
        "endpoints run as these tasks (and transcription, speech to text); a fal endpoint outside ig's catalogue "
        "runs as inference, sent as given.",
    }


def model_list(task: str | None = None, provider: str | None = None) -> dict[str, Any]:
    return {
        "items": [
            {
                "name": alias.name,
                "task": alias.task,
                "description": alias.description,
                "providers": {
                    name: {"model": on.model, "defaults": on.defaults} for name, on in alias.providers.items()
                },
            }
            for alias in catalogue.ALIASES
            if (task is None or alias.task == task) and (provider is None or provider in alias.providers)
        ]
    }


def provider_list(
    unavailable: dict[str, str], settings: Settings, activity: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``unavailable``: why a provider cannot be used here (its key is not set), by name;
    ``activity``: its jobs in flight and latest failure, by name."""
    items = []
    for name in PROVIDERS:
        found = capabilities_of(name, settings)
        items.append(
            {
                "name": name,
                "available": name not in unavailable,
                "unavailable_because": unavailable.get(name),
                "default": name == "runware",
                "capabilities": {
                    "webhooks": found.webhooks,
                    "safe_resubmission": found.safe_resubmission,
                    "cancels": found.cancels,
                    "cost": found.cost,
                    "webhook_per_result": found.webhook_per_result,
                },
                "aliases": sum(1 for alias in catalogue.ALIASES if catalogue.runs_on(alias, name)),
                "api_url": _api_url(name, settings),
                "in_flight": activity.get(name, {}).get("in_flight", 0),
                "last_error": activity.get(name, {}).get("last_error"),
                "circuit": activity.get(name, {}).get("circuit") or {"state": "closed", "failures": 0},
            }
        )
    return {"items": items}


def _api_url(name: str, settings: Settings) -> str | None:
    """Where ig calls the provider (never its key)."""
    return {
        "runware": settings.runware_api_url,
        "fal": settings.fal_queue_url,
        "replicate": settings.replicate_api_url,
    }.get(name)
