"""The OpenAPI 3.1 document of ig's API, built from the route table (``ig.api.routes.ROUTER``) and the
models that serve it (``ig.api.schemas``, ``ig.jobs.requests``, the task catalogue), so it cannot list a
route that does not exist or miss one that does. Imported only by the ``/openapi.json`` and
``/docs`` handlers: schema generation costs a Worker cold start nothing until someone asks."""

from __future__ import annotations

import ast
import copy
import inspect
import json
import re
import textwrap
from functools import cache
from http import HTTPStatus
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ig.api import schemas
from ig.api.http import Route, Router
from ig.providers.runware import tasks

OPENAPI_VERSION = "3.1.0"
COMPONENT_REF = "#/components/schemas/{model}"
PROBLEM_TYPE = "application/problem+json"
BINARY = {"type": "string", "format": "binary"}
"""Raw bytes. ``format: binary`` (rather than OpenAPI 3.1's bare media type) is what code generators
read as a file: openapi-python-client's ``File`` and bytes, where a schema-less body is skipped."""
BINARY_ANSWER = {"application/octet-stream": {"schema": BINARY}, "*/*": {"schema": BINARY}}
"""Bytes under the file's own media type (``*/*``); ``application/octet-stream`` is listed first so
that generators that only know concrete types still return the bytes rather than try to parse them."""
TASK_PARAMS = "TaskParams"
"""The component for parameters of any task, under any names: ``JobRequest.params`` is one of the
``params.<task>`` schemas or this."""

