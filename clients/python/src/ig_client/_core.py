"""The client's one request/response/retry core, written once for the sync and the async client.

Every operation is a generator that says what I/O it needs as *steps* (open a request, read a
chunk of a body, close it, sleep) and receives what came of each; :mod:`ig_client._sync` and
:mod:`ig_client._async` run these generators, with httpx's sync and async clients, and do nothing
else. So retries, ``Retry-After``, problem JSON, pagination, long polls and download resumption
exist in one place, and both clients behave the same by construction.

Rules for the generators: never ``yield`` inside ``finally`` or an ``except BaseException``
(a driver that stops early closes the generator, and its clean-up must run without I/O steps);
the driver closes any stream still open when an operation ends."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from ig_client._retries import RetryPolicy, retry_after_seconds
from ig_client.errors import ApiError, ConnectionFailed, IgError, api_error

DEFAULT_URL = "http://127.0.0.1:8787"
"""Where ``ig serve`` listens by default; ``IG_URL`` or ``url=`` say otherwise."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest JSON answer read into memory (a page of 500 artifacts with provenance is a few MB)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods whose repetition does no harm, so every failure of theirs may be retried."""

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Body:
    """A request body streamed chunk by chunk; ``chunks()`` starts again from the beginning on
    every attempt (for a source that can, ``resendable``)."""

    chunks: Callable[[], Iterator[bytes]]
    content_type: str
    length: int | None
    resendable: bool


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    """A JSON body; None sends none."""
    body: Body | None = None
    headers: tuple[tuple[str, str], ...] = ()
    idempotent: bool = False
    """May reach ig twice without harm although its method is not a safe one (a POST that carries an
    ``Idempotency-Key``, a tag edit, a cancel)."""
    hold: float = 0.0
    """Seconds ig may hold the answer on purpose (a long poll): added to the read timeout."""

    @property
    def resendable(self) -> bool:
        """Its body can be sent again."""
        return self.body is None or self.body.resendable

    @property
    def replayable(self) -> bool:
        """It may reach ig twice without harm, and can be sent again."""
        return self.resendable and (self.method in SAFE_METHODS or self.idempotent)


@dataclass
class Stream:
    """An answer whose status and headers have arrived; its body is read by ``Read`` steps."""

    response: httpx.Response
    chunks: Iterator[bytes] | AsyncIterator[bytes] = field(repr=False)


@dataclass(frozen=True)
class Open:
    """Send the request and read the answer's head. The driver answers a :class:`Stream` or the
    ``httpx.TransportError`` that stopped it."""

    request: Request


@dataclass(frozen=True)
class Read:
    """The body's next chunk: bytes (``b""`` at the end) or the ``httpx.TransportError`` that cut it."""

    stream: Stream


@dataclass(frozen=True)
class Close:
    stream: Stream


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Emit(Generic[T]):
    """An item for the caller of an iterating operation (listings)."""

    item: T


Step = Open | Read | Close | Sleep
Op = Generator[Step, object, T]
"""An operation returning T; the driver sends back what each step produced."""
Feed = Generator[Step | Emit[T], object, None]
"""An operation producing items one by one (a listing that follows its cursors)."""


