"""The Replicate catalogue: ``scripts/replicate_catalogue.py`` turns the answer Replicate would give
for each committed model back into exactly the committed ``models_data.py`` (offline and online),
it covers ig's tasks where a real schema was found, it reads each output's shape from the version's
Output schema, and the shared validator agrees with ``jsonschema`` on every model's input schema."""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ig.providers.json_schema import SchemaError
from ig.providers.replicate import models_data
from ig.providers.replicate.models import ReplicateModel, all_models, input_errors, looks_like_model_ref, model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "replicate_catalogue.py"
COMMITTED = ROOT / "src" / "ig" / "providers" / "replicate" / "models_data.py"
MODELS = all_models()
NAMES = [m.model for m in MODELS]
ENTRIES = json.loads(models_data.TEXT)["models"]


# --- the data: what the script makes of Replicate's answers -----------------------------------

# Replicate's answers for these models are not the project's to commit (data/replicate/README.md
# says where copies are). Instead each committed entry is turned back into the answer Replicate
# would give for it, and the script must turn that into the committed module, byte for byte.

COMPONENTS = "#/components/schemas/"
URI = {"type": "string", "format": "uri"}


def _published(node: Any) -> Any:
    """A committed schema as Cog writes it: references into ``components.schemas``, and a title
    and an ``x-order`` on each input. Walks the schema as the script's ``_clean`` does, so values
    stay untouched."""
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
            out[key] = {name: _titled(name, order, _published(sub)) for order, (name, sub) in enumerate(value.items())}
        elif key in ("patternProperties", "$defs", "definitions"):
            out[key] = {name: _published(sub) for name, sub in value.items()}
        else:
            out[key] = _published(value)
    return out


def _titled(name: str, order: int, schema: Any) -> Any:
    """Cog titles and orders every input; the script must drop both."""
    if not isinstance(schema, dict):
        return schema
    return {"title": name.replace("_", " ").title(), "x-order": order, **schema}


