"""``ig --help``, usage mistakes and shell completion (run on every TAB) load only click: httpx, pydantic
and rich, which take most of a second to import, wait for a command that talks to ig or prints
with rich. ``import ig_client`` loads them on first use of a name. Each case runs in a fresh
interpreter, since this one has long imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("httpx", "pydantic", "rich")
MARK = "loaded-modules:"

RUN_CLI = f"""
import json, sys
from ig_client.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {set(HEAVY)!r} or m == "ig_client.models")
print({MARK!r}, json.dumps(loaded), file=sys.__stdout__)
"""


def _python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("_IG_COMPLETE", "COMP_"))}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "IG_URL": "http://127.0.0.1:9", **(env or {})},  # nothing listens there
    )


def _loaded(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
    assert len(lines) == 1, result.stdout + result.stderr
    return list(json.loads(lines[0].removeprefix(MARK)))


@pytest.mark.parametrize(
    ("argv", "env", "shown"),
    [
        (["--help"], {}, "Usage: ig [OPTIONS] COMMAND"),
        (["artifacts", "--help"], {}, "Usage: ig artifacts [OPTIONS] COMMAND"),
        (["jobs", "list", "--help"], {}, "--any-tag"),
        (["jobs", "frobnicate"], {}, "No such command 'frobnicate'"),
        (["generate", "x", "--var", "photo=@/no/such/file.png"], {}, "no such file"),
        ([], {"_IG_COMPLETE": "bash_complete", "COMP_WORDS": "ig art", "COMP_CWORD": "1"}, "plain,artifacts"),
        ([], {"_IG_COMPLETE": "bash_complete", "COMP_WORDS": "ig jobs list --", "COMP_CWORD": "3"}, "--any-tag"),
    ],
    ids=["help", "group-help", "command-help", "unknown-command", "bad-key-value", "complete", "complete-option"],
)
def test_help_usage_mistakes_and_completion_load_no_client_library_and_no_rich(argv, env, shown):
    result = _python("-c", RUN_CLI, *argv, env=env)
    assert shown in result.stdout + result.stderr  # the CLI did run
    assert _loaded(result) == []


def test_python_m_ig_client_cli_help_imports_none_of_them():
    result = _python("-X", "importtime", "-m", "ig_client.cli", "--help")
    assert result.returncode == 0 and result.stdout.startswith("Usage: ig"), result.stderr
    imported = [
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    ]
    assert "click" in imported  # what -X importtime reported is read
    assert [name for name in imported if name.split(".")[0] in HEAVY or name == "ig_client.models"] == []


def test_import_ig_client_is_cheap_and_every_name_still_resolves():
    check = f"""
import json, sys
import ig_client
before = sorted(m for m in sys.modules if m.split(".")[0] in {set(HEAVY)!r})
from ig_client import Client
from ig_client._sync import Client as Defined
from ig_client import *
resolved = {{name: getattr(ig_client, name).__module__ for name in ig_client.__all__ if name != "TERMINAL_STATUSES"}}
print(json.dumps({{
    "before": before,
    "same": Client is Defined,
    "httpx_after": "httpx" in sys.modules,
    "resolved": resolved,
    "star": sorted(name for name in ig_client.__all__ if name not in globals()),
    "in_dir": sorted(set(ig_client.__all__) - set(dir(ig_client))),
    "statuses": sorted(ig_client.TERMINAL_STATUSES),
}}))
try:
    ig_client.Clinet
except AttributeError as error:
    print(error)
"""
    result = _python("-c", check)
    assert result.returncode == 0, result.stderr
    report, missing = result.stdout.splitlines()
    answer = json.loads(report)
    assert answer["before"] == []
    assert answer["same"] and answer["httpx_after"]
    assert len(answer["resolved"]) >= 50 and all(home.startswith("ig_client.") for home in answer["resolved"].values())
    assert answer["star"] == [] and answer["in_dir"] == []
    assert answer["statuses"]
    assert missing == "module 'ig_client' has no attribute 'Clinet'"
