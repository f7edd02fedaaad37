"""The integration tier: ig's local runtime served over real HTTP on loopback, with real SQLite
and real files in a temporary data directory (``start_ig``)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fixtures.database import read_rows
from fixtures.fake_runware import FakeRunware
from fixtures.ports import ScaledQueue, use_ports
from fixtures.waiting import until

from ig.adapters.local.runtime import LocalRuntime
from ig.settings import Settings


@dataclass
class LocalIg:
    url: str
    runtime: LocalRuntime
    client: httpx.AsyncClient
    data_dir: Path
    scaled_queue: ScaledQueue | None = None

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read ig's database directly, not through ig."""
        return read_rows(self.data_dir, sql, params)

    def blob_files(self) -> list[Path]:
        root = self.data_dir / "blobs" / "artifacts"
        return sorted(p for p in root.glob("*") if not p.name.endswith(".meta.json")) if root.exists() else []

    async def submit(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await self.client.post("/v1/jobs", json=body, **kwargs)

    async def drained(self, timeout: float = 20) -> None:
        """Wait until the queue is empty: every message ig sent itself (events to store, callbacks
        to send, polls, resubmits) has been handled, so nothing more is on its way."""
        await until(lambda: self.runtime.queue.pending() == 0, timeout, what="the queue to drain")

    async def wait(self, job_id: str, seconds: float = 20) -> dict[str, Any]:
        response = await self.client.get(f"/v1/jobs/{job_id}", params={"wait": seconds}, timeout=seconds + 5)
        assert response.status_code == 200, response.text
        return response.json()


def _bound_socket() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every answer written in two parts waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def start_ig(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start ig's local runtime: ``await start_ig(webhooks=True, **settings)``. With
    ``background=False`` the queue consumer and sweeper wait for ``ig.runtime.start_background()``.
    With ``time_scale`` the delays ig asks its queue for (polls, resubmits) are recorded and only
    that share of them waited (``ig.scaled_queue``): for tests about what happens, not when."""
    started: list[tuple[uvicorn.Server, asyncio.Task[Any], LocalIg]] = []

    async def start(
        fake: FakeRunware | None = None,
        *,
        webhooks: bool = True,
        data_dir: Path | None = None,
        sweep_interval: float = 3600,
        background: bool = True,
        time_scale: float | None = None,
        **overrides: Any,
    ) -> LocalIg:
        sock = _bound_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        values: dict[str, Any] = {"media_hosts": ("127.0.0.1",)}
        if fake is not None:
            values.update(runware_api_key=fake.api_key, runware_api_url=fake.url)
        if webhooks:
            values["public_url"] = url
        values.update(overrides)
        settings = Settings(**values)
        data = data_dir or tmp_path / f"ig-{len(started)}"
        runtime = LocalRuntime(data, settings, sweep_interval=sweep_interval)
        server = uvicorn.Server(uvicorn.Config(runtime.app, lifespan="off", log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        if background:
            runtime.start_background()
        ig = LocalIg(url, runtime, httpx.AsyncClient(base_url=url, timeout=30), data)
        if time_scale is not None:
            ig.scaled_queue = ScaledQueue(runtime.deps.queue, time_scale)
            use_ports(ig, queue=ig.scaled_queue)
        started.append((server, task, ig))
        return ig

    yield start
    for server, task, ig in started:
        await stop_ig(server, task, ig)


async def stop_ig(server: uvicorn.Server, task: asyncio.Task[Any], ig: LocalIg) -> None:
    await ig.client.aclose()
    server.should_exit = True
    await task
    await ig.runtime.stop()
