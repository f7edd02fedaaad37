"""Delivering artifact bytes: HTTP range requests, revalidation, file names, and signed
content URLs that work without the API token until they expire. An artifact is delivered as
itself (``content``) or as its thumbnail (``thumbnail``), by the same rules; a signature opens
only the rendition it was made for, so a thumbnail URL handed to a page never opens the original."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from ig.errors import NotFound
from ig.library import media_types
from ig.ports import THUMBNAIL_TYPE, Row
from ig.settings import Settings

Rendition = Literal["content", "thumbnail"]
RENDITIONS: tuple[Rendition, ...] = ("content", "thumbnail")

_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")  # ASCII digits: \d would take any script's
_FAR = 10**18
"""Past any size; a longer bound is read as this (int() refuses numbers of 4300 digits or more)."""
MAX_URL_SECONDS = 7 * 24 * 3600
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
"""On every artifact answer: a generated or uploaded file never runs script on ig's origin, even
opened directly (an SVG with <script>, through a signed URL that needs no token)."""


@dataclass(frozen=True)
class ByteRange:
    offset: int
    length: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.offset}-{self.offset + self.length - 1}/{size}"


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One ``bytes=`` range (the form players and downloaders send). Multiple ranges and
    malformed headers are ignored, serving the whole body, as RFC 9110 allows."""
    if not header:
        return None
    found = _RANGE.match(header.strip())
    if not found or found.groups() == ("", ""):
        return None
    first, last = found.groups()
    if first == "":  # the last N bytes
        length = min(_bound(last), size)
        if length == 0:
            raise Unsatisfiable
        return ByteRange(size - length, length)
    start = _bound(first)
    end = min(_bound(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise Unsatisfiable
    return ByteRange(start, end - start + 1)


def _bound(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 18 else _FAR


@dataclass(frozen=True)
class Delivered:
    """The bytes a rendition of an artifact delivers: where they are, and what they are."""

    blob_key: str
    content_type: str
    size: int
    sha256: str


def delivered(row: Row, rendition: Rendition) -> Delivered:
    """The rendition of a live artifact (its ``artifact_record``); ``NotFound`` for a thumbnail
    not made (yet, or ever)."""
    if rendition == "content":
        return Delivered(row["blob_key"], row["content_type"], row["size"], row["sha256"])
    if row["thumbnail_state"] != "made":
        raise NotFound(f"artifact {row['id']} has no thumbnail (yet)")
    return Delivered(row["thumbnail_key"], THUMBNAIL_TYPE, row["thumbnail_size"], row["thumbnail_sha256"])


def filename_for(artifact_id: str, content_type: str) -> str:
    found = media_types.by_content_type(content_type) or media_types.OCTET_STREAM
    return f"{artifact_id}.{found.extension}"


def content_headers(artifact_id: str, content_type: str, sha256: str) -> dict[str, str]:
    """What every answer carrying an artifact's bytes says about them."""
    disposition = "attachment" if media_types.runs_in_a_browser(content_type) else "inline"
    return {
        "content-type": content_type,
        "etag": f'"{sha256}"',
        "cache-control": "public, max-age=31536000, immutable",
        "accept-ranges": "bytes",
        "content-disposition": f'{disposition}; filename="{filename_for(artifact_id, content_type)}"',
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
    }


def _key(settings: Settings) -> bytes:
    secret = settings.signing_key or settings.api_token or "ig-open-local-instance"
    return hashlib.sha256(b"ig content urls\x00" + secret.encode()).digest()


def sign(settings: Settings, artifact_id: str, expires: int, rendition: Rendition = "content") -> str:
    # The content form predates thumbnails and is kept, so content URLs already handed out still work.
    scope = artifact_id if rendition == "content" else f"{artifact_id}/{rendition}"
    mac = hmac.new(_key(settings), f"{scope}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def signature_valid(
    settings: Settings, artifact_id: str, expires: str | None, sig: str | None, now: int, rendition: Rendition
) -> bool:
    # ASCII digits only (str.isdigit() also takes "²", which int() refuses), and no more than
    # ig ever writes: an expiry 10**18 seconds out was never issued.
    if not expires or not sig or not (expires.isascii() and expires.isdigit()) or len(expires) > 18:
        return False
    if int(expires) < now:
        return False
    return hmac.compare_digest(sign(settings, artifact_id, int(expires), rendition).encode(), sig.encode())


def signed_url(
    settings: Settings, base_url: str, artifact_id: str, expires: int, rendition: Rendition = "content"
) -> str:
    sig = sign(settings, artifact_id, expires, rendition)
    return f"{base_url}/v1/artifacts/{artifact_id}/{rendition}?expires={expires}&sig={sig}"