def _output(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Output component (and the one it refers to) of the entry's output shape, as Cog writes it."""
    kind, iterator, files = entry["output_kind"], entry["output_iterator"], entry["output_files"]
    assert not iterator or kind in ("files", "tokens"), f"{entry['model']}: only a list can be streamed"
    assert not files or kind == "object", f"{entry['model']}: only an object has file fields"
    streamed = {"x-cog-array-type": "iterator"} if iterator else {}
    if kind == "file":
        return {"Output": {**URI, "title": "Output"}}
    if kind == "files":
        return {"Output": {"type": "array", "items": URI, "title": "Output", **streamed}}
    if kind == "text":
        return {"Output": {"type": "string", "title": "Output"}}
    if kind in ("texts", "tokens"):
        assert iterator == (kind == "tokens"), f"{entry['model']}: tokens are streamed, texts are not"
        display = {"x-cog-array-display": "concatenate"} if iterator else {}
        return {"Output": {"type": "array", "items": {"type": "string"}, "title": "Output", **streamed, **display}}
    if kind == "object":
        # Cog's BaseModel output: a $ref to ModelOutput; a field that is no file is not listed.
        fields = {field: {**URI, "title": field.title()} for field in files}
        fields.setdefault("seed", {"type": "integer", "title": "Seed"})
        return {
            "Output": {"$ref": COMPONENTS + "ModelOutput"},
            "ModelOutput": {"type": "object", "title": "ModelOutput", "properties": fields},
        }
    assert kind == "other", f"{entry['model']}: unknown output kind {kind!r}"
    return {"Output": {"title": "Output"}}


def _answer(entry: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /v1/models/{owner}/{name}`` answers: the model, and its latest version with the
    version's Cog ``openapi_schema``."""
    owner, name = entry["model"].split("/")
    schema = copy.deepcopy(entry["input_schema"])
    defs = schema.pop("$defs", {})
    output = _output(entry)
    assert not ({"Input", *output} & defs.keys()), f"{entry['model']}: a $defs name clashes"
    schemas: dict[str, Any] = {}
    for def_name, sub in defs.items():
        sub = {"title": def_name, **_published(sub)}
        if "enum" in sub and "description" not in sub:
            sub["description"] = "An enumeration."  # pydantic's, on every Cog enum; the script drops it
        schemas[def_name] = sub
    schemas["Input"] = {"title": "Input", **_published(schema)}
    schemas.update(output)
    schemas["PredictionRequest"] = {
        "type": "object",
        "title": "PredictionRequest",
        "properties": {"input": {"$ref": COMPONENTS + "Input"}, "id": {"type": "string", "title": "Id"}},
    }
    return {
        "url": f"https://replicate.com/{owner}/{name}",
        "owner": owner,
        "name": name,
        "description": entry["description"],
        "visibility": "public",
        "run_count": 0,
        "latest_version": {
            "id": entry["version"],
            "created_at": "2024-01-01T00:00:00.000000Z",
            "cog_version": "0.9.4",
            "openapi_schema": {
                "openapi": "3.0.2",
                "info": {"title": "Cog", "version": "0.1.0"},
                "paths": {
                    "/predictions": {
                        "post": {
                            "requestBody": {
                                "content": {"application/json": {"schema": {"$ref": COMPONENTS + "PredictionRequest"}}}
                            }
                        }
                    }
                },
                "components": {"schemas": schemas},
            },
        },
    }


ANSWERS = {e["model"]: _answer(e) for e in ENTRIES}


def _file_name(name: str) -> str:
    return name.replace("/", "__") + ".json"


def _write(directory: Path, answers: dict[str, Any]) -> Path:
    directory.mkdir()
    for name, answer in answers.items():
        (directory / _file_name(name)).write_text(json.dumps(answer, indent=2))
    return directory


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_the_committed_catalogue_is_what_the_script_makes_of_replicates_answers(tmp_path):
    saved, out = _write(tmp_path / "models", ANSWERS), tmp_path / "out.py"
    done = _run("--from", str(saved), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == COMMITTED.read_text()
    assert _run("--from", str(saved), "--out", str(COMMITTED), "--check").returncode == 0
    # The models without an answer are named, and --strict refuses to leave them out.
    assert "left out, no saved model: openai/whisper" in done.stderr
    assert _run("--from", str(saved), "--out", str(out), "--strict").returncode == 1


def test_saved_version_objects_read_like_their_models(tmp_path):
    versions = {name: answer["latest_version"] for name, answer in ANSWERS.items()}
    saved, out = _write(tmp_path / "versions", versions), tmp_path / "out.py"
    done = _run("--from", str(saved), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == COMMITTED.read_text()


def _script(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("replicate_catalogue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_an_online_run_makes_the_committed_catalogue_and_saves_what_reproduces_it(tmp_path, monkeypatch):
    script, sent = _script(monkeypatch), []

    def urlopen(request, timeout):  # Replicate, answering with the models built above
        sent.append(request)
        owner, name = request.full_url.removeprefix("https://api.replicate.com/v1/models/").split("/")
        if f"{owner}/{name}" not in ANSWERS:
            raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)
        return io.BytesIO(json.dumps(ANSWERS[f"{owner}/{name}"]).encode())

    monkeypatch.setattr(script.urllib.request, "urlopen", urlopen)
    online, offline, saved = tmp_path / "online.py", tmp_path / "offline.py", tmp_path / "saved"
    assert script.main(["--token", "r8_secret", "--save", str(saved), "--out", str(online)]) == 0
    assert {r.get_header("Authorization") for r in sent} == {"Bearer r8_secret"}
    assert len(sent) == len(script.CURATED)
    assert online.read_text() == COMMITTED.read_text()
    assert sorted(p.name for p in saved.iterdir()) == sorted(_file_name(name) for name in ANSWERS)
    assert script.main(["--from", str(saved), "--out", str(offline)]) == 0
    assert offline.read_text() == online.read_text()
    assert script.main(["--from", str(saved), "--out", str(offline), "--check"]) == 0
    assert script.main(["--from", str(saved), "--strict", "--out", str(offline)]) == 1  # whisper & co. are missing


def test_the_online_run_needs_a_token(monkeypatch, capsys):
    script = _script(monkeypatch)
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stopped:
        script.main(["--token", ""])
    assert stopped.value.code == 2
    assert "REPLICATE_API_TOKEN" in capsys.readouterr().err


def test_a_saved_answer_for_another_model_is_refused(tmp_path, monkeypatch):
    script = _script(monkeypatch)
    _write(tmp_path / "models", {"black-forest-labs/flux-dev": ANSWERS["black-forest-labs/flux-schnell"]})
    with pytest.raises(ValueError, match="the saved model is black-forest-labs/flux-schnell"):
        script.main(["--from", str(tmp_path / "models"), "--out", str(tmp_path / "out.py")])


def test_the_catalogue_ships_small_and_sorted():
    assert COMMITTED.stat().st_size < 150_000
    assert NAMES == sorted(NAMES)
    for m in MODELS:
        assert "\n" not in m.description and m.title
        assert m.version is not None and len(m.version) == 64
        text = json.dumps(m.input_schema)
        assert "#/components/" not in text and '"x-' not in text and '"title"' not in text
        assert "An enumeration." not in text


def test_the_catalogue_is_a_module_the_worker_carries_like_any_code():
    assert json.loads(models_data.TEXT)["models"][0]["model"] == NAMES[0]


TASKS = [
    "imageInference",
    "videoInference",
    "audioInference",
    # transcription: no saved copy of openai/whisper's answer was found (data/replicate/README.md);
    # it runs unvalidated until an online run of the script adds it.
    "upscale",
    "removeBackground",
    "textInference",
    "caption",
]


@pytest.mark.parametrize("task", TASKS)
def test_each_ig_task_has_a_replicate_model(task):
    assert [m.model for m in MODELS if m.task == task]


def test_the_catalogue_covers_the_models_asked_for():
    tasks = {m.model: m.task for m in MODELS}
    assert tasks["black-forest-labs/flux-schnell"] == "imageInference"
    assert tasks["black-forest-labs/flux-dev"] == "imageInference"
    assert tasks["stability-ai/sdxl"] == "imageInference"
    assert tasks["meta/musicgen"] == "audioInference"
    assert tasks["philz1337x/clarity-upscaler"] == "upscale"
    assert tasks["meta/meta-llama-3-8b-instruct"] == "textInference"
    assert tasks["salesforce/blip"] == "caption"
    assert tasks["yorickvp/llava-13b"] == "caption"


OUTPUTS = {
    # model: (output_kind, output_iterator, output_files)
    "andreasjansson/blip-2": ("text", False, ()),
    "black-forest-labs/flux-1.1-pro": ("file", False, ()),
    "black-forest-labs/flux-2-pro": ("file", False, ()),
    "black-forest-labs/flux-dev": ("files", False, ()),
    "black-forest-labs/flux-pro": ("file", False, ()),
    "black-forest-labs/flux-schnell": ("files", False, ()),
    "bytedance/sdxl-lightning-4step": ("files", False, ()),
    "cjwbw/videocrafter": ("file", False, ()),
    "declare-lab/tango": ("file", False, ()),
    "fofr/tooncrafter": ("files", False, ()),
    "ideogram-ai/ideogram-v2": ("file", False, ()),
    "lucataco/moondream2": ("tokens", True, ()),
    "lucataco/xtts-v2": ("file", False, ()),
    "meta/meta-llama-3-70b-instruct": ("tokens", True, ()),
    "meta/meta-llama-3-8b-instruct": ("tokens", True, ()),
    "meta/meta-llama-3.1-405b-instruct": ("tokens", True, ()),
    "meta/musicgen": ("file", False, ()),
    "mistralai/mixtral-8x7b-instruct-v0.1": ("tokens", True, ()),
    "philz1337x/clarity-upscaler": ("files", False, ()),
    "philz1337x/crystal-upscaler": ("file", False, ()),
    "recraft-ai/recraft-v3": ("file", False, ()),
    "salesforce/blip": ("text", False, ()),
    "smoretalk/rembg-enhance": ("file", False, ()),
    "stability-ai/sdxl": ("files", False, ()),
    "stability-ai/stable-diffusion-3": ("files", False, ()),
    # Output is a $ref to Cog's ModelOutput: the audio, and the speaker prompt it can be reused with.
    "suno-ai/bark": ("object", False, ("audio_out", "prompt_npz")),
    "topazlabs/image-upscale": ("file", False, ()),
    "yorickvp/llava-13b": ("tokens", True, ()),
    "zsxkib/animate-diff": ("files", False, ()),
}


@pytest.mark.parametrize("name", NAMES)
def test_the_output_shape_is_read_from_the_output_schema(name):
    m = model(name)
    assert (m.output_kind, m.output_iterator, m.output_files) == OUTPUTS[name]


def test_output_kinds_of_shapes_the_catalogue_has_none_of(monkeypatch):
    script = _script(monkeypatch)

    def kind(output: dict[str, Any], **schemas: Any) -> tuple[str, bool, list[str]]:
        return script.output({"components": {"schemas": {"Output": output, **schemas}}})

    uri = {"type": "string", "format": "uri"}
    assert kind({"type": "array", "items": uri, "x-cog-array-type": "iterator"}) == ("files", True, [])
    assert kind({"type": "array", "items": {"type": "string"}}) == ("texts", False, [])
    assert kind({"$ref": "#/components/schemas/Out"}, Out={"properties": {"a": {"type": "array", "items": uri}}}) == (
        "object",
        False,
        ["a"],
    )
    assert kind({"anyOf": [{"type": "string"}, uri]}) == ("other", False, [])
    assert kind({"title": "Output"}) == ("other", False, [])


# --- looking models up ------------------------------------------------------------------------


def test_model_lookup():
    flux = model("black-forest-labs/flux-schnell")
    assert isinstance(flux, ReplicateModel) and flux.task == "imageInference"
    assert model(f"black-forest-labs/flux-schnell:{flux.version}") is flux
    assert model(flux.version) is flux
    # Another version may take other inputs: it is not the catalogue's to check.
    assert model("black-forest-labs/flux-schnell:" + "0" * 64) is None
    assert model("0" * 64) is None
    assert model("someone/no-such-model") is None
    assert model(None) is None
    assert all_models() is MODELS  # read once


def test_what_looks_like_a_model_reference():
    version = "5a6809ca6288247d06daf6365557e5e429063f32a21146b2a807c682652136b8"
    good = [
        "black-forest-labs/flux-schnell",
        "meta/meta-llama-3.1-405b-instruct",
        "851-labs/background-remover",
        "fofr/sdxl_emoji",
        f"meta/meta-llama-3-8b-instruct:{version}",
        version,
    ]
    bad = [
        "flux-schnell",
        "black-forest-labs/flux-schnell/extra",
        "black-forest-labs/flux-schnell:",
        "black-forest-labs/flux-schnell:latest",
        f"black-forest-labs/flux-schnell:{version[:-1]}",
        f"black-forest-labs/flux-schnell:{version.upper()}",
        f"{version}0",
        "/flux-schnell",
        "meta/",
        "-meta/llama",
        "a/b c",
        "runware:101@1",
        "",
        7,
        None,
    ]
    assert [v for v in good if not looks_like_model_ref(v)] == []
    assert [v for v in bad if looks_like_model_ref(v)] == []
    assert not looks_like_model_ref("owner/" + "x" * 300)


# --- the validator on Cog's schemas, message by message ---------------------------------------


def test_two_bad_fields_two_errors_each_at_its_path():
    flux = model("black-forest-labs/flux-schnell")
    ratios = "1:1, 16:9, 21:9, 3:2, 2:3, 4:5, 5:4, 3:4, 4:3, 9:16, 9:21"
    assert input_errors(flux, {"prompt": "a fox", "num_outputs": 9, "aspect_ratio": "7:3"}) == [
        SchemaError(("num_outputs",), "must be at most 4", "maximum"),
        SchemaError(("aspect_ratio",), f"must be one of {ratios}", "enum"),
    ]


def test_messages():
    flux = model("black-forest-labs/flux-schnell")
    assert input_errors(flux, {"prompt": "a fox"}) == []
    assert input_errors(flux, {"prompt": "a fox", "aspect_ratio": "16:9", "megapixels": "0.25"}) == []
    assert input_errors(flux, {}) == [SchemaError(("prompt",), "required", "required")]
    assert input_errors(flux, {"prompt": "a", "go_fast": "yes", "output_quality": -1}) == [
        SchemaError(("go_fast",), "must be a boolean", "type"),
        SchemaError(("output_quality",), "must be at least 0", "minimum"),
    ]
    # Replicate takes inputs a version does not name (and ignores them); so does the schema.
    assert input_errors(flux, {"prompt": "a", "something_else": 1}) == []
    assert input_errors(flux, "a fox") == [SchemaError((), "must be an object", "type")]
    # OpenAPI's nullable, as FLUX.2 writes its optional size.
    flux2 = model("black-forest-labs/flux-2-pro")
    assert input_errors(flux2, {"prompt": "a", "width": None, "height": 512}) == []
    assert input_errors(flux2, {"prompt": "a", "width": "wide", "height": 4096}) == [
        SchemaError(("width",), "must be an integer or null", "type"),
        SchemaError(("height",), "must be at most 2048", "maximum"),
    ]
    blip = model("salesforce/blip")
    assert input_errors(blip, {"image": "https://example.com/a.png", "task": "describe"}) == [
        SchemaError(
            ("task",), "must be one of image_captioning, visual_question_answering, image_text_matching", "enum"
        )
    ]
    assert input_errors(model("meta/meta-llama-3-8b-instruct"), {"prompt": "hi", "top_p": 2}) == [
        SchemaError(("top_p",), "must be at most 1", "maximum")
    ]


def test_file_inputs_keep_their_format():
    """Cog marks a file input with ``format: uri``: how ig can tell which inputs take a file."""
    sdxl = model("stability-ai/sdxl").input_schema["properties"]
    assert sdxl["image"]["format"] == "uri" and sdxl["mask"]["format"] == "uri"
    assert "format" not in sdxl["prompt"]


# --- differential: the validator against jsonschema on every catalogue model ------------------


def _as_json_schema(node: Any) -> Any:
    """The schema as Draft 2020-12 reads it: OpenAPI's ``nullable`` becomes a ``null`` type."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    literal = ("enum", "const", "default", "required")
    out = {k: (v if k in literal else _as_json_schema(v)) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


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


def _sample(root: dict[str, Any], schema: Any) -> Any:
    """A value the schema accepts, built from required fields and bounds only."""
    shapes = [s for s in _branches(root, schema) if s.get("type") != "null"] or _branches(root, schema)
    shape = shapes[0] if shapes else {}
    if "const" in shape:
        return shape["const"]
    if "enum" in shape:
        return shape["enum"][0]
    kind = shape.get("type", "object" if "properties" in shape else "string")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        low = shape.get("minimum", 1)
        high = shape.get("maximum", low + 10)
        return low if kind == "integer" else (low + high) / 2
    if kind == "string":
        return "a" * max(shape.get("minLength", 0), 3)
    if kind == "array":
        return [_sample(root, shape.get("items", {})) for _ in range(shape.get("minItems", 1))]
    properties = shape.get("properties", {})
    return {name: _sample(root, properties[name]) for name in shape.get("required", ()) if name in properties}


WRONG_TYPES = ["text", 12345, 1.5, True, [], {}, None]


def _bad_values(root: dict[str, Any], schema: Any) -> list[Any]:
    """Values that break one rule of the schema each (or may: the two validators must agree)."""
    bad = list(WRONG_TYPES)
    for shape in _branches(root, schema):
        if "enum" in shape:
            bad += ["not-one-of-them", 999]
        for key, step in (("minimum", -1), ("maximum", 1)):
            if key in shape:
                bad += [shape[key] + step, float(shape[key]) + step + 0.5]
        if "minLength" in shape and shape["minLength"] > 0:
            bad.append("a" * (shape["minLength"] - 1))
        if "maxLength" in shape:
            bad.append("a" * (shape["maxLength"] + 1))
        if shape.get("type") == "integer":
            bad += [False, 2.5, 3.0]
        if shape.get("type") == "array":
            bad += [["x"], [1, 2], [None]]
    return bad


def _cases(m: ReplicateModel) -> list[tuple[str, Any]]:
    root = m.input_schema
    properties = root["properties"]
    minimal = _sample(root, root)
    defaults = {**minimal, **{k: v["default"] for k, v in properties.items() if "default" in v}}
    everything = {**{k: _sample(root, v) for k, v in properties.items()}, **minimal}
    cases: list[tuple[str, Any]] = [("minimal", minimal), ("defaults", defaults), ("every field", everything)]
    cases += [("not an object", v) for v in ("prompt", [], None, 3)]
    cases.append(("an unknown field", {**minimal, "not_a_cog_input": 1}))
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
    """Where jsonschema finds errors, as field paths (a missing field at its own name), and where
    it reports an anyOf/oneOf as a whole."""
    paths, alternatives = set(), set()
    for error in validator.iter_errors(value):
        path = tuple(error.absolute_path)
        if error.validator in ("anyOf", "oneOf"):
            alternatives.add(path)
        elif error.validator == "required":
            paths |= {(*path, name) for name in error.validator_value if name not in error.instance}
        else:
            paths.add(path)
    return paths, alternatives


@pytest.mark.parametrize("name", NAMES)
def test_agrees_with_jsonschema(name):
    m = model(name)
    reference_schema = _as_json_schema(m.input_schema)
    Draft202012Validator.check_schema(reference_schema)
    reference = Draft202012Validator(reference_schema)
    assert input_errors(m, _sample(m.input_schema, m.input_schema)) == [], "the minimal input must be valid"
    cases = _cases(m)
    assert input_errors(m, dict(cases)["defaults"]) == [], "the version's own defaults must be valid"
    assert len(cases) >= 9 + len(WRONG_TYPES) * len(m.input_schema["properties"])
    for label, value in cases:
        ours = input_errors(m, value)
        theirs, alternatives = _jsonschema_paths(reference, value)
        assert bool(ours) == (not reference.is_valid(value)), f"{name} {label}: {ours}"
        our_paths = {error.path for error in ours}
        assert theirs <= our_paths, f"{name} {label}: jsonschema also finds {theirs - our_paths}"
        for path in our_paths - theirs:
            assert any(path[: len(p)] == p for p in alternatives), f"{name} {label}: only we find {path}"
