"""The task catalogue: every Runware task type ig knows, the parameters it accepts (a pydantic
model per task, also published as JSON Schema by ``GET /v1/tasks``) and the generic rules ig
checks before anything is spent.

ig checks only what holds for every model of a task type (types, required inputs, ranges no
model goes beyond); model-specific rules stay Runware's, and unknown parameters pass through
untouched. A task type missing here is still sent to Runware as is: ig does not block what
Runware adds. Bounds come from Runware's documented generic limits, widened where newer models
go further (e.g. 4096-pixel sides), so ig never refuses a request Runware would run.

Models are built lazily (``defer_build``): the Worker pays for a task's validator the first time
a job of that task arrives, not at every cold start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ig.errors import FieldError

_CONFIG = ConfigDict(extra="allow", strict=True, defer_build=True)

Prompt = Annotated[str, Field(min_length=1, max_length=100_000)]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1, description="Random when left out.")]
Dimension = Annotated[int, Field(ge=64, le=4096, description="Pixels; the model may require a multiple of 8/16/64.")]
InputMedia = Annotated[str, Field(min_length=1, description="A URL, data URI, base64, Runware UUID or artifact:<id>.")]


class Params(BaseModel):
    """Parameters every task accepts. Unknown ones pass through to Runware unchanged."""

    model_config = _CONFIG

    routing: dict[str, Any] = Field(None, description="Runware routing options.")
    settings: dict[str, Any] = Field(None, description="Model-specific settings.")
    providerSettings: dict[str, Any] = Field(None, description="Per-provider options, e.g. {openai: {...}}.")


class Inputs(BaseModel):
    """Runware's ``inputs`` container (newer models). Other keys pass through."""

    model_config = _CONFIG

    image: InputMedia = Field(None)
    images: list[InputMedia] = Field(None, max_length=32)
    video: InputMedia = Field(None)
    audio: InputMedia = Field(None)
    mask: InputMedia = Field(None)
    seedImage: InputMedia = Field(None)
    referenceImages: list[InputMedia] = Field(None, max_length=32)


class Safety(BaseModel):
    """Content checking; results then carry ``NSFWContent``, which becomes the artifact's ``nsfw``."""

    model_config = _CONFIG

    checkContent: bool = Field(None)
    mode: Literal["none", "fast", "full"] = Field(None)


class MediaParams(Params):
    """Parameters of tasks that produce files."""

    inputs: Inputs = Field(None)
    outputType: Literal["URL", "base64Data", "dataURI"] = Field(
        None, description="How Runware returns the file; ig stores it the same way whichever you pick."
    )
    outputFormat: str = Field(None, min_length=2, max_length=8, description="e.g. PNG, JPG, WEBP, MP4, MP3, SVG, GLB.")
    outputQuality: int = Field(None, ge=20, le=99)
    ttl: int = Field(None, ge=60, description="Seconds Runware keeps the file; ig copies it right away.")
    uploadEndpoint: str = Field(None)
    safety: Safety = Field(None)


class LoraRef(BaseModel):
    model_config = _CONFIG

    model: str = Field(min_length=1)
    weight: float = Field(None, ge=-10, le=10)


class ImageInferenceParams(MediaParams):
    positivePrompt: Prompt = Field(None, description='What to generate; "__BLANK__" for none.')
    negativePrompt: Prompt = Field(None)
    width: Dimension = Field(None)
    height: Dimension = Field(None)
    resolution: str = Field(None, description='"1k", "2k" or "4k" for models that take the size from references.')
    steps: int = Field(None, ge=1, le=100)
    CFGScale: float = Field(None, ge=0, le=50)
    seed: Seed = Field(None)
    scheduler: str = Field(None)
    clipSkip: int = Field(None, ge=0, le=2)
    numberResults: int = Field(None, ge=1, le=20, description="Images to generate; each becomes an artifact.")
    seedImage: InputMedia = Field(None, description="Image-to-image / inpainting source.")
    maskImage: InputMedia = Field(None)
    maskMargin: int = Field(None, ge=32, le=128)
    strength: float = Field(None, ge=0, le=1, description="How far to move away from seedImage.")
    referenceImages: list[InputMedia] = Field(None, max_length=32)
    lora: list[LoraRef] = Field(None, max_length=32)


