"""Guarantee 8, fuzzing: Schemathesis reads the ``/openapi.json`` a running ig serves (whatever
routes it lists) and sends its operations thousands of generated requests, valid and invalid, over
real HTTP on loopback. No answer may be a 5xx, every answer must match what the document says
about its status, content type, headers and body, and every error must be RFC 9457 problem JSON,
including errors the document cannot list (a method a path does not serve).

Three passes, all deterministic (Schemathesis's coverage cases, then Hypothesis derandomized), so
a failure here fails the same way again:

- jobs: ``POST /v1/jobs`` with bodies drawn from each task's published ``params.<task>`` schema and
  one of its model aliases, on the mock provider and on the fake Runware, so that generated jobs
  get past validation and run (their views then show up in the listings the next pass reads);
- every operation, open API: path parameters often take the ids of real jobs, artifacts, presets
  and a webhook's secret, so requests reach the handlers' logic instead of stopping at 404;
- every operation of the document an ig with ``IG_API_TOKEN`` serves, with the token, and every
  fourth request again without it (a 401 problem for ``/v1``; 403 for a content URL whose ``sig``
  is wrong)."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from fixtures.fake_runware import FakeRunware, SubmitScript
from fixtures.payloads import MOCK_JOB, PNG, upload
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MIN_REQUESTS = 1000
FUZZ_EXAMPLES = 25  # Hypothesis cases per operation and generation mode, after the coverage cases
JOB_EXAMPLES = 150
REQUEST_TIMEOUT = 30
TOKEN = "fuzz-token"
PROBLEM_TYPE = "application/problem+json"
SCHEMA_CHECKS = (
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)


def _cursor(seq: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode().rstrip("=")


BAD_TIMES = ("0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00")  # valid, but outside datetime as UTC
PINNED: dict[str, list[dict[str, Any]]] = {
    "GET /v1/artifacts": [{"query": {"created_after": BAD_TIMES[0], "created_before": BAD_TIMES[1]}}],
    "GET /v1/jobs": [{"query": {"cursor": _cursor(10**30)}}, {"query": {"cursor": _cursor(-1)}}],
    "GET /v1/usage": [{"query": {"since": BAD_TIMES[0], "until": BAD_TIMES[1], "group_by": "day"}}],
    "GET /v1/artifacts/{artifact_id}/content": [
        {"headers": {"range": "bytes=0-" + "9" * 5000}},
        {"headers": {"range": "bytes=-" + "9" * 5000}},
        {"query": {"expires": "\u00b2", "sig": "x"}},
        {"query": {"expires": "9" * 5000, "sig": "x"}},
    ],
    "POST /v1/jobs": [
        {"body": b'{"provider": "mock", "task": "imageInference", "model": "mock", "params": {"n": %s}}' % constant}
        for constant in (b"NaN", b"Infinity", b"-Infinity", b"1e999")
    ],
    "PUT /v1/presets/{name}": [{"body": b'{"model": "flux-dev", "params": {"positivePrompt": "x", "n": NaN}}'}],
}
"""Requests generation rarely or never makes, kept because each once broke ig (a 5xx, or an
answer that was not JSON): the fuzzer's regression corpus, sent before the generated cases."""

OUTPUT_CAPS = {"width": 256, "height": 256, "numberResults": 2, "promptVersions": 2, "duration": 4, "fps": 8}
"""Upper bounds on generated jobs' outputs (inside what the schemas allow), to keep the run short."""


@schemathesis.serializer(
    "audio/mpeg", "audio/wav", "audio/flac", "audio/ogg", "video/mp4", "video/webm", "video/quicktime"
)
def media_bytes(ctx: Any, value: Any) -> bytes:
    """Upload bodies for ``audio/*`` and ``video/*`` (Schemathesis ships ``image/*`` itself): the
    generated value's bytes, or its JSON spelling."""
    return value if isinstance(value, bytes) else json.dumps(value, default=str).encode()


