"""The providers a job can name, each behind the ``Provider`` protocol: ``dialect_for`` gives the
pure half (models, parameters, bodies; no I/O), ``provider_for`` the whole provider."""

from __future__ import annotations

from ig.deps import Deps
from ig.providers.base import Capabilities, Dialect, Provider
from ig.providers.fal.client import FalProvider
from ig.providers.fal.protocol import SpeaksFal
from ig.providers.mock import MockProvider
from ig.providers.replicate.client import ReplicateProvider
from ig.providers.replicate.client import capabilities as replicate_capabilities
from ig.providers.replicate.protocol import SpeaksReplicate
from ig.providers.runware.client import RunwareProvider
from ig.providers.runware.protocol import SpeaksRunware
from ig.settings import Settings

PROVIDERS = ("runware", "fal", "replicate", "mock")


def provider_for(name: str, deps: Deps) -> Provider:
    if name == "mock":
        return MockProvider()
    if name == "fal":
        return FalProvider(deps.http, deps.settings, deps.ed25519)
    if name == "replicate":
        return ReplicateProvider(deps.http, deps.settings)
    return RunwareProvider(deps.http, deps.settings)


def capabilities_of(name: str, settings: Settings) -> Capabilities:
    if name == "replicate":
        return replicate_capabilities(settings)  # webhooks depend on its secret
    return {"mock": MockProvider.capabilities, "fal": FalProvider.capabilities}.get(name, RunwareProvider.capabilities)


def dialect_for(name: str) -> Dialect:
    if name == "mock":
        return MockProvider()
    if name == "fal":
        return SpeaksFal()
    if name == "replicate":
        return SpeaksReplicate()
    return SpeaksRunware()
