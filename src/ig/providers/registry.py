"""The providers a job can name, each behind the ``Provider`` protocol: ``dialect_for`` gives the
pure half (models, parameters, bodies; no I/O), ``provider_for`` the whole provider."""

from __future__ import annotations

from ig.deps import Deps
from ig.providers.base import Capabilities, Dialect, Provider
from ig.providers.fal.client import FalProvider
from ig.providers.fal.protocol import SpeaksFal
from ig.providers.mock import MockProvider
from ig.providers.runware.client import RunwareProvider
from ig.providers.runware.protocol import SpeaksRunware

PROVIDERS = ("runware", "fal", "mock")


def provider_for(name: str, deps: Deps) -> Provider:
    if name == "mock":
        return MockProvider()
    if name == "fal":
        return FalProvider(deps.http, deps.settings, deps.ed25519)
    return RunwareProvider(deps.http, deps.settings)


def capabilities_of(name: str) -> Capabilities:
    return {"mock": MockProvider.capabilities, "fal": FalProvider.capabilities}.get(name, RunwareProvider.capabilities)


def dialect_for(name: str) -> Dialect:
    if name == "mock":
        return MockProvider()
    if name == "fal":
        return SpeaksFal()
    return SpeaksRunware()
