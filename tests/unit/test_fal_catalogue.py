"""The fal catalogue: ``scripts/fal_catalogue.py`` turns the document fal would publish for each
committed endpoint back into exactly the committed ``endpoints_data.py`` (offline and online), the
catalogue covers ig's tasks, and its validator agrees with ``jsonschema`` on every endpoint, reports
every bad field where ``jsonschema`` finds it, and stays bounded on hostile input."""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ig.providers.fal import endpoints_data
from ig.providers.fal.endpoints import FalEndpoint, all_endpoints, endpoint, input_errors, looks_like_endpoint_id
from ig.providers.json_schema import MAX_DEPTH, MAX_STEPS, SchemaError, validate

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fal_catalogue.py"
COMMITTED = ROOT / "src" / "ig" / "providers" / "fal" / "endpoints_data.py"
ENDPOINTS = all_endpoints()
IDS = [e.endpoint_id for e in ENDPOINTS]
ENTRIES = json.loads(endpoints_data.TEXT)["endpoints"]


# --- the data: what the script makes of fal's documents ---------------------------------------

# The documents fal published for these endpoints are not the project's to commit (data/fal/README.md
# says where copies are). Instead each committed entry is turned back into the document fal would
# publish for it, and the script must turn that into the committed module, byte for byte.

COMPONENTS = "#/components/schemas/"
FILE = "File"
"""The output file component, as fal names its ``File``/``Image``/``Video`` (``url`` and metadata)."""


