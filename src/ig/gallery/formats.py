"""How every gallery page writes times, durations, sizes, money and parameter values, so that a
job's cost or an artifact's time reads the same on each page that shows it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ig.gallery.markup import Markup, html

NOTHING = Markup('<span class="muted">—</span>')


def parse_moment(iso: str) -> datetime:
    """A time as ig stores it (``2026-11-29T11:14:02.527Z``)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def moment(iso: str | None, *, seconds: bool = True) -> Markup:
    """A stored time as the reader sees it, in UTC, inside a ``<time>`` that keeps the exact one."""
    if not iso:
        return NOTHING
    shown = parse_moment(iso).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
    return html('<time datetime="{}">{}</time>', iso, shown)


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (parse_moment(end) - parse_moment(start)).total_seconds()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    amount, unit = count / 1024, "KB"
    for bigger in ("MB", "GB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    return f"{amount:.1f} {unit}"


def money(value: float | None, currency: str | None = "USD") -> str:
    """Up to six decimals: providers price single images in fractions of a cent."""
    if value is None:
        return "—"
    amount = f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    return f"${amount}" if currency in (None, "USD") else f"{amount} {currency}"


def value(item: Any) -> Markup:
    """A parameter's value: text as text, anything else as its JSON."""
    if isinstance(item, str):
        return html("{}", item)
    return html("<code>{}</code>", json.dumps(item, ensure_ascii=False))
