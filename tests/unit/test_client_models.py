"""The client's models (``ig_client.models``) say what ig's OpenAPI document says: the same fields,
required the same way, under the same names, and one for every answer a client reads; so the client
cannot drift from the server unnoticed."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from ig_client import models

from ig.api.openapi import build
from ig.api.routes import ROUTER

SCHEMAS: dict[str, Any] = build(ROUTER)["components"]["schemas"]
DOCUMENT_NAMES = {"FieldError": "FieldProblem"}
"""Client models named other than their schema (``FieldError`` reads better on ``ApiError.errors``)."""
NOT_FOR_CLIENTS = {"OpenApiDocument", "WebhookReceipt"}
"""Answers no client reads: the document itself, and the receipts ig gives the providers' webhooks."""

CLIENT_MODELS = {
    name: model
    for name, model in vars(models).items()
    if name.isidentifier()  # not the Page[Job] pydantic parametrises into the module
    and inspect.isclass(model)
    and issubclass(model, models.IgModel)
    and model.__module__ == models.__name__
    and model not in (models.IgModel, models.Page)
}


def _schema_of(name: str) -> dict[str, Any]:
    return SCHEMAS[DOCUMENT_NAMES.get(name, name)]


@pytest.mark.parametrize("name", sorted(CLIENT_MODELS))
def test_each_model_has_the_fields_of_its_schema(name):
    schema = _schema_of(name)
    assert set(CLIENT_MODELS[name].model_fields) == set(schema["properties"])


@pytest.mark.parametrize("name", sorted(CLIENT_MODELS))
def test_each_model_requires_what_its_schema_requires(name):
    required = {field for field, info in CLIENT_MODELS[name].model_fields.items() if info.is_required()}
    assert required == set(_schema_of(name).get("required", []))


def test_every_answer_a_client_reads_has_a_model():
    answers = {route.response for route in ROUTER.routes if route.response and route.tag != "webhooks"}
    assert answers - NOT_FOR_CLIENTS - set(CLIENT_MODELS) == set()
    assert "Job" in answers and "ArtifactPage" in answers  # the routes were read at all


def test_models_accept_fields_a_newer_server_adds():
    tag = models.TagCount.model_validate({"tag": "user:42", "artifacts": 3, "added_later": {"x": 1}})
    assert tag.model_extra == {"added_later": {"x": 1}}
