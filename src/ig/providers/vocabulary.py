"""The small vocabulary of parameters every provider understands (``prompt``, ``width``, ...),
so one request body runs an alias on either provider. Each provider says where each name goes
in its own parameters (a ``Placement``); this module moves them there, and refuses a request
that gives a common name together with the native parameter it becomes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ig.errors import FieldError

COMMON_PARAMS: dict[str, str] = {
    "prompt": "What to generate (or the text to speak).",
    "negative_prompt": "What to avoid.",
    "width": "Output width in pixels.",
    "height": "Output height in pixels.",
    "num_outputs": "How many outputs to make.",
    "seed": "Seed for reproducible outputs.",
    "steps": "Inference steps.",
    "guidance": "Guidance (CFG) scale.",
    "image": 'The input image: a URL, a data URI or "artifact:<id>".',
}


@dataclass(frozen=True)
class Placement:
    """Where a common parameter goes: the native parameter (``target``), and how its value is
    written there (``write(native, value)``; by default ``native[target] = value``)."""

    target: str
    write: Callable[[dict[str, Any], Any], None] | None = None


def to_native(
    params: dict[str, Any],
    placements: dict[str, Placement],
    reserved: frozenset[str] = frozenset(),
    accepted: frozenset[str] | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """``params`` under the provider's own names: common names moved to their placement,
    everything else passed through untouched. Errors: a reserved name, a common name given
    together with its native twin, or one whose place the model does not have (``accepted``: the
    model's parameters, when its schema is known), which is never silently dropped."""
    errors = [
        FieldError(f"params.{name}", f"ig sets {name} itself; leave it out of params", "reserved")
        for name in sorted(reserved & params.keys())
    ]
    native = {k: v for k, v in params.items() if k not in placements or placements[k].target == k}
    for name, value in params.items():
        place = placements.get(name)
        if place is None:
            continue
        if place.target != name and place.target in params:
            message = f"{name} is ig's name for {place.target}; give one of them, not both"
            errors.append(FieldError(f"params.{name}", message, "duplicate_parameter"))
            continue
        if accepted is not None and place.target not in accepted:
            message = f"this model has no {place.target} parameter, where ig would put {name}"
            errors.append(FieldError(f"params.{name}", message, "unsupported_parameter"))
            native.pop(name, None)
            continue
        if place.target == name:
            continue
        if place.write is None:
            native[place.target] = value
        else:
            place.write(native, value)
    return native, errors


def into_object(target: str, key: str) -> Callable[[dict[str, Any], Any], None]:
    """Write the value as one member of an object parameter (fal's ``image_size.width``)."""

    def write(native: dict[str, Any], value: Any) -> None:
        existing = native.get(target)
        native[target] = {**(existing if isinstance(existing, dict) else {}), key: value}

    return write


def as_list(target: str, wrap: Callable[[Any], Any] = lambda value: value) -> Callable[[dict[str, Any], Any], None]:
    """Write the value as a one-item list (Runware's ``inputImages``, ``frameImages``)."""

    def write(native: dict[str, Any], value: Any) -> None:
        native[target] = [wrap(value)]

    return write
