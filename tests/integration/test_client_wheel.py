"""The client as someone installs it: the ``ig-client`` wheel in a fresh virtual environment outside
the checkout, with nothing of the server (no ``ig`` package, none of its dependencies). Its ``ig``
runs, says what to install for ``ig serve``, and makes, waits for and downloads artifacts from an
ig started from this checkout. ``uvx`` (uv's ``pipx run``) runs it from the wheel too."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.cli_run import environment, run_ig_blocking

REPO = Path(__file__).resolve().parents[2]
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
SERVER_ONLY = {"ig", "uvicorn", "aiohttp", "cryptography", "httptools", "certifi"}
"""The server and its ``local`` extra: none may come with the client (certifi may, through httpx)."""


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    built = _run(UV, "build", "--wheel", "--package", "ig-client", "--out-dir", tmp_path / "dist", cwd=REPO)
    assert built.returncode == 0, built.stderr
    [made] = (tmp_path / "dist").glob("ig_client-*.whl")
    return made


@pytest.fixture
def ig_url(tmp_path: Path) -> Iterator[str]:
    """ig from this checkout (its own process, with the mock provider), as a user would run it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "ig.adapters.local.cli", "--port", str(port), "--data-dir", tmp_path / "data"],
            env=environment(None),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"ig did not answer within 30 s:\n{log_path.read_text()}"
                time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=15)


def test_the_client_wheel_installs_alone_and_its_ig_makes_and_downloads_artifacts(wheel, ig_url, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv = elsewhere / "venv"
    python = venv / "bin" / "python"
    assert _run(UV, "venv", "--quiet", "--python", sys.executable, venv, cwd=elsewhere).returncode == 0
    installed = _run(UV, "pip", "install", "--quiet", "--python", python, wheel, cwd=elsewhere)
    assert installed.returncode == 0, installed.stderr

    listed = _run(UV, "pip", "freeze", "--python", python, cwd=elsewhere)
    packages = {line.split("==")[0].split(" @ ")[0].lower() for line in listed.stdout.splitlines()}
    assert "ig-client" in packages and {"httpx", "pydantic", "click", "rich"} <= packages
    assert packages & SERVER_ONLY <= {"certifi"}, packages
    where = _run(
        python,
        "-c",
        "import ig_client, importlib.util; print(ig_client.__file__, importlib.util.find_spec('ig'))",
        cwd=elsewhere,
    )
    module, found_server = where.stdout.split()
    assert Path(module).is_relative_to(venv) and found_server == "None", where

    ig = [venv / "bin" / "ig"]
    helped = run_ig_blocking("--help", url=None, command=ig, cwd=elsewhere)
    assert helped.code == 0 and "Exit status:" in helped.out and "generate" in helped.out, helped
    serve = run_ig_blocking("serve", "--port", "1", url=None, command=ig, cwd=elsewhere)
    assert (serve.code, serve.err) == (
        1,
        "Error: ig serve needs the ig server, which is not installed: pip install 'ig[local]'\n",
    ), serve

    out = elsewhere / "out"
    made = run_ig_blocking(
        "generate", "a fox in snow", "--provider", "mock", "--model", "flux-schnell",
        "-p", "width=64", "-p", "height=64", "-n", "2", "-o", out,
        url=ig_url, command=ig, cwd=elsewhere,
    )  # fmt: skip
    assert made.code == 0, made
    database = sqlite3.connect(tmp_path / "data" / "ig.sqlite3")
    try:
        stored = dict(database.execute("SELECT id, sha256 FROM artifacts WHERE role = 'output'").fetchall())
    finally:
        database.close()
    assert len(stored) == 2
    assert sorted(made.out.splitlines()) == sorted(str(out / f"{artifact}.png") for artifact in stored)
    for artifact, sha256 in stored.items():
        assert hashlib.sha256((out / f"{artifact}.png").read_bytes()).hexdigest() == sha256


def test_uvx_runs_ig_from_the_wheel(wheel, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = _run(UV, "tool", "run", "--isolated", "--from", wheel, "ig", "--help", cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("Usage: ig [OPTIONS] COMMAND [ARGS]...") and "Exit status:" in ran.stdout
