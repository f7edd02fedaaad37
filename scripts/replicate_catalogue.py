"""Regenerates src/ig/providers/replicate/models_data.py, ig's curated catalogue of Replicate
models, from each model version's own Cog ``openapi_schema``.

    REPLICATE_API_TOKEN=... uv run python scripts/replicate_catalogue.py --save ~/replicate-models   # online
    uv run python scripts/replicate_catalogue.py --from ~/replicate-models      # offline, from saved models

Online, each curated model is fetched with ``GET /v1/models/{owner}/{name}`` (``--token`` or
REPLICATE_API_TOKEN, sent as ``Authorization: Bearer ...``) and its ``latest_version`` is what the
catalogue records; ``--save DIR`` keeps each answer as it came, so that the offline run
reproduces the same file. Keep DIR outside the repository: it commits none of Replicate's answers
(data/replicate/README.md says where copies were found). Offline, ``DIR/<owner>__<name>.json`` is
read: a model as ``/v1/models/{owner}/{name}`` returns it (``owner``, ``name``, ``latest_version``),
or a version as ``/v1/models/{owner}/{name}/versions/{id}`` returns it (``id``, ``openapi_schema``).
A curated model without a saved file is left out and named on stderr (``--strict`` makes that an
error).

Standard library only: it runs anywhere the repository is checked out, with nothing installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "ig" / "providers" / "replicate" / "models_data.py"
MODEL_URL = "https://api.replicate.com/v1/models/{}/{}"
VERSION_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Curated:
    model: str
    """``owner/name``."""
    task: str
    """The ig task it runs: Replicate publishes no category a script could map."""
    title: str
    description: str


CURATED: tuple[Curated, ...] = (
    # Text to image.
    Curated("black-forest-labs/flux-schnell", "imageInference", "FLUX.1 [schnell]", "FLUX.1 distilled to 1-4 steps."),
    Curated(
        "black-forest-labs/flux-dev", "imageInference", "FLUX.1 [dev]", "12B flow transformer, text or image to image."
    ),
    Curated("black-forest-labs/flux-pro", "imageInference", "FLUX.1 [pro]", "Black Forest Labs' FLUX.1 [pro]."),
    Curated("black-forest-labs/flux-1.1-pro", "imageInference", "FLUX1.1 [pro]", "Faster, higher-quality FLUX [pro]."),
    Curated(
        "black-forest-labs/flux-2-pro", "imageInference", "FLUX.2 [pro]", "FLUX.2 [pro], with up to 8 input images."
    ),
    Curated("stability-ai/sdxl", "imageInference", "SDXL", "Stable Diffusion XL, with img2img and inpainting."),
    Curated(
        "stability-ai/stable-diffusion-3", "imageInference", "Stable Diffusion 3", "Stability AI's SD3 text to image."
    ),
    Curated("bytedance/sdxl-lightning-4step", "imageInference", "SDXL-Lightning", "SDXL distilled to 4 steps."),
    Curated("recraft-ai/recraft-v3", "imageInference", "Recraft V3", "Recraft V3 text to image, with styles."),
    Curated("ideogram-ai/ideogram-v2", "imageInference", "Ideogram V2", "Ideogram V2, strong at text in images."),
    # Video.
    Curated("minimax/video-01", "videoInference", "MiniMax Video-01", "MiniMax (Hailuo) text or image to video."),
    Curated(
        "wan-video/wan-2.2-i2v-fast", "videoInference", "Wan 2.2 image to video (fast)", "Wan 2.2 animates an image."
    ),
    Curated("cjwbw/videocrafter", "videoInference", "VideoCrafter", "VideoCrafter text to video and image to video."),
    Curated("zsxkib/animate-diff", "videoInference", "AnimateDiff", "AnimateDiff text to video, with camera LoRAs."),
    Curated("fofr/tooncrafter", "videoInference", "ToonCrafter", "Video from illustrated keyframe images."),
    # Speech, music and sound.
    Curated(
        "minimax/speech-02-hd", "audioInference", "MiniMax Speech-02 HD", "MiniMax high-definition text to speech."
    ),
    Curated("meta/musicgen", "audioInference", "MusicGen", "Meta's MusicGen: music from a prompt or a melody."),
    Curated("suno-ai/bark", "audioInference", "Bark", "Suno's Bark: speech, music and sound effects from text."),
    Curated("lucataco/xtts-v2", "audioInference", "XTTS v2", "Coqui XTTS v2: text to speech in a cloned voice."),
    Curated("declare-lab/tango", "audioInference", "Tango 2", "Sound effects from a prompt."),
    Curated("openai/whisper", "transcription", "Whisper", "OpenAI Whisper transcription and translation."),
    # Upscaling and background removal.
    Curated("nightmareai/real-esrgan", "upscale", "Real-ESRGAN", "Real-ESRGAN upscaling, with face correction."),
    Curated("philz1337x/clarity-upscaler", "upscale", "Clarity Upscaler", "Creative upscaler that adds detail."),
    Curated(
        "philz1337x/crystal-upscaler",
        "upscale",
        "Crystal Upscaler",
        "Precise upscaler for portraits, faces and products.",
    ),
    Curated(
        "topazlabs/image-upscale", "upscale", "Topaz Image Upscale", "Topaz Labs' image upscaling and enhancement."
    ),
    Curated("cjwbw/rembg", "removeBackground", "rembg", "Background removal with rembg."),
    Curated("851-labs/background-remover", "removeBackground", "Background remover", "Background removal."),
    Curated(
        "smoretalk/rembg-enhance", "removeBackground", "rembg enhanced", "rembg background removal refined by ViTMatte."
    ),
    # Text.
    Curated("meta/meta-llama-3-8b-instruct", "textInference", "Llama 3 8B Instruct", "Meta Llama 3 8B for chat."),
    Curated("meta/meta-llama-3-70b-instruct", "textInference", "Llama 3 70B Instruct", "Meta Llama 3 70B for chat."),
    Curated(
        "meta/meta-llama-3.1-405b-instruct", "textInference", "Llama 3.1 405B Instruct", "Meta Llama 3.1 405B for chat."
    ),
    Curated(
        "mistralai/mixtral-8x7b-instruct-v0.1",
        "textInference",
        "Mixtral 8x7B Instruct",
        "Mistral's sparse MoE for chat.",
    ),
    # Captioning and questions about an image.
    Curated("salesforce/blip", "caption", "BLIP", "Captions an image, or answers a question about it."),
    Curated("andreasjansson/blip-2", "caption", "BLIP-2", "Answers questions about an image, or captions it."),
    Curated("yorickvp/llava-13b", "caption", "LLaVA 13B", "Visual instruction-tuned LLaVA: chat about an image."),
    Curated("lucataco/moondream2", "caption", "moondream2", "Small vision language model: describe an image."),
)

DROPPED_KEYS = frozenset({"title", "examples", "example", "deprecated", "readOnly", "writeOnly"})
"""Documentation only: no validator reads them, and the catalogue ships inside the Worker. Unlike
fal's, ``format`` stays: Cog's ``format: uri`` is how a Replicate input says it takes a file."""
LITERAL_KEYS = frozenset({"default", "enum", "const", "required"})
"""Values, not schemas: copied as they are, whatever keys they hold."""
COG_ENUM_DESCRIPTION = "An enumeration."
"""What pydantic writes on every Cog enum schema: says nothing, so dropped."""
DESCRIPTION_LIMIT = 160
OUTPUT_KINDS = ("file", "files", "text", "texts", "tokens", "object", "other")


def file_name(model: str) -> str:
    return model.replace("/", "__") + ".json"


# --- reading Replicate's answers ---------------------------------------------------------------


def unwrap(model: str, raw: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The version id and its Cog OpenAPI document, from a saved model or version answer."""
    if "openapi_schema" in raw:
        version = raw
    else:
        if (raw.get("owner"), raw.get("name")) != tuple(model.split("/", 1)):
            raise ValueError(f"{model}: the saved model is {raw.get('owner')}/{raw.get('name')}")
        version = raw.get("latest_version")
        if not isinstance(version, dict):
            raise ValueError(f"{model}: the saved model has no latest_version")
    document = version.get("openapi_schema")
    if not isinstance(document, dict) or "Input" not in document.get("components", {}).get("schemas", {}):
        raise ValueError(f"{model}: the version has no Cog openapi_schema with an Input")
    version_id = version.get("id")
    return (version_id if isinstance(version_id, str) and VERSION_ID.fullmatch(version_id) else None), document


