"""The ``BlobStore`` port on a directory: one file per key plus a small JSON sidecar for its
content type and metadata. Writes go to a temporary file renamed into place, so a crash never
leaves a half-written blob under a real key; temporary files all live in one directory, which the
next process to open the store empties (only a process that died mid-write leaves one behind)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from pathlib import Path

from ig.byte_sources import Digest
from ig.ports import StoredBlob, StoredBytes

CHUNK = 64 * 1024
PARTIAL_DIR = ".partial"


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._partials = self.root / PARTIAL_DIR
        # One process owns a data directory (as with the queue's leases): what is here was left by
        # a process that died mid-write, and nothing would ever rename it into place.
        shutil.rmtree(self._partials, ignore_errors=True)
        self._partials.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/") or key.split("/")[0] == PARTIAL_DIR:
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        metadata: Mapping[str, str],
        observe: Callable[[bytes], None] | None = None,
    ) -> StoredBytes:
        path = self.path_for(key)
        digest = Digest(chunks, observe)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._partials / uuid.uuid4().hex  # same file system: the rename below is atomic
        try:
            with partial.open("wb") as out:
                async for chunk in digest:
                    out.write(chunk)
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())  # can take a while; the server goes on meanwhile
            meta = path.with_name(path.name + ".meta.json")
            meta.write_text(json.dumps({"content_type": content_type, "metadata": dict(metadata)}))
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return digest.stored()

    async def get(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredBlob | None:
        path = self.path_for(key)
        try:
            size = path.stat().st_size
            meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
        except FileNotFoundError:
            return None
        offset, length = byte_range or (0, size)
        return StoredBlob(key=key, size=size, content_type=meta["content_type"], body=(path, offset, length))

    async def iter_bytes(self, blob: StoredBlob) -> AsyncIterator[bytes]:
        path, offset, remaining = blob.body
        with open(path, "rb") as source:
            source.seek(offset)
            while remaining > 0 and (chunk := source.read(min(CHUNK, remaining))):
                remaining -= len(chunk)
                yield chunk

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".meta.json").unlink(missing_ok=True)
