"""Who may use the gallery, over real HTTP: the log-in with the API token, the session cookie's
attributes, ``/ui/v1`` as the API behind the session and its CSRF token, the API's own bearer
rule unchanged, and the headers that keep pages and assets safe."""

from __future__ import annotations

import re
from contextlib import aclosing

import httpx
from fixtures.payloads import MOCK_JOB

from ig.gallery.assets import ASSETS
from ig.gallery.layout import CONTENT_SECURITY_POLICY

TOKEN = "gallery-test-token"


async def _logged_in(ig) -> tuple[httpx.AsyncClient, str]:
    """A browser-like client logged in through the form, and its page's CSRF token."""
    client = httpx.AsyncClient(base_url=ig.url, timeout=30)
    answer = await client.post("/login", data={"token": TOKEN, "next": "/jobs"}, headers={"origin": ig.url})
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs"
    page = await client.get("/")
    assert page.status_code == 200
    return client, re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)


async def _an_artifact(ig) -> str:
    job = await ig.submit(MOCK_JOB, headers={"authorization": f"Bearer {TOKEN}"})
    finished = (await ig.client.get(f"/v1/jobs/{job.json()['id']}", params={"wait": 15}, headers=_bearer())).json()
    return finished["artifacts"][0]["id"]


def _bearer() -> dict[str, str]:
    return {"authorization": f"Bearer {TOKEN}"}


