"""Regenerates src/ig/providers/fal/endpoints_data.py, ig's curated catalogue of fal endpoints, from
fal's own per-endpoint OpenAPI documents.

    FAL_KEY=... uv run python scripts/fal_catalogue.py --save ~/fal-openapi --pricing   # online
    uv run python scripts/fal_catalogue.py --from ~/fal-openapi       # offline, from saved documents

Online, each curated endpoint's document is fetched from fal (``--key``/FAL_KEY is optional and
sent as ``Authorization: Key ...``); ``--save DIR`` keeps the documents (and the prices, in
``_pricing.json``) so that the offline run reproduces the same file. Keep DIR outside the
repository: it commits none of fal's documents (data/fal/README.md says where copies were found).
Offline, a curated endpoint without a saved document is left out and named on stderr (``--strict``
makes that an error).

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
DEFAULT_OUT = ROOT / "src" / "ig" / "providers" / "fal" / "endpoints_data.py"
OPENAPI_URL = "https://fal.ai/api/openapi/queue/openapi.json?endpoint_id={}"
PRICING_URL = "https://api.fal.ai/v1/models/pricing?endpoint_id={}"
PRICING_FILE = "_pricing.json"

CATEGORY_TASKS: dict[str, str] = {
    "text-to-image": "imageInference",
    "image-to-image": "imageInference",
    "text-to-video": "videoInference",
    "image-to-video": "videoInference",
    "video-to-video": "videoInference",
    "text-to-speech": "audioInference",
    "text-to-audio": "audioInference",
    "speech-to-text": "transcription",
    "audio-to-text": "transcription",
}
"""fal's ``x-fal-metadata.category`` → the ig task. fal files upscalers and background removers
under image-to-image, so those endpoints name their task in ``CURATED`` instead."""


@dataclass(frozen=True)
class Curated:
    endpoint_id: str
    title: str
    description: str
    task: str | None = None
    """Only where fal's category does not say it (see ``CATEGORY_TASKS``)."""


