"""Idempotency-Key: a client that retries a submit (a timeout, a crash, a flaky network) with the
same key and the same body gets the job its first request made, and the provider sees one
task. The key is claimed in the same database batch that records the job, so of two racing
requests exactly one makes a job. Keys are kept for 24 hours, then swept."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ig.deps import isoformat
from ig.errors import FieldError, ValidationFailed
from ig.ports import Database, Row, Statement

HEADER = "idempotency-key"
KEEP_FOR = timedelta(hours=24)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

SELECT_KEY = "SELECT * FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND expires_at > ?3"
DROP_EXPIRED_KEY = "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND expires_at <= ?3"
# A plain INSERT: a live key already there makes the whole batch fail, so no second job is recorded.
CLAIM_KEY = """
INSERT INTO idempotency_keys (scope, key, request_sha256, job_id, created_at, expires_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
"""
SWEEP_EXPIRED = """
DELETE FROM idempotency_keys WHERE (scope, key) IN
    (SELECT scope, key FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2)
"""


def key_from(headers: dict[str, str]) -> str | None:
    """The request's Idempotency-Key (1 to 255 visible ASCII characters), if it sent one."""
    value = headers.get(HEADER)
    if value is None:
        return None
    if not _KEY.fullmatch(value.strip()):
        raise ValidationFailed(
            [FieldError("Idempotency-Key", "1 to 255 visible ASCII characters (a UUID is ideal)", "invalid_key")]
        )
    return value.strip()


def digest(data: Any) -> str:
    """The body's fingerprint: canonical JSON, so key order and spacing do not matter."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Key:
    scope: str
    """The route the key belongs to: ``jobs``, ``batch``, ``batch-item``."""
    key: str


async def earlier(db: Database, key: Key, body_digest: str, now: str) -> Row | None:
    """The live record of an earlier request with this key, if any; a 422 if its body differed."""
    found = await db.first(SELECT_KEY, [key.scope, key.key, now])
    if found is not None and found["request_sha256"] != body_digest:
        raise ValidationFailed(
            [
                FieldError(
                    "Idempotency-Key",
                    "this key was used with a different request body; use a new key for a new request",
                    "idempotency_key_reused",
                )
            ]
        )
    return found


async def claim_with(
    db: Database, key: Key, body_digest: str, job_id: str | None, moment: datetime, statements: list[Statement]
) -> Row | None:
    """Run ``statements`` with the key claimed in the same batch: None when this request claimed
    it, or the earlier request's record when a racing request claimed it first (nothing ran)."""
    now = isoformat(moment)
    claim = [
        (DROP_EXPIRED_KEY, [key.scope, key.key, now]),
        (CLAIM_KEY, [key.scope, key.key, body_digest, job_id, now, isoformat(moment + KEEP_FOR)]),
    ]
    try:
        await db.batch([*claim, *statements])
    except Exception:
        found = await earlier(db, key, body_digest, now)
        if found is None:
            raise  # not a key conflict
        return found
    return None


async def sweep_expired(db: Database, now: str, limit: int = 500) -> int:
    return await db.run(SWEEP_EXPIRED, [now, limit])
