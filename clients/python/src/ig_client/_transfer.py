"""Files in and out: where a download lands (a temporary file beside the target, renamed once its
bytes are verified, or memory), and an upload's body, streamed from a path or a file object."""

from __future__ import annotations

import io
import mimetypes
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from ig_client._core import Body
from ig_client.types import Progress

CHUNK_SIZE = 1024 * 1024
"""How much of an upload is read at a time."""
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/svg+xml": ".svg",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "model/gltf-binary": ".glb",
    "text/plain": ".txt",
    "application/json": ".json",
}
"""The file name extension of each media type ig stores, as ig's own ``Content-Disposition`` names them."""
MEDIA_TYPES = {extension: media_type for media_type, extension in EXTENSIONS.items()} | {".jpeg": "image/jpeg"}

R = TypeVar("R", covariant=True)


def extension_for(content_type: str) -> str:
    bare = content_type.partition(";")[0].strip().lower()
    return EXTENSIONS.get(bare) or mimetypes.guess_extension(bare) or ".bin"


def download_target(path: str | os.PathLike[str], artifact_id: str, content_type: str) -> Path:
    """``path`` itself, or inside it, as ``<artifact id><extension>``, when it is a directory or
    is written as one (``out/``, made if missing)."""
    target = Path(path)
    if target.is_dir() or os.fspath(path).endswith(("/", os.sep)):
        return target / f"{artifact_id}{extension_for(content_type)}"
    return target


class Sink(Protocol[R]):
    """Where a download's bytes go while they arrive."""

    def write(self, data: bytes) -> None: ...
    def restart(self) -> None:
        """Forget everything written: the download starts again from the first byte."""

    def commit(self) -> R:
        """The bytes are verified: make them the result."""

    def discard(self) -> None:
        """The download failed: leave nothing behind."""


class FileSink:
    """A temporary file beside the target (same directory, so the rename is atomic), renamed to
    the target only when the bytes are verified: the target never holds a partial or wrong file."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target = target
        self.partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        self._file: BinaryIO = open(self.partial, "wb")  # noqa: SIM115 - closed by commit or discard

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def restart(self) -> None:
        self._file.seek(0)
        self._file.truncate()

    def commit(self) -> Path:
        self._file.close()
        os.replace(self.partial, self.target)
        return self.target

    def discard(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)


class MemorySink:
    def __init__(self) -> None:
        self._buffer = io.BytesIO()

    def write(self, data: bytes) -> None:
        self._buffer.write(data)

    def restart(self) -> None:
        self._buffer = io.BytesIO()

    def commit(self) -> bytes:
        return self._buffer.getvalue()

    def discard(self) -> None:
        self._buffer = io.BytesIO()


UploadSource = str | os.PathLike[str] | BinaryIO


def upload_body(
    source: UploadSource, media_type: str | None, filename: str | None, on_progress: Progress | None
) -> Body:
    """``source`` as a ``multipart/form-data`` body with one file part, streamed: the file is read
    ``CHUNK_SIZE`` at a time on each attempt, never whole. A path, or a file object that can seek,
    may be sent again on a retry; one that cannot (a pipe) is sent once."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        name = filename or path.name
        length: int | None = path.stat().st_size

        def from_path() -> Iterator[bytes]:
            with open(path, "rb") as file:
                yield from _chunks(file)

        read, resendable = from_path, True
    else:
        file = source
        own_name = getattr(file, "name", None)
        name = filename or (Path(own_name).name if isinstance(own_name, str) else "upload")
        start = file.tell() if file.seekable() else None
        length = _remaining(file, start)

        def from_file() -> Iterator[bytes]:
            if start is not None:
                file.seek(start)
            yield from _chunks(file)

        read, resendable = from_file, start is not None
    content_type = media_type or MEDIA_TYPES.get(Path(name).suffix.lower()) or mimetypes.guess_type(name)[0]
    if content_type is None:
        raise ValueError(f"cannot tell the media type of {name!r}: pass media_type= (image/png, audio/wav, ...)")
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{_quoted(name)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        done = 0
        yield head
        for chunk in read():
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, length)
            yield chunk
        yield tail

    total = None if length is None else len(head) + length + len(tail)
    return Body(chunks, f"multipart/form-data; boundary={boundary}", total, resendable)


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    while chunk := file.read(CHUNK_SIZE):
        yield chunk


def _remaining(file: BinaryIO, start: int | None) -> int | None:
    if start is None:
        return None
    end = file.seek(0, io.SEEK_END)
    file.seek(start)
    return end - start


def _quoted(name: str) -> str:
    """A file name as a quoted-string, the way browsers send it: quotes escaped, line breaks dropped."""
    return name.replace('"', "%22").replace("\r", "").replace("\n", "")