def problem_json(ctx: Any, response: schemathesis.Response, case: Case) -> None:
    """Every 4xx and 5xx is RFC 9457 problem JSON whose ``status`` is the response's."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    assert media_type == PROBLEM_TYPE, f"{response.status_code} answered as {media_type or 'no content type'}"
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"the problem is not JSON: {exc}") from None
    assert isinstance(body, dict), "the problem is not a JSON object"
    for name in ("type", "title", "detail", "code"):
        assert isinstance(body.get(name), str), f"the problem has no string {name!r}"
    assert body.get("status") == response.status_code, f"problem status {body.get('status')!r}"


def strict_json(ctx: Any, response: schemathesis.Response, case: Case) -> None:
    """JSON answers are RFC 8259 JSON: no ``NaN`` or ``Infinity``, which Python writes and reads
    but strict parsers (``JSON.parse``) refuse."""
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if media_type in ("application/json", PROBLEM_TYPE) and response.content and case.method.upper() != "HEAD":
        json.loads(response.content, parse_constant=_not_json)


def _not_json(constant: str) -> None:
    raise AssertionError(f"the answer holds {constant}, which is not JSON")


CHECKS = (not_a_server_error, *SCHEMA_CHECKS, strict_json, problem_json)


@dataclass
class Known:
    """Real values for path parameters, by name; ``DELETE`` takes its own so that the other
    operations still find live ids after the deletes."""

    values: dict[str, list[str]]
    deletable: dict[str, list[str]]
    webhook: dict[str, str]

    def pool(self, method: str, path: str, names: set[str]) -> list[dict[str, str]]:
        if path.startswith("/webhooks/"):
            return [self.webhook]
        source = self.deletable if method.upper() == "DELETE" else self.values
        if not names or not names <= source.keys():
            return []
        longest = max(len(source[name]) for name in names)
        return [{name: source[name][i % len(source[name])] for name in names} for i in range(longest)]


@dataclass
class Finding:
    operation: str
    check: str
    message: str
    curl: str


@dataclass
class Fuzz:
    sent: int = 0
    operations: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)

    def every_operation(
        self, document: dict[str, Any], base_url: str, known: Known, headers: dict[str, str] | None = None
    ) -> None:
        """Coverage cases (boundaries, wrong types, missing parts, other methods), each again with
        real path parameters, then Hypothesis's positive and negative cases."""
        schema = schemathesis.openapi.from_dict(document)
        send = Sender(self, base_url, headers)
        for result in schema.get_all_operations():
            operation = result.ok()
            self.operations.add(operation.label)
            pool = known.pool(operation.method, operation.path, {p.name for p in operation.path_parameters})
            modes = list(GenerationMode)
            for pinned in PINNED.get(operation.label, []):
                send(operation.Case(path_parameters=pool[0] if pool else None, media_type="application/json", **pinned))
            coverage = schema.config.generation_for(operation=operation, phase="coverage")
            cases = schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=coverage)
            for index, case in enumerate(cases):
                send(case)
                if pool:
                    case.path_parameters = {**(case.path_parameters or {}), **pool[index % len(pool)]}
                    send(case)
            for mode in modes:
                self.generate(operation.as_strategy(generation_mode=mode), FUZZ_EXAMPLES, pool, send)

    def jobs(self, document: dict[str, Any], base_url: str, aliases: dict[str, list[str]]) -> None:
        schema = schemathesis.openapi.from_dict(jobs_document(document, aliases))
        [operation] = [result.ok() for result in schema.get_all_operations()]
        self.generate(operation.as_strategy(), JOB_EXAMPLES, [], Sender(self, base_url, None))

    def generate(self, strategy: Any, examples: int, pool: list[dict[str, str]], send: Sender) -> None:
        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, pick=st.integers(0, len(pool)))
        def fuzz(case: Case, pick: int) -> None:
            if pick < len(pool):
                case.path_parameters = {**(case.path_parameters or {}), **pool[pick]}
            send(case)

        try:
            fuzz()
        except Unsatisfiable:  # nothing about the operation can be made invalid (no parameters or body)
            pass

    def count(self, *checks: Callable[..., Any]) -> int:
        names = {check.__name__ for check in checks}
        return sum(1 for finding in self.findings if finding.check in names)


