"""Just enough ``multipart/form-data`` to take one uploaded file as a stream: the first part
that carries a file (or the first part at all), its headers, and its bytes chunk by chunk.

Written here rather than vendoring python-multipart because the Worker pays for every import at
cold start, and ig needs only this one shape."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ig.api.http import ApiRequest
from ig.errors import BadRequest, FieldError, ValidationFailed
from ig.library.streams import limited, nothing

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_FILENAME = re.compile(r'filename="([^"]*)"', re.IGNORECASE)
MAX_PART_HEADER = 16 * 1024


@dataclass
class FilePart:
    content_type: str | None
    filename: str | None
    chunks: AsyncIterator[bytes]


def boundary_of(content_type: str) -> str | None:
    found = _BOUNDARY.search(content_type)
    return found.group(1) if found else None


async def first_file(body: AsyncIterator[bytes], boundary: str) -> FilePart:
    """The first part with a file name or a content type; plain form fields before it are skipped."""
    delimiter = b"\r\n--" + boundary.encode()
    buffer = bytearray(b"\r\n")  # lets the first delimiter match like the others
    stream = body.__aiter__()

    async def fill() -> bool:
        try:
            buffer.extend(await stream.__anext__())
            return True
        except StopAsyncIteration:
            return False

    async def data() -> AsyncIterator[bytes]:
        """The current part's bytes, up to (not including) the next delimiter."""
        while True:
            at = buffer.find(delimiter)
            if at >= 0:
                if at:
                    yield bytes(buffer[:at])
                del buffer[:at]
                return
            # Keep a tail that could be the start of a delimiter split across chunks.
            keep = len(delimiter) - 1
            if len(buffer) > keep:
                yield bytes(buffer[:-keep])
                del buffer[:-keep]
            if not await fill():
                raise BadRequest("malformed multipart body: a part never ends")

    while True:
        while delimiter not in buffer:
            if len(buffer) > MAX_PART_HEADER or not await fill():
                raise BadRequest("malformed multipart body: no boundary")
        del buffer[: buffer.index(delimiter) + len(delimiter)]
        while len(buffer) < 2 and await fill():
            pass
        if buffer[:2] == b"--":
            raise BadRequest("the multipart body has no file part")
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > MAX_PART_HEADER or not await fill():
                raise BadRequest("malformed multipart body: part headers never end")
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        buffer[:] = rest
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        filename = _FILENAME.search(headers.get("content-disposition", ""))
        if filename or "content-type" in headers:
            return FilePart(headers.get("content-type"), filename.group(1) if filename else None, data())
        async for _ in data():  # a plain form field: skip it
            pass


MULTIPART_OVERHEAD = 64 * 1024
"""What a form may add around its file: part headers, other fields."""


async def upload_body(request: ApiRequest, limit: int) -> tuple[str, str | None, AsyncIterator[bytes]]:
    """An upload's declared type, file name and bytes: the raw body, or a multipart form's first
    file. Unwrapping the form reads no further than ``limit`` plus what a form adds."""
    declared = request.headers.get("content-type", "")
    body = request.stream or nothing()
    if not declared.lower().startswith("multipart/form-data"):
        return declared, None, body
    boundary = boundary_of(declared)
    if not boundary:
        raise ValidationFailed([FieldError("content-type", "multipart without a boundary", "invalid")])
    part = await first_file(limited(body, limit + MULTIPART_OVERHEAD), boundary)
    return part.content_type or "", part.filename, part.chunks
