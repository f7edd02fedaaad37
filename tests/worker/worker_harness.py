"""Python driver for tests/worker/harness.mjs (stdlib only).

    from worker.worker_harness import WorkerHarness

    with WorkerHarness(src="/work/main/src", vars={"IG_API_TOKEN": "t"}) as h:
        h.apply_sql(path="src/ig/migrations/0001_initial.sql")
        r = h.fetch("POST", "http://ig.test/v1/jobs", json={...}, headers={"authorization": "Bearer t"})
        assert r.status == 202, r.text
        batch = h.queue()            # deliver what the Worker sent to JOBS, one batch
        rows = h.d1("SELECT status FROM jobs")
        obj = h.r2_get("artifacts/x.png")

One harness = one Node process = one Pyodide interpreter + one Miniflare (in-memory D1/R2/Queues).
Module-level Python state persists between commands, as in one warm isolate. Commands run one at a
time; a Worker that fetches a loopback server in the test process needs that server in a thread.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import queue as _queue
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from .runtime_cache import Paths, ensure_worker_runtime

PROTO = "@@IGH "


class HarnessError(RuntimeError):
    """A harness command failed (the Node side raised), or the harness died."""


@dataclasses.dataclass
class HarnessResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    exception: dict | None  # uncaught exception in fetch() (status is then 500, like workerd)
    wait_until: list[dict]
    logs: list[str]
    body_fate: str | None = None  # with track_body: untouched | partly read | read to end | cancelled

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


class WorkerHarness:
    def __init__(
        self,
        src: str | os.PathLike,
        *,
        vars: dict[str, str] | None = None,  # noqa: A002 - wrangler's name
        max_retries: int = 5,
        dlq_max_retries: int = 5,
        dlq_max_batch_size: int | None = None,  # None: max_batch_size
        max_batch_size: int = 10,
        module: str = "entry",
        class_name: str = "Default",
        compat_flags: dict[str, bool] | None = None,
        relaxed: dict[str, bool] | None = None,
        persist: str | os.PathLike | None = None,
        paths: Paths | None = None,
        startup_timeout: float = 180.0,
        command_timeout: float = 120.0,
        echo_logs: bool = False,
    ):
        self.paths = paths or ensure_worker_runtime()
        self.config = {
            "src": str(Path(src).resolve()),
            "module": module,
            "class": class_name,
            "wheels": [str(w) for w in self.paths.wheels],
            "vars": dict(vars or {}),
            "max_retries": max_retries,
            "dlq_max_retries": dlq_max_retries,
            "dlq_max_batch_size": dlq_max_batch_size or max_batch_size,
            "max_batch_size": max_batch_size,
            "compat_flags": dict(compat_flags or {}),
            "relaxed": dict(relaxed or {}),
            "persist": str(persist) if persist else None,
        }
        self.startup_timeout = startup_timeout
        self.command_timeout = command_timeout
        self.echo_logs = echo_logs
        self.proc: subprocess.Popen | None = None
        self.ready: dict | None = None
        self._ids = itertools.count(1)
        self._replies: _queue.Queue = _queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=400)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> WorkerHarness:
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.paths.harness_command() + [json.dumps(self.config)],
            cwd=self.paths.repo_root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        msg = self._next_reply(self.startup_timeout, what="startup")
        if msg.get("event") != "ready":
            self.close()
            raise HarnessError(
                f"harness failed to start: {msg.get('error')}\n{msg.get('stack')}\n" + self.stderr_text()
            )
        self.ready = msg
        self.ready["wall_ms"] = round((time.monotonic() - t0) * 1000)
        return self

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None and proc.stdin:
                proc.stdin.write(json.dumps({"id": 0, "cmd": "shutdown"}) + "\n")
                proc.stdin.flush()
                proc.stdin.close()
            proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> WorkerHarness:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_tail)

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            if line.startswith(PROTO):
                try:
                    self._replies.put(json.loads(line[len(PROTO) :]))
                except ValueError:
                    self.stderr_tail.append("bad protocol line: " + line.rstrip())
            else:
                self.stderr_tail.append("[stdout] " + line.rstrip())
        self._replies.put({"event": "eof"})

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            self.stderr_tail.append(line.rstrip())
            if self.echo_logs:
                sys.stderr.write(line)

    def _next_reply(self, timeout: float, what: str) -> dict:
        try:
            msg = self._replies.get(timeout=timeout)
        except _queue.Empty:
            raise HarnessError(f"harness did not answer {what} within {timeout}s\n{self.stderr_text()}") from None
        if msg.get("event") == "eof":
            self._replies.put(msg)
            time.sleep(0.2)
            raise HarnessError(f"harness exited during {what}\n{self.stderr_text()}")
        return msg

    # ------------------------------------------------------------------ protocol
    def request(self, cmd: str, timeout: float | None = None, **params) -> Any:
        """Send one command, return its `result`; raise HarnessError if the harness reported failure."""
        if self.proc is None:
            raise HarnessError("harness not started")
        with self._lock:
            rid = next(self._ids)
            self.proc.stdin.write(json.dumps({"id": rid, "cmd": cmd, **params}) + "\n")
            self.proc.stdin.flush()
            while True:
                msg = self._next_reply(timeout or self.command_timeout, what=cmd)
                if msg.get("id") == rid:
                    break
        self.last_logs = msg.get("logs", [])
        # The harness process's CPU while the command ran, and the part of it spent in Miniflare's
        # binding proxies (D1, R2, the queue producer), with the number of binding calls.
        self.last_cpu_us = msg.get("cpu_us")
        self.last_binding_cpu_us = msg.get("binding_cpu_us")
        self.last_binding_calls = msg.get("binding_calls")
        self.last_d1_statements = msg.get("d1_statements")  # statements prepared (run alone or in a batch)
        if not msg.get("ok"):
            raise HarnessError(f"{cmd} failed: {msg.get('error')}\n{msg.get('stack') or ''}")
        return msg["result"]

    # ------------------------------------------------------------------ Worker handlers
    def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
        json_body: Any = None,
        json: Any = None,  # noqa: A002 - alias of json_body
        track_body: bool = False,
    ) -> HarnessResponse:
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        payload = json if json is not None else json_body
        if payload is not None:
            body = _json_dumps(payload)
            if not any(k.lower() == "content-type" for k, _ in hdrs):
                hdrs.append(("content-type", "application/json"))
        if isinstance(body, str):
            body = body.encode()
        r = self.request("fetch", method=method, url=url, headers=hdrs, body_b64=_b64(body), track_body=track_body)
        return HarnessResponse(
            status=r["status"],
            headers=[tuple(h) for h in r["headers"]],
            body=base64.b64decode(r["body_b64"]),
            exception=r["exception"],
            wait_until=r["wait_until"],
            logs=self.last_logs,
            body_fate=r["body_fate"],
        )

    def queue(
        self, queue: str = "ig-jobs", *, max_batch_size: int | None = None, respect_delays: bool = False
    ) -> dict | None:
        """Deliver one batch from `queue` to Default.queue(); None if the queue is empty.

        Result: {"queue", "messages": [{"id", "attempts", "body", "call", "outcome", "retry_delay_seconds",
        "fate"}], "exception", "wait_until", "ack_all", "retry_all", "remaining"}.
        """
        params: dict[str, Any] = {"queue": queue, "respect_delays": respect_delays}
        if max_batch_size is not None:
            params["max_batch_size"] = max_batch_size
        return self.request("queue", **params)

    def drain(self, *, max_batches: int = 100, respect_delays: bool = False) -> dict:
        """Deliver batches (ig-jobs first, then ig-jobs-dlq) until both are empty."""
        return self.request("drain", max_batches=max_batches, respect_delays=respect_delays)

    def scheduled(self, cron: str = "* * * * *", scheduled_time: float | None = None) -> dict:
        params: dict[str, Any] = {"cron": cron}
        if scheduled_time is not None:
            params["scheduled_time"] = scheduled_time
        return self.request("scheduled", **params)

    # ------------------------------------------------------------------ direct access from Node
    def d1(self, sql: str, *params: Any, mode: str = "all", column: str | None = None) -> Any:
        """Run SQL on the Miniflare D1 directly (bypassing the Worker).

        mode "all"/"run" -> {"results": [...], "meta": {...}, "success"}; "first" -> row dict or None
        (or the column value with column=...); "raw" -> list of lists. Bytes come back as {"$bytes": b64}.
        """
        p = [{"$bytes": _b64(x)} if isinstance(x, bytes) else x for x in params]
        return self.request("d1", sql=sql, params=p, mode=mode, column=column)

    def d1_rows(self, sql: str, *params: Any) -> list[dict]:
        return self.d1(sql, *params)["results"]

    def apply_sql(self, path: str | os.PathLike | None = None, sql: str | None = None) -> dict:
        """Run a multi-statement .sql file (or string) as one D1 batch (atomic)."""
        if path is not None:
            path = str(Path(path) if Path(path).is_absolute() else self.paths.repo_root / path)
        return self.request("apply_sql", path=path, sql=sql)

    def r2_get(self, key: str) -> dict | None:
        """{"key", "size", "etag", "httpEtag", "uploaded", "httpMetadata", "customMetadata", "body": bytes}."""
        r = self.request("r2_get", key=key)
        if r is not None:
            r["body"] = base64.b64decode(r.pop("body_b64"))
        return r

    def r2_list(
        self,
        prefix: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        delimiter: str | None = None,
    ) -> dict:
        return self.request("r2_list", prefix=prefix, limit=limit, cursor=cursor, delimiter=delimiter)

    def r2_put(
        self, key: str, body: bytes, http_metadata: dict | None = None, custom_metadata: dict | None = None
    ) -> dict:
        return self.request(
            "r2_put", key=key, body_b64=_b64(body), httpMetadata=http_metadata, customMetadata=custom_metadata
        )

    def r2_delete(self, *keys: str) -> int:
        return self.request("r2_delete", keys=list(keys))["deleted"]

    def r2_puts(self) -> list[dict[str, str]]:
        """The Worker's single R2 puts since the last call: key, and "stream" or "bytes" (how the
        value was handed over)."""
        return self.request("r2_puts")

    def r2_keys(self, prefix: str | None = None) -> list[str]:
        """Every key in the bucket (under ``prefix``), following list cursors."""
        keys: list[str] = []
        cursor = None
        while True:
            page = self.r2_list(prefix=prefix, cursor=cursor)
            keys += [o["key"] for o in page["objects"]]
            if not page["truncated"]:
                return keys
            cursor = page["cursor"]

    def queue_send(
        self, body: Any, queue: str = "ig-jobs", content_type: str | None = None, delay_seconds: int | None = None
    ) -> str:
        """Inject a message as if some producer had sent it; returns its id."""
        return self.request(
            "queue_send", body=body, queue=queue, content_type=content_type, delay_seconds=delay_seconds
        )["id"]

    def queue_pending(self, queue: str | None = None) -> dict[str, list[dict]]:
        return self.request("queue_pending", queue=queue)

    def queue_sent(self, clear: bool = False) -> list[dict]:
        """Every message the Worker sent (body, contentType, delaySeconds), in order."""
        return self.request("queue_sent", clear=clear)

    def media_calls(self) -> list[dict]:
        """What the fake Media binding was asked since it was last configured: for each input, its
        size and first bytes (hex), and the transform and output options."""
        return self.request("media_calls")

    def queue_clear(self) -> None:
        self.request("queue_clear")

    def set_var(self, name: str, value: str) -> None:
        self.request("set_var", name=name, value=value)

    def eval_python(self, code: str) -> str:
        """Run code inside the Worker's interpreter (top-level await allowed); returns repr of the last
        expression. `env` (the SDK-wrapped env) and `mod` (the entry module) are in scope."""
        return self.request("eval_python", code=code)["repr"]


def _json_dumps(v: Any) -> bytes:
    return json.dumps(v).encode()
