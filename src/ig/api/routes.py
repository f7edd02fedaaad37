"""ig's route table: every method and path, the handler that serves it, and what the API
reference (``/openapi.json``, ``/docs``) says about it. Models are named as text and looked up
only when the document is built, so the table costs nothing at cold start."""

from __future__ import annotations

from ig.api import handlers
from ig.api.http import ApiRequest, ApiResponse, Route, Router, json_response
from ig.deps import Deps


async def get_openapi(deps: Deps, request: ApiRequest) -> ApiResponse:
    # Imported here: building the document needs ig.api.schemas, which a Worker cold start should not pay for.
    from ig.api import openapi

    return json_response(200, openapi.document(ROUTER, request.base_url))


async def get_docs(deps: Deps, request: ApiRequest) -> ApiResponse:
    from ig.api import docs_page  # lazily, like the document it renders

    headers = {"content-type": "text/html; charset=utf-8", "content-security-policy": docs_page.CONTENT_SECURITY_POLICY}
    return ApiResponse(200, headers, docs_page.page(ROUTER))


UPLOAD_TYPES = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "image/svg+xml",
    "audio/mpeg",
    "audio/wav",
    "audio/flac",
    "audio/ogg",
    "video/mp4",
    "video/webm",
    "video/quicktime",
)
"""The types an upload may declare, as a raw body's ``Content-Type`` or a form's file part: the image,
audio and video types whose magic numbers ``ig.library.media_types`` knows (common aliases such as
``image/jpg`` and ``audio/mp3`` are taken too)."""

IDEMPOTENCY_KEY = (
    "Idempotency-Key",
    "Up to 255 visible ASCII characters (a UUID is ideal), kept 24 hours. A retry with the same key and the "
    "same body answers with the job(s) the first request made (`Idempotent-Replayed: true`) and sends the "
    "provider nothing; the same key with a different body is a 422.",
)

