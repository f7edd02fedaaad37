"""``AsyncClient``: ig's API for asyncio, the same calls as ``Client`` awaited (listings are async
iterators). Every call runs an operation of :mod:`ig_client._operations` through
:meth:`AsyncClient._perform`, the only place this client does I/O; callbacks (``on_progress``)
are plain functions, called on the event loop."""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, Unpack, cast

import httpx

from ig_client._core import Close, Core, Emit, Feed, Op, Open, Read, Step, Stream
from ig_client._operations import Operations
from ig_client._transfer import FileSink, MemorySink, UploadSource, download_target
from ig_client.models import (
    Artifact,
    BatchAnswer,
    CancelledJob,
    Delivery,
    Health,
    Job,
    Lineage,
    ModelInfo,
    Preset,
    ProviderInfo,
    SignedUrl,
    TagCount,
    TaskInfo,
    UsageReport,
)
from ig_client.types import (
    ArtifactFilters,
    GenerateOptions,
    JobFilters,
    JobProgress,
    PresetFields,
    Progress,
    SubmitOptions,
    UsageFilters,
)

T = TypeVar("T")


class AsyncClient:
    """ig's API, for asyncio. ``url`` defaults to ``IG_URL`` (else ``http://127.0.0.1:8787``), ``token`` to
    ``IG_API_TOKEN`` (none when unset). ``timeout`` bounds each request's connect, read and write
    (long polls add what they ask ig to hold); 429, 502-504 and connection failures are retried up
    to ``max_retries`` times where that cannot do anything twice. Close it (``await client.close()``,
    or ``async with``) to release its connections."""

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0, max_retries: int = 4
    ) -> None:
        self._core = Core(url, token, timeout, max_retries)
        self._ops = Operations(self._core)
        self._http = httpx.AsyncClient(base_url=self._core.url, headers=self._core.default_headers())
        self.jobs = AsyncJobs(self)
        self.artifacts = AsyncArtifacts(self)
        self.presets = AsyncPresets(self)

    @property
    def url(self) -> str:
        return self._core.url

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    # --- jobs ---------------------------------------------------------------------------------

    async def submit(self, **options: Unpack[SubmitOptions]) -> Job:
        """``POST /v1/jobs`` with an ``Idempotency-Key`` (``idempotency_key`` or a new UUID, the
        same on every retry); the job as ig accepted it, usually ``submitted`` or ``queued``."""
        return await self._run(self._ops.submit(options))

    async def submit_batch(
        self, jobs: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> BatchAnswer:
        """``POST /v1/jobs/batch``: up to 50 ``POST /v1/jobs`` bodies, answered item by item."""
        return await self._run(self._ops.submit_batch(jobs, idempotency_key))

    async def wait(
        self, job: str | Job, *, timeout: float | None = None, on_progress: JobProgress | None = None
    ) -> Job:
        """The job once it has finished (``succeeded``, ``failed`` or ``cancelled``), long-polling
        ig; ``on_progress(job)`` on every change of status. ``TimedOut`` after ``timeout`` seconds."""
        return await self._run(self._ops.wait(job, timeout, on_progress))

    async def generate(self, **options: Unpack[GenerateOptions]) -> Job:
        """``submit`` then ``wait``: the finished job with its artifacts; ``JobFailed`` if it failed
        or was cancelled."""
        return await self._run(self._ops.generate(options))

    # --- catalogue, library, service ----------------------------------------------------------

    async def models(self, *, task: str | None = None, provider: str | None = None) -> builtins.list[ModelInfo]:
        return await self._run(self._ops.models(task, provider))

    async def tasks(self) -> builtins.list[TaskInfo]:
        return await self._run(self._ops.tasks())

    async def providers(self) -> builtins.list[ProviderInfo]:
        return await self._run(self._ops.providers())

    async def usage(self, *, group_by: str | None = None, **filters: Unpack[UsageFilters]) -> UsageReport:
        """Jobs, outcomes, cost and latency grouped by ``day`` (ig's default), ``model``, ``task``,
        ``tag`` or ``provider``."""
        return await self._run(self._ops.usage(group_by, filters))

    def tags(self, *, prefix: str | None = None, limit: int | None = None) -> AsyncIterator[TagCount]:
        """Every tag with its live artifact count, alphabetically, through every page."""
        return self._iterate(self._ops.tags(prefix, limit))

    async def health(self, *, deep: bool = False) -> Health:
        return await self._run(self._ops.health(deep))

    # --- the driver ---------------------------------------------------------------------------

    async def _run(self, op: Op[T]) -> T:
        opened: builtins.list[Stream] = []
        try:
            result: object = None
            while True:
                result = await self._perform(op.send(result), opened)
        except StopIteration as done:
            return cast(T, done.value)
        finally:
            op.close()
            for stream in opened:
                await stream.response.aclose()

    async def _iterate(self, feed: Feed[T]) -> AsyncIterator[T]:
        opened: builtins.list[Stream] = []
        try:
            result: object = None
            while True:
                step = feed.send(result)
                if isinstance(step, Emit):
                    result = None
                    yield step.item
                else:
                    result = await self._perform(step, opened)
        except StopIteration:
            return
        finally:
            feed.close()
            for stream in opened:
                await stream.response.aclose()

    async def _perform(self, step: Step, opened: builtins.list[Stream]) -> object:
        if isinstance(step, Open):
            args = self._core.build_args(step.request)
            if step.request.body is not None:
                args["content"] = _off_the_loop(step.request.body.chunks())
            try:
                response = await self._http.send(self._http.build_request(**args), stream=True)
            except httpx.TransportError as failure:
                return failure
            stream = Stream(response, response.aiter_bytes())
            opened.append(stream)
            return stream
        if isinstance(step, Read):
            try:
                return await anext(cast(AsyncIterator[bytes], step.stream.chunks), b"")
            except httpx.TransportError as failure:
                return failure
        if isinstance(step, Close):
            await step.stream.response.aclose()
            opened.remove(step.stream)
            return None
        await asyncio.sleep(step.seconds)
        return None


async def _off_the_loop(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A request body read from its file on a worker thread, chunk by chunk, so the loop goes on."""
    while chunk := await asyncio.to_thread(next, chunks, b""):
        yield chunk


class AsyncJobs:
    """``client.jobs``: list, read, cancel and tag jobs."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(self, **filters: Unpack[JobFilters]) -> AsyncIterator[Job]:
        """Jobs, newest first, through every page (``limit`` is the page size)."""
        return self._client._iterate(self._client._ops.list_jobs(filters))

    async def get(self, job_id: str) -> Job:
        return await self._client._run(self._client._ops.get_job(job_id))

    async def cancel(self, job: str | Job) -> CancelledJob:
        """Cancels an open job (again is a no-op; a finished job is ``Conflict``)."""
        return await self._client._run(self._client._ops.cancel_job(job))

    async def tag(self, job: str | Job, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> builtins.list[str]:
        """The job's tags after the edit (its artifacts keep theirs)."""
        return await self._client._run(self._client._ops.edit_tags(job, "jobs", add, remove))

    async def deliveries(self, job: str | Job) -> builtins.list[Delivery]:
        """The job's callback events, each with every delivery attempt."""
        return await self._client._run(self._client._ops.deliveries(job))

    async def redeliver(self, job: str | Job) -> Delivery:
        return await self._client._run(self._client._ops.redeliver(job))


class AsyncArtifacts:
    """``client.artifacts``: the library: list, read, download, upload, tag, delete."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(self, **filters: Unpack[ArtifactFilters]) -> AsyncIterator[Artifact]:
        """Artifacts, newest first, through every page (``limit`` is the page size)."""
        return self._client._iterate(self._client._ops.list_artifacts(filters))

    async def get(self, artifact_id: str) -> Artifact:
        return await self._client._run(self._client._ops.get_artifact(artifact_id))

    async def download(
        self, artifact: str | Artifact, path: str | os.PathLike[str], *, on_progress: Progress | None = None
    ) -> Path:
        """Streams the artifact to ``path`` (or into it, as ``<id><extension>``, when it is a
        directory) and returns where it went. The bytes go to a temporary file beside it, renamed
        only once their size and sha256 match the artifact's (``ChecksumMismatch`` otherwise, and
        nothing is left); a dropped connection is resumed with ``Range``."""
        return await self._client._run(
            self._client._ops.download(
                artifact, lambda found: FileSink(download_target(path, found.id, found.content_type)), on_progress
            )
        )

    async def read(self, artifact: str | Artifact, *, on_progress: Progress | None = None) -> bytes:
        """The artifact's bytes, verified like :meth:`download`'s (for files that fit in memory)."""
        return await self._client._run(self._client._ops.download(artifact, lambda _: MemorySink(), on_progress))

    async def upload(
        self,
        source: UploadSource,
        *,
        media_type: str | None = None,
        tags: Sequence[str] | None = None,
        filename: str | None = None,
        on_progress: Progress | None = None,
    ) -> Artifact:
        """Uploads an image, audio or video from a path or a binary file object, streamed. The
        media type is ``media_type`` or read from the file name's extension. Identical bytes are
        stored once: uploading them again answers the first artifact."""
        return await self._client._run(self._client._ops.upload(source, media_type, tags, filename, on_progress))

    async def tag(
        self, artifact: str | Artifact, *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> builtins.list[str]:
        """The artifact's tags after the edit."""
        return await self._client._run(self._client._ops.edit_tags(artifact, "artifacts", add, remove))

    async def delete(self, artifact: str | Artifact) -> None:
        """Deletes the bytes; the record and its provenance stay (``deleted_at``)."""
        await self._client._run(self._client._ops.delete_artifact(artifact))

    async def url(self, artifact: str | Artifact, *, expires_in: int | None = None) -> SignedUrl:
        """A content URL that works without the token until it expires."""
        return await self._client._run(self._client._ops.signed_url(artifact, expires_in))

    async def lineage(self, artifact: str | Artifact) -> Lineage:
        return await self._client._run(self._client._ops.lineage(artifact))


class AsyncPresets:
    """``client.presets``: named, versioned job templates."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self) -> builtins.list[Preset]:
        return await self._client._run(self._client._ops.list_presets())

    async def get(self, name: str, version: int | None = None) -> Preset:
        return await self._client._run(self._client._ops.get_preset(name, version))

    async def put(self, name: str, body: Mapping[str, Any] | None = None, /, **fields: Unpack[PresetFields]) -> Preset:
        """Creates or updates the preset from ``body`` (a ``PUT /v1/presets/{name}`` body) and/or
        keyword fields (which win); an unchanged body makes no new version."""
        return await self._client._run(self._client._ops.put_preset(name, body, fields))

    async def delete(self, name: str) -> None:
        await self._client._run(self._client._ops.delete_preset(name))
