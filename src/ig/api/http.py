"""Runtime-neutral HTTP: the request and response ig's handlers see, a small route table, bearer
auth, and the one place errors become RFC 9457 problem JSON. Each runtime's adapter converts
its native request into an ``ApiRequest`` and an ``ApiResponse`` back.

A route table of our own instead of Starlette/FastAPI: the Worker pays for every import at cold
start (FastAPI adds about 0.9 s on Pyodide), and ig needs only method + path matching."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ig.deps import Deps
from ig.errors import IgError, MethodNotAllowed, NotFound, Unauthorized, ValidationFailed
from ig.ports import StoredBlob

PROBLEM_BASE = "https://ig.dev/problems/"
log = logging.getLogger("ig")


@dataclass
class ApiRequest:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    base_url: str = ""
    """Scheme and host the client used, for links in responses."""
    stream: AsyncIterator[bytes] | None = None
    """The body, unread, on routes that stream it (uploads); ``body`` is empty there."""

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | StoredBlob | None = None


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(
        status,
        {"content-type": "application/json", **(headers or {})},
        json.dumps(payload, separators=(",", ":")).encode(),
    )


def problem_body(error: IgError, instance: str) -> dict[str, Any]:
    """RFC 9457 problem details, with every bad field under ``errors``."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + error.code.replace("_", "-"),
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": instance,
        "code": error.code,
    }
    if isinstance(error, ValidationFailed):
        body["errors"] = [e.to_json() for e in error.errors]
    body.update(error.extra)
    return body


def problem_response(error: IgError, instance: str) -> ApiResponse:
    body = problem_body(error, instance)
    headers = {"content-type": "application/problem+json", **getattr(error, "headers", {})}
    if isinstance(error, Unauthorized):
        headers["www-authenticate"] = 'Bearer realm="ig"'
    return ApiResponse(error.status, headers, json.dumps(body).encode())


Handler = Callable[..., Awaitable[ApiResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    streams_body: bool = False
    """The handler reads ``request.stream`` itself (uploads) instead of a buffered body."""
    signed: bool = False
    """A request carrying ``sig`` needs no bearer token; the handler checks the signature."""
    # What the route means, for the OpenAPI document and /docs (``ig.api.openapi``). Models are named,
    # not imported: ``ig.api.schemas`` is resolved only when the document is built, never at cold start.
    summary: str = ""
    description: str = ""
    """Markdown, when the summary is not enough."""
    tag: str = ""
    """The group the route is listed under; one of ``ig.api.openapi.TAGS``."""
    query: str | None = None
    """The ``ig.api.schemas`` model whose fields are the query parameters."""
    body: str | None = None
    """The ``ig.api.schemas`` model of the request body."""
    body_types: tuple[str, ...] = ("application/json",)
    """Media types the body may have; for other than JSON and multipart forms it is the raw bytes."""
    response: str | None = None
    """The ``ig.api.schemas`` model of the success body."""
    status: int = 200
    """The success status."""
    other_statuses: tuple[int, ...] = ()
    """Further success statuses, with the same body (none for 204 and 304)."""
    content_type: str = "application/json"
    """The success body's media type."""
    headers: tuple[tuple[str, str], ...] = ()
    """Request headers the route reads, as (name, what it does)."""
    problems: tuple[int, ...] = ()
    """Problem statuses particular to the route; auth (401), unknown ids (404) and bad input
    (413, 422) are implied by the path and the parameters."""
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern)
        object.__setattr__(self, "regex", re.compile(f"^{regex}$"))


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route in self.routes:
            found = route.regex.match(path)
            if found:
                allowed += [route.method, "HEAD"] if route.method == "GET" else [route.method]
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return route, found.groupdict()
        if allowed:
            raise MethodNotAllowed(f"{method} is not supported on {path}", ", ".join(dict.fromkeys(allowed)))
        raise NotFound(f"no route for {path}")

    def streams_body(self, method: str, path: str) -> bool:
        try:
            return self.match(method, path)[0].streams_body
        except (NotFound, MethodNotAllowed):
            return False


def check_bearer(deps: Deps, request: ApiRequest) -> None:
    if request.path.startswith("/v1/"):
        require_bearer(deps, request)


def require_bearer(deps: Deps, request: ApiRequest) -> None:
    """The API token, when the service has one (also for public routes' privileged forms)."""
    token = deps.settings.api_token
    if not token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("send Authorization: Bearer <IG_API_TOKEN>")


async def dispatch(router: Router, deps: Deps, request: ApiRequest, *, authenticated: bool = False) -> ApiResponse:
    """Route, authorise, run the handler; every error leaves here as problem JSON. ``authenticated``:
    the caller has already authorised the request another way (the gallery's session)."""
    try:
        try:
            route, params = router.match(request.method, request.path)
        except (NotFound, MethodNotAllowed):
            if not authenticated:
                check_bearer(deps, request)  # no route-probing without the token
            raise
        if not (authenticated or (route.signed and request.arg("sig") is not None)):
            check_bearer(deps, request)
        response = await route.handler(deps, request, **params)
    except IgError as error:
        if error.status >= 500:
            log.error("%s %s: %s", request.method, request.path, error.detail)
        response = problem_response(error, request.path)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        response = problem_response(IgError("an unexpected error occurred; it has been logged"), request.path)
    if request.method == "HEAD":
        response.body = None  # headers (Content-Length included) stay as the GET would send them
    return response
