"""Bytes on their way into the blob store: counted, hashed and probed as they stream past, and
held to a size, so nothing ever needs a whole file in memory."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from ig.deps import Deps
from ig.errors import PayloadTooLarge
from ig.library.probe import MediaInfo, MediaProbe


class Digest:
    """Counts, hashes and probes chunks as they stream past, so nothing needs the whole blob."""

    def __init__(self, chunks: AsyncIterator[bytes], probe: MediaProbe | None = None) -> None:
        self._chunks = chunks
        self._sha = hashlib.sha256()
        self._probe = probe
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            if chunk:
                self._sha.update(chunk)
                self.size += len(chunk)
                if self._probe is not None:
                    self._probe.feed(chunk)
                yield chunk

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def probe_result(deps: Deps, probe: MediaProbe, artifact_id: str) -> MediaInfo:
    """What the probe found; a probe that broke (a bug, never bad input) is logged, and the
    artifact is stored without dimensions rather than not at all."""
    info = probe.result()
    if probe.error is not None:
        deps.log.error("artifact %s: the media probe failed: %r", artifact_id, probe.error)
    return info


async def prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"uploads are limited to {limit} bytes")
        yield chunk


async def nothing() -> AsyncIterator[bytes]:
    return
    yield b""