CURATED: tuple[Curated, ...] = (
    # Text to image.
    Curated("fal-ai/flux/dev", "FLUX.1 [dev]", "12B flow transformer for high-quality text to image."),
    Curated("fal-ai/flux/schnell", "FLUX.1 [schnell]", "FLUX.1 distilled to 1-4 steps: fast drafts."),
    Curated("fal-ai/flux-lora", "FLUX.1 [dev] with LoRAs", "FLUX.1 [dev] text to image with LoRA weights applied."),
    Curated("fal-ai/flux-pro", "FLUX.1 [pro]", "Black Forest Labs' FLUX.1 [pro] text to image."),
    Curated("fal-ai/flux-pro/v1.1", "FLUX1.1 [pro]", "FLUX1.1 [pro]: faster, higher-quality FLUX [pro]."),
    Curated("fal-ai/flux-pro/v1.1-ultra", "FLUX1.1 [pro] ultra", "FLUX1.1 [pro] at up to 2K, with a raw mode."),
    Curated("fal-ai/recraft-v3", "Recraft V3", "Recraft V3 text to image, with styles and brand colours."),
    Curated("fal-ai/ideogram/v2", "Ideogram V2", "Ideogram V2 text to image, strong at text in images."),
    Curated(
        "fal-ai/stable-diffusion-v35-large", "Stable Diffusion 3.5 Large", "SD 3.5 Large, with ControlNet and LoRAs."
    ),
    Curated(
        "fal-ai/bytedance/seedream/v4/text-to-image", "Seedream 4.0", "ByteDance Seedream 4.0 text to image, up to 4K."
    ),
    # Image to image (edits).
    Curated("fal-ai/flux-kontext/dev", "FLUX.1 Kontext [dev]", "Edit an image by prompt with FLUX.1 Kontext."),
    Curated("fal-ai/flux/dev/image-to-image", "FLUX.1 [dev] image to image", "FLUX.1 [dev] guided by an image."),
    Curated("bria/fibo-edit/restyle", "Bria FIBO Edit: restyle", "Restyle an image with Bria FIBO Edit."),
    Curated("bria/fibo-edit/relight", "Bria FIBO Edit: relight", "Relight an image with Bria FIBO Edit."),
    # Video.
    Curated(
        "fal-ai/kling-video/v1/standard/image-to-video",
        "Kling 1.0 image to video",
        "Kling 1.0 (standard) animates an image.",
    ),
    Curated(
        "fal-ai/kling-video/v1/standard/text-to-video",
        "Kling 1.0 text to video",
        "Kling 1.0 (standard) video from a prompt.",
    ),
    Curated(
        "fal-ai/kling-video/v2.1/standard/image-to-video",
        "Kling 2.1 image to video",
        "Kling 2.1 (standard) animates an image.",
    ),
    Curated(
        "fal-ai/minimax/video-01/image-to-video",
        "MiniMax Video-01 image to video",
        "MiniMax Video-01 animates an image.",
    ),
    Curated(
        "fal-ai/luma-dream-machine/image-to-video",
        "Luma Dream Machine image to video",
        "Luma Dream Machine animates an image.",
    ),
    Curated("fal-ai/pixverse/v5.6/image-to-video", "PixVerse v5.6 image to video", "PixVerse v5.6 animates an image."),
    # Speech.
    Curated("fal-ai/playai/tts/v3", "PlayAI TTS v3", "PlayHT text to speech with preset and cloned voices."),
    Curated("fal-ai/minimax/speech-02-hd", "MiniMax Speech-02 HD", "MiniMax high-definition text to speech."),
    Curated("fal-ai/kokoro/american-english", "Kokoro (American English)", "Kokoro 82M text to speech."),
    Curated("fal-ai/whisper", "Whisper", "OpenAI Whisper transcription and translation."),
    Curated("fal-ai/wizper", "Wizper", "Whisper v3, fal's faster edition."),
    # Upscaling and background removal: fal's category for these is image-to-image.
    Curated("fal-ai/clarity-upscaler", "Clarity Upscaler", "Creative upscaler that adds detail.", task="upscale"),
    Curated("clarityai/crystal-upscaler", "Crystal Upscaler", "Clarity AI's faithful upscaler.", task="upscale"),
    Curated("fal-ai/esrgan", "ESRGAN", "Real-ESRGAN upscaling.", task="upscale"),
    Curated("fal-ai/aura-sr", "AuraSR", "GAN-based 4x upscaler.", task="upscale"),
    Curated("fal-ai/birefnet/v2", "BiRefNet v2", "Background removal with BiRefNet.", task="removeBackground"),
    Curated("fal-ai/imageutils/rembg", "rembg", "Background removal with rembg.", task="removeBackground"),
)

DROPPED_KEYS = frozenset({"title", "examples", "example", "format", "deprecated", "readOnly", "writeOnly"})
"""Documentation only: no validator reads them, and the catalogue ships inside the Worker."""
LITERAL_KEYS = frozenset({"default", "enum", "const", "required"})
"""Values, not schemas: copied as they are, whatever keys they hold."""
DESCRIPTION_LIMIT = 160


def file_name(endpoint_id: str) -> str:
    return endpoint_id.replace("/", "__") + ".json"


# --- reading fal's documents -------------------------------------------------------------------