@dataclass
class Sender:
    fuzz: Fuzz
    base_url: str
    headers: dict[str, str] | None
    sent: int = 0

    def __call__(self, case: Case) -> None:
        self.sent += 1
        self.exchange(case, self.headers)
        if self.headers and self.sent % 4 == 0:
            response = self.exchange(case, None)
            refused = {401, 403} if "sig" in (case.query or {}) else {401}  # a signed URL's signature is checked
            if response is not None and case.path.startswith("/v1/") and response.status_code not in refused:
                self.fuzz.findings.append(
                    Finding(case.operation.label, "auth", f"{response.status_code} without the token", self.curl(case))
                )

    def exchange(self, case: Case, headers: dict[str, str] | None) -> schemathesis.Response | None:
        self.fuzz.sent += 1
        try:
            response = case.call(
                base_url=self.base_url, session=self.fuzz.session, headers=headers, timeout=REQUEST_TIMEOUT
            )
        except requests.RequestException as exc:
            self.fuzz.findings.append(Finding(case.operation.label, "transport", repr(exc), self.curl(case)))
            return None
        self.fuzz.statuses[response.status_code] += 1
        for check in CHECKS:
            try:
                case.validate_response(response, checks=[check], headers=headers)
            except FailureGroup as group:
                message = "\n".join(str(failure) for failure in group.exceptions)[:2000]
                self.fuzz.findings.append(Finding(case.operation.label, check.__name__, message, self.curl(case)))
        return response

    def curl(self, case: Case) -> str:
        return case.as_curl_command(headers=self.headers, base_url=self.base_url)


def jobs_document(document: dict[str, Any], aliases: dict[str, list[str]]) -> dict[str, Any]:
    """The document narrowed to ``POST /v1/jobs`` whose body is a job of a known task: its
    ``params.<task>`` schema, one of its aliases, either provider. Outputs are capped small."""
    narrowed = copy.deepcopy(document)
    schemas = narrowed["components"]["schemas"]
    variants = []
    for name, schema in schemas.items():
        if not name.startswith("params."):
            continue
        task = name.removeprefix("params.")
        properties = schema.get("properties", {})
        caps = {
            key: {"maximum": max(cap, properties[key].get("minimum", 0))}
            for key, cap in OUTPUT_CAPS.items()
            if key in properties
        }
        variants.append(
            {
                "type": "object",
                "required": ["provider", "task", "model", "params"],
                "additionalProperties": False,
                "properties": {
                    "provider": {"enum": ["mock", "runware"]},
                    "task": {"const": task},
                    "model": {"enum": aliases.get(task) or ["runware:1@1"]},
                    "params": {"allOf": [{"$ref": f"#/components/schemas/{name}"}, {"properties": caps}]},
                    "tags": {"type": "array", "maxItems": 3, "items": {"enum": ["fuzz", "user:1", "channel:2"]}},
                },
            }
        )
    operation = narrowed["paths"]["/v1/jobs"]["post"]  # its headers stay: Idempotency-Key replays and conflicts
    operation["requestBody"]["content"] = {"application/json": {"schema": {"anyOf": variants}}}
    narrowed["paths"] = {"/v1/jobs": {"post": operation}}
    return narrowed


