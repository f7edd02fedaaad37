"""Named model aliases, each naming a model per provider (``flux-schnell`` → Runware's
``runware:100@1``, fal's ``fal-ai/flux/schnell``) with its task type and default parameters, and
the task each known model runs. Aliases are data: a new model is a new entry in ``ALIASES``,
never a code branch. ``GET /v1/models`` publishes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ig.errors import FieldError
from ig.providers.base import Dialect
from ig.providers.registry import dialect_for


@dataclass(frozen=True)
class ProviderModel:
    """An alias on one provider: the provider's own model, and parameters applied under the
    consumer's own (theirs win), in ig's common names or the provider's."""

    model: str
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelAlias:
    name: str
    task: str
    description: str
    providers: dict[str, ProviderModel]
    """Where the alias runs, by provider; the first is the one ig documents first."""

    @property
    def air(self) -> str | None:
        """The Runware model (its AIR), where the alias runs on Runware."""
        runware = self.providers.get("runware")
        return runware.model if runware else None


def _alias(name: str, task: str, description: str, **providers: ProviderModel) -> ModelAlias:
    return ModelAlias(name, task, description, providers)


def on(model: str, **defaults: Any) -> ProviderModel:
    return ProviderModel(model, defaults)


ALIASES: tuple[ModelAlias, ...] = (
    _alias("flux-schnell", "imageInference", "FLUX.1 [schnell]: fast drafts in 4 steps.",
           runware=on("runware:100@1", width=1024, height=1024, steps=4),
           fal=on("fal-ai/flux/schnell", width=1024, height=1024, steps=4),
           replicate=on("black-forest-labs/flux-schnell", aspect_ratio="1:1", steps=4)),
    _alias("flux-dev", "imageInference", "FLUX.1 [dev]: high quality text-to-image.",
           runware=on("runware:101@1", width=1024, height=1024, steps=28),
           fal=on("fal-ai/flux/dev", width=1024, height=1024, steps=28),
           replicate=on("black-forest-labs/flux-dev", aspect_ratio="1:1", steps=28)),
    _alias("flux-kontext-dev", "imageInference", "FLUX.1 Kontext [dev]: edit an image by prompt.",
           runware=on("runware:106@1"), fal=on("fal-ai/flux-kontext/dev")),
    _alias("flux-2-dev", "imageInference", "FLUX.2 [dev].", runware=on("runware:400@1", width=1024, height=1024)),
    _alias("flux-1.1-pro", "imageInference", "FLUX1.1 [pro] by Black Forest Labs.",
           runware=on("bfl:2@1", width=1024, height=1024), fal=on("fal-ai/flux-pro/v1.1", width=1024, height=1024),
           replicate=on("black-forest-labs/flux-1.1-pro", width=1024, height=1024)),
    _alias("kling-2.5-turbo", "videoInference", "Kling 2.5 Turbo Standard: text/image to video.",
           runware=on("klingai:6@0", duration=5)),
    _alias("seedance-1-pro", "videoInference", "Seedance 1.0 Pro by ByteDance.",
           runware=on("bytedance:2@1", duration=5)),
    _alias("veo-3.1-fast", "videoInference", "Google Veo 3.1 Fast, with sound.", runware=on("google:3@3")),
    _alias("ace-step", "audioInference", "ACE-Step 1.5 Turbo: music from a prompt.",
           runware=on("runware:ace-step@v1.5-turbo", duration=30)),
    _alias("minimax-speech", "audioInference", "MiniMax Speech: text to speech.",
           runware=on("minimax:speech@2.8"), fal=on("fal-ai/minimax/speech-02-hd")),
    _alias("whisper", "transcription", "OpenAI Whisper: speech to text.", fal=on("fal-ai/whisper")),
    _alias("musicgen", "audioInference", "Meta MusicGen: music from a prompt.",
           replicate=on("meta/musicgen:671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb")),
    _alias("llama-3-8b", "textInference", "Meta Llama 3 8B Instruct.", replicate=on("meta/meta-llama-3-8b-instruct")),
    _alias("blip", "caption", "BLIP: describe an image.",
           replicate=on("salesforce/blip:2e1dddc8621f72155f24cf2e0adbde548458d3cab9f00c0139eea840d0ac4746")),
    _alias("llava", "caption", "LLaVA 1.6 Mistral 7B: describe an image.", runware=on("runware:150@2")),
    _alias("qwen-vl", "caption", "Qwen2.5-VL 7B: describe an image or answer about it.", runware=on("runware:152@2")),
    _alias("age-detector", "caption", "Qwen2.5-VL age detector: structured age estimate.",
           runware=on("runware:152@50")),
    _alias("gemini-flash", "textInference", "Google Gemini 3 Flash.", runware=on("google:gemini@3-flash")),
    _alias("gpt-5-mini", "textInference", "OpenAI GPT-5 mini.", runware=on("openai:gpt@5-mini")),
    _alias("claude-haiku", "textInference", "Anthropic Claude Haiku 4.5.", runware=on("anthropic:claude@haiku-4.5")),
    _alias("real-esrgan", "upscale", "Real-ESRGAN: fast 2x/4x upscaling.",
           runware=on("runware:504@1", upscaleFactor=2), fal=on("fal-ai/esrgan", scale=2)),
    _alias("clarity-upscaler", "upscale", "Clarity: creative, detail-adding upscaler.",
           runware=on("runware:500@1", upscaleFactor=2), fal=on("fal-ai/clarity-upscaler"),
           replicate=on("philz1337x/clarity-upscaler:dfad41707589d68ecdccd1dfa600d55a208f9310748e44bfe35b4a6291453d5e")),
    _alias("rembg", "removeBackground", "RemBG: background removal.",
           runware=on("runware:109@1", outputFormat="PNG"), fal=on("fal-ai/imageutils/rembg")),
    _alias("birefnet", "removeBackground", "BiRefNet general: precise cut-outs.",
           runware=on("runware:112@5", outputFormat="PNG"), fal=on("fal-ai/birefnet")),
    _alias("prompt-enhancer", "promptEnhance", "Llama 3.1 8B prompt enhancer.",
           runware=on("runware:llama-3-1-8b@prompt-enhancer", promptMaxLength=128)),
    _alias("photomaker-realvisxl", "photoMaker", "PhotoMaker on RealVisXL V4.0 (SDXL).",
           runware=on("civitai:139562@344487", style="No Style", strength=20, width=1024, height=1024)),
    _alias("picsart-vectorize", "vectorize", "Picsart image vectorizer: raster to SVG.",
           runware=on("picsart:1@1", outputFormat="SVG")),
    _alias("face-mask", "imageMasking", "YOLOv8n face detector: face masks.", runware=on("runware:35@1")),
    _alias("person-mask", "imageMasking", "YOLOv8n person segmentation.", runware=on("runware:35@4")),
    _alias("trellis-2", "3dInference", "Microsoft TRELLIS.2: image to 3D (GLB).",
           runware=on("microsoft:trellis-2@4b", outputFormat="GLB")),
    _alias("hunyuan-3d", "3dInference", "Tencent Hunyuan3D 3.1 Rapid.",
           runware=on("tencent:hunyuan-3d@3.1-rapid", outputFormat="GLB")),
)  # fmt: skip


