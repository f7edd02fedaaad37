"""The frame every gallery page shares: the request it answers (``PageContext``), the page shell
(navigation, the CSRF token, style sheets and scripts by URL), and the headers that keep pages
safe: a CSP with no inline script or style, no framing, no sniffing, no caching of pages that show
a private library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from ig.api.http import ApiRequest, ApiResponse
from ig.deps import Deps
from ig.gallery.assets import asset_url
from ig.gallery.markup import Markup, attrs, html, join
from ig.gallery.session import CSRF_FIELD, Session

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
NAVIGATION = (
    ("library", "/", "Library"),
    ("jobs", "/jobs", "Jobs"),
    ("create", "/create", "Create"),
    ("usage", "/usage", "Usage"),
)


@dataclass
class PageContext:
    """One gallery request: what it asked, who asks (their session), and ig's dependencies."""

    deps: Deps
    request: ApiRequest
    session: Session
    login_required: bool
    """The deployment has an API token, so the gallery has a log-in (and a log-out)."""

    def ui_path(self, api_path: str) -> str:
        """Where the page's browser reaches an API path (``/v1/...``) with its session."""
        return "/ui" + api_path


def page(
    context: PageContext,
    title: str,
    body: Markup,
    *,
    active: str = "",
    styles: Sequence[str] = (),
    scripts: Sequence[str] = (),
    status: int = 200,
) -> ApiResponse:
    links = join(
        html('<a href="{}"{}>{}</a>', href, attrs(aria_current="page" if name == active else None), label)
        for name, href, label in NAVIGATION
    )
    log_out = (
        html(
            '<form method="post" action="/logout"><input type="hidden" name="{}" value="{}">'
            '<button type="submit">Log out</button></form>',
            CSRF_FIELD,
            context.session.csrf,
        )
        if context.login_required
        else Markup('<a href="/docs" class="muted">API</a>')
    )
    shell = html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="csrf-token" content="{csrf}"><title>{title} · ig</title>'
        '<link rel="icon" href="{icon}">{styles}{scripts}</head><body>'
        '<header class="top"><a class="brand" href="/">ig</a><nav>{links}</nav>{log_out}</header>'
        '<main id="main">{body}</main><div id="notice" aria-live="polite"></div></body></html>',
        csrf=context.session.csrf,
        title=title,
        icon=asset_url("icon.svg"),
        styles=join(html('<link rel="stylesheet" href="{}">', asset_url(s)) for s in ("base.css", *styles)),
        scripts=join(html('<script src="{}" defer></script>', asset_url(s)) for s in ("common.js", *scripts)),
        links=links,
        log_out=log_out,
        body=body,
    )
    return ApiResponse(status, dict(PAGE_HEADERS), shell.encode())


def bare_page(title: str, body: Markup, status: int = 200) -> ApiResponse:
    """A page outside the session (the log-in, errors before one exists)."""
    shell = html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title} · ig</title>'
        '<link rel="icon" href="{icon}"><link rel="stylesheet" href="{css}"></head>'
        "<body><main>{body}</main></body></html>",
        title=title,
        icon=asset_url("icon.svg"),
        css=asset_url("base.css"),
        body=body,
    )
    return ApiResponse(status, dict(PAGE_HEADERS), shell.encode())


def same_site_reload(location: str) -> ApiResponse:
    """A page that loads ``location`` again at once, as a navigation from ig's own origin (a
    refresh, no script): the browser then sends its SameSite=Strict cookie."""
    shell = html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="0;url={target}"><title>ig</title></head>'
        '<body><p><a href="{target}">Continue to ig</a></p></body></html>',
        target=location,
    )
    return ApiResponse(200, dict(PAGE_HEADERS), shell.encode())


def redirect(location: str, headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(303, {"location": location, "cache-control": "no-store", **(headers or {})})


def local_target(value: str | None) -> str:
    """A place to go back to after logging in: a path on this site only (never ``//host``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def here(request: ApiRequest) -> str:
    """The request's path and query, to come back to."""
    query = "&".join(f"{quote(k)}={quote(v)}" for k, values in request.query.items() for v in values)
    return request.path + (f"?{query}" if query else "")
