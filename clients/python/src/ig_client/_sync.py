"""``Client``: ig's API, blocking. Every call runs an operation of :mod:`ig_client._operations`
through :meth:`Client._perform`, the only place this client does I/O."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Iterator, Mapping, Sequence
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


class Client:
    """ig's API. ``url`` defaults to ``IG_URL`` (else ``http://127.0.0.1:8787``), ``token`` to
    ``IG_API_TOKEN`` (none when unset). ``timeout`` bounds each request's connect, read and write
    (long polls add what they ask ig to hold); 429, 502-504 and connection failures are retried up
    to ``max_retries`` times where that cannot do anything twice. Thread-safe; close it (or use
    ``with``) to release its connections."""

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0, max_retries: int = 4
    ) -> None:
        self._core = Core(url, token, timeout, max_retries)
        self._ops = Operations(self._core)
        self._http = httpx.Client(base_url=self._core.url, headers=self._core.default_headers())
        self.jobs = Jobs(self)
        self.artifacts = Artifacts(self)
        self.presets = Presets(self)

    @property
    def url(self) -> str:
        return self._core.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # --- jobs ---------------------------------------------------------------------------------

    def submit(self, **options: Unpack[SubmitOptions]) -> Job:
        """``POST /v1/jobs`` with an ``Idempotency-Key`` (``idempotency_key`` or a new UUID, the
        same on every retry); the job as ig accepted it, usually ``submitted`` or ``queued``."""
        return self._run(self._ops.submit(options))

    def submit_batch(self, jobs: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None) -> BatchAnswer:
        """``POST /v1/jobs/batch``: up to 50 ``POST /v1/jobs`` bodies, answered item by item."""
        return self._run(self._ops.submit_batch(jobs, idempotency_key))

    def wait(self, job: str | Job, *, timeout: float | None = None, on_progress: JobProgress | None = None) -> Job:
        """The job once it has finished (``succeeded``, ``failed`` or ``cancelled``), long-polling
        ig; ``on_progress(job)`` on every change of status. ``TimedOut`` after ``timeout`` seconds."""
        return self._run(self._ops.wait(job, timeout, on_progress))

    def generate(self, **options: Unpack[GenerateOptions]) -> Job:
        """``submit`` then ``wait``: the finished job with its artifacts; ``JobFailed`` if it failed
        or was cancelled."""
        return self._run(self._ops.generate(options))

    # --- catalogue, library, service ----------------------------------------------------------

    def models(self, *, task: str | None = None, provider: str | None = None) -> builtins.list[ModelInfo]:
        return self._run(self._ops.models(task, provider))

    def tasks(self) -> builtins.list[TaskInfo]:
        return self._run(self._ops.tasks())

    def providers(self) -> builtins.list[ProviderInfo]:
        return self._run(self._ops.providers())

    def usage(self, *, group_by: str | None = None, **filters: Unpack[UsageFilters]) -> UsageReport:
        """Jobs, outcomes, cost and latency grouped by ``day`` (ig's default), ``model``, ``task``,
        ``tag`` or ``provider``."""
        return self._run(self._ops.usage(group_by, filters))

    def tags(self, *, prefix: str | None = None, limit: int | None = None) -> Iterator[TagCount]:
        """Every tag with its live artifact count, alphabetically, through every page."""
        return self._iterate(self._ops.tags(prefix, limit))

    def health(self, *, deep: bool = False) -> Health:
        return self._run(self._ops.health(deep))

    # --- the driver ---------------------------------------------------------------------------

    def _run(self, op: Op[T]) -> T:
        opened: builtins.list[Stream] = []
        try:
            result: object = None
            while True:
                result = self._perform(op.send(result), opened)
        except StopIteration as done:
            return cast(T, done.value)
        finally:
            op.close()
            for stream in opened:
                stream.response.close()

    def _iterate(self, feed: Feed[T]) -> Iterator[T]:
        opened: builtins.list[Stream] = []
        try:
            result: object = None
            while True:
                step = feed.send(result)
                if isinstance(step, Emit):
                    result = None
                    yield step.item
                else:
                    result = self._perform(step, opened)
        except StopIteration:
            return
        finally:
            feed.close()
            for stream in opened:
                stream.response.close()

    def _perform(self, step: Step, opened: builtins.list[Stream]) -> object:
        if isinstance(step, Open):
            args = self._core.build_args(step.request)
            if step.request.body is not None:
                args["content"] = step.request.body.chunks()
            try:
                response = self._http.send(self._http.build_request(**args), stream=True)
            except httpx.TransportError as failure:
                return failure
            stream = Stream(response, response.iter_bytes())
            opened.append(stream)
            return stream
        if isinstance(step, Read):
            try:
                return next(cast(Iterator[bytes], step.stream.chunks), b"")
            except httpx.TransportError as failure:
                return failure
        if isinstance(step, Close):
            step.stream.response.close()
            opened.remove(step.stream)
            return None
        time.sleep(step.seconds)
        return None


class Jobs:
    """``client.jobs``: list, read, cancel and tag jobs."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, **filters: Unpack[JobFilters]) -> Iterator[Job]:
        """Jobs, newest first, through every page (``limit`` is the page size)."""
        return self._client._iterate(self._client._ops.list_jobs(filters))

    def get(self, job_id: str) -> Job:
        return self._client._run(self._client._ops.get_job(job_id))

    def cancel(self, job: str | Job) -> CancelledJob:
        """Cancels an open job (again is a no-op; a finished job is ``Conflict``)."""
        return self._client._run(self._client._ops.cancel_job(job))

    def tag(self, job: str | Job, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> builtins.list[str]:
        """The job's tags after the edit (its artifacts keep theirs)."""
        return self._client._run(self._client._ops.edit_tags(job, "jobs", add, remove))

    def deliveries(self, job: str | Job) -> builtins.list[Delivery]:
        """The job's callback events, each with every delivery attempt."""
        return self._client._run(self._client._ops.deliveries(job))

    def redeliver(self, job: str | Job) -> Delivery:
        return self._client._run(self._client._ops.redeliver(job))


class Artifacts:
    """``client.artifacts``: the library: list, read, download, upload, tag, delete."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, **filters: Unpack[ArtifactFilters]) -> Iterator[Artifact]:
        """Artifacts, newest first, through every page (``limit`` is the page size)."""
        return self._client._iterate(self._client._ops.list_artifacts(filters))

    def get(self, artifact_id: str) -> Artifact:
        return self._client._run(self._client._ops.get_artifact(artifact_id))

    def download(
        self, artifact: str | Artifact, path: str | os.PathLike[str], *, on_progress: Progress | None = None
    ) -> Path:
        """Streams the artifact to ``path`` (or into it, as ``<id><extension>``, when it is a
        directory) and returns where it went. The bytes go to a temporary file beside it, renamed
        only once their size and sha256 match the artifact's (``ChecksumMismatch`` otherwise, and
        nothing is left); a dropped connection is resumed with ``Range``."""
        return self._client._run(
            self._client._ops.download(
                artifact, lambda found: FileSink(download_target(path, found.id, found.content_type)), on_progress
            )
        )

    def read(self, artifact: str | Artifact, *, on_progress: Progress | None = None) -> bytes:
        """The artifact's bytes, verified like :meth:`download`'s (for files that fit in memory)."""
        return self._client._run(self._client._ops.download(artifact, lambda _: MemorySink(), on_progress))

    def upload(
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
        return self._client._run(self._client._ops.upload(source, media_type, tags, filename, on_progress))

    def tag(
        self, artifact: str | Artifact, *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> builtins.list[str]:
        """The artifact's tags after the edit."""
        return self._client._run(self._client._ops.edit_tags(artifact, "artifacts", add, remove))

    def delete(self, artifact: str | Artifact) -> None:
        """Deletes the bytes; the record and its provenance stay (``deleted_at``)."""
        self._client._run(self._client._ops.delete_artifact(artifact))

    def url(self, artifact: str | Artifact, *, expires_in: int | None = None) -> SignedUrl:
        """A content URL that works without the token until it expires."""
        return self._client._run(self._client._ops.signed_url(artifact, expires_in))

    def lineage(self, artifact: str | Artifact) -> Lineage:
        return self._client._run(self._client._ops.lineage(artifact))


class Presets:
    """``client.presets``: named, versioned job templates."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> builtins.list[Preset]:
        return self._client._run(self._client._ops.list_presets())

    def get(self, name: str, version: int | None = None) -> Preset:
        return self._client._run(self._client._ops.get_preset(name, version))

    def put(self, name: str, body: Mapping[str, Any] | None = None, /, **fields: Unpack[PresetFields]) -> Preset:
        """Creates or updates the preset from ``body`` (a ``PUT /v1/presets/{name}`` body) and/or
        keyword fields (which win); an unchanged body makes no new version."""
        return self._client._run(self._client._ops.put_preset(name, body, fields))

    def delete(self, name: str) -> None:
        self._client._run(self._client._ops.delete_preset(name))