TAGS = {
    "jobs": "Submit inference jobs and follow them.",
    "artifacts": "The library: every output and upload, with its provenance; content delivery; lineage.",
    "library": "Tags and usage across the library.",
    "catalogue": "The task types and model aliases ig knows.",
    "presets": "Named, versioned job templates.",
    "callbacks": "Signed events ig POSTs to a job's `callback_url` (Standard Webhooks), and their delivery log.",
    "webhooks": "Called by the provider, not by clients.",
    "service": "Health and this documentation.",
}
PATH_PARAMETERS = {
    "job_id": "The job's id (a UUID).",
    "artifact_id": "The artifact's id.",
    "name": "The preset's name: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit.",
    "token": "The job's webhook secret, issued in the webhook URL ig sent with the task.",
}
HEADER_RULES = {
    "Idempotency-Key": {"pattern": r"^[\x21-\x7e]{1,255}$"},  # what ig.jobs.idempotency.key_from accepts
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <IG_API_TOKEN>`. Enforced only when the server has `IG_API_TOKEN` "
        "set; without it every route is open.",
    },
    "signedUrl": {
        "type": "apiKey",
        "in": "query",
        "name": "sig",
        "description": "The signature of a URL from `GET /v1/artifacts/{artifact_id}/url` (with `expires`).",
    },
}
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "Location": {
        "description": "The path of the job, preset or artifact the answer is about.",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answers an earlier request with the same `Idempotency-Key`: "
        "nothing new was recorded or sent to the provider.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Preference-Applied": {
        "description": "`wait=N`: the `Prefer: wait` this answer honoured (RFC 7240), capped at 60.",
        "schema": {"type": "string", "pattern": "^wait=[0-9]+$"},
    },
    "ETag": {"description": "The content's sha256, quoted: a strong entity tag.", "schema": {"type": "string"}},
    "Content-Length": {"description": "Bytes in this answer's body.", "schema": {"type": "integer", "minimum": 0}},
    "Content-Range": {
        "description": "`bytes first-last/size` on 206; `bytes */size` on 416.",
        "schema": {"type": "string", "pattern": "^bytes ([0-9]+-[0-9]+|\\*)/[0-9]+$"},
    },
    "Accept-Ranges": {"description": "Ranges are served.", "schema": {"type": "string", "enum": ["bytes"]}},
    "Content-Disposition": {
        "description": "`inline` (`attachment` for types a browser would run) with a file name: "
        "`<artifact_id>.<extension>`.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`public, max-age=31536000, immutable`: an artifact's bytes never change.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {"description": '`Bearer realm="ig"`.', "schema": {"type": "string"}},
}
"""Headers ig sends that a client may act on."""
_CONTENT_HEADERS = {"ETag": True, "Cache-Control": True, "Accept-Ranges": True, "Content-Disposition": True}
SENT_HEADERS: dict[str, dict[int, dict[str, bool]]] = {
    "create_job": dict.fromkeys(
        (200, 202), {"Location": True, "Idempotent-Replayed": False, "Preference-Applied": False}
    ),
    "put_preset": dict.fromkeys((200, 201), {"Location": True}),
    "create_upload": dict.fromkeys((200, 201), {"Location": True}),
    **dict.fromkeys(
        ("get_artifact_content", "get_artifact_thumbnail"),
        {
            200: {**_CONTENT_HEADERS, "Content-Length": True},
            206: {**_CONTENT_HEADERS, "Content-Length": True, "Content-Range": True},
            304: _CONTENT_HEADERS,
            416: {"Content-Range": True},
        },
    ),
}
"""By operation (its handler's name) and status: the headers from ``RESPONSE_HEADERS`` the handler
sends, each with whether it always does. (401's ``WWW-Authenticate`` goes with the bearer token.)"""
PROBLEM_DESCRIPTIONS = {
    400: "The request is malformed.",
    401: "The bearer token is missing or wrong.",
    403: "The signature is wrong or has expired.",
    404: "Nothing by that id.",
    410: "The artifact was deleted (its provenance is still readable).",
    413: "The request body is too large.",
    415: "Not an image, audio or video type.",
    416: "The range lies outside the content.",
    422: "Some parameters or fields are wrong; `errors` lists every one.",
    502: "The provider refused the task; the job is recorded as failed.",
}


def document(router: Router, base_url: str) -> dict[str, Any]:
    """The document for a deployment: ``servers`` names the URL the client used, and nothing else
    depends on the deployment (with or without ``IG_API_TOKEN`` it is the same)."""
    body = _document(router)
    return {"openapi": body["openapi"], "info": body["info"], "servers": [{"url": base_url or "/"}], **body}


@cache
def _document(router: Router) -> dict[str, Any]:
    return build(router)


def build(router: Router) -> dict[str, Any]:
    """The document without ``servers``."""
    unknown = SENT_HEADERS.keys() - {route.handler.__name__ for route in router.routes}
    if unknown:
        raise ValueError(f"SENT_HEADERS names operations that are not routes: {', '.join(sorted(unknown))}")
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        paths.setdefault(route.pattern, {})[route.method.lower()] = _operation(route, components)
    components.add_task_parameters()
    components.finish()
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "ig",
            "version": _version(),
            "summary": "Generative-AI jobs through Runware, every output kept as an artifact with its provenance.",
            "description": "JSON in and out, snake_case. Errors are RFC 9457 problem details "
            "(`application/problem+json`) with a stable `code`; validation errors list every bad field "
            "under `errors`. Listings are newest first with keyset pagination (`next_cursor` → `cursor`). "
            "The parameters of each task type ig knows are the `params.<task>` schemas below (also served by "
            "`GET /v1/tasks`); other parameters and task types pass through to Runware.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {"schemas": components.schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _version() -> str:
    try:
        return metadata.version("ig")
    except metadata.PackageNotFoundError:  # the Worker ships ig as source, without package metadata
        return "unreleased"


def _operation(route: Route, components: _Components) -> dict[str, Any]:
    if route.tag not in TAGS:
        raise ValueError(f"{route.method} {route.pattern}: tag {route.tag!r} is not one of {', '.join(TAGS)}")
    if not route.summary:
        raise ValueError(f"{route.method} {route.pattern}: no summary")
    operation: dict[str, Any] = {"tags": [route.tag], "summary": route.summary, "operationId": route.handler.__name__}
    if route.description:
        operation["description"] = route.description
    parameters = [_path_parameter(name) for name in re.findall(r"\{(\w+)\}", route.pattern)]
    if route.query:
        parameters += _query_parameters(_model(route.query).model_json_schema())
    parameters += [
        {"name": name, "in": "header", "required": False, "description": text, "schema": _header_schema(name)}
        for name, text in route.headers
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        operation["requestBody"] = _request_body(route, components)
    operation["responses"] = _responses(route, components)
    if route.pattern.startswith("/v1/"):  # enforced only when IG_API_TOKEN is set; the document says so anyway
        operation["security"] = [{"bearer": []}, {"signedUrl": []}] if route.signed else [{"bearer": []}]
    else:  # health, documentation and provider webhooks are public
        operation["security"] = []
    return operation


def _path_parameter(name: str) -> dict[str, Any]:
    if name not in PATH_PARAMETERS:
        raise ValueError(f"path parameter {{{name}}} has no description in PATH_PARAMETERS")
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": PATH_PARAMETERS[name],
        "schema": {"type": "string"},
    }


def _header_schema(name: str) -> dict[str, Any]:
    return {"type": "string", **HEADER_RULES.get(name, {})}


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        field.pop("title", None)
        description = field.pop("description", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": field}
        if description:
            parameter["description"] = description
        if field.get("type") == "array":
            parameter["explode"] = True  # repeat the name: ?tag=a&tag=b
        parameters.append(parameter)
    return parameters


def _request_body(route: Route, components: _Components) -> dict[str, Any]:
    assert route.body is not None
    reference = components.reference(route.body)
    raw_types = [t for t in route.body_types if t not in ("application/json", "multipart/form-data")]
    content: dict[str, Any] = {}
    for media_type in route.body_types:
        if media_type == "application/json":
            content[media_type] = {"schema": reference}
        elif media_type == "multipart/form-data":
            # Each file part is sent as a file, under the types the raw body may have.
            properties = components.schema_of(route.body)["properties"]
            files = [name for name, field in properties.items() if field.get("format") == BINARY["format"]]
            part_type = ", ".join(raw_types) or "application/octet-stream"
            content[media_type] = {
                "schema": reference,
                "encoding": {name: {"contentType": part_type} for name in files},
            }
        else:
            content[media_type] = {"schema": BINARY}
    body: dict[str, Any] = {"required": True, "content": content}
    description = components.schema_of(route.body).get("description")
    if raw_types:
        description = " ".join(filter(None, ("The file's bytes, under their own `Content-Type`.", description)))
    if description:
        body["description"] = description
    return body


def _responses(route: Route, components: _Components) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in sorted((route.status, *route.other_statuses)):
        response: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if status not in (204, 304):
            if route.response:
                response["content"] = {route.content_type: {"schema": components.reference(route.response)}}
            elif route.content_type == "text/html":
                response["content"] = {route.content_type: {"schema": {"type": "string"}}}
            else:
                response["content"] = BINARY_ANSWER
                response["description"] += ". The file's bytes, under its own media type (`Content-Type`)."
        responses[str(status)] = _with_headers(response, route, status)
    problem = {PROBLEM_TYPE: {"schema": components.reference("Problem")}}
    for status in sorted(set(_problem_statuses(route))):
        description = PROBLEM_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
        if status == 401 and route.pattern.startswith("/webhooks/"):
            description = "The provider's signature is missing, stale or wrong; nothing was written."
        responses[str(status)] = _with_headers({"description": description, "content": problem}, route, status)
    if not any(status.startswith("4") for status in responses):
        # Redocly asks every operation for a 4XX: ig answers none here, but a proxy in front of it may.
        responses["4XX"] = {"description": "A client error, as a problem.", "content": problem}
    responses["default"] = {"description": "Any other error, as a problem.", "content": problem}
    return responses


def _with_headers(response: dict[str, Any], route: Route, status: int) -> dict[str, Any]:
    sent = dict(SENT_HEADERS.get(route.handler.__name__, {}).get(status, {}))
    if status == 401 and not route.pattern.startswith("/webhooks/"):
        sent["WWW-Authenticate"] = True
    if sent:
        response["headers"] = {
            name: {**RESPONSE_HEADERS[name], "required": required} for name, required in sent.items()
        }
    return response


def _problem_statuses(route: Route) -> list[int]:
    statuses = list(route.problems)
    if route.pattern.startswith("/v1/"):
        statuses.append(401)
    if "{" in route.pattern:
        statuses.append(404)
    if route.body:
        statuses += [413, 422]
    if route.query:
        statuses.append(422)
    return statuses


class _Components:
    """``components.schemas``: every model a route names, generated together so shared models
    (an Artifact inside a Job and a page) are one schema, plus each task's parameters."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self._references: dict[str, dict[str, str]] = {}

    def reference(self, name: str) -> dict[str, str]:
        if name not in self._references:
            self._add(name)
        return self._references[name]

    def schema_of(self, name: str) -> dict[str, Any]:
        return self.schemas[self.reference(name)["$ref"].rsplit("/", 1)[1]]

    def _add(self, name: str) -> None:
        model = _model(name)
        references, definitions = models_json_schema([(model, "validation")], ref_template=COMPONENT_REF)
        for key, schema in definitions.get("$defs", {}).items():
            self._merge(key, schema)
        self._references[name] = references[(model, "validation")]

    def _merge(self, key: str, schema: dict[str, Any]) -> None:
        known = self.schemas.setdefault(key, schema)
        if known != schema:
            raise ValueError(f"two different schemas are both called {key!r}")

    def add_task_parameters(self) -> None:
        """Each known task's parameters as ``params.<task>``, the schema ``GET /v1/tasks`` serves,
        and ``TaskParams`` for any parameters."""
        for spec in tasks.TASKS.values():
            schema = _rebase(copy.deepcopy(tasks.params_schema(spec)))
            for key, definition in schema.pop("$defs", {}).items():
                self._merge(key, definition)
            schema["description"] = " ".join(filter(None, (spec.summary, schema.get("description"))))
            self._merge(f"params.{spec.name}", schema)
        self._merge(
            TASK_PARAMS,
            {
                "type": "object",
                "title": TASK_PARAMS,
                "description": "Parameters of any task: ig's common names or the provider's own.",
            },
        )

    def finish(self) -> None:
        """What the schemas say beyond what pydantic writes: descriptions of fields from their
        docstrings, no ``default`` on body fields, free-form objects that say so, and the typed
        parameters of a job. Done once every model is in, so that a model reached from two routes
        is generated the same way both times."""
        for key, schema in self.schemas.items():
            model = getattr(schemas, key, None)
            if isinstance(model, type) and issubclass(model, BaseModel):
                if not model.model_config.get("use_attribute_docstrings"):
                    _describe_fields(model, schema)
                _defaults_into_descriptions(schema)
            _open_free_objects(schema)
        if "JobRequest" in self.schemas:
            params = self.schemas["JobRequest"]["properties"]["params"]
            for keyword in ("type", "additionalProperties"):
                params.pop(keyword, None)
            names = [f"params.{name}" for name in tasks.TASKS] + [TASK_PARAMS]
            params["anyOf"] = [{"$ref": COMPONENT_REF.format(model=name)} for name in names]


def _model(name: str) -> type[BaseModel]:
    model = getattr(schemas, name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"ig.api.schemas has no model {name!r}")
    return model


def _rebase(node: Any) -> Any:
    """Point JSON Schema ``$defs`` references at ``components.schemas``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = COMPONENT_REF.format(model=ref.removeprefix("#/$defs/"))
        for value in node.values():
            _rebase(value)
    elif isinstance(node, list):
        for value in node:
            _rebase(value)
    return node


def _open_free_objects(node: Any) -> None:
    """Say ``additionalProperties: true`` where an object has no declared shape (``params``,
    ``metadata``, ``defaults``...): generators read a bare ``type: object`` as an object that can hold
    nothing (openapi-typescript's ``Record<string, never>``)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and not {"properties", "additionalProperties", "patternProperties"} & set(node):
            node["additionalProperties"] = True
        for value in node.values():
            _open_free_objects(value)
    elif isinstance(node, list):
        for value in node:
            _open_free_objects(value)


def _defaults_into_descriptions(schema: dict[str, Any]) -> None:
    """An optional body field carries no ``default``: openapi-typescript makes a field with one
    required, and ``default: null`` reads as "send null". A default other than null is said in words."""
    for field in schema.get("properties", {}).values():
        if "default" not in field:
            continue
        default = field.pop("default")
        if default is not None:
            said = f"Default: `{json.dumps(default)}`."
            field["description"] = f"{field['description']} {said}" if field.get("description") else said


def _describe_fields(model: type[BaseModel], schema: dict[str, Any]) -> None:
    """Give fields their attribute docstrings as descriptions. The request models in ig.jobs.requests
    are built at every cold start, where pydantic's ``use_attribute_docstrings`` (which reads and
    parses the module's source) would cost time; here it is paid only when documenting."""
    properties = schema.get("properties", {})
    for name, text in _attribute_docstrings(model).items():
        if name in properties and "description" not in properties[name]:
            properties[name]["description"] = text


def _attribute_docstrings(model: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):  # no source at hand: the schema simply has fewer descriptions
        return {}
    statements = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    found = {}
    for statement, following in zip(statements, statements[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found
