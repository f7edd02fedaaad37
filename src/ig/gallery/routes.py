"""The gallery's routes and its one dispatcher: pages, static assets, log-in and log-out, and
``/ui/v1/...``, which is the API (``ig.api``) authorised by the gallery's session and CSRF token
instead of the bearer token. Pages that fail answer as pages; ``/ui`` answers as the API does."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import replace
from urllib.parse import quote

from ig.api.http import ApiRequest, ApiResponse, Route, Router, dispatch, problem_response
from ig.api.routes import ROUTER as API_ROUTER
from ig.deps import Deps
from ig.errors import Forbidden, IgError, MethodNotAllowed, NotFound, Unauthorized
from ig.gallery import access, activity_pages, library_pages
from ig.gallery import session as sessions
from ig.gallery.assets import ASSETS
from ig.gallery.layout import PageContext, bare_page, here, local_target, redirect, same_site_reload
from ig.gallery.markup import html
from ig.gallery.paths import UI_PREFIX, api_path

log = logging.getLogger("ig")


async def favicon(deps: Deps, request: ApiRequest) -> ApiResponse:
    """Browsers ask for it on any page, JSON ones included."""
    return await static_asset(deps, request, "icon.svg")


async def static_asset(deps: Deps, request: ApiRequest, name: str) -> ApiResponse:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound(f"no asset {name}")
    current = request.arg("v") == asset.version
    headers = {
        "content-type": asset.content_type,
        "x-content-type-options": "nosniff",
        "etag": f'"{asset.version}"',
        "cache-control": "public, max-age=31536000, immutable" if current else "no-cache",
    }
    if request.headers.get("if-none-match", "").strip() == f'"{asset.version}"':
        return ApiResponse(304, headers)
    return ApiResponse(200, headers, asset.text.encode())


# Routes whose handler takes (deps, request, ...) and needs no session.
OPEN_ROUTES = Router(
    [
        Route("GET", "/login", access.show_login),
        Route("POST", "/login", access.log_in),
        Route("POST", "/logout", access.log_out),
        Route("GET", "/static/{name}", static_asset),
        Route("GET", "/favicon.ico", favicon),
    ]
)
# Pages: their handler takes (PageContext, ...).
PAGES = Router(
    [
        Route("GET", "/", library_pages.library),
        Route("GET", "/artifacts/{artifact_id}", library_pages.artifact),
        Route("GET", "/jobs", activity_pages.jobs),
        Route("GET", "/jobs/{job_id}", activity_pages.job),
        Route("GET", "/create", activity_pages.create),
        Route("GET", "/usage", activity_pages.usage),
    ]
)


async def handle(deps: Deps, request: ApiRequest) -> ApiResponse:
    if request.path.startswith(UI_PREFIX + "/"):
        return await _api_for_the_gallery(deps, request)
    try:
        route, params = OPEN_ROUTES.match(request.method, request.path)
    except (NotFound, MethodNotAllowed):
        pass
    else:
        return await _safely(request, route.handler(deps, request, **params))
    return await _page(deps, request)


async def _page(deps: Deps, request: ApiRequest) -> ApiResponse:
    session = access.current_session(deps, request)
    new_cookie = None
    if session is None:
        if access.from_another_site(request):
            # SameSite=Strict kept the cookie off this navigation (a link in a chat or a mail): ask
            # again from ig's own page, which carries it, before deciding there is no session.
            return same_site_reload(local_target(here(request)))
        if access.login_required(deps):
            return redirect("/login?next=" + quote(here(request), safe=""))
        session, value = sessions.new_session(deps.settings, access.now(deps))
        new_cookie = sessions.set_cookie(value, request.base_url)
    context = PageContext(deps, request, session, access.login_required(deps))
    try:
        route, params = PAGES.match(request.method, request.path)
        response = await route.handler(context, **params)
    except IgError as error:
        response = _error_page(error)
    except Exception:
        log.exception("gallery: unexpected error on %s %s", request.method, request.path)
        response = _error_page(IgError("an unexpected error occurred; it has been logged"))
    if new_cookie:
        response.headers["set-cookie"] = new_cookie
    if request.method == "HEAD":
        response.body = None
    return response


async def _safely(request: ApiRequest, answer: Awaitable[ApiResponse]) -> ApiResponse:
    try:
        return await answer
    except IgError as error:
        return _error_page(error)
    except Exception:
        log.exception("gallery: unexpected error on %s %s", request.method, request.path)
        return _error_page(IgError("an unexpected error occurred; it has been logged"))


def _error_page(error: IgError) -> ApiResponse:
    body = html(
        '<div class="panel"><h1>{title}</h1><p>{detail}</p><p><a href="/">Back to the library</a></p></div>',
        title=error.title,
        detail=error.detail,
    )
    response = bare_page(error.title, body, error.status)
    if isinstance(error, MethodNotAllowed):
        response.headers.update(getattr(error, "headers", {}))
    return response


async def _api_for_the_gallery(deps: Deps, request: ApiRequest) -> ApiResponse:
    """The API behind the session: a valid session (401 without one), and on anything but a read
    the session's CSRF token (403 without it). Answers are the API's, cached privately only."""
    session = access.current_session(deps, request)
    if session is None:
        return problem_response(Unauthorized("log in to the gallery first"), request.path)
    if request.method not in access.SAFE_METHODS and not sessions.csrf_valid(session, access.csrf_given(request)):
        return problem_response(Forbidden("send the page's CSRF token in X-CSRF-Token"), request.path)
    path = api_path(request.path)
    if path == request.path:
        return problem_response(NotFound(f"no route for {request.path}"), request.path)
    response = await dispatch(API_ROUTER, deps, replace(request, path=path), authenticated=True)
    if "cache-control" in response.headers:
        response.headers["cache-control"] = response.headers["cache-control"].replace("public", "private")
    return response
