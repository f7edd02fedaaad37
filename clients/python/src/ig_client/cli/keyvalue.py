"""``key=value`` options (``--param``, ``--var``, ``--metadata``), read as the Runware and Replicate CLIs
read them: a value that parses as JSON is that JSON (numbers, booleans, objects, lists, quoted strings),
anything else is a string; dotted keys nest (``inputs.image=...``); ``key=@file`` reads a file: a
``.json`` file is its JSON, an image, audio or video file is uploaded and passed as ``artifact:<id>``,
any other file is its text.

Everything is read and checked first (``parse_pairs``), and media files are uploaded only after every
option has been accepted (``upload_media``), so a mistake in the last option uploads nothing."""

from __future__ import annotations

import json
import math
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_TEXT_FILE_BYTES = 1024 * 1024
"""Largest ``@file`` read as text or JSON: ig takes a request body of at most 1 MiB, so a larger
one could never be sent (send large inputs as media, which are uploaded)."""

MEDIA_PREFIXES = ("image/", "audio/", "video/")
"""What ig takes as an upload; an ``@file`` of these types goes up as an input artifact."""

MEDIA_TYPES = mimetypes.MimeTypes()
for _type, _extension in (("image/webp", ".webp"), ("audio/flac", ".flac"), ("audio/ogg", ".ogg")):
    MEDIA_TYPES.add_type(_type, _extension)  # formats ig reads that older mime tables lack


class KeyValueError(ValueError):
    """A ``key=value`` the user must fix; the message names the option and the pair."""


@dataclass(frozen=True)
class MediaFile:
    """A ``key=@file`` to upload; replaced by ``artifact:<id>`` once every option is accepted."""

    path: Path
    media_type: str


def parse_pairs(pairs: Iterable[str], option: str) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b": {"c": "x"}}``; a later pair replaces an earlier one's value."""
    tree: dict[str, Any] = {}
    for pair in pairs:
        key, separator, raw = pair.partition("=")
        if not separator or not key:
            raise KeyValueError(f"{option} {pair!r}: expected key=value (or key=@file)")
        path = key.split(".")
        if not all(path):
            raise KeyValueError(f"{option} {pair!r}: empty part in the key {key!r}")
        _put(tree, path, _value(raw, f"{option} {pair!r}"), f"{option} {pair!r}")
    return tree


def media_files(*trees: Any) -> list[MediaFile]:
    """Every media file in parsed trees, each once, in the order given."""
    found: dict[MediaFile, None] = {}
    for tree in trees:
        _walk_media(tree, found)
    return list(found)


def upload_media(tree: Any, uploaded: dict[MediaFile, str]) -> Any:
    """The tree with each media file replaced by its reference (``artifact:<id>``) from ``uploaded``."""
    if isinstance(tree, MediaFile):
        return uploaded[tree]
    if isinstance(tree, dict):
        return {key: upload_media(value, uploaded) for key, value in tree.items()}
    return tree


def _put(tree: dict[str, Any], path: list[str], value: Any, where: str) -> None:
    node = tree
    for depth, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            taken = ".".join(path[: depth + 1])
            raise KeyValueError(f"{where}: {taken} already has a value that is not an object")
        node = child
    node[path[-1]] = value


def _value(raw: str, where: str) -> Any:
    if raw.startswith("@"):
        return _file_value(Path(raw[1:]).expanduser(), where)
    return _json_or_text(raw)


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_not_json, parse_float=_finite_float)
    except ValueError:
        return raw


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")  # NaN and Infinity: Python's extension, not JSON


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _file_value(path: Path, where: str) -> Any:
    if not path.is_file():
        raise KeyValueError(f"{where}: no such file {str(path)!r}")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(_bounded_text(path, where), parse_constant=_not_json, parse_float=_finite_float)
        except ValueError as error:
            raise KeyValueError(f"{where}: {path} is not valid JSON ({error})") from None
    media_type = MEDIA_TYPES.guess_type(path.name)[0]
    if media_type is not None and media_type.startswith(MEDIA_PREFIXES):
        return MediaFile(path, media_type)
    return _bounded_text(path, where)


def _bounded_text(path: Path, where: str) -> str:
    with path.open("rb") as file:
        data = file.read(MAX_TEXT_FILE_BYTES + 1)
    if len(data) > MAX_TEXT_FILE_BYTES:
        raise KeyValueError(
            f"{where}: {path} is over {MAX_TEXT_FILE_BYTES // 1024} KiB, more than ig takes in a request; "
            "pass an image, audio or video file (uploaded) instead"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyValueError(
            f"{where}: {path} is neither UTF-8 text nor a media file ig recognises by its extension"
        ) from None


def _walk_media(tree: Any, found: dict[MediaFile, None]) -> None:
    if isinstance(tree, MediaFile):
        found[tree] = None
    elif isinstance(tree, dict):
        for value in tree.values():
            _walk_media(value, found)
