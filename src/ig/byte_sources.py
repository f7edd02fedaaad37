"""Bodies on their way into the blob store. A body is read once, but its first bytes can be looked
at before that (they decide its type, which the store is told up front), and its length is known
when its sender declared it. A runtime whose store can take a body without Python touching its
bytes (a fetch response piped into R2) recognises its own responses through ``response``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any

from ig.ports import StoredBytes


class ByteSource:
    def __init__(self, chunks: AsyncIterator[bytes], *, length: int | None = None, response: Any = None) -> None:
        self._chunks = chunks
        self.length = length
        self.response = response
        """The runtime's HTTP response the bytes come from, if any (closed by ``aclose``)."""
        self.held: list[bytes] = []
        """Chunks ``peek`` has read and iteration will give first."""
        self.started = False

    async def peek(self, size: int) -> bytes:
        """At least the first ``size`` bytes (fewer only when the body is shorter), not consumed."""
        have = sum(len(chunk) for chunk in self.held)
        while have < size:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                break
            if chunk:
                self.held.append(chunk)
                have += len(chunk)
        return b"".join(self.held)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        while self.held:
            yield self.held.pop(0)
        async for chunk in self._chunks:
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        if self.response is not None:
            await self.response.aclose()


def of_bytes(data: bytes) -> ByteSource:
    """Bytes already in memory as a body."""
    return ByteSource(_one(data), length=len(data))


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The body's length from ``Content-Length``, when no content coding changes it."""
    length = headers.get("content-length", "")
    coding = headers.get("content-encoding", "identity").strip().lower()
    return int(length) if length.isdigit() and coding in ("", "identity") else None


class Digest:
    """Counts and hashes chunks as they stream past, showing each to ``observe``: what a blob
    store's put does with bytes that pass through Python."""

    def __init__(self, chunks: AsyncIterable[bytes], observe: Callable[[bytes], None] | None = None) -> None:
        self._chunks = chunks
        self._sha = hashlib.sha256()
        self._observe = observe
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            if chunk:
                self._sha.update(chunk)
                self.size += len(chunk)
                if self._observe is not None:
                    self._observe(chunk)
                yield chunk

    def stored(self) -> StoredBytes:
        return StoredBytes(size=self.size, sha256=self._sha.hexdigest(), observed=True)
