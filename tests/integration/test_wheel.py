"""ig as someone installs it: the built wheel in a fresh virtual environment outside the checkout.
Its command is ``ig-server`` (``ig`` is the client's, another distribution). Without the ``local``
extra it says what to install; with it, ig serves a mock job from the migrations it carries (a wheel
without them used to start and then fail every query)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
MOCK_JOB = {
    "provider": "mock",
    "task": "imageInference",
    "model": "mock",
    "params": {"positivePrompt": "a red fox", "width": 64, "height": 64},
}


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, f"ig-server exited with {server.returncode}"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("ig-server did not answer /healthz within 30 s")


def test_the_wheel_installs_and_serves_a_job_outside_the_checkout(tmp_path):
    built = _run(UV, "build", "--wheel", "--out-dir", tmp_path / "dist", cwd=REPO)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("ig-*.whl")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv = elsewhere / "venv"
    python = venv / "bin" / "python"
    assert _run(UV, "venv", "--quiet", "--python", sys.executable, venv, cwd=elsewhere).returncode == 0
    env = {"PATH": os.environ["PATH"], "HOME": str(elsewhere), "IG_MOCK_PROVIDER": "1"}

    installed = _run(UV, "pip", "install", "--quiet", "--python", python, wheel, cwd=elsewhere)
    assert installed.returncode == 0, installed.stderr
    assert not (venv / "bin" / "ig").exists()  # the client's command: the two install side by side
    bare = subprocess.run(
        [venv / "bin" / "ig-server"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60
    )
    assert (bare.returncode, bare.stderr) == (
        1,
        "ig-server needs uvicorn, which is not installed: pip install 'ig[local]'\n",
    )

    installed = _run(UV, "pip", "install", "--quiet", "--python", python, f"{wheel}[local]", cwd=elsewhere)
    assert installed.returncode == 0, installed.stderr
    where = _run(python, "-c", "import ig; print(ig.__file__)", cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(venv), where  # the installed copy, not src/

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (elsewhere / "serve.log").open("w+")
    server = subprocess.Popen(
        [venv / "bin" / "ig-server", "--port", str(port), "--data-dir", elsewhere / "data"],
        cwd=elsewhere,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_healthy(url, server)
        with httpx.Client(base_url=url, timeout=30) as client:
            submitted = client.post("/v1/jobs", json=MOCK_JOB)
            assert submitted.status_code == 202, submitted.text
            job = client.get(f"/v1/jobs/{submitted.json()['id']}", params={"wait": 20}).json()
            assert job["status"] == "succeeded", job
            [artifact] = job["artifacts"]
            content = client.get(artifact["content_url"])
            assert content.status_code == 200 and content.headers["content-type"] == artifact["content_type"]
            assert len(content.content) == artifact["size"] > 0
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.seek(0)
        output = log.read()
        log.close()
    assert "no such table" not in output and "Traceback" not in output, output