def _ref_name(ref: str) -> str:
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise ValueError(f"unexpected reference {ref!r}")
    return ref[len(prefix) :]


def _short(text: str) -> str:
    line = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return sentence if len(sentence) <= DESCRIPTION_LIMIT else sentence[: DESCRIPTION_LIMIT - 1].rstrip() + "…"


def _clean(node: Any, refs: set[str]) -> Any:
    """``node`` without documentation-only keys, its references pointed at ``$defs``."""
    if isinstance(node, list):
        return [_clean(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED_KEYS or key.startswith("x-"):
            continue
        if key == "$ref" and isinstance(value, str):
            name = _ref_name(value)
            refs.add(name)
            out[key] = f"#/$defs/{name}"
        elif key == "description" and isinstance(value, str):
            if value.strip() and value.strip() != COG_ENUM_DESCRIPTION:
                out[key] = _short(value)
        elif key in LITERAL_KEYS:
            out[key] = value
        elif key in ("properties", "patternProperties", "$defs", "definitions"):
            # Names here are field names, not keywords: keep every one.
            out[key] = {name: _clean(sub, refs) for name, sub in value.items()}
        else:
            out[key] = _clean(value, refs)
    return out


def input_schema(document: dict[str, Any]) -> dict[str, Any]:
    """The Input component as a self-contained JSON Schema: each component it reaches (Cog's enums,
    referenced through a one-item ``allOf``) is copied under ``$defs``."""
    schemas = document["components"]["schemas"]
    refs: set[str] = set()
    root = _clean(schemas["Input"], refs)
    defs: dict[str, Any] = {}
    pending = sorted(refs - {"Input"})
    while pending:
        ref = pending.pop()
        if ref in defs:
            continue
        found: set[str] = set()
        defs[ref] = _clean(schemas[ref], found)
        pending += sorted(found - defs.keys() - {"Input"})
    if "Input" in refs:  # the input refers to itself
        defs["Input"] = _clean(schemas["Input"], set())
    if defs:
        root["$defs"] = dict(sorted(defs.items()))
    return root


def _peel(document: dict[str, Any], schema: Any) -> dict[str, Any]:
    """A schema's own shape: through ``$ref`` and one-item ``allOf``."""
    schemas = document["components"]["schemas"]
    for _ in range(16):
        if not isinstance(schema, dict):
            return {}
        if "$ref" in schema:
            schema = schemas[_ref_name(schema["$ref"])]
        elif len(schema.get("allOf", ())) == 1 and "type" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema
    return schema


def _is_file(shape: dict[str, Any]) -> bool:
    return shape.get("type") == "string" and shape.get("format") == "uri"


def output(document: dict[str, Any]) -> tuple[str, bool, list[str]]:
    """How a prediction's ``output`` is shaped, from the version's Output schema: its kind, whether
    Cog streams it (``x-cog-array-type: iterator``), and for an object the fields holding a file
    or a list of files.

    file: one URL; files: a list of URLs; text: a string; tokens: strings streamed to be joined;
    texts: a list of strings; object: named fields; other: anything else."""
    raw = document["components"]["schemas"].get("Output", {})
    shape = _peel(document, raw)
    iterator = shape.get("x-cog-array-type") == "iterator" or raw.get("x-cog-array-type") == "iterator"
    kind, files = "other", []
    if shape.get("type") == "array":
        items = _peel(document, shape.get("items", {}))
        if _is_file(items):
            kind = "files"
        elif items.get("type") == "string":
            kind = "tokens" if iterator else "texts"
    elif shape.get("type") == "string":
        kind = "file" if _is_file(shape) else "text"
    elif shape.get("type") == "object" or "properties" in shape:
        kind = "object"
        for field, sub in shape.get("properties", {}).items():
            sub = _peel(document, sub)
            if _is_file(sub) or (sub.get("type") == "array" and _is_file(_peel(document, sub.get("items", {})))):
                files.append(field)
    return kind, iterator, files


def entry(curated: Curated, raw: dict[str, Any]) -> dict[str, Any]:
    version, document = unwrap(curated.model, raw)
    kind, iterator, files = output(document)
    return {
        "model": curated.model,
        "version": version,
        "task": curated.task,
        "title": curated.title,
        "description": curated.description,
        "input_schema": input_schema(document),
        "output_kind": kind,
        "output_iterator": iterator,
        "output_files": files,
    }


# --- sources -----------------------------------------------------------------------------------


def _get(url: str, token: str | None) -> Any:
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "ig-replicate-catalogue"}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def fetch(models: list[str], token: str | None) -> dict[str, Any]:
    found = {}
    for model in models:
        owner, name = (urllib.parse.quote(part, safe="") for part in model.split("/", 1))
        try:
            raw = _get(MODEL_URL.format(owner, name), token)
            unwrap(model, raw)
        except (urllib.error.URLError, ValueError) as error:
            print(f"{model}: no usable model ({error})", file=sys.stderr)
            continue
        found[model] = raw
    return found


def read(directory: Path, models: list[str]) -> dict[str, Any]:
    found = {}
    for model in models:
        path = directory / file_name(model)
        if path.exists():
            found[model] = json.loads(path.read_text())
    return found


def save(directory: Path, found: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for model, raw in found.items():
        (directory / file_name(model)).write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")


def catalogue(found: dict[str, Any]) -> dict[str, Any]:
    entries = [entry(c, found[c.model]) for c in CURATED if c.model in found]
    return {"generated_by": "scripts/replicate_catalogue.py", "models": sorted(entries, key=lambda e: e["model"])}


def render(data: dict[str, Any]) -> str:
    """The catalogue as a Python module holding its JSON text: a Worker uploads Python modules,
    where a data file would need a bundling rule of its own."""
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    lines = "".join(f"    {line!r}\n" for line in text.splitlines(keepends=True))
    return (
        '"""ig\'s curated catalogue of Replicate models, as JSON text. Generated by'
        " scripts/replicate_catalogue.py from\neach model version's Cog openapi_schema: do not edit;"
        ' run the script."""\n\n'
        "# fmt: off\n# ruff: noqa: E501\n"
        f"TEXT = (\n{lines})\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--from", dest="source", type=Path, metavar="DIR", help="read saved model answers from DIR (offline)"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("REPLICATE_API_TOKEN"),
        help="Replicate API token for the online run (default: REPLICATE_API_TOKEN)",
    )
    parser.add_argument("--save", type=Path, metavar="DIR", help="online: keep each model's answer in DIR")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT.relative_to(ROOT)})"
    )
    parser.add_argument("--strict", action="store_true", help="fail when a curated model has no saved answer")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the output would change")
    args = parser.parse_args(argv)

    wanted = [c.model for c in CURATED]
    if args.source:
        found = read(args.source, wanted)
    else:
        if not args.token:
            parser.error("the online run needs --token or REPLICATE_API_TOKEN (or read saved answers with --from)")
        found = fetch(wanted, args.token)
        if args.save:
            save(args.save, found)
    missing = [model for model in wanted if model not in found]
    for model in missing:
        print(f"left out, no saved model: {model}", file=sys.stderr)
    if missing and args.strict:
        return 1
    text = render(catalogue(found))
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; run scripts/replicate_catalogue.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(found)} models, {len(text.encode())} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
