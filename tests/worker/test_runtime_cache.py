"""The Worker tests never skip: without Node.js/npm the runtime setup fails, naming what to install,
and the `worker_runtime` fixture turns that into a test failure (see conftest.py)."""

from __future__ import annotations

import inspect

import pytest

from . import conftest, runtime_cache


@pytest.mark.parametrize("missing", ["node", "npm"])
def test_a_missing_node_or_npm_is_an_error_saying_what_to_install(monkeypatch, tmp_path, missing):
    real_which = runtime_cache.shutil.which
    monkeypatch.setattr(runtime_cache.shutil, "which", lambda name: None if name == missing else real_which(name))
    with pytest.raises(runtime_cache.WorkerRuntimeError) as caught:
        runtime_cache.ensure_worker_runtime(tmp_path)
    message = str(caught.value)
    assert f"`{missing}` was not found on PATH" in message
    assert "Node.js" in message and "install" in message
    assert not (tmp_path / "node_modules").exists()


def test_the_runtime_fixture_fails_instead_of_skipping():
    source = inspect.getsource(conftest)
    assert "pytest.fail(" in source and "skip" not in source