class FrameImage(BaseModel):
    model_config = _CONFIG

    inputImage: InputMedia = Field(None)
    image: InputMedia = Field(None)
    frame: Literal["first", "last"] | int = Field(None)


class VideoInferenceParams(MediaParams):
    positivePrompt: Prompt = Field(None)
    negativePrompt: Prompt = Field(None)
    width: Dimension = Field(None)
    height: Dimension = Field(None)
    resolution: str = Field(None)
    duration: float = Field(None, gt=0, le=120, description="Seconds; models allow only some values.")
    fps: int = Field(None, ge=1, le=120)
    steps: int = Field(None, ge=1, le=100)
    CFGScale: float = Field(None, ge=0, le=50)
    seed: Seed = Field(None)
    numberResults: int = Field(None, ge=1, le=4)
    frameImages: list[FrameImage] = Field(None, max_length=16)
    referenceImages: list[InputMedia] = Field(None, max_length=32)


class AudioInferenceParams(MediaParams):
    positivePrompt: Prompt = Field(None, description="Music or sound description.")
    negativePrompt: Prompt = Field(None)
    duration: float = Field(None, gt=0, le=600, description="Seconds.")
    steps: int = Field(None, ge=1, le=200)
    CFGScale: float = Field(None, ge=0, le=50)
    strength: float = Field(None, ge=0, le=1)
    seed: Seed = Field(None)
    numberResults: int = Field(None, ge=1, le=4)
    speech: dict[str, Any] = Field(None, description="Text to speech: {text, voice, language, speed, ...}.")
    audioSettings: dict[str, Any] = Field(None, description="{sampleRate, bitrate, channels}.")


class CaptionParams(Params):
    inputs: Inputs = Field(None, description="{image} or {video} to describe.")
    inputImage: InputMedia = Field(None, description="Older form of inputs.image.")
    prompt: Prompt = Field(None, description="What to ask about the image.")


class Message(BaseModel):
    model_config = _CONFIG

    role: str = Field(min_length=1, description="system, user, assistant or tool.")
    content: str | list[Any] = Field(description="Text, or a list of content parts.")


class TextInferenceParams(Params):
    messages: list[Message] = Field(min_length=1)
    inputs: Inputs = Field(None)
    seed: Seed = Field(None)
    numberResults: int = Field(None, ge=1, le=10)
    tools: list[dict[str, Any]] = Field(None)
    toolChoice: dict[str, Any] = Field(None)
    includeUsage: bool = Field(None)
    jsonSchema: dict[str, Any] = Field(None)


class ImageToolParams(MediaParams):
    """Tools that take one image (or video) and return one file."""

    inputImage: InputMedia = Field(None, description="Older form of inputs.image.")


class UpscaleParams(ImageToolParams):
    upscaleFactor: float = Field(None, ge=1, le=8)
    width: int = Field(None, ge=64, le=8192)
    height: int = Field(None, ge=64, le=8192)


class PromptEnhanceParams(Params):
    prompt: str = Field(min_length=1, max_length=3000)
    promptMaxLength: int = Field(None, ge=12, le=400, description="Tokens.")
    promptVersions: int = Field(None, ge=1, le=5, description="Enhanced prompts to return; each becomes an artifact.")


class PhotoMakerParams(MediaParams):
    inputImages: list[InputMedia] = Field(min_length=1, max_length=4, description="1 to 4 photos of the subject.")
    positivePrompt: Prompt = Field(description='Must contain the trigger word "img", e.g. "img of a man as a pilot".')
    negativePrompt: Prompt = Field(None)
    style: str = Field(None)
    strength: float = Field(None, ge=15, le=50, description="Likeness strength (PhotoMaker's own 15-50 scale).")
    width: Dimension = Field(None)
    height: Dimension = Field(None)
    steps: int = Field(None, ge=1, le=100)
    CFGScale: float = Field(None, ge=0, le=50)
    seed: Seed = Field(None)
    numberResults: int = Field(None, ge=1, le=20)


