"""The providers a job can name, each behind the ``Provider`` protocol."""

from __future__ import annotations

from ig.deps import Deps
from ig.providers.base import Provider
from ig.providers.mock import MockProvider
from ig.providers.runware.client import RunwareProvider


def provider_for(name: str, deps: Deps) -> Provider:
    if name == "mock":
        return MockProvider()
    return RunwareProvider(deps.http, deps.settings)
