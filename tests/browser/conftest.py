"""The browser tier: ``ig serve`` in a real subprocess (the mock provider, real SQLite and files in
a temporary directory) and the system's Chromium driven by Playwright (Debian's ``chromium``,
which .ci/run installs). Every page a test opens is watched: a console error or an uncaught exception on it
(a CSP violation is one) fails the test unless the test expected it.

Tests here are synchronous (Playwright's sync API); they reach ig's API with httpx and read its
database directly, not through ig."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.database import read_rows
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Looked for on PATH, after ``IG_TEST_CHROMIUM``; without any, Playwright's own Chromium
(``uv run playwright install chromium``)."""
# Chromium's own traffic (updates, sync, QUIC probes) is refused by a closed network, and as root
# it needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MOCK_IMAGE = {"provider": "mock", "model": "mock", "task": "imageInference"}
TIMEOUT_MS = 15_000


@dataclass
class IgServe:
    """One ``ig serve`` process and ways to look at it from outside."""

    url: str
    data_dir: Path
    token: str | None
    process: subprocess.Popen[bytes]
    api: httpx.Client

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read ig's database directly, not through ig."""
        return read_rows(self.data_dir, sql, params)

    def make(self, params: dict[str, Any], *, tags: list[str] | None = None, **job: Any) -> dict[str, Any]:
        """Submit a job through the API (the mock makes a PNG by default) and wait until it has
        finished; returns the finished job."""
        body = {**MOCK_IMAGE, **job, "params": params}
        if tags:
            body["tags"] = tags
        response = self.api.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        finished = self.api.get(f"/v1/jobs/{response.json()['id']}", params={"wait": 20}, timeout=30).json()
        assert finished["status"] == "succeeded", finished
        return finished

    def thumbnails_made(self, count: int, timeout: float = 20) -> None:
        """Wait until ``count`` artifacts have their thumbnails."""
        deadline = time.monotonic() + timeout
        while self.rows("SELECT count(*) AS n FROM artifacts WHERE thumbnail_state = 'made'")[0]["n"] < count:
            assert time.monotonic() < deadline, f"fewer than {count} thumbnails after {timeout} s"
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve_ig(tmp_path: Path) -> Iterator[Callable[..., IgServe]]:
    """``serve_ig(token="t", IG_X="...")``: start ``ig serve`` with the mock provider on a free
    port and wait until it answers; stopped after the test."""
    started: list[IgServe] = []

    def start(token: str | None = None, **settings: str) -> IgServe:
        port = _free_port()
        data_dir = tmp_path / f"ig-{len(started)}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IG_", "RUNWARE_", "FAL_", "REPLICATE_"))}
        env.update(IG_MOCK_PROVIDER="1", **settings)
        if token:
            env["IG_API_TOKEN"] = token
        command = [sys.executable, "-m", "ig.adapters.local.cli", "--port", str(port), "--data-dir", str(data_dir)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        server = IgServe(url, data_dir, token, process, httpx.Client(base_url=url, headers=headers, timeout=30))
        started.append(server)
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.api.get("/healthz").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "ig serve exited"
            assert time.monotonic() < deadline, "ig serve did not answer within 30 s"
            time.sleep(0.05)

    yield start
    for server in started:
        server.api.close()
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test file. Not per session: Playwright's sync API runs an event loop while
    it is started, and the async tests a process runs next need none running."""
    executable = os.environ.get("IG_TEST_CHROMIUM") or next(filter(None, map(shutil.which, SYSTEM_CHROMIUMS)), None)
    with sync_playwright() as driver:
        try:
            launched = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.fail(
                f"no Chromium to run the browser tests ({exc.message.splitlines()[0]}): install your system's "
                "(Debian: apt-get install chromium) or Playwright's (uv run playwright install chromium)",
                pytrace=False,
            )
        yield launched
        launched.close()


@dataclass
class PageProblems:
    """What went wrong on a test's pages: console errors and uncaught exceptions."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    """Substrings of errors the test provokes on purpose (a refused request)."""

    def unexpected(self) -> list[str]:
        return [e for e in self.console_errors + self.page_errors if not any(x in e for x in self.expected)]


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def open_page(browser: Browser, page_problems: PageProblems) -> Iterator[Callable[..., Page]]:
    """``open_page(ig, path="/")``: a page in a fresh browser context (no cookies) at ``path``,
    logged in first through the log-in form when ig has a token (``log_in=False`` to stay out)."""
    contexts = []

    def open_(server: IgServe, path: str = "/", *, log_in: bool = True, viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(base_url=server.url, viewport=viewport or {"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                page_problems.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

        page.on("console", console)
        page.on("pageerror", lambda error: page_problems.page_errors.append(str(error)))
        if server.token and log_in:
            log_in_through_the_form(page, server.token, path)
        else:
            page.goto(path)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not page_problems.unexpected(), page_problems.unexpected()


def log_in_through_the_form(page: Page, token: str, path: str = "/") -> None:
    page.goto(path)
    page.wait_for_url("**/login?next=*")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