def query(values: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """Query parameters as ig reads them: a list repeats the name, booleans are ``true``/``false``,
    dates and times ISO 8601; None is left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        for one in cast("list[object]", value) if isinstance(value, list | tuple) else [value]:
            if one is None:
                continue
            if isinstance(one, bool):
                pairs.append((name, "true" if one else "false"))
            elif isinstance(one, date):  # datetime too
                pairs.append((name, one.isoformat()))
            else:
                pairs.append((name, str(one)))
    return tuple(pairs)


def segment(value: str) -> str:
    """A path segment (an id, a preset name), escaped."""
    return quote(value, safe="")


def _version() -> str:
    try:
        return metadata.version("ig-client")
    except metadata.PackageNotFoundError:
        return "unknown"


class Core:
    """Configuration and the transport half of every operation: opening a request with retries,
    reading answers, turning problems into exceptions."""

    def __init__(self, url: str | None, token: str | None, timeout: float, max_retries: int) -> None:
        self.url = (url or os.environ.get("IG_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else (os.environ.get("IG_API_TOKEN") or None)
        self.timeout = timeout
        self.policy = RetryPolicy(max_retries)

    def default_headers(self) -> dict[str, str]:
        headers = {"user-agent": f"ig-client/{_version()}", "accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    def build_args(self, request: Request) -> dict[str, Any]:
        """What the driver hands ``httpx.Client.build_request`` besides the body's content."""
        headers = dict(request.headers)
        content: bytes | None = None
        if request.json is not None:
            content = json.dumps(request.json, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        elif request.body is not None:
            headers["content-type"] = request.body.content_type
            if request.body.length is not None:
                headers["content-length"] = str(request.body.length)
        args: dict[str, Any] = {
            "method": request.method,
            "url": request.path,
            "params": request.params,
            "headers": headers,
            "timeout": httpx.Timeout(self.timeout, read=self.timeout + request.hold),
        }
        if content is not None:
            args["content"] = content
        return args

    # --- the transport half of every operation ------------------------------------------------

    def send(self, request: Request) -> Op[bytes]:
        """The body of the answer to ``request``, retried as the policy allows; an error status
        raises its :class:`ApiError`."""
        _, body = yield from self._attempts(request, whole=True)
        return body

    def open(self, request: Request) -> Op[Stream]:
        """Like :meth:`send`, but the body is left for the caller to read (downloads)."""
        stream, _ = yield from self._attempts(request, whole=False)
        return stream

    def call(self, request: Request, model: type[M]) -> Op[M]:
        """A JSON answer, as ``model``."""
        body = yield from self.send(request)
        try:
            return model.model_validate_json(body)
        except ValidationError as error:
            shown = body[:200].decode("utf-8", "replace")
            raise IgError(
                f"{request.method} {self.url}{request.path}: the answer is not ig's {model.__name__} "
                f"(is IG_URL right?): {error.error_count()} problems, starting {shown!r}"
            ) from error

    def read_all(self, stream: Stream) -> Op[bytes | httpx.TransportError]:
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = yield Read(stream)
            if isinstance(chunk, httpx.TransportError):
                yield Close(stream)
                return chunk
            data = cast(bytes, chunk)
            if not data:
                break
            size += len(data)
            if size > MAX_BODY_BYTES:
                yield Close(stream)
                raise IgError(f"{stream.response.request.url}: the answer is over {MAX_BODY_BYTES} bytes")
            parts.append(data)
        yield Close(stream)
        return b"".join(parts)

    def _attempts(self, request: Request, *, whole: bool) -> Op[tuple[Stream, bytes]]:
        retry = 0
        while True:
            outcome = yield Open(request)
            body = b""
            if isinstance(outcome, Stream) and (whole or outcome.response.status_code >= 300):
                read = yield from self.read_all(outcome)
                if isinstance(read, httpx.TransportError):
                    outcome = read
                else:
                    body = read
            if isinstance(outcome, Stream):
                if outcome.response.status_code < 300:
                    return outcome, body
                delay = self.policy.delay(outcome.response, retry, request.replayable, request.resendable)
                if delay is None:
                    raise self.error(outcome.response, body)
            else:
                failure = cast(httpx.TransportError, outcome)
                delay = self.policy.delay(failure, retry, request.replayable, request.resendable)
                if delay is None:
                    raise ConnectionFailed(
                        f"{request.method} {self.url}{request.path}: {type(failure).__name__}: {failure}"
                        + (f" (after {retry} retries)" if retry else "")
                    ) from failure
            retry += 1
            yield Sleep(delay)

    def error(self, response: httpx.Response, body: bytes) -> ApiError:
        try:
            problem = json.loads(body) if body else {}
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        if not problem and response.is_redirect:
            problem = {"detail": f"redirected to {response.headers.get('location')}: set IG_URL to where ig answers"}
        elif body and not problem:  # not problem JSON: something between the client and ig answered
            problem = {"detail": body[:500].decode("utf-8", "replace")}
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        return api_error(response.status_code, problem, dict(response.headers), retry_after)