async def test_with_a_token_pages_send_you_to_log_in_and_come_back_after(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    async with httpx.AsyncClient(base_url=ig.url) as client:
        first = await client.get("/jobs?status=failed")
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=%2Fjobs%3Fstatus%3Dfailed"
        assert "set-cookie" not in first.headers
        form = await client.get(first.headers["location"])
        assert form.status_code == 200 and 'name="token"' in form.text
        assert 'name="next" value="/jobs?status=failed"' in form.text
        answer = await client.post(
            "/login", data={"token": TOKEN, "next": "/jobs?status=failed"}, headers={"origin": ig.url}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/jobs?status=failed"
        cookie = answer.headers["set-cookie"]
        assert re.fullmatch(
            r"ig_session=s1\.\d+\.[\w-]+\.[\w-]+; Path=/; Max-Age=604800; HttpOnly; SameSite=Strict", cookie
        )
        assert (await client.get("/jobs")).status_code == 200


async def test_a_wrong_token_is_refused_and_gives_no_session(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    async with httpx.AsyncClient(base_url=ig.url) as client:
        answer = await client.post("/login", data={"token": TOKEN + "x", "next": "/"}, headers={"origin": ig.url})
        assert answer.status_code == 401
        assert "not this service" in answer.text
        assert "set-cookie" not in answer.headers
        assert (await client.get("/")).status_code == 303
        assert (await client.get("/ui/v1/artifacts")).status_code == 401


async def test_a_log_in_posted_from_another_site_is_refused(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    async with httpx.AsyncClient(base_url=ig.url) as client:
        for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
            answer = await client.post("/login", data={"token": TOKEN, "next": "/"}, headers=headers)
            assert answer.status_code == 403
            assert "set-cookie" not in answer.headers


async def test_the_next_page_after_log_in_is_always_on_this_site(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    async with httpx.AsyncClient(base_url=ig.url) as client:
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
            answer = await client.post("/login", data={"token": TOKEN, "next": target}, headers={"origin": ig.url})
            assert answer.headers["location"] == "/"


async def test_the_session_opens_the_api_under_ui_and_only_there(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    artifact_id = await _an_artifact(ig)
    client, _ = await _logged_in(ig)
    async with aclosing(client):
        through_session = await client.get("/ui/v1/artifacts")
        through_bearer = await ig.client.get("/v1/artifacts", headers=_bearer())
        assert through_session.status_code == 200
        assert through_session.json() == through_bearer.json()
        # The API's rule is unchanged: the cookie alone does not open /v1.
        assert (await client.get("/v1/artifacts")).status_code == 401
        # The bearer token does not open /ui: it is the session's.
        assert (await ig.client.get("/ui/v1/artifacts", headers=_bearer())).status_code == 401
        content = await client.get(f"/ui/v1/artifacts/{artifact_id}/content")
        assert content.status_code == 200 and content.content.startswith(b"\x89PNG")
        assert content.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert (await client.get("/ui/nothing")).status_code == 404


async def test_changes_through_ui_need_the_pages_csrf_token(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    artifact_id = await _an_artifact(ig)
    client, csrf = await _logged_in(ig)

    def tags() -> list[str]:
        sql = "SELECT tag FROM artifact_tags WHERE artifact_seq = (SELECT seq FROM artifacts WHERE id = ?) ORDER BY tag"
        return [r["tag"] for r in ig.rows(sql, (artifact_id,))]

    before = tags()
    async with aclosing(client):
        path = f"/ui/v1/artifacts/{artifact_id}/tags"
        for headers in ({}, {"x-csrf-token": csrf[:-2] + "xx"}):
            refused = await client.post(path, json={"add": ["kept:out"]}, headers=headers)
            assert refused.status_code == 403
            assert refused.headers["content-type"] == "application/problem+json"
        assert tags() == before
        accepted = await client.post(path, json={"add": ["picked:yes"]}, headers={"x-csrf-token": csrf})
        assert accepted.status_code == 200 and accepted.json() == {"tags": sorted([*before, "picked:yes"])}
        assert tags() == sorted([*before, "picked:yes"])


async def test_log_out_needs_the_csrf_token_and_clears_the_cookie(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    client, csrf = await _logged_in(ig)
    async with aclosing(client):
        assert (await client.post("/logout", data={"csrf": "wrong"})).status_code == 403
        assert (await client.get("/")).status_code == 200
        out = await client.post("/logout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert out.headers["set-cookie"].startswith("ig_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
        assert (await client.get("/")).status_code == 303


async def test_the_cookie_is_secure_when_ig_is_reached_over_https(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN, public_url="https://ig.example.com")
    async with httpx.AsyncClient(base_url=ig.url) as client:
        answer = await client.post("/login", data={"token": TOKEN}, headers={"origin": "https://ig.example.com"})
        assert answer.status_code == 303
        assert answer.headers["set-cookie"].endswith("; HttpOnly; SameSite=Strict; Secure")


async def test_without_a_token_the_gallery_is_open_but_changes_still_need_the_csrf_token(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True)
    artifact_id = (await ig.wait((await ig.submit(MOCK_JOB)).json()["id"]))["artifacts"][0]["id"]
    async with httpx.AsyncClient(base_url=ig.url) as client:
        page = await client.get("/")
        assert page.status_code == 200 and "set-cookie" in page.headers
        assert "Log out" not in page.text
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)
        path = f"/ui/v1/artifacts/{artifact_id}/tags"
        assert (await client.post(path, json={"add": ["a:b"]})).status_code == 403
        assert (await client.post(path, json={"add": ["a:b"]}, headers={"x-csrf-token": csrf})).status_code == 200
        assert (await client.get("/login")).headers["location"] == "/"


async def test_pages_and_assets_carry_their_safety_and_caching_headers(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True, api_token=TOKEN)
    client, _ = await _logged_in(ig)
    async with aclosing(client):
        for path in ("/", "/jobs", "/create", "/usage", "/login"):
            page = await client.get(path, follow_redirects=True)
            assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["cache-control"] == "no-store"
            assert "<script>" not in page.text and " style=" not in page.text and " onclick=" not in page.text
        for name, asset in ASSETS.items():
            current = await client.get(f"/static/{name}?v={asset.version}")
            assert current.status_code == 200 and current.text == asset.text
            assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert current.headers["content-type"] == asset.content_type
            stale = await client.get(f"/static/{name}?v=old")
            assert stale.headers["cache-control"] == "no-cache"
            assert (
                await client.get(f"/static/{name}", headers={"if-none-match": f'"{asset.version}"'})
            ).status_code == 304
        missing = await client.get("/static/nothing.js")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


async def test_a_navigation_from_another_site_without_the_cookie_is_asked_again_from_igs_own_page(start_ig):
    ig = await start_ig(None, webhooks=False, mock_provider=True)
    async with httpx.AsyncClient(base_url=ig.url) as client:
        arriving = await client.get("/jobs?status=failed", headers={"sec-fetch-site": "cross-site"})
        assert arriving.status_code == 200 and "set-cookie" not in arriving.headers
        assert '<meta http-equiv="refresh" content="0;url=/jobs?status=failed">' in arriving.text
        assert arriving.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        again = await client.get("/jobs?status=failed", headers={"sec-fetch-site": "same-origin"})
        assert again.status_code == 200 and "set-cookie" in again.headers
