"""What each call of the client does, as step generators (see :mod:`ig_client._core`): the whole
behaviour of both clients. ``Client`` and ``AsyncClient`` only run these."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx

from ig_client._core import Close, Core, Emit, Feed, Op, Read, Request, Sleep, query, segment
from ig_client._retries import backoff
from ig_client._transfer import Sink, UploadSource, upload_body
from ig_client.errors import ChecksumMismatch, ConnectionFailed, IgError, JobFailed, TimedOut
from ig_client.models import (
    Artifact,
    ArtifactPage,
    BatchAnswer,
    CancelledJob,
    Delivery,
    DeliveryList,
    Health,
    Job,
    JobPage,
    Lineage,
    ModelInfo,
    ModelList,
    Page,
    Preset,
    PresetList,
    ProviderInfo,
    ProviderList,
    SignedUrl,
    TagCount,
    TagList,
    TagPage,
    TaskInfo,
    TaskList,
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

R = TypeVar("R")
T = TypeVar("T")

WAIT_HOLD_SECONDS = 30.0
"""The longest one long poll (``GET /v1/jobs/{id}?wait=N``) is held; ig allows 60. Shorter than that
keeps idle connections under what proxies in between tolerate, at one request per 30 s."""
JOB_FIELDS = (
    "model",
    "params",
    "task",
    "provider",
    "preset",
    "variables",
    "tags",
    "metadata",
    "callback_url",
    "callback_events",
    "failover_after_accept",
    "timeout_seconds",
)
"""The ``SubmitOptions`` that go into the request body as they are."""


def _json_value(value: object) -> object:
    """Mappings and sequences from the caller, as plain JSON containers."""
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_json_value(item) for item in value]
    return value


def _id(item: str | Job | Artifact) -> str:
    return item if isinstance(item, str) else item.id


class Operations:
    def __init__(self, core: Core) -> None:
        self.core = core

    # --- jobs ---------------------------------------------------------------------------------

    def submit(self, options: SubmitOptions) -> Op[Job]:
        body = {name: _json_value(value) for name, value in options.items() if name in JOB_FIELDS and value is not None}
        prompt = options.get("prompt")
        if prompt is not None:
            params = cast("dict[str, Any]", body.setdefault("params", {}))
            if "prompt" in params:
                raise ValueError("prompt= and params['prompt'] both give the prompt: pass one")
            params["prompt"] = prompt  # ig's common name: the server moves it to the task's and provider's own
        key = options.get("idempotency_key") or str(uuid.uuid4())
        request = Request("POST", "/v1/jobs", json=body, headers=(("idempotency-key", key),), idempotent=True)
        return (yield from self.core.call(request, Job))

    def submit_batch(self, jobs: Sequence[Mapping[str, Any]], idempotency_key: str | None) -> Op[BatchAnswer]:
        key = idempotency_key or str(uuid.uuid4())
        body = {"jobs": _json_value(jobs)}
        request = Request("POST", "/v1/jobs/batch", json=body, headers=(("idempotency-key", key),), idempotent=True)
        return (yield from self.core.call(request, BatchAnswer))

    def get_job(self, job_id: str, hold: float = 0.0) -> Op[Job]:
        params = query({"wait": hold}) if hold else ()
        return (yield from self.core.call(Request("GET", f"/v1/jobs/{segment(job_id)}", params, hold=hold), Job))

    def wait(self, job: str | Job, timeout: float | None, on_progress: JobProgress | None) -> Op[Job]:
        """Long-polls until the job has finished; ``on_progress(job)`` on every change of status.
        A job object that has not finished is looked at again; ``timeout=0`` looks once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        current = job if isinstance(job, Job) else None
        seen: str | None = None
        while True:
            if current is not None:
                if current.status != seen and on_progress is not None:
                    on_progress(current)
                seen = current.status
                if current.finished:
                    return current
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimedOut(current, timeout or 0.0)
            hold = (
                WAIT_HOLD_SECONDS if deadline is None else max(0.0, min(WAIT_HOLD_SECONDS, deadline - time.monotonic()))
            )
            current = yield from self.get_job(_id(job), hold)

    def generate(self, options: GenerateOptions) -> Op[Job]:
        submit = cast(SubmitOptions, {k: v for k, v in options.items() if k not in ("wait_timeout", "on_progress")})
        job = yield from self.submit(submit)
        done = yield from self.wait(job, options.get("wait_timeout"), options.get("on_progress"))
        if done.status != "succeeded":
            raise JobFailed(done)
        return done

    def list_jobs(self, filters: JobFilters) -> Feed[Job]:
        return self._pages("/v1/jobs", filters, JobPage)

    def cancel_job(self, job: str | Job) -> Op[CancelledJob]:
        request = Request("POST", f"/v1/jobs/{segment(_id(job))}/cancel", idempotent=True)
        return (yield from self.core.call(request, CancelledJob))

    def edit_tags(
        self, item: str | Job | Artifact, kind: str, add: Sequence[str], remove: Sequence[str]
    ) -> Op[list[str]]:
        """Adding and removing named tags is the same edit however often it is applied: retried freely."""
        body = {"add": list(add), "remove": list(remove)}
        request = Request("POST", f"/v1/{kind}/{segment(_id(item))}/tags", json=body, idempotent=True)
        return (yield from self.core.call(request, TagList)).tags

    def deliveries(self, job: str | Job) -> Op[list[Delivery]]:
        request = Request("GET", f"/v1/jobs/{segment(_id(job))}/deliveries")
        return (yield from self.core.call(request, DeliveryList)).items

    def redeliver(self, job: str | Job) -> Op[Delivery]:
        request = Request("POST", f"/v1/jobs/{segment(_id(job))}/deliveries/redeliver")
        return (yield from self.core.call(request, Delivery))

    # --- artifacts ----------------------------------------------------------------------------

    def list_artifacts(self, filters: ArtifactFilters) -> Feed[Artifact]:
        return self._pages("/v1/artifacts", filters, ArtifactPage)

    def get_artifact(self, artifact_id: str) -> Op[Artifact]:
        return (yield from self.core.call(Request("GET", f"/v1/artifacts/{segment(artifact_id)}"), Artifact))

    def delete_artifact(self, artifact: str | Artifact) -> Op[None]:
        yield from self.core.send(Request("DELETE", f"/v1/artifacts/{segment(_id(artifact))}"))

    def signed_url(self, artifact: str | Artifact, expires_in: int | None) -> Op[SignedUrl]:
        request = Request("GET", f"/v1/artifacts/{segment(_id(artifact))}/url", query({"expires_in": expires_in}))
        return (yield from self.core.call(request, SignedUrl))

    def lineage(self, artifact: str | Artifact) -> Op[Lineage]:
        request = Request("GET", f"/v1/artifacts/{segment(_id(artifact))}/lineage")
        return (yield from self.core.call(request, Lineage))

    def upload(
        self,
        source: UploadSource,
        media_type: str | None,
        tags: Sequence[str] | None,
        filename: str | None,
        on_progress: Progress | None,
    ) -> Op[Artifact]:
        body = upload_body(source, media_type, filename, on_progress)
        # Identical bytes are stored once and tags are a set, so sending an upload twice is harmless.
        request = Request("POST", "/v1/uploads", query({"tag": list(tags or ())}), body=body, idempotent=True)
        return (yield from self.core.call(request, Artifact))

    def download(
        self, artifact: str | Artifact, sink_for: Callable[[Artifact], Sink[R]], on_progress: Progress | None
    ) -> Op[R]:
        """The artifact's bytes into a sink, verified against its size and sha256. A connection
        that drops mid-body is resumed with ``Range`` from the bytes already received; the sink
        keeps nothing unless every byte checks out."""
        if isinstance(artifact, str):
            artifact = yield from self.get_artifact(artifact)
        path = f"/v1/artifacts/{segment(artifact.id)}/content"
        sink = sink_for(artifact)
        try:
            digest, done, stalls = hashlib.sha256(), 0, 0
            while True:
                headers = [("accept-encoding", "identity")]  # the bytes as stored, so ranges mean the same
                if done:
                    headers.append(("range", f"bytes={done}-"))
                stream = yield from self.core.open(Request("GET", path, headers=tuple(headers)))
                status = stream.response.status_code
                if status == 200 and done:  # the whole file again (a range was not honoured): start over
                    sink.restart()
                    digest, done = hashlib.sha256(), 0
                elif status not in (200, 206) or (status == 206 and not _starts_at(stream.response, done)):
                    yield Close(stream)
                    raise IgError(f"{path}: unexpected answer {status} {stream.response.headers.get('content-range')}")
                before, cut = done, False
                while True:
                    chunk = yield Read(stream)
                    if isinstance(chunk, httpx.TransportError):
                        cut = True
                        break
                    data = cast(bytes, chunk)
                    if not data:
                        break
                    if done + len(data) > artifact.size:
                        yield Close(stream)
                        raise ChecksumMismatch(artifact.id, _where(sink), f"more than its {artifact.size} bytes")
                    sink.write(data)
                    digest.update(data)
                    done += len(data)
                    if on_progress is not None:
                        on_progress(done, artifact.size)
                yield Close(stream)
                if not cut and done >= artifact.size:
                    break
                stalls = 0 if done > before else stalls + 1
                if stalls > self.core.policy.max_retries:
                    raise ConnectionFailed(f"{path}: the download stopped at byte {done} of {artifact.size}")
                if stalls:
                    yield Sleep(backoff(stalls - 1))
            actual = digest.hexdigest()
            if actual != artifact.sha256:
                raise ChecksumMismatch(artifact.id, _where(sink), f"sha256 {actual}, expected {artifact.sha256}")
            return sink.commit()
        except BaseException:
            sink.discard()
            raise

    # --- presets ------------------------------------------------------------------------------

    def list_presets(self) -> Op[list[Preset]]:
        return (yield from self.core.call(Request("GET", "/v1/presets"), PresetList)).items

    def get_preset(self, name: str, version: int | None) -> Op[Preset]:
        request = Request("GET", f"/v1/presets/{segment(name)}", query({"version": version}))
        return (yield from self.core.call(request, Preset))

    def put_preset(self, name: str, body: Mapping[str, Any] | None, fields: PresetFields) -> Op[Preset]:
        merged = {**(body or {}), **{key: value for key, value in fields.items() if value is not None}}
        request = Request("PUT", f"/v1/presets/{segment(name)}", json=_json_value(merged))
        return (yield from self.core.call(request, Preset))

    def delete_preset(self, name: str) -> Op[None]:
        yield from self.core.send(Request("DELETE", f"/v1/presets/{segment(name)}"))

    # --- catalogue, library, service ----------------------------------------------------------

    def models(self, task: str | None, provider: str | None) -> Op[list[ModelInfo]]:
        request = Request("GET", "/v1/models", query({"task": task, "provider": provider}))
        return (yield from self.core.call(request, ModelList)).items

    def tasks(self) -> Op[list[TaskInfo]]:
        return (yield from self.core.call(Request("GET", "/v1/tasks"), TaskList)).items

    def providers(self) -> Op[list[ProviderInfo]]:
        return (yield from self.core.call(Request("GET", "/v1/providers"), ProviderList)).items

    def usage(self, group_by: str | None, filters: UsageFilters) -> Op[UsageReport]:
        request = Request("GET", "/v1/usage", query({"group_by": group_by, **filters}))
        return (yield from self.core.call(request, UsageReport))

    def tags(self, prefix: str | None, limit: int | None) -> Feed[TagCount]:
        return self._pages("/v1/tags", {"prefix": prefix, "limit": limit}, TagPage)

    def health(self, deep: bool) -> Op[Health]:
        return (yield from self.core.call(Request("GET", "/healthz", query({"deep": deep or None})), Health))

    # --- listings -----------------------------------------------------------------------------

    def _pages(self, path: str, filters: Mapping[str, object], page: type[Page[T]]) -> Feed[T]:
        """Every item of a listing, page after page, following ``next_cursor`` to the end."""
        cursor: str | None = None
        while True:
            answer = yield from self.core.call(Request("GET", path, query({**filters, "cursor": cursor})), page)
            for item in answer.items:
                yield Emit(item)
            cursor = answer.next_cursor
            if not cursor:
                return


def _starts_at(response: httpx.Response, offset: int) -> bool:
    """Whether a 206's ``Content-Range`` (``bytes 100-199/200``) starts where the download stopped."""
    unit, _, rest = str(response.headers.get("content-range", "")).partition(" ")
    return unit == "bytes" and rest.partition("-")[0] == str(offset)


def _where(sink: Sink[Any]) -> Path | None:
    target = getattr(sink, "target", None)
    return target if isinstance(target, Path) else None
