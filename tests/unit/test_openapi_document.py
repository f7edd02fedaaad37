"""The published contract as a document, built without a server: ``openapi.document`` is valid
OpenAPI 3.1, lists exactly the routes in ``ig.api.routes.ROUTER``, publishes every task's
parameters and the library filters the parser reads, and is not imported at a Worker's cold
start. (``tests/integration/test_openapi.py`` checks real answers against it.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fixtures import media_samples
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from ig.api import openapi, routes, schemas
from ig.api.routes import ROUTER
from ig.library import filters, media_types, uploads
from ig.providers.runware import tasks


def test_the_document_is_valid_openapi_3_1_and_declares_auth_whatever_the_settings():
    document = openapi.document(ROUTER, "http://ig.test")
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)
    json.dumps(document)  # plain JSON throughout
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert "only when the server has `IG_API_TOKEN` set" in schemes["bearer"]["description"]
    assert (schemes["signedUrl"]["in"], schemes["signedUrl"]["name"]) == ("query", "sig")
    for route in ROUTER.routes:
        operation = document["paths"][route.pattern][route.method.lower()]
        if route.pattern.startswith("/v1/"):
            expected = [{"bearer": []}, {"signedUrl": []}] if route.signed else [{"bearer": []}]
            assert operation["security"] == expected, route.pattern
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], route.pattern
        else:
            assert operation["security"] == [], route.pattern


def test_the_script_prints_the_document_for_the_default_address():
    script = Path(__file__).parents[2] / "scripts" / "openapi_document.py"
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    expected = openapi.document(ROUTER, "http://127.0.0.1:8787")
    assert printed.endswith("}\n") and json.loads(printed) == expected
    assert list(json.loads(printed)) == list(expected)  # the document's own key order: openapi, info, servers...
    assert subprocess.run([sys.executable, str(script)], capture_output=True, text=True).stdout == printed


def test_every_route_is_documented_and_every_documented_operation_is_a_route():
    document = openapi.document(ROUTER, "http://ig.test")
    served = {(route.method.lower(), route.pattern) for route in ROUTER.routes}
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == served
    assert len(served) == len(ROUTER.routes)  # no route shadows another
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for route in ROUTER.routes:
        operation = document["paths"][route.pattern][route.method.lower()]
        assert operation["summary"] and operation["tags"] == [route.tag]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(route.regex.groupindex), route.pattern


def test_the_document_is_built_once_per_process_and_names_the_callers_server():
    first = openapi.document(ROUTER, "http://one.test")
    second = openapi.document(ROUTER, "https://two.test")
    assert first["servers"] == [{"url": "http://one.test"}] and second["servers"] == [{"url": "https://two.test"}]
    assert first["paths"] is second["paths"]


def test_every_task_type_publishes_its_parameters_and_a_job_request_refers_to_them():
    schemas = openapi.document(ROUTER, "")["components"]["schemas"]
    for name in tasks.TASKS:
        assert schemas[f"params.{name}"]["type"] == "object"
    # Any parameters still go: the last choice is a free object.
    params = schemas["JobRequest"]["properties"]["params"]
    expected = [f"#/components/schemas/params.{name}" for name in tasks.TASKS] + ["#/components/schemas/TaskParams"]
    assert [choice["$ref"] for choice in params["anyOf"]] == expected and "type" not in params
    assert schemas["TaskParams"]["type"] == "object" and schemas["TaskParams"]["additionalProperties"] is True
    assert schemas["BatchRequest"]["properties"]["jobs"]["items"] == {"$ref": "#/components/schemas/JobRequest"}


def _schemas_in(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON Schema object below ``node`` (itself included), with where it is."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _schemas_in(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schemas_in(value, f"{where}/{index}")


def test_every_object_without_declared_fields_says_it_takes_any():
    document = openapi.document(ROUTER, "")
    shapeless = [
        where
        for where, node in _schemas_in(document)
        if node.get("type") == "object" and not {"properties", "additionalProperties", "patternProperties"} & set(node)
    ]
    assert shapeless == []
    schemas = document["components"]["schemas"]
    for model, field in (("JobRequest", "metadata"), ("JobRequest", "variables"), ("AliasOnProvider", "defaults")):
        assert schemas[model]["properties"][field]["additionalProperties"] is True, (model, field)


def test_no_body_field_carries_a_default_and_a_default_other_than_null_is_said_in_words():
    schemas = openapi.document(ROUTER, "")["components"]["schemas"]
    defaults = [
        where for where, node in _schemas_in(schemas) if "default" in node and not where.endswith("/properties")
    ]
    assert defaults == []
    job = schemas["JobRequest"]
    assert "Default: `false`." in job["properties"]["failover_after_accept"]["description"]
    assert {"anyOf": [{"type": "string"}, {"type": "null"}]}.items() <= schemas["FalWebhook"]["properties"][
        "error"
    ].items()
    assert "Default" not in job["properties"]["task"]["description"]  # null is simply left out


def test_every_operation_answers_a_client_error():
    document = openapi.document(ROUTER, "")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert any(status.startswith("4") for status in operation["responses"]), (method, path)


def test_every_timestamp_is_a_date_time():
    schemas = openapi.document(ROUTER, "")["components"]["schemas"]
    stamps = {
        f"{name}.{field}": definition
        for name, schema in schemas.items()
        for field, definition in schema.get("properties", {}).items()
        if field.endswith("_at")
    }
    assert len(stamps) >= 20
    for where, definition in stamps.items():
        strings = [choice for choice in definition.get("anyOf", [definition]) if choice.get("type") != "null"]
        assert [choice.get("format") for choice in strings] == ["date-time"], where


def test_binary_bodies_are_files_to_generators():
    paths = openapi.document(ROUTER, "")["paths"]
    binary = {"type": "string", "format": "binary"}
    content = paths["/v1/artifacts/{artifact_id}/content"]["get"]["responses"]
    for status in ("200", "206"):
        assert content[status]["content"] == {"application/octet-stream": {"schema": binary}, "*/*": {"schema": binary}}
    assert content["206"]["headers"]["Content-Range"]["required"] is True
    assert content["416"]["headers"]["Content-Range"]["required"] is True
    upload = paths["/v1/uploads"]["post"]["requestBody"]["content"]
    raw = {media_type: media for media_type, media in upload.items() if media_type != "multipart/form-data"}
    assert raw == {media_type: {"schema": binary} for media_type in routes.UPLOAD_TYPES}
    form = upload["multipart/form-data"]
    assert form["encoding"] == {"file": {"contentType": ", ".join(routes.UPLOAD_TYPES)}}
    fields = openapi.document(ROUTER, "")["components"]["schemas"]["UploadForm"]["properties"]
    assert binary.items() <= fields["file"].items()


def test_the_documented_upload_types_are_every_image_audio_and_video_type_ig_recognises():
    quicktime = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "  # the start of a .mov: sniffing reads no more
    samples = [
        media_samples.png(), media_samples.jpeg(), media_samples.webp(), media_samples.gif(), media_samples.svg(),
        media_samples.mp4(), media_samples.webm(), quicktime, media_samples.wav(), media_samples.flac(),
        media_samples.mp3(), media_samples.ogg_vorbis(),
    ]  # fmt: skip
    recognised = {found.content_type for found in map(media_types.sniff, samples) if found is not None}
    assert {t for t in recognised if t.split("/")[0] in uploads.UPLOAD_KINDS} == set(routes.UPLOAD_TYPES)
    for declared in routes.UPLOAD_TYPES:
        found = media_types.by_content_type(declared)
        assert found is not None and found.content_type == declared and found.kind in uploads.UPLOAD_KINDS


class _RecordingQuery(dict):
    """A query string that remembers which parameters the parser asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, name, default=None):
        self.asked.add(name)
        return super().get(name, default)

    def __contains__(self, name) -> bool:
        self.asked.add(name)
        return super().__contains__(name)


def test_the_documented_library_filters_are_the_ones_the_parser_reads():
    for model, for_jobs in ((schemas.ArtifactQuery, False), (schemas.JobQuery, True)):
        query = _RecordingQuery()
        filters.parse_filters(query, for_jobs=for_jobs)
        assert set(model.model_fields) == query.asked, model.__name__
    # /v1/usage takes the job filters, with since/until for the time range and no paging
    query = _RecordingQuery()
    filters.parse_filters(query, for_jobs=True)
    expected = query.asked - {"created_after", "created_before", "limit", "cursor"} | {"group_by", "since", "until"}
    assert set(schemas.UsageQuery.model_fields) == expected


def test_neither_the_document_nor_its_models_are_imported_at_cold_start():
    code = (
        "import sys, ig.api.routes, ig.adapters.local.asgi\n"
        "print(sorted(m for m in ('ig.api.schemas', 'ig.api.openapi', 'ig.api.docs_page') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"
