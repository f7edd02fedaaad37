"""Settings, read the same way from Worker vars/secrets and from local environment variables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ig import standard_webhooks

DEFAULT_RUNWARE_API_URL = "https://api.runware.ai/v1"
DEFAULT_FAL_QUEUE_URL = "https://queue.fal.run"
DEFAULT_FAL_API_URL = "https://api.fal.ai/v1"
DEFAULT_FAL_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"
DEFAULT_REPLICATE_API_URL = "https://api.replicate.com/v1"
DEFAULT_MEDIA_HOSTS = (".runware.ai", "fal.media", ".fal.media", "replicate.delivery", ".replicate.delivery")
DEFAULT_FAL_MEDIA_TTL_SECONDS = 7 * 24 * 3600
MAX_TASK_BYTES_CEILING = 900_000
"""Twice this, plus 64 KiB each of metadata and inline request body, fits a D1 row (2,000,000 bytes)."""
MAX_QUEUE_CONCURRENCY = 250
"""Queues' own ceiling for a consumer's ``max_concurrency``."""
JOBS_QUEUE = "ig-jobs"
DEAD_LETTER_QUEUE = "ig-jobs-dlq"


@dataclass(frozen=True)
class ProviderLimit:
    """How much of a provider ig may use at once: jobs in flight, and requests per window."""

    concurrency: int | None = None
    rate: tuple[int, int] | None = None
    """(requests, seconds): at most that many submits per window of that many seconds."""


@dataclass(frozen=True)
class Settings:
    runware_api_key: str | None = None
    runware_api_url: str = DEFAULT_RUNWARE_API_URL
    fal_key: str | None = None
    """fal's API key (``Authorization: Key ...``); fal jobs need it."""
    fal_queue_url: str = DEFAULT_FAL_QUEUE_URL
    fal_api_url: str = DEFAULT_FAL_API_URL
    """fal's platform API: prices, and the request listing that reconciles a lost submit answer."""
    fal_jwks_url: str = DEFAULT_FAL_JWKS_URL
    """fal's webhook signing keys."""
    fal_media_ttl_seconds: int = DEFAULT_FAL_MEDIA_TTL_SECONDS
    replicate_api_token: str | None = None
    """Replicate's API token (``Authorization: Bearer ...``); Replicate jobs need it."""
    replicate_api_url: str = DEFAULT_REPLICATE_API_URL
    replicate_webhook_secret: str | None = None
    """The account's webhook signing secret (``whsec_...``, from ``GET /v1/webhooks/default/secret``);
    without it ig polls Replicate instead of asking for webhooks it could not verify."""
    provider_limits: dict[str, ProviderLimit] = field(default_factory=dict)
    """Per provider: at most this many jobs in flight, and at most this many submits per second or
    minute (``IG_PROVIDER_LIMITS=runware=4/s,fal=10,replicate=600/min``). Jobs beyond a limit stay
    queued and are sent as it allows, oldest first."""
    circuit_failures: int = 5
    """Transient failures of a provider within ``circuit_window_seconds`` that open its circuit."""
    circuit_window_seconds: int = 60
    circuit_open_seconds: int = 30
    """How long an open circuit stays shut before one submit is let through to probe it."""
    replicate_prices: dict[str, float] = field(default_factory=dict)
    """USD per second of ``predict_time`` by model (``owner/name``): Replicate reports no cost, so
    a job's cost is estimated from these when given."""
    """How long fal is asked to keep the files it makes (ig stores its own copy at once); 0 leaves
    fal's account setting alone."""
    public_url: str | None = None
    """Base URL Runware can reach; when unset ig polls getResponse instead of asking for webhooks."""
    api_token: str | None = None
    """When set, every /v1 request needs ``Authorization: Bearer <token>``."""
    signing_key: str | None = None
    """Key for signed content URLs; falls back to the API token."""
    max_upload_bytes: int = 100 * 1024 * 1024
    media_hosts: tuple[str, ...] = DEFAULT_MEDIA_HOSTS
    """Hosts outputs may be downloaded from; ``.example.com`` admits every subdomain."""
    job_timeout_seconds: int | None = None
    """When set, the deadline of every job that names none (otherwise each task type has its own)."""
    quiet_seconds: int = 120
    """The sweeper polls a submitted job that has heard nothing from the provider for this long."""
    max_webhook_bytes: int = 32 * 1024 * 1024
    max_request_bytes: int = 1024 * 1024
    max_task_bytes: int = 256 * 1024
    """Largest task (its parameters as JSON, presets filled in) a job may send; a job keeps it
    twice in its database row, which D1 holds to 2 MB."""
    queue_max_retries: int = 5
    """Deliveries after the first before a message moves to the dead-letter queue (wrangler.toml)."""
    queue_max_concurrency: int = 1
    """Local queue only: batches handled at once (``max_concurrency`` in wrangler.toml)."""
    callback_secret: str | None = None
    """Standard Webhooks signing secret(s), ``whsec_<base64>``; several (space-separated) sign
    every event with each, for rotation. Jobs may ask for callbacks only when it is set."""
    callback_retry_seconds: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    """Pauses between callback attempts: 8 attempts over about 27.6 hours, as the spec suggests."""
    mock_provider: bool | None = None
    """Whether jobs may use the built-in mock provider; unset, the runtime decides: on under
    ``ig serve`` (for trying ig), off on the Worker (any client could otherwise make it work)."""
    local_mode: bool = False
    """Plain-http callbacks to loopback hosts are allowed (``ig serve`` always; a Worker under
    ``wrangler dev`` with ``IG_LOCAL_MODE=1``)."""

    @property
    def webhooks_enabled(self) -> bool:
        return bool(self.public_url)

    @property
    def callback_keys(self) -> list[bytes]:
        """The HMAC keys in ``callback_secret``: each ``whsec_`` + base64 (padding optional)."""
        return standard_webhooks.decode_secrets(self.callback_secret, "IG_CALLBACK_SECRET")

    @classmethod
    def from_mapping(cls, env: Mapping[str, Any] | Callable[[str], Any]) -> Settings:
        """Build settings from ``IG_*``/``RUNWARE_*`` names; blank values count as unset."""
        get = env if callable(env) else env.get

        def text(name: str) -> str | None:
            value = get(name)
            if value is None:
                return None
            value = str(value).strip()
            return value or None

        def integer(name: str, default: int) -> int:
            value = text(name)
            if value is None:
                return default
            try:
                return int(value)
            except ValueError as exc:
                raise ValueError(f"setting {name} must be an integer, got {value!r}") from exc

        hosts = text("IG_MEDIA_HOSTS")
        public_url = text("IG_PUBLIC_URL")
        settings = cls(
            runware_api_key=text("RUNWARE_API_KEY"),
            runware_api_url=text("RUNWARE_API_URL") or DEFAULT_RUNWARE_API_URL,
            fal_key=text("FAL_KEY"),
            fal_queue_url=(text("FAL_QUEUE_URL") or DEFAULT_FAL_QUEUE_URL).rstrip("/"),
            fal_api_url=(text("FAL_API_URL") or DEFAULT_FAL_API_URL).rstrip("/"),
            fal_jwks_url=text("FAL_JWKS_URL") or DEFAULT_FAL_JWKS_URL,
            fal_media_ttl_seconds=integer("IG_FAL_MEDIA_TTL_SECONDS", cls.fal_media_ttl_seconds),
            replicate_api_token=text("REPLICATE_API_TOKEN"),
            replicate_api_url=(text("REPLICATE_API_URL") or DEFAULT_REPLICATE_API_URL).rstrip("/"),
            replicate_webhook_secret=text("REPLICATE_WEBHOOK_SECRET"),
            replicate_prices=_prices(text("IG_REPLICATE_PRICES")),
            provider_limits=_limits(text("IG_PROVIDER_LIMITS")),
            circuit_failures=integer("IG_CIRCUIT_FAILURES", cls.circuit_failures),
            circuit_window_seconds=integer("IG_CIRCUIT_WINDOW_SECONDS", cls.circuit_window_seconds),
            circuit_open_seconds=integer("IG_CIRCUIT_OPEN_SECONDS", cls.circuit_open_seconds),
            public_url=public_url.rstrip("/") if public_url else None,
            api_token=text("IG_API_TOKEN"),
            signing_key=text("IG_SIGNING_KEY"),
            max_upload_bytes=integer("IG_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            media_hosts=tuple(h.strip().lower() for h in hosts.split(",") if h.strip())
            if hosts
            else DEFAULT_MEDIA_HOSTS,
            job_timeout_seconds=integer("IG_JOB_TIMEOUT_SECONDS", 0) if text("IG_JOB_TIMEOUT_SECONDS") else None,
            quiet_seconds=integer("IG_QUIET_SECONDS", cls.quiet_seconds),
            max_webhook_bytes=integer("IG_MAX_WEBHOOK_BYTES", cls.max_webhook_bytes),
            max_task_bytes=integer("IG_MAX_TASK_BYTES", cls.max_task_bytes),
            queue_max_retries=integer("IG_QUEUE_MAX_RETRIES", cls.queue_max_retries),
            queue_max_concurrency=integer("IG_QUEUE_MAX_CONCURRENCY", cls.queue_max_concurrency),
            callback_secret=text("IG_CALLBACK_SECRET"),
            callback_retry_seconds=_seconds_list(text("IG_CALLBACK_RETRY_SECONDS"), cls.callback_retry_seconds),
            local_mode=(text("IG_LOCAL_MODE") or "").lower() in ("1", "true", "yes"),
            mock_provider=_switch(text("IG_MOCK_PROVIDER"), "IG_MOCK_PROVIDER"),
        )
        settings.callback_keys  # noqa: B018 - a malformed secret fails at start, not at the first event
        standard_webhooks.decode_secrets(settings.replicate_webhook_secret, "REPLICATE_WEBHOOK_SECRET")
        if not 1 <= settings.queue_max_concurrency <= MAX_QUEUE_CONCURRENCY:
            raise ValueError(f"setting IG_QUEUE_MAX_CONCURRENCY must be 1 to {MAX_QUEUE_CONCURRENCY}")
        if not 1024 <= settings.max_task_bytes <= MAX_TASK_BYTES_CEILING:
            raise ValueError(
                f"setting IG_MAX_TASK_BYTES must be 1024 to {MAX_TASK_BYTES_CEILING}: a job keeps its task twice "
                "in one database row, and D1 holds at most 2,000,000 bytes per row"
            )
        return settings


SETTING_NAMES = (
    "RUNWARE_API_KEY",
    "RUNWARE_API_URL",
    "FAL_KEY",
    "FAL_QUEUE_URL",
    "FAL_API_URL",
    "FAL_JWKS_URL",
    "IG_FAL_MEDIA_TTL_SECONDS",
    "REPLICATE_API_TOKEN",
    "REPLICATE_API_URL",
    "REPLICATE_WEBHOOK_SECRET",
    "IG_REPLICATE_PRICES",
    "IG_PROVIDER_LIMITS",
    "IG_CIRCUIT_FAILURES",
    "IG_CIRCUIT_WINDOW_SECONDS",
    "IG_CIRCUIT_OPEN_SECONDS",
    "IG_PUBLIC_URL",
    "IG_API_TOKEN",
    "IG_SIGNING_KEY",
    "IG_MAX_UPLOAD_BYTES",
    "IG_MEDIA_HOSTS",
    "IG_JOB_TIMEOUT_SECONDS",
    "IG_QUIET_SECONDS",
    "IG_MAX_WEBHOOK_BYTES",
    "IG_MAX_TASK_BYTES",
    "IG_QUEUE_MAX_RETRIES",
    "IG_QUEUE_MAX_CONCURRENCY",
    "IG_CALLBACK_SECRET",
    "IG_CALLBACK_RETRY_SECONDS",
    "IG_LOCAL_MODE",
    "IG_MOCK_PROVIDER",
)


def _prices(value: str | None) -> dict[str, float]:
    """``owner/name=0.0014,owner/other=0.000225``: USD per second by model."""
    found: dict[str, float] = {}
    for part in (value or "").replace(" ", ",").split(","):
        if not part:
            continue
        model, _, price = part.partition("=")
        try:
            found[model.strip()] = float(price)
        except ValueError as exc:
            raise ValueError(f"setting IG_REPLICATE_PRICES must be owner/name=<USD per second>, got {part!r}") from exc
        if "/" not in model or not found[model.strip()] >= 0:
            raise ValueError(f"setting IG_REPLICATE_PRICES must be owner/name=<USD per second>, got {part!r}")
    return found


_WINDOWS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}


