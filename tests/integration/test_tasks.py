"""Every Runware task type end to end on the local runtime: a job with the task's real request
shape goes to the fake Runware, whose results come back in the task's real result shape, and
every output lands as an artifact of the right kind, content type and extension, with the bytes
the provider sent, its width and height (images) or duration (audio, video), and its NSFW flag.

Outputs come from ``media_samples`` (real files of every format); the fake sizes and times them
from the task's own ``width``/``height``/``duration``, so the stored artifact can be checked exactly."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import httpx
import pytest
from fixtures import media_samples

INPUT_IMAGE = "https://images.example.com/uploads/portrait-0193.jpg"
IG_FIELDS = frozenset({"taskType", "taskUUID", "model", "deliveryMethod", "includeCost", "webhookURL"})
"""What ig adds to a task; everything else in the task Runware receives is the consumer's params."""

TEXT = ("text", "text/plain; charset=utf-8", "txt")
JSON = ("text", "application/json", "json")
IMAGE_FORMATS = {
    "PNG": ("image", "image/png", "png"),
    "JPG": ("image", "image/jpeg", "jpg"),
    "WEBP": ("image", "image/webp", "webp"),
    "SVG": ("image", "image/svg+xml", "svg"),
}
VIDEO_FORMATS = {
    "MP4": ("video", "video/mp4", "mp4"),
    "WEBM": ("video", "video/webm", "webm"),
    "MOV": ("video", "video/quicktime", "mov"),
}
AUDIO_FORMATS = {
    "MP3": ("audio", "audio/mpeg", "mp3"),
    "WAV": ("audio", "audio/wav", "wav"),
    "FLAC": ("audio", "audio/flac", "flac"),
    "OGG": ("audio", "audio/ogg", "ogg"),
}
GLB = ("file", "model/gltf-binary", "glb")


# ---------------------------------------------------------------------------------------------- helpers


async def run_job(ig, fake, task: str, model: str, params: dict[str, Any], **body: Any) -> dict[str, Any]:
    """Submit, wait, and check the job succeeded and Runware got the params exactly as sent."""
    response = await ig.submit({"task": task, "model": model, "params": params, **body})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = await ig.wait(job_id, seconds=30)
    assert job["status"] == "succeeded", job
    sent = fake.tasks[job_id]
    assert (sent["taskType"], sent["taskUUID"], sent["model"]) == (task, job_id, model)
    assert {name: value for name, value in sent.items() if name not in IG_FIELDS} == params
    return job


