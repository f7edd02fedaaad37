"""Media types: what a blob is (from its first bytes, its declared type or its name), which
artifact kind that makes it, and the file extension it should carry."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("image", "video", "audio", "text", "file")


@dataclass(frozen=True)
class MediaType:
    content_type: str
    extension: str
    kind: str


_BY_TYPE: dict[str, MediaType] = {
    t.content_type: t
    for t in (
        MediaType("image/png", "png", "image"),
        MediaType("image/jpeg", "jpg", "image"),
        MediaType("image/webp", "webp", "image"),
        MediaType("image/gif", "gif", "image"),
        MediaType("image/svg+xml", "svg", "image"),
        MediaType("video/mp4", "mp4", "video"),
        MediaType("video/webm", "webm", "video"),
        MediaType("video/quicktime", "mov", "video"),
        MediaType("audio/mpeg", "mp3", "audio"),
        MediaType("audio/wav", "wav", "audio"),
        MediaType("audio/flac", "flac", "audio"),
        MediaType("audio/ogg", "ogg", "audio"),
        MediaType("model/gltf-binary", "glb", "file"),
        MediaType("text/plain; charset=utf-8", "txt", "text"),
        MediaType("application/json", "json", "text"),
        MediaType("application/octet-stream", "bin", "file"),
    )
}
_ALIASES = {
    "image/jpg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "text/plain": "text/plain; charset=utf-8",
}
_BY_EXTENSION = {t.extension: t for t in _BY_TYPE.values()} | {
    "jpeg": _BY_TYPE["image/jpeg"],
    "text": _BY_TYPE["text/plain; charset=utf-8"],
}
OCTET_STREAM = _BY_TYPE["application/octet-stream"]
TEXT = _BY_TYPE["text/plain; charset=utf-8"]
JSON = _BY_TYPE["application/json"]


def runs_in_a_browser(content_type: str) -> bool:
    """Documents a browser would render with scripts (SVG, HTML, XML): served only as downloads."""
    base = content_type.split(";")[0].strip().lower()
    return base in ("text/html", "application/xhtml+xml", "text/xml", "application/xml") or base.endswith("+xml")


def by_content_type(value: str | None) -> MediaType | None:
    if not value:
        return None
    base = value.split(";")[0].strip().lower()
    base = _ALIASES.get(base, base)
    return _BY_TYPE.get(base) or _BY_TYPE.get(_ALIASES.get(base, ""))


def by_name(name: str | None) -> MediaType | None:
    if not name or "." not in name:
        return None
    ext = name.rsplit("/", 1)[-1].rsplit(".", 1)[-1].split("?")[0].lower()
    return _BY_EXTENSION.get(ext)


SNIFF_BYTES = 64
"""How much of a blob's start ``sniff`` looks at."""


def sniff(head: bytes) -> MediaType | None:
    """Recognise a blob by its magic number: only its first ``SNIFF_BYTES`` count."""
    head = head[:SNIFF_BYTES]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _BY_TYPE["image/png"]
    if head.startswith(b"\xff\xd8\xff"):
        return _BY_TYPE["image/jpeg"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _BY_TYPE["image/webp"]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _BY_TYPE["audio/wav"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _BY_TYPE["image/gif"]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return _BY_TYPE["video/quicktime"] if brand == b"qt  " else _BY_TYPE["video/mp4"]
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _BY_TYPE["video/webm"]
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return _BY_TYPE["audio/mpeg"]
    if head.startswith(b"fLaC"):
        return _BY_TYPE["audio/flac"]
    if head.startswith(b"OggS"):
        return _BY_TYPE["audio/ogg"]
    if head.startswith(b"glTF"):
        return _BY_TYPE["model/gltf-binary"]
    stripped = head.lstrip()
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in head):
        return _BY_TYPE["image/svg+xml"]
    return None


def identify(head: bytes, declared: str | None, name: str | None) -> MediaType:
    """Bytes win over a declared type, which wins over the file name."""
    return sniff(head) or by_content_type(declared) or by_name(name) or OCTET_STREAM
