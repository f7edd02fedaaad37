"""A job's request for its provider as stored and as sent: stored with the per-job webhook token
redacted (the row is read by views and logs), the real token put back for each send."""

from __future__ import annotations

import json
from typing import Any

from ig.deps import Deps
from ig.ports import Row

REDACTED = "<redacted>"


def redacted_webhook_url(deps: Deps, provider: str, job_id: str) -> str:
    """The webhook URL the stored request names: ``/webhooks/{provider}/{job}/<redacted>``."""
    return f"{deps.settings.public_url}/webhooks/{provider}/{job_id}/{REDACTED}"


def request_for(job: Row) -> dict[str, Any]:
    """The exact request to (re)send: the stored one with the real webhook token in place of the
    redaction (it stands only in the webhook URL's last segment, after the job id)."""
    text = job["provider_request"]
    if job["webhook_token"]:
        text = text.replace(f"/{job['id']}/{REDACTED}", f"/{job['id']}/{job['webhook_token']}")
    return json.loads(text)
