"""The composition root's product: the ports and settings one invocation works with.

Each runtime builds a ``Deps`` per request or batch (the Worker's ``env`` arrives per call), and
the clock, ids and tokens are injected so nothing random happens at import time."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ig.ports import BlobStore, Database, Ed25519Verifier, HttpClient, MessageQueue, Thumbnailer
from ig.settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_token() -> str:
    return secrets.token_urlsafe(32)


def isoformat(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: sorts lexically in SQL as it does in time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Deps:
    db: Database
    blobs: BlobStore
    queue: MessageQueue
    http: HttpClient
    settings: Settings
    ed25519: Ed25519Verifier | None = None
    """Set by both runtimes; providers that sign their webhooks with Ed25519 (fal) need it."""
    thumbnailer: Thumbnailer | None = None
    """Unset (the Worker without an Images binding), image artifacts stay without thumbnails."""
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], str] = new_uuid
    new_token: Callable[[], str] = new_token
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("ig"))

    def now(self) -> str:
        return isoformat(self.clock())