class VectorizeParams(ImageToolParams):
    positivePrompt: Prompt = Field(None, description="For models that draw vectors from text.")
    width: Dimension = Field(None)
    height: Dimension = Field(None)


class ThreeDParams(MediaParams):
    positivePrompt: Prompt = Field(None)
    negativePrompt: Prompt = Field(None)
    seed: Seed = Field(None)
    numberResults: int = Field(None, ge=1, le=4)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    summary: str
    modality: str
    params: type[Params]
    needs_one_of: tuple[str, ...] = ()
    """At least one of these must be given (besides the model's own requirements)."""
    results_param: str | None = "numberResults"
    """The parameter that sets how many results (artifacts) one task yields."""
    outputs: tuple[str, ...] = ()
    example: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 300
    """How long a job of this type may take before it fails as timed out (its default deadline)."""


_IMAGE_OUT = ("imageURL", "imageBase64Data", "imageDataURI")
TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "imageInference",
            "Text-to-image, image-to-image, inpainting and outpainting.",
            "image",
            ImageInferenceParams,
            ("positivePrompt", "inputs", "seedImage", "referenceImages"),
            outputs=_IMAGE_OUT,
            example={"positivePrompt": "a red fox in snow, watercolour", "width": 1024, "height": 1024},
            timeout_seconds=600,
        ),
        TaskSpec(
            "videoInference",
            "Text-to-video and image-to-video.",
            "video",
            VideoInferenceParams,
            ("positivePrompt", "inputs", "frameImages", "referenceImages"),
            outputs=("videoURL",),
            example={"positivePrompt": "a paper boat drifting down a rainy street", "duration": 5},
            timeout_seconds=3600,
        ),
        TaskSpec(
            "audioInference",
            "Music, sound effects and text to speech.",
            "audio",
            AudioInferenceParams,
            ("positivePrompt", "speech", "inputs"),
            outputs=("audioURL", "audioBase64Data", "audioDataURI"),
            example={"positivePrompt": "lo-fi hip hop beat with warm piano", "duration": 30},
            timeout_seconds=900,
        ),
        TaskSpec(
            "caption",
            "Vision: describe an image or a video (some models return structured data, e.g. age).",
            "text",
            CaptionParams,
            ("inputs", "inputImage"),
            results_param=None,
            outputs=("text", "structuredData"),
            example={"inputs": {"image": "https://example.com/photo.jpg"}, "prompt": "Describe the lighting"},
        ),
        TaskSpec(
            "textInference",
            "Text generation with chat messages (e.g. product copy from an image description).",
            "text",
            TextInferenceParams,
            outputs=("text",),
            example={"messages": [{"role": "user", "content": "Write a two-line product blurb for a red kettle"}]},
        ),
        TaskSpec(
            "upscale",
            "Upscale an image (or video) by a factor.",
            "image",
            UpscaleParams,
            ("inputs", "inputImage"),
            results_param=None,
            outputs=_IMAGE_OUT + ("videoURL",),
            example={"inputs": {"image": "https://example.com/small.png"}, "upscaleFactor": 2},
            timeout_seconds=600,
        ),
        TaskSpec(
            "removeBackground",
            "Cut the subject out of an image (or video), with transparency.",
            "image",
            ImageToolParams,
            ("inputs", "inputImage"),
            results_param=None,
            outputs=_IMAGE_OUT + ("videoURL",),
            example={"inputs": {"image": "https://example.com/product.jpg"}, "outputFormat": "PNG"},
        ),
        TaskSpec(
            "promptEnhance",
            "Rewrite a short prompt into richer ones; one artifact per version.",
            "text",
            PromptEnhanceParams,
            results_param="promptVersions",
            outputs=("text",),
            example={"prompt": "a castle", "promptVersions": 3, "promptMaxLength": 64},
        ),
        TaskSpec(
            "photoMaker",
            "Personalised images of a subject from 1 to 4 photos.",
            "image",
            PhotoMakerParams,
            outputs=_IMAGE_OUT,
            example={
                "inputImages": ["https://example.com/me.jpg"],
                "positivePrompt": "img of a person as an astronaut",
                "style": "No Style",
                "strength": 20,
                "width": 1024,
                "height": 1024,
            },
            timeout_seconds=600,
        ),
        TaskSpec(
            "vectorize",
            "Turn a raster image into SVG.",
            "image",
            VectorizeParams,
            ("inputs", "inputImage", "positivePrompt"),
            results_param=None,
            outputs=_IMAGE_OUT,
            example={"inputs": {"image": "https://example.com/logo.png"}, "outputFormat": "SVG"},
        ),
        TaskSpec(
            "imageMasking",
            "Detect faces, hands or people and return a mask (plus detections).",
            "image",
            ImageToolParams,
            ("inputs", "inputImage"),
            results_param=None,
            outputs=("maskImageURL", "maskImageBase64Data", "maskImageDataURI"),
            example={"inputs": {"image": "https://example.com/portrait.jpg"}},
        ),
        TaskSpec(
            "3dInference",
            "Image- or text-to-3D; returns GLB files.",
            "file",
            ThreeDParams,
            ("inputs", "positivePrompt"),
            outputs=("outputs.files[].url",),
            example={"inputs": {"image": "https://example.com/chair.png"}, "outputFormat": "GLB"},
            timeout_seconds=1800,
        ),
    )
}


