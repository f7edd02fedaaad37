"""The TypeScript client (clients/typescript) against a real ig: builds it with tsc (strict, and its
main entry without Node's types), then runs its ``node --test`` suites with ``IG_URL`` pointing at
ig's local runtime on loopback (mock provider on; Runware faked so its jobs never finish, for the
tests of waiting and cancelling; callbacks signed with a known secret). A failing TypeScript test
fails here with node's whole output."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from fixtures.callback_receiver import SECRET
from fixtures.typescript_client import CLIENT_DIR, build
from worker.runtime_cache import ensure_node_tools

NODE_SECONDS = 240
SUITES = sorted(path.name.removesuffix(".ts") for path in (CLIENT_DIR / "test").glob("*.test.ts"))


def test_every_suite_is_run_here():
    assert SUITES == ["callbacks.test", "flow.test", "resilience.test"]


@pytest.fixture(scope="module")
def compiled_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("ig-client-ts"))


@pytest.mark.parametrize("suite", SUITES)
async def test_the_typescript_client(suite, compiled_tests, start_ig, fake_runware):
    fake_runware.drop_webhooks = True  # a Runware job is accepted and never heard of again
    ig = await start_ig(fake_runware, callback_secret=SECRET)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "IG_URL": ig.url,
        "IG_TEST_CALLBACK_SECRET": SECRET,
    }
    node = await asyncio.create_subprocess_exec(
        ensure_node_tools(),
        "--test",
        "--test-reporter=spec",
        "--test-timeout=60000",
        str(compiled_tests / f"{suite}.js"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(node.communicate(), NODE_SECONDS)
    except TimeoutError:
        node.kill()
        output, _ = await node.communicate()
        raise AssertionError(f"node --test {suite} ran past {NODE_SECONDS} s:\n{output.decode()}") from None
    text = output.decode()
    assert node.returncode == 0, f"node --test {suite} exited {node.returncode}:\n{text}"
    counts = {name: int(count) for name, count in re.findall(r"^ℹ (\w+) (\d+)$", text, re.MULTILINE)}
    assert counts["tests"] > 0 and counts["pass"] == counts["tests"], text  # nothing skipped, cancelled or todo
