"""HTML built from Python with escaping by default: a value is escaped unless it is ``Markup``
(HTML ig made itself). Six pages do not need a template engine, and the Worker vendors every
dependency (Jinja2 and MarkupSafe would add to every cold start), so this is the stdlib's
``html.escape`` and a ``str`` subclass."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any


class Markup(str):
    """Text that is already HTML."""

    __slots__ = ()


def esc(value: Any) -> Markup:
    """``value`` as HTML text: markup stays, anything else is escaped (quotes too, so it is safe
    in attribute values); ``None`` is empty."""
    if isinstance(value, Markup):
        return value
    return Markup("" if value is None else escape(str(value), quote=True))


def html(template: str, *args: Any, **values: Any) -> Markup:
    """``template.format(...)`` with every argument escaped. The template is ig's own HTML."""
    return Markup(template.format(*(esc(a) for a in args), **{k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Any], separator: str = "") -> Markup:
    return Markup(separator.join(esc(p) for p in parts))


def attrs(**values: Any) -> Markup:
    """`` name="value"`` pairs; ``True`` is a bare attribute, ``None`` and ``False`` are left out.
    A trailing underscore is dropped (``class_``) and ``_`` becomes ``-`` (``data_id``)."""
    out = []
    for name, value in values.items():
        name = name.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        out.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return Markup("".join(out))
