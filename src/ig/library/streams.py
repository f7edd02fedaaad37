"""Bytes on their way into the blob store: probed as they stream past (or, when the runtime stored
them without Python seeing them, through a few ranged reads of the stored blob) and held to a
size, so nothing ever needs a whole file in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ig.deps import Deps
from ig.errors import PayloadTooLarge
from ig.library.probe import HEAD_LIMIT, MediaInfo, MediaProbe
from ig.ports import BlobStore

PROBE_READ = HEAD_LIMIT
"""Bytes read per ranged read when a stored blob is probed after the fact."""
PROBE_READS_LIMIT = 64
"""Ranged reads one probe may make: a file that needs more (thousands of top-level boxes) is
stored without the fields it would have given."""


def probe_result(deps: Deps, probe: MediaProbe, artifact_id: str) -> MediaInfo:
    """What the probe found; a probe that broke (a bug, never bad input) is logged, and the
    artifact is stored without dimensions rather than not at all."""
    info = probe.result()
    if probe.error is not None:
        deps.log.error("artifact %s: the media probe failed: %r", artifact_id, probe.error)
    return info


async def probe_stored(blobs: BlobStore, key: str, size: int, probe: MediaProbe) -> None:
    """Show the probe the parts it wants of a blob already stored (the runtime stored the bytes
    without Python seeing them): a few ranged reads, usually the head and, for formats that keep
    their length at the end, the tail. It ends where a streamed probe would: at ``size``."""
    for _ in range(PROBE_READS_LIMIT):
        wanted = probe.next_needed(size)
        if wanted >= size:
            break
        probe.advance(wanted)
        blob = await blobs.get(key, (wanted, min(PROBE_READ, size - wanted)))
        if blob is None:
            return
        async for chunk in blobs.iter_bytes(blob):
            probe.feed(chunk)
    probe.advance(size)


async def prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def limited(
    chunks: AsyncIterator[bytes], limit: int, too_large: Callable[[int], Exception] | None = None
) -> AsyncIterator[bytes]:
    """``chunks`` until more than ``limit`` bytes have come, then ``too_large(limit)`` is raised
    (an upload's 413 unless said otherwise)."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise (too_large or _upload_too_large)(limit)
        yield chunk


def _upload_too_large(limit: int) -> Exception:
    return PayloadTooLarge(f"uploads are limited to {limit} bytes")


async def nothing() -> AsyncIterator[bytes]:
    return
    yield b""
