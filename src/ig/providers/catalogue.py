"""Named model aliases (``flux-schnell`` → a Runware AIR, its task type and default parameters)
and the task each known model runs. Aliases are data: a new model is a new entry in ``ALIASES``,
never a code branch. ``GET /v1/models`` publishes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ig.errors import FieldError
from ig.providers.runware.models import MODELS_BY_TASK


@dataclass(frozen=True)
class ModelAlias:
    name: str
    air: str
    task: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    """Parameters applied under the consumer's own (theirs win)."""


def _alias(name: str, air: str, task: str, description: str, **defaults: Any) -> ModelAlias:
    return ModelAlias(name, air, task, description, defaults)


ALIASES: tuple[ModelAlias, ...] = (
    _alias("flux-schnell", "runware:100@1", "imageInference", "FLUX.1 [schnell]: fast drafts in 4 steps.",
           width=1024, height=1024, steps=4),
    _alias("flux-dev", "runware:101@1", "imageInference", "FLUX.1 [dev]: high quality text-to-image.",
           width=1024, height=1024, steps=28),
    _alias("flux-kontext-dev", "runware:106@1", "imageInference", "FLUX.1 Kontext [dev]: edit an image by prompt."),
    _alias("flux-2-dev", "runware:400@1", "imageInference", "FLUX.2 [dev].", width=1024, height=1024),
    _alias("flux-1.1-pro", "bfl:2@1", "imageInference", "FLUX1.1 [pro] by Black Forest Labs.",
           width=1024, height=1024),
    _alias("kling-2.5-turbo", "klingai:6@0", "videoInference", "Kling 2.5 Turbo Standard: text/image to video.",
           duration=5),
    _alias("seedance-1-pro", "bytedance:2@1", "videoInference", "Seedance 1.0 Pro by ByteDance.", duration=5),
    _alias("veo-3.1-fast", "google:3@3", "videoInference", "Google Veo 3.1 Fast, with sound."),
    _alias("ace-step", "runware:ace-step@v1.5-turbo", "audioInference", "ACE-Step 1.5 Turbo: music from a prompt.",
           duration=30),
    _alias("minimax-speech", "minimax:speech@2.8", "audioInference", "MiniMax Speech 2.8: text to speech."),
    _alias("llava", "runware:150@2", "caption", "LLaVA 1.6 Mistral 7B: describe an image."),
    _alias("qwen-vl", "runware:152@2", "caption", "Qwen2.5-VL 7B: describe an image or answer about it."),
    _alias("age-detector", "runware:152@50", "caption", "Qwen2.5-VL age detector: structured age estimate."),
    _alias("gemini-flash", "google:gemini@3-flash", "textInference", "Google Gemini 3 Flash."),
    _alias("gpt-5-mini", "openai:gpt@5-mini", "textInference", "OpenAI GPT-5 mini."),
    _alias("claude-haiku", "anthropic:claude@haiku-4.5", "textInference", "Anthropic Claude Haiku 4.5."),
    _alias("real-esrgan", "runware:504@1", "upscale", "Real-ESRGAN: fast 2x/4x upscaling.", upscaleFactor=2),
    _alias("clarity-upscaler", "runware:500@1", "upscale", "Clarity: creative, detail-adding upscaler.",
           upscaleFactor=2),
    _alias("rembg", "runware:109@1", "removeBackground", "RemBG 1.4: background removal.", outputFormat="PNG"),
    _alias("birefnet", "runware:112@5", "removeBackground", "BiRefNet general: precise cut-outs.",
           outputFormat="PNG"),
    _alias("prompt-enhancer", "runware:llama-3-1-8b@prompt-enhancer", "promptEnhance",
           "Llama 3.1 8B prompt enhancer.", promptMaxLength=128),
    _alias("photomaker-realvisxl", "civitai:139562@344487", "photoMaker",
           "PhotoMaker on RealVisXL V4.0 (SDXL).", style="No Style", strength=20, width=1024, height=1024),
    _alias("picsart-vectorize", "picsart:1@1", "vectorize", "Picsart image vectorizer: raster to SVG.",
           outputFormat="SVG"),
    _alias("face-mask", "runware:35@1", "imageMasking", "YOLOv8n face detector: face masks."),
    _alias("person-mask", "runware:35@4", "imageMasking", "YOLOv8n person segmentation."),
    _alias("trellis-2", "microsoft:trellis-2@4b", "3dInference", "Microsoft TRELLIS.2: image to 3D (GLB).",
           outputFormat="GLB"),
    _alias("hunyuan-3d", "tencent:hunyuan-3d@3.1-rapid", "3dInference", "Tencent Hunyuan3D 3.1 Rapid.",
           outputFormat="GLB"),
)  # fmt: skip


@cache
def _aliases() -> dict[str, ModelAlias]:
    return {alias.name: alias for alias in ALIASES}


@cache
def _task_of_air() -> dict[str, str | None]:
    tasks: dict[str, str | None] = {}
    for task, airs in MODELS_BY_TASK.items():
        for air in airs:
            # A model listed under two tasks tells us nothing; accept either.
            tasks[air] = task if tasks.get(air, task) == task else None
    for alias in ALIASES:
        tasks.setdefault(alias.air, alias.task)
    return tasks


def alias_named(name: str) -> ModelAlias | None:
    return _aliases().get(name)


def task_of(air: str) -> str | None:
    """The task a known model runs, or None when ig does not know the model."""
    return _task_of_air().get(air)


def looks_like_air(model: str) -> bool:
    """``source:id@version``: what Runware accepts as a model. Anything else must be an alias."""
    source, colon, rest = model.partition(":")
    return bool(source and colon and "@" in rest)


@dataclass
class ModelChoice:
    air: str
    task: str | None
    alias: str | None
    defaults: dict[str, Any]


def choose_model(model: str, task: str | None, provider: str, errors: list[FieldError]) -> ModelChoice:
    """Resolve an alias or check an AIR, and settle the task type; problems go to ``errors``."""
    alias = alias_named(model)
    if alias is not None:
        air, known, defaults = alias.air, alias.task, dict(alias.defaults)
    elif looks_like_air(model) or provider == "mock":
        air, known, defaults = model, task_of(model), {}
    else:
        errors.append(
            FieldError(
                "model",
                f"unknown model alias {model!r}: use a name from GET /v1/models or a Runware AIR like runware:101@1",
                "unknown_model",
            )
        )
        return ModelChoice(model, task, None, {})
    if task is None and known is None:
        errors.append(FieldError("task", f"required: ig does not know which task {air} runs", "missing"))
    elif task is not None and known is not None and task != known:
        errors.append(FieldError("task", f"{model} runs {known}, not {task}", "wrong_task"))
    return ModelChoice(air, task or known, alias.name if alias else None, defaults)