async def seed_library(ig: Any, fake: FakeRunware) -> Known:
    """Jobs in each terminal state, artifacts with lineage, a deleted artifact, presets live and
    deleted, and a job waiting on its webhook (with the webhook's secret)."""
    client = ig.client
    source = (await upload(ig, PNG, "image/png", tag="fuzz")).json()
    three = {**MOCK_JOB, "params": {**MOCK_JOB["params"], "numberResults": 3}}
    mock = await ig.wait((await ig.submit(three)).json()["id"])
    made_from = {
        "task": "imageInference",
        "model": "runware:101@1",
        "params": {"positivePrompt": "snow", "seedImage": f"artifact:{source['id']}", "width": 64, "height": 64},
        "tags": ["fuzz", "user:1"],
    }
    child = await ig.wait((await ig.submit(made_from)).json()["id"])
    refusal = {"code": "invalidPositivePrompt", "message": "bad prompt", "parameter": "positivePrompt"}
    fake.submit_script.append(SubmitScript(400, {"errors": [{**refusal, "taskType": "imageInference"}]}))
    refused = (await ig.submit(made_from)).json()
    assert {mock["status"], child["status"]} == {"succeeded"} and refused["job_id"], refused
    fake.drop_webhooks = True
    waiting = (await ig.submit({**made_from, "params": {"positivePrompt": "later", "width": 64, "height": 64}})).json()
    fake.drop_webhooks = False
    token = fake.tasks[waiting["id"]]["webhookURL"].rsplit("/", 1)[-1]

    kept, spare, dropped = mock["artifacts"]
    assert (await client.delete(f"/v1/artifacts/{dropped['id']}")).status_code == 204
    preset = {"model": "flux-schnell", "params": {"positivePrompt": "a {thing}"}, "tags": ["fuzz"]}
    for name in ("fuzz", "spare", "gone"):
        assert (await client.put(f"/v1/presets/{name}", json=preset)).status_code == 201
    assert (await client.delete("/v1/presets/gone")).status_code == 204
    finished = [mock["id"], child["id"], refused["job_id"]]  # ?wait= answers these at once
    return Known(
        values={
            "job_id": finished,
            "artifact_id": [source["id"], kept["id"], child["artifacts"][0]["id"], dropped["id"]],
            "name": ["fuzz", "gone"],
        },
        deletable={"job_id": finished, "artifact_id": [spare["id"], dropped["id"]], "name": ["spare", "gone"]},
        webhook={"job_id": waiting["id"], "token": token},
    )


async def test_fuzzing_finds_no_5xx_no_schema_violation_and_only_problem_errors(start_ig, fake_runware, figure):
    ig = await start_ig(fake_runware)
    known = await seed_library(ig, fake_runware)
    secured = await start_ig(fake_runware, api_token=TOKEN)
    secured.client.headers["authorization"] = f"Bearer {TOKEN}"
    secured_known = await seed_library(secured, fake_runware)
    document = (await ig.client.get("/openapi.json")).json()
    secured_document = (await secured.client.get("/openapi.json")).json()
    aliases: dict[str, list[str]] = defaultdict(list)
    for model in (await ig.client.get("/v1/models")).json()["items"]:
        aliases[model["task"]].append(model["name"])

    fuzz = Fuzz()
    started = time.monotonic()
    # blocking requests in a thread: both igs serve on this event loop
    await asyncio.to_thread(fuzz.jobs, document, ig.url, aliases)
    accepted = sum(count for status, count in fuzz.statuses.items() if 200 <= status < 300)
    await asyncio.to_thread(fuzz.every_operation, document, ig.url, known)
    auth = {"authorization": f"Bearer {TOKEN}"}
    await asyncio.to_thread(fuzz.every_operation, secured_document, secured.url, secured_known, auth)
    seconds = time.monotonic() - started

    server_errors = fuzz.count(not_a_server_error)
    schema_violations = fuzz.count(*SCHEMA_CHECKS, strict_json)
    figure(
        "guarantee 8",
        f"{fuzz.sent} requests over {len(fuzz.operations)} operations, {server_errors} server errors, "
        f"{schema_violations} schema violations, {fuzz.count(problem_json)} errors not problem JSON; "
        f"{accepted} of {JOB_EXAMPLES} generated jobs accepted; {seconds:.0f} s; "
        f"statuses {dict(sorted(fuzz.statuses.items()))}",
    )
    documented = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert fuzz.operations == documented
    assert fuzz.sent >= MIN_REQUESTS
    assert accepted >= JOB_EXAMPLES // 3  # the jobs pass reached past validation
    report = "\n\n".join(f"{f.operation} [{f.check}]\n{f.message}\n{f.curl}" for f in fuzz.findings[:20])
    assert not fuzz.findings, f"{len(fuzz.findings)} findings, the first:\n\n{report}"
