"""Who may use the gallery. With ``IG_API_TOKEN`` set, a person logs in once with the token and
keeps a session cookie (``ig.gallery.session``); without it the gallery is open, as the API is.
Either way every page has a session, and every state-changing request must carry its CSRF token:
``/ui/v1`` calls in ``X-CSRF-Token``, plain forms (log-out) in a ``csrf`` field. The log-in form
itself is refused from other sites (``Sec-Fetch-Site``/``Origin``), so no page elsewhere can log a
browser into someone else's session."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ig.api.http import ApiRequest, ApiResponse
from ig.deps import Deps
from ig.gallery import session as sessions
from ig.gallery.layout import bare_page, local_target, redirect
from ig.gallery.markup import Markup, html

SAFE_METHODS = ("GET", "HEAD")


def login_required(deps: Deps) -> bool:
    return bool(deps.settings.api_token)


def now(deps: Deps) -> int:
    return int(deps.clock().timestamp())


def current_session(deps: Deps, request: ApiRequest) -> sessions.Session | None:
    return sessions.read_session(deps.settings, request.headers.get("cookie"), now(deps))


def form_fields(request: ApiRequest) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    parsed = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in parsed.items()}


def csrf_given(request: ApiRequest) -> str | None:
    return request.headers.get(sessions.CSRF_HEADER) or form_fields(request).get(sessions.CSRF_FIELD)


def same_origin(request: ApiRequest) -> bool:
    """The request came from one of ig's own pages (or a browser that does not say: old ones,
    and tools, which carry no cookie of ours anyway)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    found = urlsplit(request.base_url)
    return origin == f"{found.scheme}://{found.netloc}"


def from_another_site(request: ApiRequest) -> bool:
    """A navigation that started on another site (``Sec-Fetch-Site``, which browsers set and
    pages cannot)."""
    return request.method in SAFE_METHODS and request.headers.get("sec-fetch-site") == "cross-site"


def login_form(next_path: str, error: str | None = None, status: int = 200) -> ApiResponse:
    body = html(
        '<div class="login panel"><h1>ig</h1><p class="muted">This gallery needs the service\'s API token '
        "(<code>IG_API_TOKEN</code>). It is asked once; the browser then keeps a session.</p>"
        '{error}<form method="post" action="/login"><input type="hidden" name="next" value="{next}">'
        '<label for="token">API token</label><input id="token" name="token" type="password"'
        ' autocomplete="current-password" required autofocus>'
        '<button class="primary" type="submit">Log in</button></form></div>',
        error=html('<p class="error" role="alert">{}</p>', error) if error else Markup(""),
        next=next_path,
    )
    return bare_page("Log in", body, status)


async def show_login(deps: Deps, request: ApiRequest) -> ApiResponse:
    target = local_target(request.arg("next"))
    if not login_required(deps) or current_session(deps, request) is not None:
        return redirect(target)
    return login_form(target)


async def log_in(deps: Deps, request: ApiRequest) -> ApiResponse:
    fields = form_fields(request)
    target = local_target(fields.get("next"))
    if not login_required(deps):
        return redirect(target)
    if not same_origin(request):
        return login_form(target, "Log in from ig's own page.", 403)
    if not sessions.token_valid(deps.settings, fields.get("token", "")):
        deps.log.warning("gallery: a log-in with a wrong token")
        return login_form(target, "That is not this service's API token.", 401)
    _, cookie = sessions.new_session(deps.settings, now(deps))
    return redirect(target, {"set-cookie": sessions.set_cookie(cookie, request.base_url)})


async def log_out(deps: Deps, request: ApiRequest) -> ApiResponse:
    if not sessions.csrf_valid(current_session(deps, request), csrf_given(request)):
        stale = html('<p class="error">The form was stale; <a href="/">go back</a>.</p>')
        return bare_page("Not logged out", stale, 403)
    return redirect("/login", {"set-cookie": sessions.clear_cookie(request.base_url)})
