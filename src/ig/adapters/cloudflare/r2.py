"""The ``BlobStore`` port on an R2 binding. Blobs up to one part are put in one call; larger
ones go up as a multipart upload of uniform parts, so at most one part is ever in memory (R2's
``put`` needs a known length, which a streamed download does not always have)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

from ig.adapters.cloudflare.convert import read_stream
from ig.ports import StoredBlob

PART_SIZE = 8 * 1024 * 1024  # R2 parts: 5 MiB minimum, uniform except the last


class R2BlobStore:
    def __init__(self, binding: Any) -> None:
        self._bucket = binding

    async def put(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        # The vendored SDK converts Python bytes and dict options itself. None in an option would
        # become JS null, which R2 rejects, so options carry only what is set.
        options = {"httpMetadata": {"contentType": content_type}, "customMetadata": dict(metadata)}
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
