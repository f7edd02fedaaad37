"""The gallery on the Worker (Pyodide, Miniflare's D1 and R2): every page renders from D1, the
thumbnails it shows come from R2 through the session, changes need the CSRF token, and with
``IG_API_TOKEN`` the log-in gives a Secure session cookie."""

from __future__ import annotations

import io
import re

from PIL import Image

TOKEN = "worker-gallery-token"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 400), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _session(ig, path: str = "/") -> tuple[str, str, str]:
    """A page, the session cookie it set, and its CSRF token."""
    page = ig.fetch("GET", path)
    assert page.status == 200, page.text
    cookie = page.header("set-cookie").split(";")[0]
    return page.text, cookie, re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)


def test_the_gallery_shows_the_library_from_d1_and_thumbnails_from_r2(ig):
    ig.configure(IMAGES="1")
    upload = ig.fetch("POST", "/v1/uploads", body=_png(), headers={"content-type": "image/png"})
    artifact_id = upload.json()["id"]
    ig.drain()
    page, cookie, csrf = _session(ig)
    assert f"/ui/v1/artifacts/{artifact_id}/thumbnail" in page
    headers = dict(ig.fetch("GET", "/").headers)
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"

    thumbnail = ig.fetch("GET", f"/ui/v1/artifacts/{artifact_id}/thumbnail", headers={"cookie": cookie})
    [row] = ig.rows("SELECT thumbnail_key FROM artifacts WHERE id = ?", artifact_id)
    assert thumbnail.status == 200 and thumbnail.body == ig.blob(row["thumbnail_key"])["body"]
    assert thumbnail.header("cache-control") == "private, max-age=31536000, immutable"
    assert ig.fetch("GET", f"/ui/v1/artifacts/{artifact_id}/thumbnail").status == 401

    for path in (f"/artifacts/{artifact_id}", "/jobs", "/create", "/usage"):
        shown = ig.fetch("GET", path, headers={"cookie": cookie})
        assert shown.status == 200, (path, shown.text[:500])
        assert shown.header("content-type") == "text/html; charset=utf-8"
    assert artifact_id in ig.fetch("GET", f"/artifacts/{artifact_id}", headers={"cookie": cookie}).text

    tags = f"/ui/v1/artifacts/{artifact_id}/tags"
    refused = ig.fetch("POST", tags, json={"add": ["seen:worker"]}, headers={"cookie": cookie})
    assert refused.status == 403
    assert ig.artifact_tags(artifact_id) == []
    accepted = ig.fetch("POST", tags, json={"add": ["seen:worker"]}, headers={"cookie": cookie, "x-csrf-token": csrf})
    assert accepted.status == 200, accepted.text
    assert ig.artifact_tags(artifact_id) == ["seen:worker"]


def test_static_assets_are_served_by_the_worker(ig):
    page, _, _ = _session(ig)
    hrefs = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert {h.split("?")[0] for h in hrefs} >= {"/static/base.css", "/static/common.js", "/static/icon.svg"}
    for href in hrefs:
        asset = ig.fetch("GET", href)
        assert asset.status == 200 and asset.header("cache-control") == "public, max-age=31536000, immutable"
        assert len(asset.body) > 0


def test_with_a_token_the_worker_asks_for_it_and_gives_a_secure_session(ig):
    ig.configure(IG_API_TOKEN=TOKEN)
    first = ig.fetch("GET", "/usage")
    assert first.status == 303 and first.header("location") == "/login?next=%2Fusage"
    wrong = ig.fetch(
        "POST", "/login", body=f"token={TOKEN}x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert wrong.status == 401 and wrong.header("set-cookie") is None
    right = ig.fetch(
        "POST",
        "/login",
        body=f"token={TOKEN}&next=%2Fusage",
        headers={"content-type": "application/x-www-form-urlencoded", "origin": "http://ig.test"},
    )
    assert right.status == 303 and right.header("location") == "/usage"
    cookie = right.header("set-cookie")
    assert cookie.endswith("; HttpOnly; SameSite=Strict; Secure")  # not loopback: Secure
    assert ig.fetch("GET", "/usage", headers={"cookie": cookie.split(";")[0]}).status == 200
    assert ig.fetch("GET", "/v1/artifacts", headers={"cookie": cookie.split(";")[0]}).status == 401
