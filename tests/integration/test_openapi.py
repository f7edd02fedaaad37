"""The published contract against a running ig: ``GET /openapi.json`` describes what ig really
answers (real responses validate against both ``ig.api.schemas`` and the document's own
schemas, formats included, and carry the headers it declares and no undeclared one a client
acts on), it is the same whatever ig's settings, ``GET /docs`` renders it, and both are public.
The document itself (valid OpenAPI 3.1, exactly the routes ig serves, not imported at a Worker's
cold start) is checked without a server in ``tests/unit/test_openapi_document.py``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jsonschema
from fixtures import media_samples
from fixtures.fake_runware import SubmitScript
from fixtures.payloads import IMAGE_JOB, MOCK_JOB

from ig.api import openapi, routes, schemas
from ig.api.routes import ROUTER

JSON_TYPES = ("application/json", "application/problem+json")
WATCHED_HEADERS = {name.lower() for name in openapi.RESPONSE_HEADERS} - {"content-length"} | {"retry-after"}
"""Headers a client acts on: when ig sends one, the document must declare it for that answer.
(Every answer has a Content-Length, from the transport; it is declared where a client needs it.)"""


class Contract:
    """Checks real answers against the document ig served and the models it was built from."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(self, response: httpx.Response, status: int) -> Any:
        """The answer's JSON (or None), after checking that ``status`` is what it is, that the route
        documents that status, and that the body validates against the documented schema and the
        ``ig.api.schemas`` model (``extra="forbid"``: a field the view added or dropped fails here)."""
        assert response.status_code == status, response.text
        route, _ = ROUTER.match(response.request.method, response.request.url.path)
        responses = self.document["paths"][route.pattern][route.method.lower()]["responses"]
        assert str(status) in responses, f"{route.method} {route.pattern} answered an undocumented {status}"
        self.checked.add((route.method, route.pattern, status))
        self._check_headers(response, responses[str(status)].get("headers", {}))
        content = responses[str(status)].get("content")
        if content is None:
            assert response.content == b""
            return None
        media_type = response.headers["content-type"].split(";")[0]
        if media_type not in JSON_TYPES:
            assert media_type in content or "*/*" in content
            return None
        assert media_type in content, f"{route.method} {route.pattern} answered {media_type}, documented {content}"
        reference = content[media_type]["schema"]["$ref"]
        body = response.json()
        name = reference.rsplit("/", 1)[1]
        getattr(schemas, name).model_validate(body)
        schema = {"$ref": reference, "components": self.document["components"]}
        validator = jsonschema.Draft202012Validator
        validator(schema, format_checker=validator.FORMAT_CHECKER).validate(body)
        return body

    def _check_headers(self, response: httpx.Response, declared: dict[str, Any]) -> None:
        """Each declared header is sent when it is required and matches its schema when sent; each
        watched header sent is declared."""
        by_name = {name.lower(): header for name, header in declared.items()}
        for name, header in by_name.items():
            if name not in response.headers:
                assert not header["required"], f"{response.request.url} answered without {name}"
                continue
            value: Any = response.headers[name]
            if header["schema"]["type"] == "integer":
                value = int(value)
            jsonschema.Draft202012Validator(header["schema"]).validate(value)
        undeclared = {name for name in response.headers if name in WATCHED_HEADERS} - by_name.keys()
        assert not undeclared, f"{response.request.url} answered {response.status_code} with undeclared {undeclared}"


# ------------------------------------------------------------------------------------ real answers