def results_of(fake, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The result items the fake sent for the job's task."""
    return fake.results_for(fake.tasks[job["id"]])


async def check_stored(ig, artifact: dict[str, Any], data: bytes, expected: tuple[str, str, str]) -> httpx.Response:
    """The artifact is ``data`` exactly, of the expected kind, content type and file extension."""
    kind, content_type, extension = expected
    assert (artifact["kind"], artifact["content_type"]) == (kind, content_type), artifact
    assert artifact["size"] == len(data)
    assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
    response = await ig.client.get(f"/v1/artifacts/{artifact['id']}/content")
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["content-type"] == content_type
    filename = re.search(r'filename="([^"]+)"', response.headers["content-disposition"])
    assert filename is not None, response.headers["content-disposition"]
    assert filename.group(1) == f"{artifact['id']}.{extension}"
    return response


def by_source_url(job: dict[str, Any], urls: list[str]) -> list[dict[str, Any]]:
    """The job's artifacts, one per URL and in the URLs' order; no artifact left over."""
    found = {a["provenance"]["source_url"]: a for a in job["artifacts"]}
    assert sorted(found) == sorted(urls) and len(job["artifacts"]) == len(urls)
    return [found[url] for url in urls]


def check_size(artifact: dict[str, Any], width: int, height: int) -> None:
    assert (artifact["width"], artifact["height"]) == (width, height), artifact


def check_duration(artifact: dict[str, Any], seconds: float) -> None:
    assert artifact["duration_seconds"] == pytest.approx(seconds, abs=1e-3), artifact


# ---------------------------------------------------------------------------------------------- images


@pytest.mark.parametrize("output_format", ["PNG", "JPG", "WEBP"])
async def test_image_inference_stores_each_image_in_its_format_and_size(start_ig, fake_runware, output_format):
    ig = await start_ig(fake_runware)
    params = {
        "positivePrompt": "a lighthouse on a cliff at dusk, oil painting",
        "negativePrompt": "blurry, low quality",
        "width": 512,
        "height": 384,
        "steps": 28,
        "CFGScale": 7.5,
        "seed": 7,
        "outputFormat": output_format,
    }
    job = await run_job(ig, fake_runware, "imageInference", "runware:100@1", params)

    [item] = results_of(fake_runware, job)
    assert job["expected_results"] == 1
    [artifact] = by_source_url(job, [item["imageURL"]])
    assert item["imageURL"].endswith(f"/{item['imageUUID']}.{IMAGE_FORMATS[output_format][2]}")
    await check_stored(ig, artifact, fake_runware.served_bytes(item["imageURL"]), IMAGE_FORMATS[output_format])
    check_size(artifact, 512, 384)
    assert artifact["seed"] == 7 and artifact["cost"] == pytest.approx(0.0013)
    assert artifact["nsfw"] is None  # no safety asked: Runware says nothing either way
    assert artifact["provenance"]["result"]["imageUUID"] == item["imageUUID"]


async def test_several_images_per_task_are_several_artifacts(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {"positivePrompt": "a red fox in snow", "width": 640, "height": 448, "numberResults": 3, "seed": 42}
    job = await run_job(ig, fake_runware, "imageInference", "runware:100@1", params)

    items = results_of(fake_runware, job)
    assert job["expected_results"] == 3 and len(items) == 3
    artifacts = by_source_url(job, [item["imageURL"] for item in items])
    for item, artifact in zip(items, artifacts, strict=True):
        await check_stored(ig, artifact, fake_runware.served_bytes(item["imageURL"]), IMAGE_FORMATS["PNG"])
        check_size(artifact, 640, 448)
        assert artifact["seed"] == item["seed"]
    assert sorted(a["seed"] for a in artifacts) == [42, 43, 44]
    assert len({a["sha256"] for a in artifacts}) == 3
    assert job["cost"] == pytest.approx(3 * 0.0013)


async def test_photo_maker_stores_the_personalised_image(start_ig, fake_runware):
    fake_runware.webhook_shape = "wrapped"
    ig = await start_ig(fake_runware)
    params = {
        "inputImages": [INPUT_IMAGE, "https://images.example.com/uploads/portrait-0194.jpg"],
        "positivePrompt": "img of a woman as an astronaut, studio portrait",
        "style": "No Style",
        "strength": 20,
        "width": 768,
        "height": 1024,
        "steps": 30,
    }
    job = await run_job(ig, fake_runware, "photoMaker", "civitai:139562@344487", params)

    [item] = results_of(fake_runware, job)
    assert len(item["inputImagesUUID"]) == 2
    [artifact] = by_source_url(job, [item["imageURL"]])
    await check_stored(ig, artifact, fake_runware.served_bytes(item["imageURL"]), IMAGE_FORMATS["PNG"])
    check_size(artifact, 768, 1024)
    assert artifact["provenance"]["result"]["inputImagesUUID"] == item["inputImagesUUID"]


@pytest.mark.parametrize(
    ("task", "model", "extra", "size", "output_format"),
    [
        ("upscale", "runware:504@1", {"upscaleFactor": 2}, lambda w, h: (2 * w, 2 * h), "PNG"),
        ("removeBackground", "runware:109@1", {}, lambda w, h: (w, h), "PNG"),
        ("vectorize", "picsart:1@1", {"outputFormat": "SVG"}, lambda w, h: (w, h), "SVG"),
    ],
)
async def test_image_tools_store_the_processed_image(start_ig, fake_runware, task, model, extra, size, output_format):
    ig = await start_ig(fake_runware)
    params = {"inputs": {"image": INPUT_IMAGE}, **extra}
    job = await run_job(ig, fake_runware, task, model, params)

    [item] = results_of(fake_runware, job)
    assert set(item) == {"taskType", "taskUUID", "imageUUID", "imageURL", "cost"}
    [artifact] = by_source_url(job, [item["imageURL"]])
    await check_stored(ig, artifact, fake_runware.served_bytes(item["imageURL"]), IMAGE_FORMATS[output_format])
    check_size(artifact, *size(*fake_runware.input_image_size))
    assert artifact["cost"] == pytest.approx(item["cost"])
    assert job["expected_results"] == 1


async def test_image_masking_stores_the_mask_and_keeps_the_detections(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {"inputs": {"image": INPUT_IMAGE}}
    job = await run_job(ig, fake_runware, "imageMasking", "runware:35@1", params)

    [item] = results_of(fake_runware, job)
    [artifact] = by_source_url(job, [item["maskImageURL"]])
    await check_stored(ig, artifact, fake_runware.served_bytes(item["maskImageURL"]), IMAGE_FORMATS["PNG"])
    check_size(artifact, *fake_runware.input_image_size)
    result = artifact["provenance"]["result"]
    assert result["detections"] == item["detections"] and result["inputImageUUID"] == item["inputImageUUID"]
    assert result["maskImageUUID"] == item["maskImageUUID"]


# ---------------------------------------------------------------------------------------------- video, audio, 3D


@pytest.mark.parametrize("output_format", ["MP4", "WEBM", "MOV"])
async def test_video_inference_by_polling_stores_the_video_with_its_duration(start_ig, fake_runware, output_format):
    fake_runware.polls_before_done = 1
    ig = await start_ig(fake_runware, webhooks=False, time_scale=0.05)  # polls come at once
    params = {
        "positivePrompt": "a paper boat drifting down a rainy street, cinematic",
        "duration": 5,
        "width": 640,
        "height": 360,
        "outputFormat": output_format,
        "safety": {"checkContent": True},
    }
    job = await run_job(ig, fake_runware, "videoInference", "klingai:6@0", params)

    assert "webhookURL" not in fake_runware.tasks[job["id"]]
    assert fake_runware.polls[job["id"]] >= 2  # "processing" first, then the result
    [item] = results_of(fake_runware, job)
    [artifact] = by_source_url(job, [item["videoURL"]])
    extension = VIDEO_FORMATS[output_format][2]
    assert item["videoURL"].endswith(f"/{item['videoUUID']}.{extension}")
    await check_stored(ig, artifact, fake_runware.served_bytes(item["videoURL"]), VIDEO_FORMATS[output_format])
    check_duration(artifact, 5.0)
    assert artifact["nsfw"] is False and artifact["cost"] == pytest.approx(0.18)


@pytest.mark.parametrize("output_format", ["MP3", "WAV", "FLAC", "OGG"])
async def test_audio_inference_stores_the_audio_with_its_duration(start_ig, fake_runware, output_format):
    ig = await start_ig(fake_runware)
    params = {"positivePrompt": "lo-fi hip hop beat with warm piano", "duration": 10, "outputFormat": output_format}
    job = await run_job(ig, fake_runware, "audioInference", "runware:ace-step@v1.5-turbo", params)

    [item] = results_of(fake_runware, job)
    [artifact] = by_source_url(job, [item["audioURL"]])
    assert item["audioURL"].endswith(f"/{item['audioUUID']}.{AUDIO_FORMATS[output_format][2]}")
    await check_stored(ig, artifact, fake_runware.served_bytes(item["audioURL"]), AUDIO_FORMATS[output_format])
    # An MP3 plays whole frames of 1152 samples: 383 of them at 44.1 kHz for 10 s asked.
    check_duration(artifact, media_samples.mp3_duration(10, 44100) if output_format == "MP3" else 10.0)
    assert artifact["cost"] == pytest.approx(0.045)


async def test_3d_inference_stores_each_output_file(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {"inputs": {"image": INPUT_IMAGE}, "outputFormat": "GLB", "seed": 11}
    job = await run_job(ig, fake_runware, "3dInference", "microsoft:trellis-2@4b", params)

    [item] = results_of(fake_runware, job)
    [file] = item["outputs"]["files"]
    [artifact] = by_source_url(job, [file["url"]])
    data = fake_runware.served_bytes(file["url"])
    assert data.startswith(b"glTF")
    await check_stored(ig, artifact, data, GLB)
    assert artifact["seed"] == 11 and artifact["cost"] == pytest.approx(0.3)


# ---------------------------------------------------------------------------------------------- text


async def test_caption_stores_the_text(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {"inputs": {"image": INPUT_IMAGE}, "prompt": "Describe the lighting and composition"}
    job = await run_job(ig, fake_runware, "caption", "runware:150@2", params)

    [item] = results_of(fake_runware, job)
    [artifact] = job["artifacts"]
    await check_stored(ig, artifact, item["text"].encode(), TEXT)
    assert artifact["provenance"]["source_url"] is None and artifact["cost"] == 0.0


async def test_an_age_detector_caption_stores_its_structured_data_as_json(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {"inputs": {"image": INPUT_IMAGE}}
    job = await run_job(ig, fake_runware, "caption", "runware:152@50", params)

    [item] = results_of(fake_runware, job)
    assert "text" not in item and item["structuredData"]["confidence"] == 0.93
    [artifact] = job["artifacts"]
    response = await ig.client.get(f"/v1/artifacts/{artifact['id']}/content")
    await check_stored(ig, artifact, response.content, JSON)
    assert json.loads(response.content) == item["structuredData"]


async def test_text_inference_stores_the_reply(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {
        "messages": [
            {"role": "system", "content": "You write short, warm product copy."},
            {"role": "user", "content": "Write a two-line product blurb for a red kettle"},
        ],
        "settings": {"maxTokens": 256, "temperature": 0.7},
    }
    job = await run_job(ig, fake_runware, "textInference", "google:gemini@3-flash", params)

    [item] = results_of(fake_runware, job)
    [artifact] = job["artifacts"]
    await check_stored(ig, artifact, item["text"].encode(), TEXT)
    result = artifact["provenance"]["result"]
    assert (result["finishReason"], result["usage"]) == ("stop", item["usage"])
    assert artifact["cost"] == pytest.approx(0.00021)


async def test_prompt_enhance_stores_one_text_per_version(start_ig, fake_runware):
    ig = await start_ig(fake_runware)
    params = {"prompt": "a castle on a hill", "promptVersions": 3, "promptMaxLength": 64}
    job = await run_job(ig, fake_runware, "promptEnhance", "runware:llama-3-1-8b@prompt-enhancer", params)

    items = results_of(fake_runware, job)
    assert job["expected_results"] == 3 and len(items) == 3 and len(job["artifacts"]) == 3
    texts = [(await ig.client.get(f"/v1/artifacts/{a['id']}/content")).text for a in job["artifacts"]]
    assert sorted(texts) == sorted(item["text"] for item in items)
    assert len(set(texts)) == 3
    for artifact, text in zip(job["artifacts"], texts, strict=True):
        await check_stored(ig, artifact, text.encode(), TEXT)


# ---------------------------------------------------------------------------------------------- inline outputs


@pytest.mark.parametrize(
    ("task", "model", "params", "output_type", "expected"),
    [
        (
            "imageInference",
            "runware:100@1",
            {"positivePrompt": "a blue door", "width": 256, "height": 320, "outputFormat": "PNG"},
            "base64Data",
            IMAGE_FORMATS["PNG"],
        ),
        (
            "imageInference",
            "runware:100@1",
            {"positivePrompt": "a blue door", "width": 320, "height": 256, "outputFormat": "WEBP"},
            "dataURI",
            IMAGE_FORMATS["WEBP"],
        ),
        (
            "audioInference",
            "runware:ace-step@v1.5-turbo",
            {"positivePrompt": "rain on a tin roof", "duration": 3, "outputFormat": "FLAC"},
            "base64Data",
            AUDIO_FORMATS["FLAC"],
        ),
        (
            "audioInference",
            "runware:ace-step@v1.5-turbo",
            {"positivePrompt": "rain on a tin roof", "duration": 4, "outputFormat": "WAV"},
            "dataURI",
            AUDIO_FORMATS["WAV"],
        ),
    ],
)
async def test_inline_outputs_are_decoded_and_stored_byte_identical(
    start_ig, fake_runware, task, model, params, output_type, expected
):
    ig = await start_ig(fake_runware)
    params = {**params, "outputType": output_type}
    job = await run_job(ig, fake_runware, task, model, params)

    prefix = task.removesuffix("Inference")
    [item] = results_of(fake_runware, job)
    field = f"{prefix}{'Base64Data' if output_type == 'base64Data' else 'DataURI'}"
    assert f"{prefix}URL" not in item and field in item
    if output_type == "dataURI":
        assert item[field].startswith(f"data:{expected[1]};base64,")
    data = fake_runware.inline_bytes[item[f"{prefix}UUID"]]
    [artifact] = job["artifacts"]
    await check_stored(ig, artifact, data, expected)
    assert artifact["provenance"]["source_url"] is None
    assert fake_runware.media_gets == []  # nothing was downloaded
    if prefix == "image":
        check_size(artifact, params["width"], params["height"])
    else:
        check_duration(artifact, float(params["duration"]))


# ---------------------------------------------------------------------------------------------- any other task


async def test_an_unknown_task_type_passes_through_and_every_output_is_stored(start_ig, fake_runware):
    preview = media_samples.webp(width=96, height=48)
    sound = media_samples.wav(seconds=0.5)
    mesh = media_samples.glb()
    clip = media_samples.mp4(width=320, height=240, seconds=2.5)
    structured = {"labels": ["teapot", "table"], "score": 0.5, "nested": {"ok": True}}
    fake_runware.extra_result_fields = {
        "previewImageURL": fake_runware.add_media("preview-1.webp", preview),
        "extraBase64Data": base64.b64encode(sound).decode(),
        "text": "a teapot on a table",
        "structuredData": structured,
        "outputs": {
            "files": [
                {"uuid": "f-1", "url": fake_runware.add_media("f-1.glb", mesh)},
                {"uuid": "f-2", "url": fake_runware.add_media("f-2.mp4", clip)},
            ]
        },
    }
    ig = await start_ig(fake_runware)
    params = {"positivePrompt": "a teapot", "futureKnob": {"level": 3, "modes": ["a", "b"]}, "width": 128}
    job = await run_job(ig, fake_runware, "futureInference", "future:1@1", params)

    [item] = results_of(fake_runware, job)
    assert job["expected_results"] == 1
    by_type = {a["content_type"]: a for a in job["artifacts"]}
    assert len(job["artifacts"]) == len(by_type) == 7, [a["provenance"]["output"] for a in job["artifacts"]]
    await check_stored(ig, by_type["image/png"], fake_runware.served_bytes(item["mediaURL"]), IMAGE_FORMATS["PNG"])
    await check_stored(ig, by_type["image/webp"], preview, IMAGE_FORMATS["WEBP"])
    await check_stored(ig, by_type["audio/wav"], sound, AUDIO_FORMATS["WAV"])
    await check_stored(ig, by_type["model/gltf-binary"], mesh, GLB)
    await check_stored(ig, by_type["video/mp4"], clip, VIDEO_FORMATS["MP4"])
    await check_stored(ig, by_type[TEXT[1]], b"a teapot on a table", TEXT)
    response = await ig.client.get(f"/v1/artifacts/{by_type['application/json']['id']}/content")
    await check_stored(ig, by_type["application/json"], response.content, JSON)
    assert json.loads(response.content) == structured
    check_size(by_type["image/webp"], 96, 48)
    check_duration(by_type["audio/wav"], 0.5)
    check_duration(by_type["video/mp4"], 2.5)
    assert {a["provenance"]["source_url"] for a in job["artifacts"]} == {
        item["mediaURL"],
        item["previewImageURL"],
        item["outputs"]["files"][0]["url"],
        item["outputs"]["files"][1]["url"],
        None,
    }


# ---------------------------------------------------------------------------------------------- safety


async def test_nsfw_content_becomes_the_artifacts_nsfw_flag_and_filters_queries(start_ig, fake_runware):
    fake_runware.nsfw_indexes = {1}
    ig = await start_ig(fake_runware)
    safety = {"checkContent": True, "mode": "full"}
    checked = await run_job(
        ig,
        fake_runware,
        "imageInference",
        "runware:100@1",
        {"positivePrompt": "a beach at noon", "width": 512, "height": 512, "numberResults": 3, "safety": safety},
    )
    unchecked = await run_job(
        ig, fake_runware, "imageInference", "runware:100@1", {"positivePrompt": "a beach", "width": 512, "height": 512}
    )

    assert fake_runware.tasks[checked["id"]]["safety"] == safety
    items = results_of(fake_runware, checked)
    assert [item["NSFWContent"] for item in items] == [False, True, False]
    artifacts = by_source_url(checked, [item["imageURL"] for item in items])
    assert [a["nsfw"] for a in artifacts] == [False, True, False]
    [plain] = unchecked["artifacts"]
    assert "NSFWContent" not in results_of(fake_runware, unchecked)[0] and plain["nsfw"] is None

    flagged = {artifacts[1]["id"]}
    clean = {artifacts[0]["id"], artifacts[2]["id"]}
    safe = await ig.client.get("/v1/artifacts", params={"nsfw": "false"})
    assert safe.status_code == 200, safe.text
    safe_ids = {a["id"] for a in safe.json()["items"]}
    # Not flagged means checked clean or never checked (ig's documented choice).
    assert safe_ids == clean | {plain["id"]}
    unsafe = await ig.client.get("/v1/artifacts", params={"nsfw": "true"})
    assert unsafe.status_code == 200, unsafe.text
    assert {a["id"] for a in unsafe.json()["items"]} == flagged
