"""The OpenAPI 3.1 document of ig's API, built from the route table (``ig.api.routes.ROUTER``) and the
models that serve it (``ig.api.schemas``, ``ig.jobs.requests``, the task catalogue), so it cannot list a
route that does not exist or miss one that does. Imported only by the ``/openapi.json`` and
``/docs`` handlers: schema generation costs a Worker cold start nothing until someone asks."""

from __future__ import annotations

import ast
import copy
import inspect
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
BINARY_TYPES_DESCRIPTION = "The file's bytes, under its own media type."

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
    depends on the deployment's settings."""
    body = _document(router)
    return {"openapi": body["openapi"], "info": body["info"], "servers": [{"url": base_url or "/"}], **body}


@cache
def _document(router: Router) -> dict[str, Any]:
    return build(router)


def build(router: Router) -> dict[str, Any]:
    """The document without ``servers``."""
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        paths.setdefault(route.pattern, {})[route.method.lower()] = _operation(route, components)
    components.add_task_parameters()
    result: dict[str, Any] = {
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
    return result


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
    if route.pattern.startswith("/v1/"):
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
    content: dict[str, Any] = {}
    for media_type in route.body_types:
        if media_type in ("application/json", "multipart/form-data"):
            content[media_type] = {"schema": reference}
        else:
            content[media_type] = {}  # the raw bytes: OpenAPI 3.1 describes them by media type alone
    body: dict[str, Any] = {"required": True, "content": content}
    description = components.schema_of(route.body).get("description")
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
                response["content"] = {route.content_type: {}}
                response["description"] += ". " + BINARY_TYPES_DESCRIPTION
        responses[str(status)] = response
    problem = {PROBLEM_TYPE: {"schema": components.reference("Problem")}}
    for status in sorted(set(_problem_statuses(route))):
        description = PROBLEM_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
        if status == 401 and not route.pattern.startswith("/v1/"):
            description = "The provider's signature is missing, stale or wrong; nothing was written."
        responses[str(status)] = {"description": description, "content": problem}
    responses["default"] = {"description": "Any other error, as a problem.", "content": problem}
    return responses


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
        reference = references[(model, "validation")]
        for key, schema in definitions.get("$defs", {}).items():
            self._merge(key, schema)
        key = reference["$ref"].rsplit("/", 1)[1]
        if not model.model_config.get("use_attribute_docstrings"):
            _describe_fields(model, self.schemas[key])
        self._references[name] = reference

    def _merge(self, key: str, schema: dict[str, Any]) -> None:
        known = self.schemas.setdefault(key, schema)
        if known != schema:
            raise ValueError(f"two different schemas are both called {key!r}")

    def add_task_parameters(self) -> None:
        """Each known task's parameters as ``params.<task>``, the schema ``GET /v1/tasks`` serves."""
        for spec in tasks.TASKS.values():
            schema = _rebase(copy.deepcopy(tasks.params_schema(spec)))
            for key, definition in schema.pop("$defs", {}).items():
                self._merge(key, definition)
            schema["description"] = " ".join(filter(None, (spec.summary, schema.get("description"))))
            self._merge(f"params.{spec.name}", schema)


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