async def test_real_answers_match_the_contract(start_ig, fake_runware):
    fake_runware.polls_before_done = 10**9  # a Runware job stays open: it can always be cancelled
    ig = await start_ig(
        fake_runware, webhooks=False, callback_secret="whsec_" + "A" * 32, callback_retry_seconds=(3600,)
    )
    check = Contract((await ig.client.get("/openapi.json")).json())
    get, post = ig.client.get, ig.client.post

    check(await get("/healthz"), 200)
    check(await get("/openapi.json"), 200)
    check(await get("/v1/tasks"), 200)
    check(await get("/v1/providers"), 200)
    check(await get("/v1/models", params={"task": "imageInference"}), 200)

    created = check(await ig.submit(MOCK_JOB), 202)
    job = check(await get(f"/v1/jobs/{created['id']}", params={"wait": 20}), 200)
    assert job["status"] == "succeeded" and job["artifacts"]
    [output] = job["artifacts"]
    check(await get(f"/v1/artifacts/{output['id']}"), 200)
    aliased = check(await ig.submit({**MOCK_JOB, "model": "flux-schnell", "task": None}), 202)
    assert check(await get(f"/v1/jobs/{aliased['id']}", params={"wait": 20}), 200)["model_alias"] == "flux-schnell"

    content = await get(output["content_url"])
    check(content, 200)
    check(await ig.client.post("/v1/jobs", json=MOCK_JOB, headers={"prefer": "wait=20"}), 200)
    check(await get(output["content_url"], headers={"range": "bytes=0-9"}), 206)
    check(await get(output["content_url"], headers={"if-none-match": f'"{output["sha256"]}"'}), 304)
    check(await get(output["content_url"], headers={"range": f"bytes={output['size']}-"}), 416)
    signed = check(await get(f"/v1/artifacts/{output['id']}/url", params={"expires_in": 60}), 200)
    check(await get(signed["url"]), 200)
    await ig.drained()  # the thumbnail is made
    thumbnail = check(await get(f"/v1/artifacts/{output['id']}"), 200)["thumbnail_url"]
    check(await get(thumbnail), 200)
    check(await get(thumbnail, headers={"range": "bytes=0-9"}), 206)
    check(await get(thumbnail, headers={"if-none-match": (await get(thumbnail)).headers["etag"]}), 304)
    check(await get(thumbnail, headers={"range": "bytes=999999-"}), 416)
    signed = check(await get(f"/v1/artifacts/{output['id']}/url", params={"rendition": "thumbnail"}), 200)
    check(await get(signed["url"]), 200)

    upload = check(
        await post("/v1/uploads?tag=mine", content=content.content, headers={"content-type": "image/png"}), 201
    )
    assert upload["role"] == "input" and upload["provenance"]["uploaded_at"]
    check(await post("/v1/uploads", content=content.content, headers={"content-type": "image/png"}), 200)
    multipart = await post("/v1/uploads", files={"file": ("fox.png", content.content, "image/png")})
    check(multipart, 200)
    check(await post("/v1/uploads", content=b"not media", headers={"content-type": "text/plain"}), 415)
    edit = {**MOCK_JOB, "params": {**MOCK_JOB["params"], "seedImage": f"artifact:{upload['id']}"}}
    child = check(await ig.submit(edit), 202)
    child = check(await get(f"/v1/jobs/{child['id']}", params={"wait": 20}), 200)
    lineage = check(await get(f"/v1/artifacts/{child['artifacts'][0]['id']}/lineage"), 200)
    assert [a["id"] for a in lineage["parents"]] == [upload["id"]]
    check(await get(f"/v1/artifacts/{upload['id']}/lineage"), 200)

    check(await post(f"/v1/artifacts/{output['id']}/tags", json={"add": ["best"], "remove": ["fox"]}), 200)
    check(await post(f"/v1/jobs/{job['id']}/tags", json={"add": ["reviewed"]}), 200)
    check(await get("/v1/tags", params={"prefix": "b", "limit": 1}), 200)
    check(await get("/v1/artifacts", params={"tag": "best", "kind": "image", "limit": 1}), 200)
    page = check(await get("/v1/artifacts", params={"limit": 1}), 200)
    check(await get("/v1/artifacts", params={"cursor": page["next_cursor"], "role": "input", "nsfw": "false"}), 200)
    check(await get("/v1/jobs", params={"status": "succeeded", "limit": 2}), 200)
    for group in ("day", "model", "tag"):
        check(await get("/v1/usage", params={"group_by": group}), 200)

    preset = {
        "task": "imageInference",
        "model": "mock",
        "provider": "mock",
        "params": {"positivePrompt": "a {animal}", "width": 64, "height": 64},
    }
    check(await ig.client.put("/v1/presets/fox", json=preset), 201)
    check(await ig.client.put("/v1/presets/fox", json={**preset, "description": "foxes"}), 200)
    from_preset = check(await ig.submit({"preset": "fox", "variables": {"animal": "fox"}}), 202)
    assert from_preset["preset"] == {"name": "fox", "version": 2}
    check(await get(f"/v1/jobs/{from_preset['id']}", params={"wait": 20}), 200)
    check(await get("/v1/presets"), 200)
    check(await ig.client.delete("/v1/presets/fox"), 204)
    assert check(await get("/v1/presets/fox", params={"version": 1}), 200)["created_at"] is None
    check(await get("/v1/presets/fox"), 404)

    bad_item = {**MOCK_JOB, "params": {"width": "wide"}}
    batch = check(await post("/v1/jobs/batch", json={"jobs": [MOCK_JOB, bad_item]}), 200)
    assert "job" in batch["items"][0] and batch["items"][1]["error"]["errors"]

    # Callbacks to a path of ig itself that answers 404: a failed attempt, logged and redeliverable.
    wants_callback = {**MOCK_JOB, "callback_url": f"{ig.url}/nowhere", "callback_events": ["job.succeeded"]}
    called = check(await post("/v1/jobs", json=wants_callback, headers={"prefer": "wait=20"}), 200)
    for _ in range(100):
        deliveries = check(await get(f"/v1/jobs/{called['id']}/deliveries"), 200)
        if deliveries["items"] and deliveries["items"][0]["attempts"]:
            break
        await asyncio.sleep(0.1)
    assert deliveries["items"][0]["attempts"][0]["status_code"] == 404
    check(await post(f"/v1/jobs/{called['id']}/deliveries/redeliver"), 202)
    check(await post(f"/v1/jobs/{called['id']}/cancel"), 409)
    replayed = {"idempotency-key": "contract-1"}
    first = check(await post("/v1/jobs", json=IMAGE_JOB, headers=replayed), 202)
    assert check(await post(f"/v1/jobs/{first['id']}/cancel"), 200)["status"] == "cancelled"
    assert check(await post("/v1/jobs", json=IMAGE_JOB, headers=replayed), 202)["id"] == first["id"]
    check(await post("/v1/jobs", json={**IMAGE_JOB, "tags": ["other"]}, headers=replayed), 422)

    check(await ig.client.delete(f"/v1/artifacts/{output['id']}"), 204)
    assert check(await get(f"/v1/artifacts/{output['id']}"), 200)["deleted_at"]
    check(await get(output["content_url"]), 410)

    problem = check(await ig.submit({"task": 5, "model": "mock", "surprise": True}), 422)
    assert [e["field"] for e in problem["errors"]] == ["task", "surprise"]
    check(await get("/v1/jobs/nope"), 404)
    check(await get("/v1/artifacts", params={"limit": 0, "kind": "hologram"}), 422)
    check(await get(f"/v1/jobs/{job['id']}", params={"wait": 61}), 422)
    check(await post("/v1/jobs", content=b"{" + b" " * (1024 * 1024) + b"}"), 413)
    schemas.Problem.model_validate((await ig.client.delete("/v1/jobs")).json())  # 405: any route's "default"

    answered = {(method, pattern) for method, pattern, _ in check.checked}
    public = {  # checked in the tests below
        ("POST", "/webhooks/runware/{job_id}/{token}"),
        ("POST", "/webhooks/fal/{job_id}/{token}"),
        ("POST", "/webhooks/replicate/{job_id}/{token}"),
        ("GET", "/docs"),
    }
    assert answered | public == {(r.method, r.pattern) for r in ROUTER.routes}