def _published(node: Any) -> Any:
    """A committed schema as fal writes it: references into ``components.schemas``, and a title on
    each property. Walks the schema as the script's ``_clean`` does, so values stay untouched."""
    if isinstance(node, list):
        return [_published(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            assert value.startswith("#/$defs/"), value
            out[key] = COMPONENTS + value.removeprefix("#/$defs/")
        elif key in ("default", "enum", "const", "required") or (key == "description" and isinstance(value, str)):
            out[key] = value
        elif key == "properties":
            out[key] = {name: _titled(name, _published(sub)) for name, sub in value.items()}
        elif key in ("patternProperties", "$defs", "definitions"):
            out[key] = {name: _published(sub) for name, sub in value.items()}
        else:
            out[key] = _published(value)
    return out


def _titled(name: str, schema: Any) -> Any:
    """fal titles every field; the script must drop it."""
    return {"title": name.replace("_", " ").title(), **schema} if isinstance(schema, dict) else schema


def _component_name(endpoint_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", endpoint_id.split("/", 1)[1]))


def _document(entry: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document fal serves at ``/api/openapi/queue/openapi.json?endpoint_id=<id>``."""
    endpoint_id = entry["endpoint_id"]
    name = _component_name(endpoint_id)
    input_name, output_name = f"{name}Input", f"{name}Output"
    schema = copy.deepcopy(entry["input_schema"])
    defs = schema.pop("$defs", {})
    taken = {input_name, output_name, FILE, "QueueStatus"}
    assert not taken & defs.keys(), f"{endpoint_id}: a $defs name clashes with {taken & defs.keys()}"
    schemas = {name: _published(sub) for name, sub in defs.items()}
    schemas[input_name] = {
        "title": input_name,
        "x-fal-order-properties": list(schema.get("properties", {})),
        **_published(schema),
    }
    properties: dict[str, Any] = {}
    for field in entry["output_files"]:
        # A list of files or one file: the catalogue records neither, the script must read both.
        ref = {"$ref": COMPONENTS + FILE}
        properties[field] = {"type": "array", "items": ref} if field.endswith("s") else {"allOf": [ref]}
    for field in entry["output_text"]:
        properties[field] = {"type": "string", "title": field.title()}
    # What the script must leave out: a number, and a string that only echoes an input.
    properties.setdefault("seed", {"type": "integer"})
    echoed = [f for f, s in entry["input_schema"].get("properties", {}).items() if s.get("type") == "string"]
    if echoed:
        properties.setdefault(echoed[0], {"type": "string"})
    schemas[output_name] = {"title": output_name, "type": "object", "properties": properties}
    schemas[FILE] = {
        "title": FILE,
        "type": "object",
        "properties": {
            "url": {"title": "Url", "type": "string"},
            "content_type": {"title": "Content Type", "type": "string"},
            "file_size": {"title": "File Size", "type": "integer"},
        },
        "required": ["url"],
    }
    schemas["QueueStatus"] = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
            "request_id": {"type": "string"},
        },
        "required": ["status", "request_id"],
    }

    def body(component: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": COMPONENTS + component}}}

    request_id = [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "openapi": "3.0.4",
        "info": {
            "title": f"Queue OpenAPI for {endpoint_id}",
            "version": "1.0.0",
            "description": f"The OpenAPI schema for the {endpoint_id} queue.",
            "x-fal-metadata": {
                "endpointId": endpoint_id,
                "category": entry["category"],
                "playgroundUrl": f"https://fal.ai/models/{endpoint_id}",
                "documentationUrl": f"https://fal.ai/models/{endpoint_id}/api",
            },
        },
        "components": {"securitySchemes": {"apiKeyAuth": {"type": "apiKey", "in": "header"}}, "schemas": schemas},
        "paths": {
            f"/{endpoint_id}/requests/{{request_id}}/status": {
                "get": {"parameters": request_id, "responses": {"200": {"content": body("QueueStatus")}}}
            },
            f"/{endpoint_id}": {
                "post": {"requestBody": {"required": True, "content": body(input_name)}, "responses": {}}
            },
            f"/{endpoint_id}/requests/{{request_id}}": {
                "get": {"parameters": request_id, "responses": {"200": {"content": body(output_name)}}}
            },
        },
        "servers": [{"url": "https://queue.fal.run"}],
        "security": [{"apiKeyAuth": []}],
    }


DOCUMENTS = {e["endpoint_id"]: _document(e) for e in ENTRIES}
PRICES = {e["endpoint_id"]: {"endpoint_id": e["endpoint_id"], **e["pricing"]} for e in ENTRIES if "pricing" in e}


def _file_name(endpoint_id: str) -> str:
    return endpoint_id.replace("/", "__") + ".json"


def _write(directory: Path, wrap: bool = False) -> Path:
    directory.mkdir()
    for endpoint_id, document in DOCUMENTS.items():
        if wrap:  # as /v1/models?endpoint_id=<id>&expand=openapi-3.0 answers
            document = {"models": [{"endpoint_id": endpoint_id, "openapi": document}], "has_more": False}
        (directory / _file_name(endpoint_id)).write_text(json.dumps(document, indent=2))
    if PRICES:
        (directory / "_pricing.json").write_text(json.dumps(PRICES))
    return directory


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_the_committed_catalogue_is_what_the_script_makes_of_fals_documents(tmp_path):
    documents, out = _write(tmp_path / "openapi"), tmp_path / "out.py"
    done = _run("--from", str(documents), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == COMMITTED.read_text()
    assert _run("--from", str(documents), "--out", str(COMMITTED), "--check").returncode == 0
    # The endpoints without a document are named, and --strict refuses to leave them out.
    assert "left out, no OpenAPI document: fal-ai/whisper" in done.stderr
    assert _run("--from", str(documents), "--out", str(out), "--strict").returncode == 1


def test_a_saved_models_reply_reads_like_the_document_it_carries(tmp_path):
    documents, out = _write(tmp_path / "openapi", wrap=True), tmp_path / "out.py"
    done = _run("--from", str(documents), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == COMMITTED.read_text()


def test_a_document_for_another_endpoint_is_refused(tmp_path):
    documents = tmp_path / "openapi"
    documents.mkdir()
    (documents / _file_name("fal-ai/flux/schnell")).write_text(json.dumps(DOCUMENTS["fal-ai/flux/dev"]))
    done = _run("--from", str(documents), "--out", str(tmp_path / "out.py"))
    assert done.returncode != 0 and "the document is for fal-ai/flux/dev" in done.stderr


def _script(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("fal_catalogue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def _fake_fal(monkeypatch: pytest.MonkeyPatch, script: Any, prices: dict[str, Any]) -> list[Any]:
    sent: list[Any] = []

    def urlopen(request, timeout):  # fal, serving the documents built above
        sent.append(request)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.full_url).query)
        endpoint_id = query["endpoint_id"][0]
        if request.full_url.startswith("https://api.fal.ai/v1/models/pricing?"):
            body: Any = {"prices": [prices[endpoint_id]] if endpoint_id in prices else [], "has_more": False}
        elif request.full_url.startswith("https://fal.ai/api/openapi/queue/openapi.json?"):
            if endpoint_id not in DOCUMENTS:
                raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)
            body = DOCUMENTS[endpoint_id]
        else:
            raise AssertionError(f"unexpected request {request.full_url}")
        return io.BytesIO(json.dumps(body).encode())

    monkeypatch.setattr(script.urllib.request, "urlopen", urlopen)
    return sent


def test_an_online_run_makes_the_committed_catalogue_and_saves_what_reproduces_it(tmp_path, monkeypatch):
    script = _script(monkeypatch)
    sent = _fake_fal(monkeypatch, script, PRICES)
    online, offline, saved = tmp_path / "online.py", tmp_path / "offline.py", tmp_path / "saved"
    assert script.main(["--key", "id:secret", "--pricing", "--save", str(saved), "--out", str(online)]) == 0
    assert {r.get_header("Authorization") for r in sent} == {"Key id:secret"}
    assert any(r.full_url.endswith("?endpoint_id=fal-ai/flux/dev") for r in sent)
    assert online.read_text() == COMMITTED.read_text()
    assert sorted(p.name for p in saved.glob("*.json") if p.name != "_pricing.json") == sorted(
        _file_name(i) for i in DOCUMENTS
    )
    assert script.main(["--from", str(saved), "--out", str(offline)]) == 0
    assert offline.read_text() == online.read_text()


def test_an_online_run_with_pricing_records_each_price(tmp_path, monkeypatch):
    script = _script(monkeypatch)
    prices = {i: {"endpoint_id": i, "unit_price": 0.025, "unit": "image", "currency": "USD"} for i in DOCUMENTS}
    _fake_fal(monkeypatch, script, prices)
    online, offline, saved = tmp_path / "online.py", tmp_path / "offline.py", tmp_path / "saved"
    assert script.main(["--key", "id:secret", "--pricing", "--save", str(saved), "--out", str(online)]) == 0
    written: dict[str, Any] = {}
    exec(online.read_text(), written)  # the generated module, as the Worker would import it
    entries = json.loads(written["TEXT"])["endpoints"]
    assert {e["endpoint_id"]: e.pop("pricing") for e in entries} == {
        i: {"unit_price": 0.025, "unit": "image", "currency": "USD"} for i in DOCUMENTS
    }
    assert entries == [{k: v for k, v in e.items() if k != "pricing"} for e in ENTRIES]
    assert script.main(["--from", str(saved), "--out", str(offline)]) == 0
    assert offline.read_text() == online.read_text()
    assert script.main(["--from", str(saved), "--out", str(offline), "--check"]) == 0


def test_the_catalogue_ships_small_and_sorted():
    assert COMMITTED.stat().st_size < 300_000
    assert IDS == sorted(IDS)
    for e in ENDPOINTS:
        assert "\n" not in e.description and e.title
        assert e.output_files, f"{e.endpoint_id} names no output file"
        text = json.dumps(e.input_schema)
        assert "#/components/" not in text and '"examples"' not in text and "x-fal" not in text


REQUIRED = [
    ("text-to-image", "imageInference"),
    ("image-to-image", "imageInference"),
    ("image-to-video", "videoInference"),
    ("text-to-speech", "audioInference"),
    # speech-to-text (transcription): no saved copy of fal's document was found (data/fal/README.md);
    # its endpoints (fal-ai/whisper) run unvalidated until an online run of the script adds them.
    ("image-to-image", "upscale"),
    ("image-to-image", "removeBackground"),
]


@pytest.mark.parametrize(("category", "task"), REQUIRED)
def test_each_ig_task_has_a_fal_endpoint(category, task):
    assert [e.endpoint_id for e in ENDPOINTS if e.category == category and e.task == task]


def test_output_fields_are_read_from_the_output_schema():
    assert endpoint("fal-ai/flux/dev").output_files == ("images",)
    assert endpoint("fal-ai/kling-video/v1/standard/image-to-video").output_files == ("video",)
    assert endpoint("fal-ai/playai/tts/v3").output_files == ("audio",)
    assert endpoint("fal-ai/birefnet/v2").output_files == ("image", "mask_image")
    # flux's output `prompt` only echoes the input's.
    assert endpoint("fal-ai/flux/dev").output_text == ()


def test_endpoint_lookup_and_id_shape():
    assert isinstance(endpoint("fal-ai/flux/dev"), FalEndpoint)
    assert endpoint("fal-ai/flux/dev").task == "imageInference"
    assert endpoint("fal-ai/no-such-model") is None
    assert all_endpoints() is ENDPOINTS  # read once
    good = [
        "fal-ai/flux/dev",
        "fal-ai/flux-pro/v1.1-ultra",
        "bria/fibo-edit/restyle",
        "fal-ai/pixverse/v5.6/image-to-video",
        "Pixelcut/background-removal",
    ]
    bad = [
        "fal-ai",
        "flux-dev",
        "runware:101@1",
        "fal-ai//dev",
        "/fal-ai/flux",
        "fal-ai/flux/",
        "a/b c",
        7,
        None,
    ]
    assert all(looks_like_endpoint_id(v) for v in good)
    assert not any(looks_like_endpoint_id(v) for v in bad)
    assert not looks_like_endpoint_id("fal-ai/" + "x" * 300)


def test_the_catalogue_is_a_module_the_worker_carries_like_any_code():
    assert json.loads(endpoints_data.TEXT)["endpoints"][0]["endpoint_id"] == IDS[0]


# --- the validator, message by message --------------------------------------------------------


def test_three_bad_fields_three_errors_each_at_its_path():
    errors = input_errors(endpoint("fal-ai/flux/dev"), {"image_size": {"width": 99999}, "num_images": 0})
    assert sorted(errors, key=lambda e: e.path) == [
        SchemaError(("image_size", "width"), "must be at most 14142", "maximum"),
        SchemaError(("num_images",), "must be at least 1", "minimum"),
        SchemaError(("prompt",), "required", "required"),
    ]


def test_messages():
    flux = endpoint("fal-ai/flux/dev")
    presets = "square_hd, square, portrait_4_3, portrait_16_9, landscape_4_3, landscape_16_9"
    assert input_errors(flux, {"prompt": "a", "image_size": "huge"}) == [
        SchemaError(("image_size",), f"must be one of {presets}", "enum")
    ]
    assert input_errors(flux, {"prompt": "a", "image_size": 5}) == [
        SchemaError(("image_size",), f"must be an object or one of {presets}", "any_of")
    ]
    assert input_errors(flux, {"prompt": "a", "seed": "7"}) == [
        SchemaError(("seed",), "must be an integer or null", "any_of")
    ]
    assert input_errors(flux, {"prompt": "a", "image_size": {"width": 0, "height": 1.5}}) == [
        SchemaError(("image_size", "width"), "must be greater than 0", "exclusive_minimum"),
        SchemaError(("image_size", "height"), "must be an integer", "type"),
    ]
    # A boolean is not a number, and a whole float is an integer (as pydantic, behind fal, agrees).
    assert input_errors(flux, {"prompt": "a", "num_images": True, "guidance_scale": False}) == [
        SchemaError(("num_images",), "must be an integer", "type"),
        SchemaError(("guidance_scale",), "must be a number", "type"),
    ]
    assert input_errors(flux, {"prompt": "a", "num_images": 2.0, "seed": None}) == []
    assert input_errors(flux, "a prompt") == [SchemaError((), "must be an object", "type")]
    # fal accepts fields it does not know; so does the schema, so does ig.
    assert input_errors(flux, {"prompt": "a", "something_else": 1}) == []

    luma = endpoint("fal-ai/luma-dream-machine/image-to-video")
    assert SchemaError(("prompt",), "must be at least 3 characters long", "min_length") in input_errors(
        luma, {"prompt": "ab", "image_url": "https://x/y.png"}
    )
    assert input_errors(endpoint("fal-ai/flux-lora"), {"prompt": "a", "loras": [{"scale": 9}]}) == [
        SchemaError(("loras", 0, "path"), "required", "required"),
        SchemaError(("loras", 0, "scale"), "must be at most 4", "maximum"),
    ]


def test_the_rest_of_the_subset():
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tag": {"const": "x"},
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
            "odd": {"type": "integer", "multipleOf": 2, "exclusiveMaximum": 10},
            "list": {"type": "array", "minItems": 2, "maxItems": 3, "uniqueItems": True, "items": {"type": "integer"}},
            "maybe": {"type": "string", "nullable": True},
            "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]},
            "never": {"not": {"type": "string"}},
        },
    }
    value = {
        "tag": "y",
        "name": "Abcdefg",
        "odd": 11,
        "list": [1, 1, 1, 1],
        "maybe": None,
        "one": 3,
        "never": "s",
        "z": 1,
    }
    assert validate(schema, value) == [
        SchemaError(("tag",), "must be x", "const"),
        SchemaError(("name",), "must be at most 5 characters long", "max_length"),
        SchemaError(("name",), "must match the pattern ^[a-z]+$", "pattern"),
        SchemaError(("odd",), "must be less than 10", "exclusive_maximum"),
        SchemaError(("odd",), "must be a multiple of 2", "multiple_of"),
        SchemaError(("list",), "must have at most 3 items", "max_items"),
        SchemaError(("list",), "must not repeat an item", "unique_items"),
        SchemaError(("one",), "must match exactly one of the allowed shapes, not 2", "one_of"),
        SchemaError(("never",), "must not match the excluded shape", "not"),
        SchemaError(("z",), "is not an accepted field", "unexpected"),
    ]
    assert validate({"enum": [1, "a"]}, True) == [SchemaError((), "must be one of 1, a", "enum")]
    assert validate({"enum": list(range(20))}, 99)[0].message.endswith(", 11, … (8 more)")
    assert validate(False, 1) == [SchemaError((), "is not allowed", "not_allowed")]
    with pytest.raises(ValueError, match="does not resolve"):
        validate({"$ref": "#/$defs/missing"}, 1)


def test_a_value_shared_twice_is_reported_at_both_places():
    size = {"width": 0}
    errors = validate(endpoint("fal-ai/flux/dev").input_schema["$defs"]["ImageSize"], size)
    assert errors == [SchemaError(("width",), "must be greater than 0", "exclusive_minimum")]
    schema = {
        "properties": {"a": {"$ref": "#/$defs/S"}, "b": {"$ref": "#/$defs/S"}},
        "$defs": {"S": {"properties": {"width": {"exclusiveMinimum": 0}}}},
    }
    assert [e.path for e in validate(schema, {"a": size, "b": size})] == [("a", "width"), ("b", "width")]


# --- the validator's bounds -------------------------------------------------------------------


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_deep_nesting_stops_at_the_depth_limit_without_recursing():
    schema = {"type": "array", "items": {"$ref": "#"}}
    started = time.monotonic()
    errors = validate(schema, _nested(100_000, []))
    assert time.monotonic() - started < 1
    [error] = errors
    assert error.code == "too_deep" and len(error.path) <= MAX_DEPTH


def test_a_reference_cycle_ends():
    assert [e.code for e in validate({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, 1)] == ["too_deep"]


def test_nested_any_of_is_not_exponential():
    # Every level offers two shapes that both descend into the same child and both fail at the
    # leaf: 2**40 branch walks without memory, about 80 with it.
    schema = {
        "anyOf": [{"type": "array", "items": {"$ref": "#"}}, {"type": "array", "items": {"$ref": "#"}, "minItems": 1}]
    }
    started = time.monotonic()
    errors = validate(schema, _nested(40, "leaf"))
    assert time.monotonic() - started < 1
    assert errors and all(e.code in ("any_of", "too_deep") for e in errors)


def test_the_step_budget_stops_a_huge_value():
    errors = validate(
        {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        [{"a": 1}] * (MAX_STEPS + 10),
    )
    assert errors[-1].code == "too_complex"


# --- differential: the validator against jsonschema on every catalogue endpoint ----------------


def _peel(root: dict[str, Any], schema: Any) -> Any:
    for _ in range(20):
        if isinstance(schema, dict) and "$ref" in schema:
            schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
        elif isinstance(schema, dict) and len(schema.get("allOf", ())) == 1 and "type" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema
    return schema


def _branches(root: dict[str, Any], schema: Any) -> list[dict[str, Any]]:
    """The concrete shapes a schema allows: each anyOf/oneOf branch, peeled."""
    schema = _peel(root, schema)
    if not isinstance(schema, dict):
        return []
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return [b for a in alternatives for b in _branches(root, a)]
    return [schema]


def _sample(root: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    """A value the schema accepts, built from required fields and bounds only."""
    shapes = [s for s in _branches(root, schema) if s.get("type") != "null"] or _branches(root, schema)
    shape = shapes[0] if shapes else {}
    if "const" in shape:
        return shape["const"]
    if "enum" in shape:
        return shape["enum"][0]
    kind = shape.get("type", "object" if "properties" in shape else "string")
    if kind == "null":
        return None
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        low = shape.get("minimum", shape.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in shape else 1)
        high = shape.get("maximum", low + 10)
        return low if kind == "integer" else (low + high) / 2
    if kind == "string":
        return "a" * max(shape.get("minLength", 0), 3)
    if kind == "array":
        return [_sample(root, shape.get("items", {}), depth + 1) for _ in range(shape.get("minItems", 1))]
    properties = shape.get("properties", {})
    return {
        name: _sample(root, properties[name], depth + 1) for name in shape.get("required", ()) if name in properties
    }


WRONG_TYPES = ["text", 12345, 1.5, True, [], {}, None]


def _bad_values(root: dict[str, Any], schema: Any) -> list[Any]:
    """Values that break one rule of the schema each (or may: the two validators must agree)."""
    bad = list(WRONG_TYPES)
    for shape in _branches(root, schema):
        if "enum" in shape:
            bad.append("not-one-of-them")
        for key, step in (("minimum", -1), ("maximum", 1), ("exclusiveMinimum", 0), ("exclusiveMaximum", 0)):
            if key in shape:
                bad.append(shape[key] + step)
                bad.append(float(shape[key]) + step + 0.5)
        if "minLength" in shape and shape["minLength"] > 0:
            bad.append("a" * (shape["minLength"] - 1))
        if "maxLength" in shape:
            bad.append("a" * (shape["maxLength"] + 1))
        if shape.get("type") == "integer":
            bad += [False, 2.5, 3.0]
        if shape.get("type") == "array":
            item = _sample(root, shape.get("items", {}))
            bad += [["x"], [item] * (shape.get("maxItems", 50) + 1), [{"no": "fields"}]]
            for nested in _nested_bad(root, shape.get("items", {})):
                bad.append([nested])
        if shape.get("type", "object") == "object" and "properties" in shape:
            bad += _nested_bad(root, shape)
    return bad


def _nested_bad(root: dict[str, Any], schema: Any) -> list[Any]:
    """An object of this shape, valid but for one field (or one missing field)."""
    shape = _peel(root, schema)
    if not isinstance(shape, dict) or "properties" not in shape:
        return []
    full = {name: _sample(root, sub) for name, sub in shape["properties"].items()}
    out = []
    for name in shape.get("required", ()):
        out.append({k: v for k, v in full.items() if k != name})
    for name, sub in shape["properties"].items():
        for value in [*WRONG_TYPES[:3], *(_bounds(root, sub))]:
            out.append({**full, name: value})
    return out


def _bounds(root: dict[str, Any], schema: Any) -> list[Any]:
    out = []
    for shape in _branches(root, schema):
        for key, step in (("minimum", -1), ("maximum", 1), ("exclusiveMinimum", 0), ("maximum", 99999)):
            if key in shape:
                out.append(shape[key] + step)
        if "enum" in shape:
            out.append("not-one-of-them")
    return out


def _cases(e: FalEndpoint) -> list[tuple[str, Any]]:
    root = e.input_schema
    properties = root["properties"]
    minimal = _sample(root, root)
    defaults = {**minimal, **{k: v["default"] for k, v in properties.items() if "default" in v}}
    everything = {**{k: _sample(root, v) for k, v in properties.items()}, **minimal}
    cases: list[tuple[str, Any]] = [("minimal", minimal), ("defaults", defaults), ("every field", everything)]
    cases += [("not an object", v) for v in ("prompt", [], None, 3)]
    cases.append(("an unknown field", {**minimal, "not_a_fal_field": 1}))
    for name in root.get("required", ()):
        cases.append((f"without {name}", {k: v for k, v in minimal.items() if k != name}))
    every_bad = dict(minimal)
    for name, schema in properties.items():
        bad = _bad_values(root, schema)
        for value in bad:
            cases.append((f"{name}={value!r}"[:80], {**minimal, name: copy.deepcopy(value)}))
        every_bad[name] = bad[0]
    cases.append(("every field wrong at once", every_bad))
    return cases


def _jsonschema_paths(validator: Draft202012Validator, value: Any) -> tuple[set[tuple], set[tuple]]:
    """Where jsonschema finds errors, as field paths (a missing field at its own name), and
    where it reports an anyOf/oneOf as a whole."""
    paths, alternatives = set(), set()
    for error in validator.iter_errors(value):
        path = tuple(error.absolute_path)
        if error.validator in ("anyOf", "oneOf"):
            alternatives.add(path)
        elif error.validator == "required":
            paths |= {(*path, name) for name in error.validator_value if name not in error.instance}
        elif error.validator == "additionalProperties" and error.validator_value is False:
            known = error.schema.get("properties", {})
            paths |= {(*path, name) for name in error.instance if name not in known}
        else:
            paths.add(path)
    return paths, alternatives


@pytest.mark.parametrize("endpoint_id", IDS)
def test_agrees_with_jsonschema(endpoint_id):
    e = endpoint(endpoint_id)
    Draft202012Validator.check_schema(e.input_schema)
    reference = Draft202012Validator(e.input_schema)
    assert input_errors(e, _sample(e.input_schema, e.input_schema)) == [], "the minimal request must be valid"
    cases = _cases(e)
    assert len(cases) > 20
    for label, value in cases:
        ours = input_errors(e, value)
        theirs, alternatives = _jsonschema_paths(reference, value)
        assert bool(ours) == (not reference.is_valid(value)), f"{endpoint_id} {label}: {ours}"
        our_paths = {error.path for error in ours}
        assert theirs <= our_paths, f"{endpoint_id} {label}: jsonschema also finds {theirs - our_paths}"
        for path in our_paths - theirs:
            assert any(path[: len(p)] == p for p in alternatives), f"{endpoint_id} {label}: only we find {path}"
