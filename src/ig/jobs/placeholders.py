"""``{variable}`` placeholders in preset parameters: finding them and filling them in.

A placeholder is ``{name}`` with ``name`` an identifier; ``{{`` and ``}}`` are literal braces, and
any other brace text (``{ not a name }``, JSON snippets) is left alone. A string that is exactly
one placeholder takes the variable's own JSON value, so ``"width": "{size}"`` can become 1024."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]{0,63})\}$")


def names_in(value: Any) -> set[str]:
    """Every placeholder name used anywhere in ``value`` (strings inside dicts and lists)."""
    if isinstance(value, str):
        return {m.group(1) for m in _TOKEN.finditer(value) if m.group(1)}
    if isinstance(value, dict):
        return set().union(*(names_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(names_in(v) for v in value))
    return set()


def occurrences(value: Any) -> Counter[str]:
    """How many times each placeholder appears anywhere in ``value``."""
    if isinstance(value, str):
        return Counter(m.group(1) for m in _TOKEN.finditer(value) if m.group(1))
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return sum((occurrences(v) for v in children), Counter())


class MissingVariable(KeyError):
    pass


def fill(value: Any, variables: dict[str, Any]) -> Any:
    """``value`` with every placeholder replaced; raises ``MissingVariable`` naming the first
    absent one (call ``names_in`` first to report them all)."""
    if isinstance(value, dict):
        return {k: fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    whole = _WHOLE.match(value)
    if whole:
        return _lookup(variables, whole.group(1))

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        found = _lookup(variables, match.group(1))
        return found if isinstance(found, str) else json.dumps(found)

    return _TOKEN.sub(replace, value)


def _lookup(variables: dict[str, Any], name: str) -> Any:
    if name not in variables:
        raise MissingVariable(name)
    return variables[name]