async def test_provider_refusals_failed_jobs_and_webhooks_match_the_contract(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    check = Contract((await ig.client.get("/openapi.json")).json())
    error = {"code": "invalidParameter", "message": "width must be a multiple of 64", "parameter": "width"}
    fake_runware.submit_script = [
        SubmitScript(400, {"errors": [error]}),
        SubmitScript(402, {"errors": [{"code": "insufficientCredits", "message": "Not enough credits"}]}),
    ]
    refused = check(await ig.submit(IMAGE_JOB), 422)
    assert refused["job_id"] and refused["provider_error"]["code"] == "invalidParameter"
    failed = check(await ig.client.get(f"/v1/jobs/{refused['job_id']}"), 200)
    assert failed["status"] == "failed" and failed["error"]["provider_error"] == error
    assert check(await ig.submit(IMAGE_JOB), 502)["provider_error"]["code"] == "insufficientCredits"

    job = check(await ig.submit(IMAGE_JOB), 202)
    assert check(await ig.client.get(f"/v1/jobs/{job['id']}", params={"wait": 20}), 200)["status"] == "succeeded"
    [row] = ig.rows("SELECT webhook_token FROM jobs WHERE id = ?", (job["id"],))
    [event] = ig.rows("SELECT body FROM provider_events WHERE job_id = ? AND source = 'webhook' LIMIT 1", (job["id"],))
    webhook = f"/webhooks/runware/{job['id']}/{row['webhook_token']}"
    check(await ig.client.post(webhook, content=event["body"]), 200)  # a duplicate: harmless
    check(await ig.client.post(f"/webhooks/runware/{job['id']}/wrong", content=event["body"]), 404)
    check(await ig.client.post(webhook, content=b"42"), 400)


async def test_fal_webhooks_and_cancel_match_the_contract(start_ig, fake_fal):
    ig = await start_ig(
        None,
        fal_key=fake_fal.api_key,
        fal_queue_url=fake_fal.queue_url,
        fal_api_url=fake_fal.api_url,
        fal_jwks_url=fake_fal.jwks_url,
    )
    check = Contract((await ig.client.get("/openapi.json")).json())
    fake_fal.hold_new = True
    job = check(await ig.submit({"model": "flux-schnell", "provider": "fal", "params": {"prompt": "x"}}), 202)
    [request] = fake_fal.requests.values()
    [row] = ig.rows("SELECT webhook_token FROM jobs WHERE id = ?", (job["id"],))
    webhook = f"/webhooks/fal/{job['id']}/{row['webhook_token']}"
    body = json.dumps({"request_id": request.request_id, "status": "OK", "payload": {}}).encode()
    unsigned = await ig.client.post(webhook, content=body)
    assert check(unsigned, 401)["code"] == "bad_signature" and "www-authenticate" not in unsigned.headers
    check(await ig.client.post(f"/webhooks/fal/{job['id']}/wrong", content=body), 404)
    check(await ig.client.post(webhook, content=body, headers=fake_fal.sign(body, request.request_id)), 200)
    other = json.dumps({"request_id": "another", "status": "OK", "payload": {}}).encode()
    check(await ig.client.post(webhook, content=other, headers=fake_fal.sign(other, "another")), 400)
    cancelled = check(await ig.client.post(f"/v1/jobs/{job['id']}/cancel"), 200)
    assert cancelled["provider_cancel"]["requested"] is True


# ------------------------------------------------------------------------------------ docs and auth


async def test_docs_render_every_operation_as_self_contained_html(start_ig):
    ig = await start_ig(None, webhooks=False)
    document = (await ig.client.get("/openapi.json")).json()
    response = await ig.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = response.text
    for path, item in document["paths"].items():
        assert f"<code>{path}</code>" in page, path
        for operation in item.values():
            assert f'id="op-{operation["operationId"]}"' in page
    for field in ("positivePrompt", "next_cursor", "provenance", "errors"):
        assert f"<code>{field}</code>" in page
    assert '<a href="/openapi.json">' in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert (await ig.client.head("/docs")).status_code == 200


async def test_the_documentation_is_public_while_the_api_keeps_its_token(start_ig):
    ig = await start_ig(None, webhooks=False, api_token="s3cret")
    opened = await ig.client.get("/openapi.json")
    assert opened.status_code == 200
    document = opened.json()
    check = Contract(document)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/v1/jobs"]["post"]["security"] == [{"bearer": []}]
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    assert (await ig.client.get("/docs")).status_code == 200
    assert check(await ig.client.get("/v1/jobs"), 401)["code"] == "unauthorized"
    check(await ig.client.get("/v1/jobs", headers={"authorization": "Bearer s3cret"}), 200)


async def test_the_document_is_the_same_whatever_the_settings(start_ig, fake_runware):
    bare = await start_ig(None, webhooks=False, mock_provider=False)
    configured = await start_ig(fake_runware, webhooks=False, mock_provider=True, api_token="s3cret")
    host = {"host": "ig.test"}  # servers names the URL the request used: the same for both
    served = [(await ig.client.get("/openapi.json", headers=host)).content for ig in (bare, configured)]
    assert served[0] == served[1]
    assert json.loads(served[0])["servers"] == [{"url": "http://ig.test"}]


async def test_every_documented_upload_type_is_taken(start_ig):
    ig = await start_ig(None, webhooks=False)
    check = Contract((await ig.client.get("/openapi.json")).json())
    quicktime = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + bytes(64)  # ig checks the magic number only
    samples = {
        "image/png": media_samples.png(),
        "image/jpeg": media_samples.jpeg(),
        "image/webp": media_samples.webp(),
        "image/gif": media_samples.gif(),
        "image/svg+xml": media_samples.svg(),
        "audio/mpeg": media_samples.mp3(),
        "audio/wav": media_samples.wav(),
        "audio/flac": media_samples.flac(),
        "audio/ogg": media_samples.ogg_vorbis(),
        "video/mp4": media_samples.mp4(),
        "video/webm": media_samples.webm(),
        "video/quicktime": quicktime,
    }
    assert list(samples) == list(routes.UPLOAD_TYPES)
    for media_type, sample in samples.items():
        uploaded = check(await ig.client.post("/v1/uploads", content=sample, headers={"content-type": media_type}), 201)
        assert uploaded["content_type"] == media_type
    stored = ig.rows("SELECT content_type FROM artifacts WHERE role = 'input' ORDER BY seq")
    assert [row["content_type"] for row in stored] == list(routes.UPLOAD_TYPES)