ROUTER = Router(
    [
        Route(
            "GET",
            "/healthz",
            handlers.healthz,
            summary="Health check",
            description="`?deep=1` also checks each configured provider's credentials with its cheapest call: "
            "200 when all take ig's key, 503 (`degraded`) when any does not.",
            tag="service",
            query="HealthQuery",
            response="Health",
            other_statuses=(503,),
            problems=(401,),
        ),
        Route(
            "GET",
            "/openapi.json",
            get_openapi,
            summary="This API as an OpenAPI 3.1 document",
            description="The same document whatever the deployment's settings, but for `servers`, which names "
            "the URL the request used. Public, like `/docs`.",
            tag="service",
            response="OpenApiDocument",
        ),
        Route(
            "GET",
            "/docs",
            get_docs,
            summary="This API as a readable page",
            description="`/openapi.json` rendered as one self-contained HTML page (no scripts). Public.",
            tag="service",
            content_type="text/html",
        ),
        Route(
            "POST",
            "/v1/jobs",
            handlers.create_job,
            summary="Submit a job",
            description="Validates the request, records the job and sends the task to the provider; the answer "
            "does not wait for results (see `wait` on `GET /v1/jobs/{job_id}`). Bad input is a 422 listing every "
            "field, and nothing is recorded or spent. A parameter the provider refuses is a 422 naming "
            "`params.<parameter>` with the `job_id` of the failed job; other refusals are 502. Transient provider "
            "trouble still answers 202, with status `queued`: ig resubmits with backoff.",
            tag="jobs",
            body="JobRequest",
            response="Job",
            status=202,
            other_statuses=(200,),
            headers=(
                IDEMPOTENCY_KEY,
                (
                    "Prefer",
                    "`wait=N` (N ≤ 60): answer 200 with the finished job if it "
                    "finishes within N seconds, else 202 as usual.",
                ),
            ),
            problems=(409, 502),
        ),
        Route(
            "POST",
            "/v1/jobs/batch",
            handlers.create_jobs,
            summary="Submit up to 50 jobs",
            description="Each item is submitted exactly as `POST /v1/jobs` would; one bad item never sinks the "
            "rest. The answer lists every item in request order, as `{job}` or `{error}` (a problem).",
            tag="jobs",
            body="BatchRequest",
            response="BatchAnswer",
            headers=(IDEMPOTENCY_KEY,),
        ),
        Route(
            "GET",
            "/v1/jobs",
            handlers.list_jobs,
            summary="List and search jobs",
            description="Newest first, with keyset pagination: paging while new jobs arrive never repeats or "
            "skips one.",
            tag="jobs",
            query="JobQuery",
            response="JobPage",
        ),
        Route(
            "GET",
            "/v1/jobs/{job_id}",
            handlers.get_job,
            summary="Read a job, optionally waiting for it to finish",
            description="With `wait=N` (N ≤ 60) the answer is held until the job has finished or N seconds have "
            "passed, whichever is first: poll with it instead of sleeping between reads.",
            tag="jobs",
            query="WaitQuery",
            response="Job",
        ),
        Route(
            "POST",
            "/v1/jobs/{job_id}/cancel",
            handlers.cancel_job,
            summary="Cancel a job",
            description="Marks an open job `cancelled` and stops waiting for it, then asks the provider to stop "
            "it where the provider can: fal removes a request still in its queue (never billed) and signals a "
            "running one; Runware keeps running (and billing) a task it has accepted. Results that still arrive "
            "are stored, with their cost, and flagged `arrived_after: cancelled`. `provider_cancel` says what the "
            "provider did. Cancelling a cancelled job is a no-op; a finished one is a 409.",
            tag="jobs",
            response="CancelledJob",
            problems=(409,),
        ),
        Route(
            "GET",
            "/v1/jobs/{job_id}/deliveries",
            handlers.list_deliveries,
            summary="List the job's callback events and every delivery attempt",
            description="Each event ig sent to the job's `callback_url`, oldest first, with every attempt's "
            "status code, latency and error.",
            tag="callbacks",
            response="DeliveryList",
        ),
        Route(
            "POST",
            "/v1/jobs/{job_id}/deliveries/redeliver",
            handlers.redeliver,
            summary="Send the job's latest callback event again",
            description="Sends it now, with the same `webhook-id` (so consumers that already handled it can tell) "
            "and a fresh retry schedule.",
            tag="callbacks",
            response="Delivery",
            status=202,
        ),
        Route(
            "POST",
            "/v1/jobs/{job_id}/tags",
            handlers.job_tags,
            summary="Add and remove a job's tags",
            description="Changes the job only: its artifacts keep the tags they were stored with.",
            tag="jobs",
            body="TagEdit",
            response="TagList",
        ),
        Route(
            "GET",
            "/v1/artifacts",
            handlers.list_artifacts,
            summary="List and search artifacts",
            description="Newest first, with keyset pagination. Every filter combines with the others, and every "
            "page is driven by an index: it costs the same at a million artifacts as at ten thousand.",
            tag="artifacts",
            query="ArtifactQuery",
            response="ArtifactPage",
        ),
        Route(
            "GET",
            "/v1/artifacts/{artifact_id}",
            handlers.get_artifact,
            summary="Read an artifact and its provenance",
            description="A deleted artifact is still shown, with `deleted_at` set.",
            tag="artifacts",
            response="Artifact",
        ),
        Route(
            "DELETE",
            "/v1/artifacts/{artifact_id}",
            handlers.delete_artifact,
            summary="Delete an artifact's content",
            description="The bytes go; a tombstone keeps the provenance. Deleting twice is fine.",
            tag="artifacts",
            status=204,
        ),
        Route(
            "GET",
            "/v1/artifacts/{artifact_id}/content",
            handlers.get_artifact_content,
            signed=True,
            summary="Download an artifact",
            description="Answers `GET` and `HEAD` with the artifact's own `Content-Type`, `Content-Length`, a strong "
            "`ETag` (the sha256) and immutable caching. `If-None-Match` gets 304; a single `Range` gets 206 with "
            "`Content-Range`. With `sig` and `expires` from `/url` no bearer token is needed.",
            tag="artifacts",
            query="ContentQuery",
            headers=(
                (
                    "Range",
                    "One `bytes=` range (`bytes=0-1023`, `bytes=-500`): answered 206, or 416 when unsatisfiable.",
                ),
                ("If-None-Match", "The artifact's `ETag` (or `*`): answered 304 without a body."),
            ),
            content_type="*/*",
            other_statuses=(206, 304),
            problems=(403, 410, 416),
        ),
        Route(
            "GET",
            "/v1/artifacts/{artifact_id}/thumbnail",
            handlers.get_artifact_thumbnail,
            signed=True,
            summary="Download an artifact's thumbnail",
            description="A WebP of at most 512 px a side (never enlarged), made once for each PNG, JPEG, WebP or GIF "
            "artifact (not SVG) soon after it is stored; 404 until it is made (`thumbnail_url` is null until then). "
            "An MP4, WebM or QuickTime video's thumbnail is its poster: the still its provider made, when it made "
            "one, else the video's frame at one second (the first of a shorter video) where the deployment can take "
            "frames (PyAV on `ig serve`, the Media binding on the Worker); without either a video has none. "
            "The same caching, `ETag`, `Range` and `HEAD` rules as `/content`. A signed URL for it comes from "
            "`/url?rendition=thumbnail`; a `/content` signature does not open it, nor it `/content`.",
            tag="artifacts",
            query="ContentQuery",
            headers=(
                ("Range", "One `bytes=` range: answered 206, or 416 when unsatisfiable."),
                ("If-None-Match", "The thumbnail's `ETag` (or `*`): answered 304 without a body."),
            ),
            content_type="*/*",
            other_statuses=(206, 304),
            problems=(403, 410, 416),
        ),
        Route(
            "GET",
            "/v1/artifacts/{artifact_id}/url",
            handlers.artifact_url,
            summary="Get a signed, expiring content URL",
            description="The URL works without the bearer token until it expires: for embeds, `<img>` tags, or "
            "handing a file to a provider. `rendition=thumbnail` signs the thumbnail's URL instead (404 while there "
            "is none); each URL opens only its own rendition.",
            tag="artifacts",
            query="SignedUrlQuery",
            response="SignedUrl",
        ),
        Route(
            "GET",
            "/v1/artifacts/{artifact_id}/lineage",
            handlers.artifact_lineage,
            summary="The artifacts this one was made from, and those made from it",
            description="`parents`: the artifacts the job that made this one used as inputs (`artifact:<id>` "
            "parameters); `children`: the artifacts of jobs that used this one.",
            tag="artifacts",
            response="Lineage",
        ),
        Route(
            "POST",
            "/v1/artifacts/{artifact_id}/tags",
            handlers.artifact_tags,
            summary="Add and remove an artifact's tags",
            description="Changes the artifact only: its job keeps its own tags.",
            tag="artifacts",
            body="TagEdit",
            response="TagList",
        ),
        Route(
            "POST",
            "/v1/uploads",
            handlers.create_upload,
            streams_body=True,
            summary="Upload an input (image, audio or video)",
            description="The raw body or a multipart form. The declared type must match the bytes' magic number. "
            "Identical bytes are stored once: uploading them again answers 200 with the first artifact. Jobs use "
            'an upload as `"artifact:<id>"` anywhere in their `params`.',
            tag="artifacts",
            query="UploadQuery",
            body="UploadForm",
            body_types=(*UPLOAD_TYPES, "multipart/form-data"),
            response="Artifact",
            status=201,
            other_statuses=(200,),
            problems=(415,),
        ),
        Route(
            "GET",
            "/v1/tags",
            handlers.list_tags,
            summary="List tags with their live artifact counts",
            description="In alphabetical order, with keyset pagination; `prefix` narrows to one namespace (`user:`).",
            tag="library",
            query="TagQuery",
            response="TagPage",
        ),
        Route(
            "GET",
            "/v1/usage",
            handlers.get_usage,
            summary="Usage and cost rollups",
            description="Cost is what the provider reported, summed; latencies run from creation to completion.",
            tag="library",
            query="UsageQuery",
            response="UsageReport",
        ),
        Route(
            "GET",
            "/v1/providers",
            handlers.list_providers,
            summary="Providers, what each can be relied on for, and whether this deployment can use it",
            description="A job names one with `provider` (`runware` by default). `safe_resubmission`: a submit "
            "whose outcome is unknown may be sent again without running twice (otherwise ig reconciles it with "
            "the provider first); `cancels`: it can stop accepted work; `cost`: how a result's cost is known "
            "(`reported`, `billed`); `webhook_per_result`: one webhook per result rather than per request.",
            tag="catalogue",
            response="ProviderList",
        ),
        Route(
            "GET",
            "/v1/tasks",
            handlers.list_tasks,
            summary="Task types ig knows, with the JSON Schema of their parameters",
            description="Each with its summary, outputs, default deadline, model aliases and an example; the "
            "schemas are the `params.<task>` schemas of this document.",
            tag="catalogue",
            response="TaskList",
        ),
        Route(
            "GET",
            "/v1/models",
            handlers.list_models,
            summary="Model aliases",
            description="One name for the same model on each provider that runs it, with the defaults ig "
            "applies there; `task` and `provider` narrow the list.",
            tag="catalogue",
            query="ModelQuery",
            response="ModelList",
        ),
        Route(
            "GET",
            "/v1/presets",
            handlers.list_presets,
            summary="List presets",
            description="Every live preset at its current version.",
            tag="presets",
            response="PresetList",
        ),
        Route(
            "PUT",
            "/v1/presets/{name}",
            handlers.put_preset,
            summary="Create or update a preset",
            description="Every change is a new immutable version (201 for the first, 200 after); putting the "
            "same body again writes nothing.",
            tag="presets",
            body="PresetRequest",
            response="Preset",
            other_statuses=(201,),
        ),
        Route(
            "GET",
            "/v1/presets/{name}",
            handlers.get_preset,
            summary="Read a preset, or one of its versions",
            description="The current version, or `version=N`: versions are immutable and outlive the "
            "preset, so a job's `preset` can always be read back.",
            tag="presets",
            query="PresetVersionQuery",
            response="Preset",
        ),
        Route(
            "DELETE",
            "/v1/presets/{name}",
            handlers.delete_preset,
            summary="Delete a preset",
            description="Its versions are kept, so jobs made from it stay reproducible.",
            tag="presets",
            status=204,
        ),
        Route(
            "POST",
            "/webhooks/runware/{job_id}/{token}",
            handlers.runware_webhook,
            summary="Runware's result webhook",
            description="Called by Runware, not by clients: ig asks for it per job when `IG_PUBLIC_URL` is set. "
            "An unknown job and a wrong token both answer 404.",
            tag="webhooks",
            body="RunwareWebhook",
            response="WebhookReceipt",
            problems=(400,),
        ),
        Route(
            "POST",
            "/webhooks/fal/{job_id}/{token}",
            handlers.fal_webhook,
            summary="fal's completion webhook",
            description="Called by fal, not by clients: ig asks for it per job when `IG_PUBLIC_URL` is set. "
            "Verified as fal specifies (Ed25519 over the request id, user id, timestamp and the body's "
            "SHA-256, against fal's JWKS, within 300 seconds): a wrong or missing signature is a 401 and "
            "writes nothing. An unknown job and a wrong token both answer 404.",
            tag="webhooks",
            body="FalWebhook",
            response="WebhookReceipt",
            problems=(400, 401),
        ),
        Route(
            "POST",
            "/webhooks/replicate/{job_id}/{token}",
            handlers.replicate_webhook,
            summary="Replicate's completion webhook",
            description="Called by Replicate, not by clients: ig asks for it (the `completed` event) per job when "
            "`IG_PUBLIC_URL` and `REPLICATE_WEBHOOK_SECRET` are set. Verified as Standard Webhooks with that secret, "
            "within 300 seconds: a wrong or missing signature is a 401 and writes nothing. An unknown job and a "
            "wrong token both answer 404.",
            tag="webhooks",
            body="ReplicateWebhook",
            response="WebhookReceipt",
            problems=(400, 401),
        ),
    ]
)


def body_limit(path: str, deps: Deps) -> int:
    """The largest buffered request body a route accepts; adapters stop reading past it (413)."""
    return deps.settings.max_webhook_bytes if path.startswith("/webhooks/") else deps.settings.max_request_bytes
