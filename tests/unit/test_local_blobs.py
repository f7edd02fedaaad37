"""The local blob store keeps what a put was given, byte for byte, with its size and sha256, while
hashing and writing happen on worker threads; a put that fails or is cancelled leaves neither a
blob nor a temporary file, and a blob being written shows as a temporary file until it is in place."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import AsyncIterator

import pytest

from ig.adapters.local.files import HAND_OVER_BYTES, PARTIAL_DIR, FileBlobStore

MB = 1024 * 1024


def pieces(data: bytes, seed: int, smallest: int, largest: int) -> list[bytes]:
    rng, out, at = random.Random(seed), [], 0
    while at < len(data):
        size = rng.randint(smallest, largest)
        out.append(data[at : at + size])
        at += size
    return out


async def stream(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


async def read_back(store: FileBlobStore, key: str) -> bytes:
    blob = await store.get(key)
    assert blob is not None
    return b"".join([chunk async for chunk in store.iter_bytes(blob)])


def partial_files(store: FileBlobStore) -> list[str]:
    return sorted(p.name for p in (store.root / PARTIAL_DIR).iterdir())


@pytest.mark.parametrize(
    ("size", "smallest", "largest"),
    [(0, 1, 1), (100 * 1024, 1000, 70_000), (3 * HAND_OVER_BYTES + 12345, 1, 300_000), (20_000, 1, 9)],
)
async def test_a_put_keeps_every_byte_with_its_size_and_sha256(tmp_path, size, smallest, largest):
    data = random.Random(size).randbytes(size)
    chunks = pieces(data, size, smallest, largest)
    seen: list[bytes] = []
    store = FileBlobStore(tmp_path)
    stored = await store.put(
        "artifacts/a", stream(chunks), content_type="video/mp4", metadata={"job_id": "j"}, observe=seen.append
    )
    assert (stored.size, stored.sha256, stored.observed) == (size, hashlib.sha256(data).hexdigest(), True)
    assert b"".join(seen) == data  # the probe saw every byte, in order
    assert await read_back(store, "artifacts/a") == data
    blob = await store.get("artifacts/a")
    assert blob is not None and (blob.size, blob.content_type) == (size, "video/mp4")
    sidecar = json.loads((tmp_path / "artifacts" / "a.meta.json").read_text())
    assert sidecar == {"content_type": "video/mp4", "metadata": {"job_id": "j"}}
    assert partial_files(store) == []


async def test_a_put_that_fails_midway_leaves_the_previous_blob_and_no_temporary_file(tmp_path):
    store = FileBlobStore(tmp_path)
    await store.put("artifacts/a", stream([b"first version"]), content_type="text/plain", metadata={})

    async def breaks_off() -> AsyncIterator[bytes]:
        yield b"x" * (2 * HAND_OVER_BYTES)  # handed over to the threads before the failure
        raise ConnectionError("the download broke off")

    with pytest.raises(ConnectionError, match="broke off"):
        await store.put("artifacts/a", breaks_off(), content_type="text/plain", metadata={})
    assert await read_back(store, "artifacts/a") == b"first version"
    assert partial_files(store) == []


async def test_a_blob_being_written_shows_as_a_temporary_file_and_a_cancelled_put_leaves_nothing(tmp_path):
    store = FileBlobStore(tmp_path)
    halfway = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"the first half"
        halfway.set()
        await asyncio.sleep(60)
        yield b"never sent"

    put = asyncio.create_task(store.put("artifacts/b", stalls(), content_type="text/plain", metadata={}))
    await halfway.wait()
    for _ in range(500):  # the file is created on a worker thread
        if partial_files(store):
            break
        await asyncio.sleep(0.01)
    assert len(partial_files(store)) == 1
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put
    assert partial_files(store) == []
    assert await store.get("artifacts/b") is None


async def test_storing_the_same_key_again_replaces_the_blob_whole(tmp_path):
    store = FileBlobStore(tmp_path)
    big = random.Random(1).randbytes(HAND_OVER_BYTES + 5)
    await store.put("artifacts/c", stream(pieces(big, 2, 100, 100_000)), content_type="image/png", metadata={})
    stored = await store.put("artifacts/c", stream([b"short"]), content_type="text/plain", metadata={})
    assert (stored.size, await read_back(store, "artifacts/c")) == (5, b"short")
    assert (await store.get("artifacts/c")).content_type == "text/plain"  # type: ignore[union-attr]