def validate_params(task: str, params: dict[str, Any], *, skip: frozenset[str] = frozenset()) -> list[FieldError]:
    """Every generic rule ``params`` breaks, as fields under ``params.``; [] for unknown tasks.
    ``skip`` names top-level parameters not to check yet (preset placeholders)."""
    spec = TASKS.get(task)
    if spec is None:
        return []
    errors: list[FieldError] = []
    checked = {k: v for k, v in params.items() if k not in skip}
    try:
        spec.params.model_validate(checked)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if err["type"] == "missing" and err["loc"] and err["loc"][0] in skip:
                continue
            path = ".".join(str(p) for p in ("params", *err["loc"]))
            errors.append(FieldError(path, err["msg"].removeprefix("Value error, "), err["type"]))
    if spec.needs_one_of and not any(params.get(name) not in (None, "", [], {}) for name in spec.needs_one_of):
        names = ", ".join(spec.needs_one_of)
        errors.append(FieldError(f"params.{spec.needs_one_of[0]}", f"{task} needs one of: {names}", "missing"))
    return errors


DEFAULT_TIMEOUT_SECONDS = 1800
"""The deadline of a job whose task type ig has no spec for."""


def default_timeout(task: str) -> int:
    spec = TASKS.get(task)
    return spec.timeout_seconds if spec else DEFAULT_TIMEOUT_SECONDS


def expected_results(task: str, params: dict[str, Any]) -> int:
    """How many results (webhooks, getResponse items, artifact groups) one task produces."""
    spec = TASKS.get(task)
    key = spec.results_param if spec else "numberResults"
    value = params.get(key, 1) if key else 1
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def params_schema(spec: TaskSpec) -> dict[str, Any]:
    """The JSON Schema of a task's parameters, as published by ``GET /v1/tasks``."""
    schema = spec.params.model_json_schema()
    _drop_null_defaults(schema)
    schema["title"] = f"{spec.name} parameters"
    if spec.needs_one_of:
        schema["anyOf"] = [{"required": [name]} for name in spec.needs_one_of]
    return schema


def _drop_null_defaults(node: Any) -> None:
    # Optional parameters are simply absent; "default": null would suggest sending null.
    if isinstance(node, dict):
        if node.get("default", 0) is None:
            del node["default"]
        for value in node.values():
            _drop_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_null_defaults(value)
