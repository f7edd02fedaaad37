"""The published contract as a document, built without a server: ``openapi.document`` is valid
OpenAPI 3.1, lists exactly the routes in ``ig.api.routes.ROUTER``, publishes every task's
parameters and the library filters the parser reads, and is not imported at a Worker's cold
start. (``tests/integration/test_openapi.py`` checks real answers against it.)"""

from __future__ import annotations

import json
import subprocess
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from ig.api import openapi, schemas
from ig.api.routes import ROUTER
from ig.library import filters
from ig.providers.runware import tasks


def test_the_document_is_valid_openapi_3_1_with_and_without_a_token():
    for secured in (False, True):
        document = openapi.document(ROUTER, "http://ig.test", secured=secured)
        assert document["openapi"] == "3.1.0"
        validate(document, cls=OpenAPIV31SpecValidator)
        json.dumps(document)  # plain JSON throughout
        # (a provider's webhook answers 401 to a bad signature whether or not ig has a token)
        operations = [
            op for path, item in document["paths"].items() if not path.startswith("/webhooks/") for op in item.values()
        ]
        assert ("securitySchemes" in document["components"]) is secured
        assert any("401" in op["responses"] for op in operations) is secured


def test_every_route_is_documented_and_every_documented_operation_is_a_route():
    document = openapi.document(ROUTER, "http://ig.test", secured=True)
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
    first = openapi.document(ROUTER, "http://one.test", secured=False)
    second = openapi.document(ROUTER, "https://two.test", secured=False)
    assert first["servers"] == [{"url": "http://one.test"}] and second["servers"] == [{"url": "https://two.test"}]
    assert first["paths"] is second["paths"]


def test_every_task_type_publishes_its_parameters():
    schemas = openapi.document(ROUTER, "", secured=False)["components"]["schemas"]
    for name in tasks.TASKS:
        assert schemas[f"params.{name}"]["type"] == "object"


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
