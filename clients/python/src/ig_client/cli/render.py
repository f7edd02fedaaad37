"""What ``ig`` prints on stdout: JSON for ``--json``; tables and ``label  value`` lines for people on a
terminal, tab-separated rows without a header when stdout is a pipe (for ``cut``, ``awk``, ``while read``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich and pydantic are imported where used: ``ig --help`` and completion load neither
    from rich.console import Console

Record = Mapping[str, Any]


def to_data(value: Any) -> Any:
    """The JSON form of what the client returns: its models as the API wrote them, paths as strings."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(key): to_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_line(console: Console, line: str) -> None:
    """One line as it is (no wrapping, markup or tab expansion): what scripts read."""
    console.file.write(line + "\n")


def print_json(console: Console, value: Any) -> None:
    write_line(console, json.dumps(to_data(value), indent=2, ensure_ascii=False))


@dataclass(frozen=True)
class Column:
    title: str
    cell: Callable[[Record], str]
    right: bool = False


def field(name: str, show: Callable[[Any], str] | None = None) -> Column:
    """A column of one field, shown with ``show`` (default: as text, ``-`` when absent)."""
    return Column(name.upper().replace("_", " "), lambda record: (show or text)(record.get(name)))


def print_table(console: Console, records: Iterable[Record], columns: Sequence[Column]) -> None:
    rows = [[column.cell(record) for column in columns] for record in records]
    if not console.is_terminal:
        for row in rows:
            write_line(console, "\t".join(_one_line(cell) for cell in row))
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column.title, justify="right" if column.right else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_details(console: Console, pairs: Sequence[tuple[str, str]]) -> None:
    width = max((len(label) for label, _ in pairs), default=0)
    for label, value in pairs:
        write_line(console, f"{label:<{width}}  {_one_line(value)}")


def print_lines(console: Console, lines: Iterable[str]) -> None:
    for line in lines:
        write_line(console, line)


# --- cells ---------------------------------------------------------------------------------------


def text(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, list):
        return ",".join(text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def moment(value: Any) -> str:
    """``2026-11-21T05:48:15.844Z`` -> ``2026-11-21 05:48:15`` (always UTC, as ig writes them)."""
    return text(value if not isinstance(value, str) else value.replace("T", " ")[:19])


def size(value: Any) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return text(value)
    if value < 1024:
        return f"{value} B"
    amount = value / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


def cost(value: Any) -> str:
    return text(value) if not isinstance(value, int | float) else f"{value:.4f}".rstrip("0").rstrip(".")


def dimensions(record: Record) -> str:
    """``1024x768``, ``5.0 s`` or both, from whatever the file's headers said."""
    parts = []
    if record.get("width") and record.get("height"):
        parts.append(f"{record['width']}x{record['height']}")
    if record.get("duration_seconds") is not None:
        parts.append(f"{record['duration_seconds']:.1f} s")
    return " ".join(parts) or "-"


def _one_line(cell: str) -> str:
    return " ".join(cell.split()) if ("\t" in cell or "\n" in cell or "\r" in cell) else cell
