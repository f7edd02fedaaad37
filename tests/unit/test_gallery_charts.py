"""The usage view's SVG charts (ig.gallery.charts): bars proportional to their values, every label
escaped, and no data drawn as a message rather than a division by zero."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from ig.gallery.charts import Point, bars, columns

SVG = "{http://www.w3.org/2000/svg}"


def count(value: float) -> str:
    return f"{value:g}"


def rects(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}rect"))


@pytest.mark.parametrize("chart", [columns, bars])
def test_bars_are_proportional_to_their_values(chart):
    points = [Point("a", 10), Point("b", 5), Point("c", 0), Point("d", 2.5)]
    svg = chart(points, title="Jobs", describe=count)
    measure = "height" if chart is columns else "width"
    sizes = {r.get("data-label"): float(r.get(measure)) for r in rects(svg)}
    assert sizes["c"] == 0
    assert sizes["a"] > 0
    assert sizes["b"] == pytest.approx(sizes["a"] / 2, abs=0.01)
    assert sizes["d"] == pytest.approx(sizes["a"] / 4, abs=0.01)
    assert [float(r.get("data-value")) for r in rects(svg)] == [10, 5, 0, 2.5]


def test_columns_stand_on_one_baseline():
    svg = columns([Point("2026-11-01", 3), Point("2026-11-02", 1)], title="Jobs", describe=count)
    bottoms = {round(float(r.get("y")) + float(r.get("height")), 2) for r in rects(svg)}
    assert len(bottoms) == 1


@pytest.mark.parametrize("chart", [columns, bars])
def test_labels_and_titles_are_escaped(chart):
    hostile = '<script>alert("x")</script>'
    svg = chart([Point(hostile, 1)], title='Cost & "jobs" <b>', describe=count)
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    root = ET.fromstring(svg)  # well-formed: nothing broke out of an attribute or element
    assert root.get("role") == "img"
    assert root.get("aria-label") == 'Cost & "jobs" <b>'
    assert root.find(f"{SVG}title").text == 'Cost & "jobs" <b>'
    assert rects(svg)[0].get("data-label") == hostile


@pytest.mark.parametrize("chart", [columns, bars])
def test_no_points_give_a_message_not_a_chart(chart):
    out = chart([], title="Jobs", describe=count, empty="No jobs in these days.")
    assert "<svg" not in out
    assert "No jobs in these days." in out


@pytest.mark.parametrize("chart", [columns, bars])
def test_all_zero_values_draw_empty_bars(chart):
    svg = chart([Point("a", 0), Point("b", 0)], title="Cost", describe=count)
    measure = "height" if chart is columns else "width"
    assert [float(r.get(measure)) for r in rects(svg)] == [0, 0]


def test_long_runs_of_days_label_only_some_columns():
    days = [Point(f"day {i}", i) for i in range(90)]
    svg = columns(days, title="Jobs", describe=count)
    assert len(rects(svg)) == 90
    labels = re.findall(r'<text class="axis"[^>]*text-anchor="middle">', svg)
    assert 1 < len(labels) <= 8
