"""Fixtures every tier shares: the guarantee figures, a fake Runware and a consumer's callback
endpoint on loopback. The tiers: ``unit/`` (pure functions, no server), ``integration/`` (the
local runtime over real HTTP; its own conftest starts ig), ``worker/`` (Pyodide + Miniflare,
marked ``worker``). Helpers and payloads live in ``fixtures/``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fixtures import scheduling
from fixtures.callback_receiver import CallbackReceiver
from fixtures.fake_fal import FakeFal
from fixtures.fake_replicate import FakeReplicate
from fixtures.fake_runware import FakeRunware

FIGURE = "ig_figure"
"""The user property a figure travels under, so it reaches the summary from any xdist worker."""

FIGURES: list[tuple[str, str]] = []
"""What the guarantee tests measured, as (label, text), in the order their reports arrived."""


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Record a measured figure: ``figure("guarantee 1", "60 deliveries -> 60 x 200")``. It is
    printed now (seen with ``-s``) and again in the run's "guarantee figures" summary."""

    def record(label: str, text: str) -> None:
        print(f"{label}: {text}")
        request.node.user_properties.append((FIGURE, (label, text)))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        FIGURES.extend(tuple(value) for name, value in report.user_properties if name == FIGURE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: scheduling.first(item.nodeid))  # stable: the rest keeps its order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The suite's own schedule for ``-n N`` (xdist's "load"); another ``--dist`` is left to xdist."""
    return scheduling.TierScheduling(config, log) if config.getvalue("dist") == "load" else None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("guarantee figures")
        for label, text in FIGURES:
            terminalreporter.write_line(f"{label}: {text}")


@pytest.fixture
def fake_runware() -> Iterator[FakeRunware]:
    """A fake Runware on loopback (``fixtures/fake_runware.py``)."""
    fake = FakeRunware().start()
    yield fake
    fake.stop()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    """A consumer's callback endpoint on loopback (``fixtures/callback_receiver.py``)."""
    found = CallbackReceiver().start()
    yield found
    found.stop()


@pytest.fixture
def fake_fal() -> Iterator[FakeFal]:
    """A fake fal on loopback (``fixtures/fake_fal.py``): queue, platform APIs, signed webhooks."""
    fake = FakeFal().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_replicate() -> Iterator[FakeReplicate]:
    """A fake Replicate on loopback (``fixtures/fake_replicate.py``): predictions API, listing, signed webhooks."""
    fake = FakeReplicate().start()
    yield fake
    fake.stop()
