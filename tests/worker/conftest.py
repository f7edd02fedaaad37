"""Fixtures for tests that run the Worker on Pyodide + Miniflare (tests/worker/harness.mjs).

`worker_runtime` (session) installs node_modules and the wheel cache on first use.
`make_worker` (function) starts a WorkerHarness for a given source dir and closes it afterwards.
`ig_harness` (session) runs ig's own src/entry.py; `ig` (function) resets it for one test and pairs it
with that test's fake Runware (`fake_runware`, from tests/conftest.py).

Every test under tests/worker is marked `worker`: `pytest -m "not worker"` runs the other tiers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.fake_runware import FakeRunware

from .ig_worker import IgWorker, start_harness
from .runtime_cache import Paths, WorkerRuntimeError, ensure_worker_runtime
from .worker_harness import WorkerHarness

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest's collection hook sees every item of the session, not only this directory's.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.worker)


@pytest.fixture(scope="session")
def worker_runtime() -> Paths:
    try:
        return ensure_worker_runtime()
    except WorkerRuntimeError as exc:
        pytest.fail(f"worker runtime setup failed: {exc}", pytrace=False)


@pytest.fixture
def make_worker(worker_runtime: Paths) -> Iterator[Callable[..., WorkerHarness]]:
    started: list[WorkerHarness] = []

    def _make(src, **kwargs) -> WorkerHarness:
        h = WorkerHarness(src, paths=worker_runtime, **kwargs).start()
        started.append(h)
        return h

    yield _make
    for h in started:
        h.close()


@pytest.fixture(scope="session")
def ig_harness(worker_runtime: Paths) -> Iterator[WorkerHarness]:
    """One Worker (src/entry.py) for the session (for each xdist worker process), schema applied
    from src/ig/migrations/. Starting one takes ~5 s; ``ig`` empties it before every test, and
    tests that patch the Worker's interpreter put the real code back before they end."""
    h = start_harness(worker_runtime, max_retries=5)
    yield h
    h.close()


@pytest.fixture
def ig(ig_harness: WorkerHarness, fake_runware: FakeRunware) -> IgWorker:
    """The module's Worker with empty tables, queues and bucket, pointed at this test's fake Runware
    (webhook mode: IG_PUBLIC_URL is set; tests change vars with ``ig.configure``)."""
    worker = IgWorker(ig_harness, fake_runware)
    worker.reset()
    return worker
