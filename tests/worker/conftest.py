"""Fixtures for tests that run the Worker on Pyodide + Miniflare (tests/worker/harness.mjs).

`worker_runtime` (session) installs node_modules and the wheel cache on first use.
`make_worker` (function) starts a WorkerHarness for a given source dir and closes it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .runtime_cache import Paths, WorkerRuntimeError, ensure_worker_runtime
from .worker_harness import WorkerHarness


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