def _limits(value: str | None) -> dict[str, ProviderLimit]:
    """``runware=4/s,fal=10,replicate=600/min``: ``N`` caps jobs in flight, ``N/s`` (``/min``,
    ``/h``) caps submits per window; a provider may have both (``fal=10,fal=5/s``)."""
    found: dict[str, ProviderLimit] = {}
    for part in (value or "").replace(" ", ",").split(","):
        if not part:
            continue
        provider, _, spec = part.partition("=")
        count, slash, window = spec.partition("/")
        problem = f"setting IG_PROVIDER_LIMITS: {part!r} is not provider=N or provider=N/s|min|h"
        if not provider or not count.isdigit() or int(count) < 1 or (slash and window not in _WINDOWS):
            raise ValueError(problem)
        current = found.get(provider, ProviderLimit())
        if slash:
            found[provider] = ProviderLimit(current.concurrency, (int(count), _WINDOWS[window]))
        else:
            found[provider] = ProviderLimit(int(count), current.rate)
    return found


def _switch(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"setting {name} must be 1 or 0 (true or false), got {value!r}")


def _seconds_list(value: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if value is None:
        return default
    try:
        found = tuple(int(part) for part in value.replace(",", " ").split())
    except ValueError as exc:
        raise ValueError(f"setting IG_CALLBACK_RETRY_SECONDS must list whole seconds, got {value!r}") from exc
    if not found or any(n < 0 or n > 43200 for n in found):
        raise ValueError("IG_CALLBACK_RETRY_SECONDS: 1 or more pauses of 0 to 43200 seconds (the queue's limit)")
    return found
