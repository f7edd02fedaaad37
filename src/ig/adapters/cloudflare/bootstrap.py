"""The Worker's composition root: bindings and vars from ``env`` into a ``Deps``. The only place
that knows the binding names (DB, ARTIFACTS, JOBS, and IMAGES and MEDIA when configured)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ig.adapters.cloudflare.d1 import D1Database
from ig.adapters.cloudflare.ed25519 import WebCryptoEd25519
from ig.adapters.cloudflare.fetch import FetchClient
from ig.adapters.cloudflare.images import ImagesThumbnailer
from ig.adapters.cloudflare.queues import QueueProducer
from ig.adapters.cloudflare.r2 import R2BlobStore
from ig.deps import Deps
from ig.settings import SETTING_NAMES, Settings


def settings_from_env(env: Any) -> Settings:
    values = {}
    for name in SETTING_NAMES:
        value = getattr(env, name, None)
        values[name] = None if value is None else str(value)
    settings = Settings.from_mapping(values)
    # A deployment is reachable by any client that has the token: the mock only when asked for.
    return replace(settings, mock_provider=bool(settings.mock_provider))


def deps_from_env(env: Any) -> Deps:
    return Deps(
        db=D1Database(env.DB),
        blobs=R2BlobStore(env.ARTIFACTS),
        queue=QueueProducer(env.JOBS),
        http=FetchClient(),
        settings=settings_from_env(env),
        ed25519=WebCryptoEd25519(),
        thumbnailer=_thumbnailer(env),
    )


def _thumbnailer(env: Any) -> ImagesThumbnailer | None:
    """Optional: without an [images] binding no artifact gets a thumbnail; without [media] videos
    get only the posters their providers make (a frame needs both: Media cuts, Images encodes)."""
    images = getattr(env, "IMAGES", None)
    if images is None:
        return None
    return ImagesThumbnailer(images, getattr(env, "MEDIA", None))