def unwrap(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document itself, also from a saved ``/v1/models?expand=openapi-3.0`` reply."""
    if "openapi" in document and "components" in document:
        return document
    models = document.get("models")
    if isinstance(models, list) and models and isinstance(models[0].get("openapi"), dict):
        return models[0]["openapi"]
    raise ValueError("neither an OpenAPI document nor a /v1/models reply with one")


def _ref_name(ref: str) -> str:
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise ValueError(f"unexpected reference {ref!r}")
    return ref[len(prefix) :]


def _operation_schema(document: dict[str, Any], endpoint_id: str, which: str) -> str | None:
    """The component name of the submit body (``input``) or of the result (``output``)."""
    paths = document.get("paths", {})
    try:
        if which == "input":
            content = paths[f"/{endpoint_id}"]["post"]["requestBody"]["content"]
        else:
            content = paths[f"/{endpoint_id}/requests/{{request_id}}"]["get"]["responses"]["200"]["content"]
        return _ref_name(content["application/json"]["schema"]["$ref"])
    except (KeyError, TypeError):
        return None


def component(document: dict[str, Any], endpoint_id: str, which: str) -> str:
    name = _operation_schema(document, endpoint_id, which)
    if name is None:
        suffix = "Input" if which == "input" else "Output"
        names = [n for n in document["components"]["schemas"] if n.endswith(suffix) and n != "QueueStatus"]
        if len(names) != 1:
            raise ValueError(f"{endpoint_id}: cannot tell the {which} schema among {names}")
        name = names[0]
    return name


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
            if value.strip():
                out[key] = _short(value)
        elif key in LITERAL_KEYS:
            out[key] = value
        elif key in ("properties", "patternProperties", "$defs", "definitions"):
            # Names here are field names, not keywords: keep every one.
            out[key] = {name: _clean(sub, refs) for name, sub in value.items()}
        else:
            out[key] = _clean(value, refs)
    return out


def input_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The Input component as a self-contained JSON Schema: each component it reaches is copied
    under ``$defs``."""
    schemas = document["components"]["schemas"]
    refs: set[str] = set()
    root = _clean(schemas[name], refs)
    defs: dict[str, Any] = {}
    pending = sorted(refs - {name})
    while pending:
        ref = pending.pop()
        if ref in defs:
            continue
        found: set[str] = set()
        defs[ref] = _clean(schemas[ref], found)
        pending += sorted(found - defs.keys() - {name})
    if name in refs:  # the input refers to itself
        defs[name] = _clean(schemas[name], set())
    if defs:
        root["$defs"] = dict(sorted(defs.items()))
    return root


def _peel(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A property's own shape: through ``$ref``, one-item ``allOf`` and ``anyOf [X, null]``."""
    schemas = document["components"]["schemas"]
    for _ in range(16):
        if "$ref" in schema:
            schema = schemas[_ref_name(schema["$ref"])]
        elif len(schema.get("allOf", ())) == 1:
            schema = schema["allOf"][0]
        elif "anyOf" in schema:
            branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
            if len(branches) != 1:
                return schema
            schema = branches[0]
        else:
            return schema
    return schema


def _is_file(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    shape = _peel(document, schema)
    return shape.get("type", "object") == "object" and "url" in shape.get("properties", {})


def outputs(document: dict[str, Any], name: str, input_names: set[str]) -> tuple[list[str], list[str]]:
    """The output fields holding files (one or a list), and the text worth keeping: string
    outputs, less those that only echo an input of the same name (flux's ``prompt``)."""
    files, text = [], []
    properties = document["components"]["schemas"][name].get("properties", {})
    for field, schema in properties.items():
        shape = _peel(document, schema)
        if _is_file(document, schema) or (shape.get("type") == "array" and _is_file(document, shape.get("items", {}))):
            files.append(field)
        elif shape.get("type") == "string" and field not in input_names:
            text.append(field)
    return files, text


def entry(curated: Curated, raw: dict[str, Any], price: dict[str, Any] | None) -> dict[str, Any]:
    document = unwrap(raw)
    metadata = document.get("info", {}).get("x-fal-metadata", {})
    if metadata.get("endpointId", curated.endpoint_id) != curated.endpoint_id:
        raise ValueError(f"{curated.endpoint_id}: the document is for {metadata['endpointId']}")
    category = metadata.get("category", "")
    task = curated.task or CATEGORY_TASKS.get(category)
    if task is None:
        raise ValueError(f"{curated.endpoint_id}: no ig task for fal category {category!r}; add it to CATEGORY_TASKS")
    input_name = component(document, curated.endpoint_id, "input")
    schema = input_schema(document, input_name)
    files, text = outputs(
        document, component(document, curated.endpoint_id, "output"), set(schema.get("properties", {}))
    )
    out = {
        "endpoint_id": curated.endpoint_id,
        "category": category,
        "task": task,
        "title": curated.title,
        "description": curated.description,
        "input_schema": schema,
        "output_files": files,
        "output_text": text,
    }
    if price:
        out["pricing"] = {k: price[k] for k in ("unit_price", "unit", "currency") if k in price}
    return out


# --- sources -----------------------------------------------------------------------------------


def _get(url: str, key: str | None) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ig-fal-catalogue"})
    if key:
        request.add_header("Authorization", f"Key {key}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def fetch(endpoint_ids: list[str], key: str | None, pricing: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    documents, prices = {}, {}
    for endpoint_id in endpoint_ids:
        quoted = urllib.parse.quote(endpoint_id, safe="/")
        try:
            documents[endpoint_id] = unwrap(_get(OPENAPI_URL.format(quoted), key))
        except (urllib.error.URLError, ValueError) as error:
            print(f"{endpoint_id}: no OpenAPI document ({error})", file=sys.stderr)
            continue
        if pricing:
            try:
                listed = _get(PRICING_URL.format(quoted), key).get("prices", [])
            except urllib.error.URLError as error:
                print(f"{endpoint_id}: no price ({error})", file=sys.stderr)
                continue
            for price in listed:
                if price.get("endpoint_id") == endpoint_id:
                    prices[endpoint_id] = price
    return documents, prices


def read(directory: Path, endpoint_ids: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    documents = {}
    for endpoint_id in endpoint_ids:
        path = directory / file_name(endpoint_id)
        if path.exists():
            documents[endpoint_id] = json.loads(path.read_text())
    priced = directory / PRICING_FILE
    prices = json.loads(priced.read_text()) if priced.exists() else {}
    return documents, prices


def save(directory: Path, documents: dict[str, Any], prices: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for endpoint_id, document in documents.items():
        (directory / file_name(endpoint_id)).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if prices:
        (directory / PRICING_FILE).write_text(json.dumps(prices, indent=2, sort_keys=True) + "\n")


def catalogue(documents: dict[str, Any], prices: dict[str, Any]) -> dict[str, Any]:
    entries = [
        entry(c, documents[c.endpoint_id], prices.get(c.endpoint_id)) for c in CURATED if c.endpoint_id in documents
    ]
    return {"generated_by": "scripts/fal_catalogue.py", "endpoints": sorted(entries, key=lambda e: e["endpoint_id"])}


def render(data: dict[str, Any]) -> str:
    """The catalogue as a Python module holding its JSON text: a Worker uploads Python modules,
    where a data file would need a bundling rule of its own."""
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    lines = "".join(f"    {line!r}\n" for line in text.splitlines(keepends=True))
    return (
        '"""ig\'s curated catalogue of fal endpoints, as JSON text. Generated by scripts/fal_catalogue.py'
        ' from fal\'s\nOpenAPI documents: do not edit; run the script."""\n\n'
        "# fmt: off\n# ruff: noqa: E501\n"
        f"TEXT = (\n{lines})\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--from", dest="source", type=Path, metavar="DIR", help="read saved OpenAPI documents from DIR (offline)"
    )
    parser.add_argument(
        "--key", default=os.environ.get("FAL_KEY"), help="fal key for the online run (default: FAL_KEY)"
    )
    parser.add_argument("--pricing", action="store_true", help="online: also fetch each endpoint's price (needs a key)")
    parser.add_argument("--save", type=Path, metavar="DIR", help="online: keep the fetched documents in DIR")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT.relative_to(ROOT)})"
    )
    parser.add_argument("--strict", action="store_true", help="fail when a curated endpoint has no document")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the output would change")
    args = parser.parse_args(argv)

    wanted = [c.endpoint_id for c in CURATED]
    if args.source:
        documents, prices = read(args.source, wanted)
    else:
        documents, prices = fetch(wanted, args.key, args.pricing)
        if args.save:
            save(args.save, documents, prices)
    missing = [endpoint_id for endpoint_id in wanted if endpoint_id not in documents]
    for endpoint_id in missing:
        print(f"left out, no OpenAPI document: {endpoint_id}", file=sys.stderr)
    if missing and args.strict:
        return 1
    text = render(catalogue(documents, prices))
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; run scripts/fal_catalogue.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(documents)} endpoints, {len(text.encode())} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
