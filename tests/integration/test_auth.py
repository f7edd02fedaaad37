"""Guarantee 9, auth: with ``IG_API_TOKEN`` set, every ``/v1`` route in ``ig.api.routes.ROUTER``
(iterated, so new routes are covered as they are added) refuses a request without the token or
with a wrong one, as 401 problem JSON with ``WWW-Authenticate``, and writes nothing. Webhooks
open only with their own job's token, never with the API token; signed content URLs open only
with a valid signature, and the API token is no signature."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
from fixtures.auth_requests import ANSWER_WITH_TOKEN, AUTH, PRESET, PUBLIC, REFUSED, TOKEN, request_for
from fixtures.payloads import IMAGE_JOB

from ig.api.routes import ROUTER


def _state(data_dir: Path) -> dict[str, Any]:
    """Every row of every table in ig's database and its queue, and every file under blobs/."""
    found: dict[str, Any] = {}
    for name in ("ig.sqlite3", "queue.sqlite3"):
        conn = sqlite3.connect(data_dir / name)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                found[f"{name}:{table}"] = sorted(map(repr, conn.execute(f'SELECT * FROM "{table}"')))
        finally:
            conn.close()
    blobs = data_dir / "blobs"
    found["files"] = sorted(
        (str(p.relative_to(blobs)), hashlib.sha256(p.read_bytes()).hexdigest()) for p in blobs.rglob("*") if p.is_file()
    )
    return found


async def _quiet(ig, job_id: str) -> None:
    """Wait for the job to finish and the queue to empty, so nothing changes on its own."""
    assert (await ig.client.get(f"/v1/jobs/{job_id}", params={"wait": 20}, headers=AUTH)).json()[
        "status"
    ] == "succeeded"
    deadline = time.monotonic() + 20
    while ig.runtime.queue.pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert ig.runtime.queue.pending() == 0


def _assert_401(response: httpx.Response, path: str, what: str) -> None:
    assert response.status_code == 401, (what, response.status_code, response.text)
    assert response.headers["www-authenticate"] == 'Bearer realm="ig"', what
    assert response.headers["content-type"] == "application/problem+json", what
    if response.request.method != "HEAD":
        problem = response.json()
        assert (problem["status"], problem["code"], problem["instance"]) == (401, "unauthorized", path), what
        assert problem["type"].endswith("/unauthorized") and problem["title"], what


async def test_guarantee_9_every_v1_route_refuses_requests_without_the_api_token(start_ig, fake_runware, figure):
    ig = await start_ig(fake_runware, api_token=TOKEN)
    created = await ig.submit(IMAGE_JOB, headers=AUTH)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    await _quiet(ig, job_id)
    artifact_id = ig.rows("SELECT id FROM artifacts WHERE job_id = ? ORDER BY id", (job_id,))[0]["id"]
    assert (await ig.client.put("/v1/presets/auth-preset", json=PRESET, headers=AUTH)).status_code == 201
    ids = {"job_id": job_id, "artifact_id": artifact_id, "name": "auth-preset"}

    outside = {r.pattern for r in ROUTER.routes if not r.pattern.startswith("/v1/")}
    assert outside == PUBLIC, "a route outside /v1 is public: add it to PUBLIC only if it must be"
    routes = [r for r in ROUTER.routes if r.pattern.startswith("/v1/")]
    submissions = len(fake_runware.requests)
    before = _state(ig.data_dir)

    attempts: list[tuple[str, str, str, dict[str, Any]]] = []
    for route in routes:
        spec = request_for(route, ids)
        path = spec.pop("path")
        for method in [route.method, "HEAD"] if route.method == "GET" else [route.method]:
            for case, headers in REFUSED.items():
                kwargs = {**spec, "headers": {**spec.get("headers", {}), **headers}}
                if case == "token as a query parameter":
                    attempts += [
                        (f"{method} {route.pattern}: ?{n}=", method, path, {**kwargs, "params": {n: TOKEN}})
                        for n in ("token", "access_token")
                    ]
                else:
                    attempts.append((f"{method} {route.pattern}: {case}", method, path, kwargs))
    limit = asyncio.Semaphore(16)

    async def refuse(what: str, method: str, path: str, kwargs: dict[str, Any]) -> None:
        async with limit:
            _assert_401(await ig.client.request(method, path, **kwargs), path, what)

    await asyncio.gather(*(refuse(*attempt) for attempt in attempts))
    refused = len(attempts)

    assert _state(ig.data_dir) == before, "a refused request changed ig's database, queue or blobs"
    assert len(fake_runware.requests) == submissions, "a refused request reached the provider"

    # With the token each of these requests reaches its route's handler: reads first, deletes last.
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    for route in sorted(routes, key=lambda r: order.get(r.method, 1)):
        spec = request_for(route, ids)
        path = spec.pop("path")
        spec["headers"] = {**spec.get("headers", {}), **AUTH}
        assert ROUTER.match(route.method, path)[0] is route
        response = await ig.client.request(route.method, path, **spec)
        expected = ANSWER_WITH_TOKEN.get((route.method, route.pattern))
        assert expected is not None, f"{route.method} {route.pattern}: add its answer to ANSWER_WITH_TOKEN"
        assert response.status_code == expected, (route.method, route.pattern, response.status_code, response.text)

    figure(
        "guarantee 9",
        f"{len(routes)} /v1 routes x {len(REFUSED)} credential cases (GET also as HEAD, query tokens as "
        f"?token= and ?access_token=): {refused} requests refused 401 with WWW-Authenticate, 0 rows/blobs written",
    )


