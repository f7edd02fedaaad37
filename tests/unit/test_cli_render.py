"""What ``ig`` prints: JSON for scripts, tables on a terminal, tab-separated rows in a pipe, and the
progress shown on stderr (a spinner and bars on a terminal, plain lines otherwise)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

from ig_client.cli import render
from ig_client.cli.progress import DownloadBars, JobWatch
from ig_client.models import TagList
from rich.console import Console

RECORDS = [
    {"id": "a1", "kind": "image", "size": 2048, "tags": ["user:42", "best"], "created_at": "2026-11-21T05:48:15.844Z"},
    {"id": "b2", "kind": "text", "size": 12, "tags": [], "created_at": None, "note": "two\tcells\nand lines"},
]
COLUMNS = (
    render.field("id"),
    render.field("kind"),
    render.field("size", render.size),
    render.field("tags"),
    render.field("created_at", render.moment),
    render.field("note"),
)


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=160, highlight=False, markup=False), buffer


def test_a_pipe_gets_one_tab_separated_row_per_record_without_a_header():
    out, buffer = console(terminal=False)
    render.print_table(out, RECORDS, COLUMNS)
    assert buffer.getvalue().splitlines() == [
        "a1\timage\t2.0 KiB\tuser:42,best\t2026-11-21 05:48:15\t-",
        "b2\ttext\t12 B\t-\t-\ttwo cells and lines",
    ]


def test_a_terminal_gets_a_table_with_a_header():
    out, buffer = console(terminal=True)
    render.print_table(out, RECORDS, COLUMNS)
    lines = [line.split() for line in _plain(buffer.getvalue()).splitlines()]
    assert lines[0] == ["ID", "KIND", "SIZE", "TAGS", "CREATED", "AT", "NOTE"]
    assert lines[1] == ["a1", "image", "2.0", "KiB", "user:42,best", "2026-11-21", "05:48:15", "-"]
    assert lines[2][:4] == ["b2", "text", "12", "B"]


def test_json_is_the_api_s_own_form_of_models_paths_and_containers():
    out, buffer = console(terminal=True)
    render.print_json(out, {"tags": TagList(tags=["a", "b"]), "files": [Path("out/x.png")], "n": 1})
    assert json.loads(buffer.getvalue()) == {"tags": {"tags": ["a", "b"]}, "files": ["out/x.png"], "n": 1}


def test_details_align_their_labels():
    out, buffer = console(terminal=False)
    render.print_details(out, [("id", "j1"), ("status", "failed"), ("error", "timeout:\tlate")])
    assert buffer.getvalue().splitlines() == ["id      j1", "status  failed", "error   timeout: late"]


def test_cells():
    assert [render.size(n) for n in (0, 1023, 1024, 5 * 1024**2 + 1, 3 * 1024**3, None)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3.0 GiB",
        "-",
    ]
    assert [render.cost(c) for c in (0.0026, 0.5, 2, None)] == ["0.0026", "0.5", "2", "-"]
    assert render.dimensions({"width": 1024, "height": 768, "duration_seconds": None}) == "1024x768"
    assert render.dimensions({"width": 640, "height": 360, "duration_seconds": 5.04}) == "640x360 5.0 s"
    assert render.dimensions({"width": None, "height": None, "duration_seconds": None}) == "-"
    assert [render.text(v) for v in (True, False, {"a": 1}, ["x", "y"], "", [])] == [
        "yes",
        "no",
        '{"a":1}',
        "x,y",
        "-",
        "-",
    ]


def test_waiting_off_a_terminal_prints_a_line_for_each_new_status():
    err, buffer = console(terminal=False)
    with JobWatch(err) as watch:
        for status in ("queued", "queued", "submitted", "submitted", "succeeded"):
            watch(SimpleNamespace(id="j1", status=status))
    assert buffer.getvalue().splitlines() == ["job j1: queued", "job j1: submitted", "job j1: succeeded"]


def test_waiting_on_a_terminal_shows_a_spinner_that_ends_on_the_last_status_and_the_time():
    err, buffer = console(terminal=True)
    with JobWatch(err) as watch:
        watch(SimpleNamespace(id="j1", status="queued"))
        watch(SimpleNamespace(id="j1", status="failed"))
    assert _plain(buffer.getvalue()).split() == ["job", "j1:", "failed", "0:00:00"]


def test_downloads_off_a_terminal_print_a_line_per_saved_file():
    err, buffer = console(terminal=False)
    with DownloadBars(err) as bars:
        progress = bars.file("a1", 2048)
        progress(1024, 2048)
        progress(2048, 2048)
        bars.saved(Path("out/a1.png"), 2048)
    assert buffer.getvalue().splitlines() == ["saved out/a1.png (2.0 KiB)"]


def test_downloads_on_a_terminal_show_a_bar_per_file_with_the_bytes_done():
    err, buffer = console(terminal=True)
    with DownloadBars(err) as bars:
        progress = bars.file("a1", 2 * 1024**2)
        progress(1024**2, 2 * 1024**2)
        progress(2 * 1024**2, 2 * 1024**2)
        bars.saved(Path("out/a1.png"), 2 * 1024**2)
    final = _plain(buffer.getvalue()).rstrip().splitlines()[-1]
    assert final.split()[0] == "a1" and "2.1/2.1 MB" in final, final  # rich counts in decimal units
    assert "saved" not in buffer.getvalue()


def _plain(terminal_output: str) -> str:
    """What a terminal would end up showing, without colour codes: the last state of each line."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal_output)
    return "\n".join(line.split("\r")[-1] for line in text.split("\n"))
