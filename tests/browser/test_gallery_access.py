"""The gallery's access rules in Chromium: logging in with the token (and not with another), a
change without the page's CSRF token refused (from the page itself and from another site's form),
and an SVG carrying script that never runs, shown in the gallery or opened directly."""

from __future__ import annotations

import http.server
from collections.abc import Iterator

import pytest
from fixtures.servers import serve_in_background
from playwright.sync_api import expect

from browser.conftest import log_in_through_the_form

TOKEN = "browser-test-token"


def _tags(ig, artifact_id: str) -> list[str]:
    sql = "SELECT tag FROM artifact_tags WHERE artifact_seq = (SELECT seq FROM artifacts WHERE id = ?) ORDER BY tag"
    return [r["tag"] for r in ig.rows(sql, (artifact_id,))]


def test_logging_in_with_the_token_opens_the_gallery_and_keeps_the_session(serve_ig, open_page):
    ig = serve_ig(token=TOKEN)
    page = open_page(ig, "/usage", log_in=False)
    expect(page).to_have_url(f"{ig.url}/login?next=%2Fusage")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{ig.url}/usage")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (
        "ig_session",
        True,
        "Strict",
        False,  # plain HTTP on loopback
    )
    page.goto("/jobs")  # the session carries on
    expect(page).to_have_url(f"{ig.url}/jobs")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{ig.url}/login")
    page.goto("/")
    expect(page).to_have_url(f"{ig.url}/login?next=%2F")


def test_a_wrong_token_does_not_log_in(serve_ig, open_page, page_problems):
    ig = serve_ig(token=TOKEN)
    page_problems.expected.append("401")  # the refused log-in and API call, as Chromium logs them
    page = open_page(ig, "/", log_in=False)
    page.fill("input[name=token]", TOKEN + "-not")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("That is not this service's API token.")
    assert page.context.cookies() == []
    status = page.evaluate("fetch('/ui/v1/artifacts').then(r => r.status)")
    assert status == 401


def test_a_change_without_the_csrf_token_is_refused_in_the_browser(serve_ig, open_page, page_problems):
    ig = serve_ig(token=TOKEN)
    artifact_id = ig.make({"positivePrompt": "csrf", "width": 64, "height": 64}, tags=["kept:as-is"])["artifacts"][0][
        "id"
    ]
    page = open_page(ig, "/")
    page_problems.expected.append("403")  # the refused fetch is logged by Chromium
    refused = page.evaluate(
        """id => fetch(`/ui/v1/artifacts/${id}/tags`, {method: 'POST', headers: {'content-type': 'application/json'},
                 body: JSON.stringify({add: ['added:without-csrf']})}).then(r => r.status)""",
        artifact_id,
    )
    assert refused == 403
    assert _tags(ig, artifact_id) == ["kept:as-is"]
    # The page's own helper sends the token, and the same change goes through.
    accepted = page.evaluate(
        "id => ig.api('POST', `/v1/artifacts/${id}/tags`, {add: ['added:with-csrf']})", artifact_id
    )
    assert accepted == {"tags": ["added:with-csrf", "kept:as-is"]}
    assert _tags(ig, artifact_id) == ["added:with-csrf", "kept:as-is"]


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    """Another site: a page whose form posts to ig as soon as it loads."""

    target = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/link":  # a link to ig, as in a chat message
            body = f'<a id="to-ig" href="{self.target}">a shared view</a>'.encode()
        else:
            body = (
                f'<form id="f" method="post" action="{self.target}" enctype="text/plain">'
                '<input name=\'{"add":["added:by-another-site"],"x":"\' value=\'"}\'></form>'
                "<script>document.getElementById('f').submit()</script>"
            ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker_site() -> Iterator[type[_AttackerPage]]:
    handler = type("Attacker", (_AttackerPage,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://localhost:{server.server_address[1]}/"  # localhost vs 127.0.0.1: another site
    serve_in_background(server)
    yield handler
    server.shutdown()
    server.server_close()


def test_another_sites_form_cannot_change_anything(serve_ig, open_page, attacker_site, page_problems):
    ig = serve_ig(token=TOKEN)
    artifact_id = ig.make({"positivePrompt": "csrf", "width": 64, "height": 64}, tags=["kept:as-is"])["artifacts"][0][
        "id"
    ]
    page = open_page(ig, "/")  # logged in: the browser holds a session cookie for ig
    attacker_site.target = f"{ig.url}/ui/v1/artifacts/{artifact_id}/tags"
    page_problems.expected.append("401")
    with page.expect_response(attacker_site.target) as answer:
        page.goto(attacker_site.url)
    assert answer.value.status == 401  # SameSite=Strict: the cookie did not go with it
    assert _tags(ig, artifact_id) == ["kept:as-is"]


def test_a_link_from_another_site_opens_the_view_in_the_session_it_has(serve_ig, open_page, attacker_site):
    ig = serve_ig(token=TOKEN)
    page = open_page(ig, "/")
    attacker_site.target = f"{ig.url}/jobs?status=succeeded"
    page.goto(attacker_site.url + "link")
    page.click("#to-ig")
    expect(page).to_have_url(f"{ig.url}/jobs?status=succeeded")  # not the log-in: the cookie went on the reload
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.context.clear_cookies()
    page.goto(attacker_site.url + "link")
    page.click("#to-ig")
    expect(page).to_have_url(f"{ig.url}/login?next=%2Fjobs%3Fstatus%3Dsucceeded")


SVG_WITH_SCRIPT = b"""<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"
onload="console.log('svg-onload-ran')">
<script>console.log('svg-script-ran'); fetch('/ui/v1/artifacts', {method: 'DELETE'});</script>
<rect width="64" height="64" fill="#c33"/></svg>"""


def test_an_svg_with_a_script_never_runs(serve_ig, open_page):
    ig = serve_ig(token=TOKEN)
    upload = ig.api.post("/v1/uploads", content=SVG_WITH_SCRIPT, headers={"content-type": "image/svg+xml"})
    assert upload.status_code == 201, upload.text
    artifact_id = upload.json()["id"]
    page = open_page(ig, "/")
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(f"/artifacts/{artifact_id}")
    shown = page.locator(f'img[src*="/artifacts/{artifact_id}/content"]').first
    expect(shown).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 64", arg=shown.element_handle())
    assert page.locator("main svg script").count() == 0  # never inlined into the page
    # Opened directly, it is a download, not a document of ig's origin.
    with page.expect_download() as download:
        page.evaluate(
            "id => { const a = document.createElement('a'); a.href = `/ui/v1/artifacts/${id}/content`;"
            " document.body.append(a); a.click(); }",
            artifact_id,
        )
    assert download.value.suggested_filename == f"{artifact_id}.svg"
    page.goto("/")
    assert not [m for m in messages if "svg-" in m]
    assert ig.api.get(f"/v1/artifacts/{artifact_id}").json()["deleted_at"] is None


def test_logging_in_again_after_the_cookie_is_gone_asks_for_the_token(serve_ig, open_page):
    ig = serve_ig(token=TOKEN)
    page = open_page(ig, "/jobs")
    page.context.clear_cookies()
    page.goto("/jobs")
    expect(page).to_have_url(f"{ig.url}/login?next=%2Fjobs")
    log_in_through_the_form(page, TOKEN, "/jobs")
    expect(page).to_have_url(f"{ig.url}/jobs")