async def test_guarantee_9_webhooks_open_only_with_their_own_job_token(start_ig, fake_runware, figure):
    ig = await start_ig(fake_runware, api_token=TOKEN)
    fake_runware.drop_webhooks = True  # the test delivers them
    first = (await ig.submit({**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}}, headers=AUTH)).json()
    other = (await ig.submit({**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}}, headers=AUTH)).json()
    task = fake_runware.tasks[first["id"]]
    token = task["webhookURL"].rsplit("/", 1)[-1]
    other_token = fake_runware.tasks[other["id"]]["webhookURL"].rsplit("/", 1)[-1]
    assert token and other_token and token != other_token and TOKEN not in (token, other_token)
    [item] = fake_runware.results_for(task)
    before = _state(ig.data_dir)

    cases = {
        "the API token as the webhook token": (TOKEN, {}),
        "the API token as the webhook token, with the bearer header": (TOKEN, AUTH),
        "a wrong webhook token": ("0" * len(token), {}),
        "a wrong webhook token, with the bearer header": ("0" * len(token), AUTH),
        "another job's webhook token": (other_token, {}),
        "its token with a character more": (token + "x", {}),
        "its token with a character less": (token[:-1], {}),
    }
    for case, (given, headers) in cases.items():
        response = await ig.client.post(f"/webhooks/runware/{first['id']}/{given}", json=item, headers=headers)
        assert response.status_code == 404, (case, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json", case
    # the job's own token on another job opens nothing either
    response = await ig.client.post(f"/webhooks/runware/{other['id']}/{token}", json=item)
    assert response.status_code == 404
    assert _state(ig.data_dir) == before, "a refused webhook changed ig's database, queue or blobs"

    accepted = await ig.client.post(f"/webhooks/runware/{first['id']}/{token}", json=item)
    assert accepted.status_code == 200 and accepted.json() == {"received": True}
    job = (await ig.client.get(f"/v1/jobs/{first['id']}", params={"wait": 20}, headers=AUTH)).json()
    assert job["status"] == "succeeded" and len(job["artifacts"]) == 1
    [event] = ig.rows("SELECT * FROM provider_events WHERE source = 'webhook'")
    assert event["job_id"] == first["id"]
    figure("guarantee 9", f"webhooks: {len(cases) + 1} wrong tokens refused 404, nothing written; own token 200")


async def test_guarantee_9_signed_content_urls_open_only_with_a_valid_signature(start_ig, fake_runware, figure):
    ig = await start_ig(fake_runware, api_token=TOKEN)
    job_id = (await ig.submit(IMAGE_JOB, headers=AUTH)).json()["id"]
    await _quiet(ig, job_id)
    [a, b] = ig.rows("SELECT id, blob_key, sha256 FROM artifacts WHERE job_id = ? ORDER BY id", (job_id,))
    signed = (await ig.client.get(f"/v1/artifacts/{a['id']}/url", headers=AUTH)).json()
    url = httpx.URL(signed["url"])
    expires, sig = url.params["expires"], url.params["sig"]
    path = f"/v1/artifacts/{a['id']}/content"
    stored = (ig.data_dir / "blobs" / a["blob_key"]).read_bytes()

    opened = await ig.client.get(path, params={"expires": expires, "sig": sig})
    assert opened.status_code == 200 and opened.content == stored
    assert hashlib.sha256(opened.content).hexdigest() == a["sha256"]
    head = await ig.client.head(path, params={"expires": expires, "sig": sig})
    assert head.status_code == 200 and head.headers["content-length"] == str(len(stored))

    b_sig = httpx.URL((await ig.client.get(f"/v1/artifacts/{b['id']}/url", headers=AUTH)).json()["url"]).params["sig"]
    past = str(int(time.time()) - 60)
    forbidden = {
        "the API token as sig": {"expires": expires, "sig": TOKEN},
        "the API token as sig, without expires": {"sig": TOKEN},
        "another artifact's sig": {"expires": expires, "sig": b_sig},
        "a changed expires": {"expires": str(int(expires) + 1), "sig": sig},
        "no expires": {"sig": sig},
        "an empty sig": {"expires": expires, "sig": ""},
        "a sig with a character changed": {"expires": expires, "sig": ("A" if sig[0] != "A" else "B") + sig[1:]},
        "an expired sig": {"expires": past, "sig": sig},
    }
    for case, params in forbidden.items():
        for headers in ({}, {"authorization": "Bearer wrong"}):
            response = await ig.client.get(path, params=params, headers=headers)
            assert response.status_code == 403, (case, headers, response.status_code, response.text)
            assert response.headers["content-type"] == "application/problem+json" and stored not in response.content
    unauthorized = {
        "no sig at all": {},
        "only expires": {"expires": expires},
        "the API token as ?token=": {"token": TOKEN},
    }
    for case, params in unauthorized.items():
        _assert_401(await ig.client.get(path, params=params), path, case)
    # a valid signature opens that one content route, no other
    for other in (f"/v1/artifacts/{a['id']}", f"/v1/artifacts/{a['id']}/url", f"/v1/artifacts/{a['id']}/lineage"):
        _assert_401(await ig.client.get(other, params={"expires": expires, "sig": sig}), other, other)
    deleting = await ig.client.delete(f"/v1/artifacts/{a['id']}", params={"expires": expires, "sig": sig})
    _assert_401(deleting, f"/v1/artifacts/{a['id']}", "DELETE with a signature")
    assert ig.rows("SELECT deleted_at FROM artifacts WHERE id = ?", (a["id"],)) == [{"deleted_at": None}]
    figure(
        "guarantee 9",
        f"signed URLs: valid signature 200 (bytes equal the blob); {2 * len(forbidden)} bad signatures 403, "
        f"{len(unauthorized) + 4} unsigned or other-route requests 401",
    )
