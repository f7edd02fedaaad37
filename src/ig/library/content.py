"""Delivering artifact bytes: HTTP range requests, revalidation, file names, and signed
content URLs that work without the API token until they expire."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from ig.library import media_types
from ig.settings import Settings

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


def sign(settings: Settings, artifact_id: str, expires: int) -> str:
    mac = hmac.new(_key(settings), f"{artifact_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def signature_valid(settings: Settings, artifact_id: str, expires: str | None, sig: str | None, now: int) -> bool:
    # ASCII digits only (str.isdigit() also takes "²", which int() refuses), and no more than
    # ig ever writes: an expiry 10**18 seconds out was never issued.
    if not expires or not sig or not (expires.isascii() and expires.isdigit()) or len(expires) > 18:
        return False
    if int(expires) < now:
        return False
    return hmac.compare_digest(sign(settings, artifact_id, int(expires)).encode(), sig.encode())


def signed_url(settings: Settings, base_url: str, artifact_id: str, expires: int) -> str:
    sig = sign(settings, artifact_id, expires)
    return f"{base_url}/v1/artifacts/{artifact_id}/content?expires={expires}&sig={sig}"