@cache
def _aliases() -> dict[str, ModelAlias]:
    return {alias.name: alias for alias in ALIASES}


@cache
def _alias_tasks() -> dict[tuple[str, str], str]:
    return {(provider, on.model): alias.task for alias in ALIASES for provider, on in alias.providers.items()}


def runs_on(alias: ModelAlias, provider: str) -> bool:
    return dialect_for(provider).aliases_of in alias.providers


def alias_named(name: str) -> ModelAlias | None:
    return _aliases().get(name)


def task_of(provider: str, model: str) -> str | None:
    """The task a known model runs on the provider, or None when ig does not know the model."""
    return dialect_for(provider).task_of(model) or _alias_tasks().get((provider, model))


@dataclass
class ModelChoice:
    model: str
    task: str | None
    alias: str | None
    defaults: dict[str, Any]


def choose_model(model: str, task: str | None, provider: str, errors: list[FieldError]) -> ModelChoice:
    """Resolve an alias on the provider or check the provider's own model id, and settle the
    task type; problems go to ``errors``."""
    alias = alias_named(model)
    if alias is not None:
        on = alias.providers.get(dialect_for(provider).aliases_of) if runs_on(alias, provider) else None
        if on is None:
            offered = ", ".join(alias.providers)
            errors.append(
                FieldError("model", f"{model} does not run on {provider}; it runs on: {offered}", "unavailable_model")
            )
            return ModelChoice(model, task or alias.task, alias.name, {})
        chosen, known, defaults = on.model, alias.task, dict(on.defaults)
    else:
        problem = dialect_for(provider).model_problem(model)
        if problem is not None:
            message = f"unknown model {model!r}: use a name from GET /v1/models or a {provider} model id ({problem})"
            errors.append(FieldError("model", message, "unknown_model"))
            return ModelChoice(model, task, None, {})
        chosen, known, defaults = model, task_of(provider, model), {}
    if task is None and known is None:
        fallback = dialect_for(provider).unknown_model_task
        if fallback is not None:
            return ModelChoice(chosen, fallback, None, defaults)
        errors.append(FieldError("task", f"required: ig does not know which task {chosen} runs", "missing"))
    elif task is not None and known is not None and task != known:
        errors.append(FieldError("task", f"{model} runs {known}, not {task}", "wrong_task"))
    return ModelChoice(chosen, task or known, alias.name if alias else None, defaults)


def native_params(
    dialect: Dialect, task: str, model: str, params: dict[str, Any], defaults: dict[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The consumer's parameters under the provider's own names, over the alias's defaults (also
    moved to the provider's names, so a default never collides with the consumer's native twin)."""
    native, errors = dialect.native_params(task, model, params)
    native_defaults, _ = dialect.native_params(task, model, defaults)
    return {**native_defaults, **native}, errors


AUTO_ORDER = ("runware", "fal", "replicate")
"""The order ``"provider": "auto"`` tries providers in (the mock is never chosen for a consumer)."""


def provider_order(choice: str | list[str], model: str, usable: Callable[[str], bool]) -> list[str]:
    """The providers to try, in order: the one named, the list named, or for ``auto`` every usable
    provider that runs the model (an alias's providers, or those whose catalogue knows it)."""
    if isinstance(choice, list):
        return list(choice)
    if choice != "auto":
        return [choice]
    alias = alias_named(model)
    if alias is not None:
        return [name for name in AUTO_ORDER if name in alias.providers and usable(name)]
    return [name for name in AUTO_ORDER if usable(name) and dialect_for(name).task_of(model) is not None]
