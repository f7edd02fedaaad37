"""The ``BlobStore`` port on a directory: one file per key plus a small JSON sidecar for its
content type and metadata. Writes go to temporary files renamed into place, so a crash never
leaves a half-written blob or sidecar under a real key; temporary files all live in one directory,
which the next process to open the store empties (only a process that died mid-write leaves one
behind).

The bytes are hashed and written on worker threads while the event loop reads the next ones:
sha256 and file writes release the GIL, so a large download, its hashing and its writing overlap
instead of taking turns. A small blob costs two hops to a thread (create, then write, hash and
fsync); the event loop itself never waits on the disk, whose journal the fsyncs keep busy."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ig.ports import StoredBlob, StoredBytes

CHUNK = 64 * 1024
PARTIAL_DIR = ".partial"
HAND_OVER_BYTES = 4 * 1024 * 1024
"""Bytes gathered before they go to the worker threads: a blob up to this size is written, hashed
and synced in one hop; a larger one goes over in pieces of this size, hashed on one thread and
written on another while the next piece is read, so a put holds about two pieces at most."""

IOV_MAX = 1024
"""Buffers one ``writev`` takes at most (POSIX's minimum, Linux's value)."""

_WORKERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ig-blobs")
"""Shared by every store in the process: blob writes and fsyncs wait on the disk, and must not hold
up the event loop's default executor (name resolution uses it) nor each other."""


class _Partial:
    """A blob being written: its temporary file and hash. The event loop hands the pieces over in
    order, each hashed and written by jobs it waits for before handing over the next; the lock
    keeps a discard (after a failure or a cancellation) from closing the file under a write."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: io.FileIO | None = None
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.discarded = False
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            if not self.discarded:  # a discard that came first (its put failed at once) wins
                self.file = io.FileIO(self.path, "w")

    def hash(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.sha256.update(chunk)

    def _write(self, chunks: list[bytes]) -> None:
        assert self.file is not None
        fd = self.file.fileno()
        pending = [memoryview(chunk) for chunk in chunks]
        first = 0
        while first < len(pending):  # one system call per piece, unless the kernel takes less
            written = os.writev(fd, pending[first : first + IOV_MAX])
            self.size += written
            while first < len(pending) and written >= len(pending[first]):
                written -= len(pending[first])
                first += 1
            if first < len(pending):
                pending[first] = pending[first][written:]

    def write(self, chunks: list[bytes]) -> None:
        with self._lock:
            self._write(chunks)

    def commit(self, chunks: list[bytes], final: str, meta: bytes) -> None:
        """The last bytes, then durably on disk before the rename puts the blob in place: a row that
        names the blob is only written after this returns."""
        self.hash(chunks)
        with self._lock:
            self._write(chunks)
            assert self.file is not None
            os.fsync(self.file.fileno())
            self.file.close()
            meta_partial = self.path + ".meta"
            with open(meta_partial, "wb") as sidecar:
                sidecar.write(meta)
            os.replace(meta_partial, final + ".meta.json")
            os.replace(self.path, final)

    def discard(self) -> None:
        with self._lock:
            self.discarded = True
            if self.file is not None:
                self.file.close()
            for leftover in (self.path, self.path + ".meta"):
                try:
                    os.unlink(leftover)
                except FileNotFoundError:
                    pass


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._partials = self.root / PARTIAL_DIR
        # One process owns a data directory (as with the queue's leases): what is here was left by
        # a process that died mid-write, and nothing would ever rename it into place.
        shutil.rmtree(self._partials, ignore_errors=True)
        self._partials.mkdir(parents=True, exist_ok=True)
        self._directories: set[str] = set()

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
        final = str(self.path_for(key))
        directory = os.path.dirname(final)
        if directory not in self._directories:
            os.makedirs(directory, exist_ok=True)
            self._directories.add(directory)
        meta = json.dumps({"content_type": content_type, "metadata": dict(metadata)}).encode()
        loop = asyncio.get_running_loop()
        partial = _Partial(os.path.join(self._partials, uuid.uuid4().hex))
        # Created on a worker thread (creating a file can wait for the file system's journal, which
        # the fsyncs keep busy), at once, so a download in progress shows as a temporary file; on
        # the blobs' file system, so the rename is atomic. Each job waits for the one before.
        writing: asyncio.Future[None] = loop.run_in_executor(_WORKERS, partial.open)
        hashing: asyncio.Future[None] | None = None
        try:
            gathered: list[bytes] = []
            size = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                if observe is not None:
                    observe(chunk)
                gathered.append(chunk)
                size += len(chunk)
                if size >= HAND_OVER_BYTES:
                    if hashing is not None:
                        await hashing
                    await writing
                    hashing = loop.run_in_executor(_WORKERS, partial.hash, gathered)
                    writing = loop.run_in_executor(_WORKERS, partial.write, gathered)
                    gathered, size = [], 0
            if hashing is not None:
                await hashing
            await writing
            writing = loop.run_in_executor(_WORKERS, partial.commit, gathered, final, meta)
            await writing
        except BaseException:
            # After the job handed over last (the file's creation, or a write) has run, or a
            # discard on another thread could come before the file exists and leave it behind;
            # and to the end even if this task is cancelled again meanwhile.
            await asyncio.shield(self._discard_after(writing, partial))
            raise
        return StoredBytes(size=partial.size, sha256=partial.sha256.hexdigest(), observed=True)

    @staticmethod
    async def _discard_after(last: asyncio.Future[None], partial: _Partial) -> None:
        try:
            await last
        except BaseException:  # noqa: BLE001 - it failed or was cancelled: either way it is over
            pass
        await asyncio.get_running_loop().run_in_executor(_WORKERS, partial.discard)

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
