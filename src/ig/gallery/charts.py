"""Charts drawn on the server as inline SVG: columns over a run of days, horizontal bars for
named groups (models, providers). Pure functions of their points; every label goes through
``html()``, so a model named ``<script>`` is text. Colours come from classes (the page's style
sheet) because the CSP allows no ``style`` attribute. A chart is a picture of numbers the page
also lists in a table: its ``aria-label`` and ``<title>`` say what it shows, each bar's
``<title>`` says its value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ig.gallery.markup import Markup, html, join

COLUMNS_WIDTH = 640
COLUMNS_HEIGHT = 220
COLUMNS_MARGIN = (12, 8, 26, 64)  # top, right, bottom, left: room for the axis labels ("$0.0517")
MAX_COLUMN_LABELS = 8
"""Days are labelled every so many columns, so that 90 of them stay readable."""
BARS_WIDTH = 640
BAR_ROW = 28
BAR_LABEL_WIDTH = 190
BAR_VALUE_WIDTH = 90
MAX_LABEL_CHARACTERS = 26


@dataclass(frozen=True)
class Point:
    label: str
    value: float


Describe = Callable[[float], str]


def _number(value: float) -> str:
    """A coordinate as SVG text: two decimals at most, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _shortened(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARACTERS else label[: MAX_LABEL_CHARACTERS - 1] + "…"


def _top(points: Sequence[Point]) -> float:
    """The value the full height stands for: the largest, or 1 when every value is 0 (bars of 0)."""
    return max((p.value for p in points), default=0) or 1


def empty_chart(message: str) -> Markup:
    return html('<p class="chart-empty" data-testid="chart-empty">{}</p>', message)


def columns(points: Sequence[Point], *, title: str, describe: Describe, empty: str = "Nothing to show.") -> Markup:
    """Vertical bars in the points' order (a run of days), heights proportional to the values,
    with the largest value marked on the axis."""
    if not points:
        return empty_chart(empty)
    top, right, bottom, left = COLUMNS_MARGIN
    plot_width = COLUMNS_WIDTH - left - right
    plot_height = COLUMNS_HEIGHT - top - bottom
    scale = _top(points)
    slot = plot_width / len(points)
    every = max(1, -(-len(points) // MAX_COLUMN_LABELS))
    bars = []
    for index, point in enumerate(points):
        height = point.value / scale * plot_height
        x = left + index * slot + slot * 0.15
        bars.append(
            html(
                '<rect class="bar" x="{x}" y="{y}" width="{width}" height="{height}" data-label="{label}"'
                ' data-value="{value}"><title>{label}: {described}</title></rect>',
                x=_number(x),
                y=_number(top + plot_height - height),
                width=_number(slot * 0.7),
                height=_number(height),
                label=point.label,
                value=repr(point.value),
                described=describe(point.value),
            )
        )
        if index % every == 0:
            bars.append(
                html(
                    '<text class="axis" x="{x}" y="{y}" text-anchor="middle">{label}</text>',
                    x=_number(left + index * slot + slot / 2),
                    y=_number(COLUMNS_HEIGHT - 8),
                    label=_shortened(point.label),
                )
            )
    axis = html(
        '<line class="grid" x1="{left}" x2="{right}" y1="{top}" y2="{top}"></line>'
        '<line class="baseline" x1="{left}" x2="{right}" y1="{base}" y2="{base}"></line>'
        '<text class="axis" x="{label_x}" y="{top_text}" text-anchor="end">{most}</text>'
        '<text class="axis" x="{label_x}" y="{base}" text-anchor="end">{least}</text>',
        left=_number(left),
        right=_number(COLUMNS_WIDTH - right),
        top=_number(top),
        base=_number(top + plot_height),
        label_x=_number(left - 6),
        top_text=_number(top + 4),
        most=describe(max(p.value for p in points)),
        least=describe(0),
    )
    return _svg(title, COLUMNS_WIDTH, COLUMNS_HEIGHT, join([axis, *bars]), "columns")


def bars(points: Sequence[Point], *, title: str, describe: Describe, empty: str = "Nothing to show.") -> Markup:
    """Horizontal bars, one row per point in the given order: its label, its bar (lengths
    proportional to the values) and its value."""
    if not points:
        return empty_chart(empty)
    plot_width = BARS_WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_WIDTH
    scale = _top(points)
    rows = []
    for index, point in enumerate(points):
        y = index * BAR_ROW
        length = point.value / scale * plot_width
        rows.append(
            html(
                "<g><title>{label}: {described}</title>"
                '<text class="label" x="{label_x}" y="{text_y}" text-anchor="end">{short}</text>'
                '<rect class="bar" x="{bar_x}" y="{bar_y}" width="{length}" height="{thickness}"'
                ' data-label="{label}" data-value="{value}"></rect>'
                '<text class="value" x="{value_x}" y="{text_y}">{described}</text></g>',
                label=point.label,
                short=_shortened(point.label),
                described=describe(point.value),
                label_x=_number(BAR_LABEL_WIDTH - 8),
                text_y=_number(y + BAR_ROW / 2 + 4),
                bar_x=_number(BAR_LABEL_WIDTH),
                bar_y=_number(y + 5),
                length=_number(length),
                thickness=_number(BAR_ROW - 10),
                value=repr(point.value),
                value_x=_number(BAR_LABEL_WIDTH + length + 6),
            )
        )
    return _svg(title, BARS_WIDTH, len(points) * BAR_ROW, join(rows), "bars")


def _svg(title: str, width: int, height: int, content: Markup, shape: str) -> Markup:
    return html(
        '<svg class="chart chart-{shape}" role="img" aria-label="{title}" viewBox="0 0 {width} {height}"'
        ' xmlns="http://www.w3.org/2000/svg"><title>{title}</title>{content}</svg>',
        shape=shape,
        title=title,
        width=str(width),
        height=str(height),
        content=content,
    )
