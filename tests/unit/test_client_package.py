"""The client package (library and command line) stands alone and is typed: it imports nothing of
the server (``ig``), so its wheel installs without it, and it passes ``mypy --strict``, as does a
consumer's script using it."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import ig_client
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "python" / "src" / "ig_client"

CONSUMER = """
from pathlib import Path

from ig_client import ApiError, AsyncClient, Client, Job, ValidationError


def progress(job: Job) -> None:
    print(job.status, len(job.artifacts))


def make(client: Client) -> list[Path]:
    job = client.generate(model="flux-schnell", prompt="a fox", tags=["user:42"], on_progress=progress)
    client.artifacts.tag(job.artifacts[0], add=["best"])
    return [client.artifacts.download(artifact, Path("out")) for artifact in job.artifacts]


def newest(client: Client) -> list[str]:
    return [artifact.sha256 for artifact in client.artifacts.list(tag=["user:42"], kind="image", limit=10)]


async def bot(client: AsyncClient) -> int:
    try:
        job = await client.submit(model="flux-schnell", params={"width": 3})
    except ValidationError as error:
        return len(error.errors)
    except ApiError as error:
        return error.status
    done = await client.wait(job, timeout=60)
    return sum([1 async for _ in client.jobs.list(status=done.status)])
"""


def _mypy(*targets: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *targets]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_the_package_passes_mypy_strict():
    result = _mypy(str(PACKAGE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_consumers_script_type_checks_and_a_misspelt_argument_does_not(tmp_path):
    script = tmp_path / "consumer.py"
    script.write_text(textwrap.dedent(CONSUMER))
    result = _mypy(str(script))
    assert result.returncode == 0, result.stdout + result.stderr
    misspelt = tmp_path / "misspelt.py"  # another file: mypy's cache would take a same-size rewrite for unchanged
    misspelt.write_text(
        textwrap.dedent(CONSUMER).replace('model="flux-schnell", prompt=', 'modle="flux-schnell", prompt=')
    )
    result = _mypy(str(misspelt))
    assert result.returncode == 1 and 'Unexpected keyword argument "modle"' in result.stdout, result.stdout


def test_every_module_imports_without_the_server_package():
    blocked = "import sys; sys.modules['ig'] = None  # any import of ig now fails\n"
    walk = textwrap.dedent(
        """
        import importlib, pkgutil, ig_client
        found = pkgutil.walk_packages(ig_client.__path__, "ig_client.")
        names = [m.name for m in found if not m.name.endswith(".__main__")]  # that one runs the command
        for name in names:
            importlib.import_module(name)
        print(len(names))
        """
    )
    result = subprocess.run([sys.executable, "-c", blocked + walk], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 10  # every module was found and imported


PAIRS = [
    (ig_client.Client, ig_client.AsyncClient),
    (ig_client.Jobs, ig_client.AsyncJobs),
    (ig_client.Artifacts, ig_client.AsyncArtifacts),
    (ig_client.Presets, ig_client.AsyncPresets),
]


def _calls(kind: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(kind).items()
        if callable(member) and not name.startswith("_") and name != "close"
    }


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=lambda kind: kind.__name__)
def test_the_async_client_has_the_sync_clients_calls_with_the_same_parameters(sync, async_):
    calls, async_calls = _calls(sync), _calls(async_)
    assert len(calls) >= 4 and calls.keys() == async_calls.keys()
    for name, signature in calls.items():
        assert list(signature.parameters.values()) == list(async_calls[name].parameters.values()), name
