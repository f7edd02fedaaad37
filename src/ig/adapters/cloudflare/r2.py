"""The ``BlobStore`` port on an R2 binding.

A download whose length is known goes to R2 without its bytes entering Python: the fetch body is
piped into R2's ``put`` through a ``FixedLengthStream`` (R2 takes a stream only when its length is
known), and a tee of it into ``crypto.DigestStream`` hashes it in the runtime, so a 200 MB output
costs Python a few calls instead of a copy, a hash and a copy back of every byte. The bytes the
caller peeked at (to decide the type) are written in front again. Everything else passes through
Python: blobs up to one part in one ``put``, larger ones as a multipart upload of uniform parts, so
at most one part is ever in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any

import js

from ig.adapters.cloudflare.convert import js_bytes, py_bytes, read_stream
from ig.adapters.cloudflare.fetch import FetchResponse
from ig.byte_sources import ByteSource, Digest
from ig.ports import StoredBlob, StoredBytes

PART_SIZE = 8 * 1024 * 1024  # R2 parts: 5 MiB minimum, uniform except the last
SINGLE_PUT_LIMIT = 5 * 1000 * 1000 * 1000 - 5 * 1024 * 1024  # R2's single put takes up to 5 GB


class R2BlobStore:
    def __init__(self, binding: Any) -> None:
        self._bucket = binding

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        metadata: Mapping[str, str],
        observe: Callable[[bytes], None] | None = None,
    ) -> StoredBytes:
        # The vendored SDK converts Python bytes and dict options itself. None in an option would
        # become JS null, which R2 rejects, so options carry only what is set.
        options = {"httpMetadata": {"contentType": content_type}, "customMetadata": dict(metadata)}
        if (
            isinstance(chunks, ByteSource)
            and isinstance(chunks.response, FetchResponse)
            and chunks.length is not None
            and not chunks.started
            and chunks.length <= SINGLE_PUT_LIMIT
        ):
            return await self._put_natively(key, chunks, chunks.length, options)
        digest = Digest(chunks, observe)
        await self._put_through_python(key, digest, options)
        return digest.stored()

    async def _put_natively(self, key: str, source: ByteSource, length: int, options: dict[str, Any]) -> StoredBytes:
        # One signal stops every pipe when anything fails, so no branch goes on reading the body.
        stop = js.AbortController.new()
        body = source.response.take_body()
        pipes: list[asyncio.Future[Any]] = []
        if source.held:
            joined = js.TransformStream.new()
            writer = joined.writable.getWriter()
            # Awaited through futures from the start, so a stream that fails later never leaves
            # an unhandled rejection behind.
            pipes += [asyncio.ensure_future(writer.write(js_bytes(chunk))) for chunk in source.held]
            writer.releaseLock()  # the writes stay queued, ahead of the pipe's
            pipes.append(asyncio.ensure_future(body.pipeTo(joined.writable, signal=stop.signal)))
            body = joined.readable
        to_store, to_hash = body.tee()
        digest = js.crypto.DigestStream.new("SHA-256")
        fixed = js.FixedLengthStream.new(length)
        pipes.append(asyncio.ensure_future(to_hash.pipeTo(digest, signal=stop.signal)))
        pipes.append(asyncio.ensure_future(to_store.pipeTo(fixed.writable, signal=stop.signal)))
        try:
            await self._bucket.put(key, fixed.readable, **options)
            await asyncio.gather(*pipes)
            sha256 = py_bytes(js.Uint8Array.new(await digest.digest)).hex()
        except BaseException:
            stop.abort()
            await asyncio.gather(*pipes, return_exceptions=True)
            raise
        return StoredBytes(size=length, sha256=sha256, observed=False)

    async def _put_through_python(self, key: str, chunks: AsyncIterable[bytes], options: dict[str, Any]) -> None:
        buffer = bytearray()
        upload = None
        parts = []
        try:
            async for chunk in chunks:
                buffer += chunk
                while len(buffer) >= PART_SIZE * (1 if upload else 2):
                    if upload is None:
                        upload = await self._bucket.createMultipartUpload(key, **options)
                    part = bytes(buffer[:PART_SIZE])
                    del buffer[:PART_SIZE]
                    parts.append(await upload.uploadPart(len(parts) + 1, part))
            if upload is None:
                await self._bucket.put(key, bytes(buffer), **options)
                return
            if buffer:
                parts.append(await upload.uploadPart(len(parts) + 1, bytes(buffer)))
            await upload.complete(parts)
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise

    async def get(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredBlob | None:
        if byte_range is None:
            obj = await self._bucket.get(key)
        else:
            # R2 reads just the range; obj.size stays the whole object's size.
            offset, length = byte_range
            obj = await self._bucket.get(key, range={"offset": offset, "length": length})
        if obj is None:
            return None
        content_type = (obj.httpMetadata or {}).get("contentType") or "application/octet-stream"
        return StoredBlob(key=key, size=int(obj.size), content_type=content_type, body=obj)

    def iter_bytes(self, blob: StoredBlob) -> AsyncIterator[bytes]:
        return read_stream(blob.body.body.getReader())  # the R2ObjectBody's JS ReadableStream

    async def delete(self, key: str) -> None:
        await self._bucket.delete(key)
