"""ig's own Worker (src/entry.py) under the Pyodide + Miniflare harness, with a fake Runware.

One ``WorkerHarness`` serves the whole session (startup is ~5 s); ``IgWorker.reset`` gives every
test empty tables, empty queues, an empty bucket and the vars it asks for. Everything the
tests assert on is read back from Node (D1, R2, the queue model), never through ig's own API,
unless the API answer itself is what is being checked.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from fixtures.fake_runware import FakeRunware
from fixtures.payloads import IMAGE_JOB

from ig.settings import SETTING_NAMES

from .worker_harness import HarnessResponse, WorkerHarness

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
MIGRATIONS = sorted((SRC / "ig" / "migrations").glob("*.sql"))
BASE = "http://ig.test"


CAPTION_JOB = {"task": "caption", "model": "runware:150@2", "params": {"inputs": {"image": "https://x/y.jpg"}}}


def image_job(results: int = 2, **changes: Any) -> dict[str, Any]:
    return {**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": results}, **changes}


def wrangler_queue_settings() -> dict[str, int]:
    """The queue consumers' batch sizes and retries as wrangler.toml deploys them."""
    consumers = {c["queue"]: c for c in tomllib.loads((REPO / "wrangler.toml").read_text())["queues"]["consumers"]}
    main = consumers["ig-jobs"]
    dead = consumers[main["dead_letter_queue"]]
    return {
        "max_batch_size": main["max_batch_size"],
        "max_retries": main["max_retries"],
        "dlq_max_batch_size": dead["max_batch_size"],
        "dlq_max_retries": dead["max_retries"],
    }


def harness_before(make_worker: Any, migration: str) -> tuple[WorkerHarness, Path]:
    """A fresh Worker whose D1 has every migration before ``migration``, and that migration's path:
    to apply it to rows written under the schema it changes."""
    names = [m.name for m in MIGRATIONS]
    h = make_worker(SRC)
    for path in MIGRATIONS[: names.index(migration)]:
        h.apply_sql(path=path)
    return h, MIGRATIONS[names.index(migration)]


def first_schema_job_sql(request: str = "{}") -> str:
    """A finished mock job ``j1`` with only the columns the first migration knew."""
    return (
        "INSERT INTO jobs (id, status, provider, task, model, params, metadata, request, provider_request,"
        " provider_task_id, expected_results, created_at, deadline_at, next_check_at, updated_at)"
        f" VALUES ('j1', 'succeeded', 'mock', 'imageInference', 'mock', '{{}}', '{{}}', '{request}', '{{}}', 'j1', 1,"
        " '2026-01-01T00:00:00.000Z', '2026-01-01T00:30:00.000Z', '2026-01-01T00:02:00.000Z',"
        " '2026-01-01T00:00:00.000Z');"
    )


def start_harness(paths, **kwargs: Any) -> WorkerHarness:
    """A harness on ig's real src/ with the schema applied from src/ig/migrations/, as D1 would,
    and the queues configured as in wrangler.toml unless ``kwargs`` say otherwise."""
    h = WorkerHarness(SRC, paths=paths, **{**wrangler_queue_settings(), **kwargs}).start()
    for migration in MIGRATIONS:
        h.apply_sql(path=migration)
    return h


class IgWorker:
    def __init__(self, h: WorkerHarness, fake: FakeRunware) -> None:
        self.h = h
        self.fake = fake

    # ------------------------------------------------------------------ state
    def reset(self, **vars: str | int | None) -> None:
        """Empty D1 tables, queues and bucket; set the vars (None or "" means unset)."""
        # The Worker has no port the fake could post webhooks to: tests deliver them (`webhook`).
        self.fake.drop_webhooks = True
        self.h.apply_sql(sql="".join(f"DELETE FROM {t};" for t in self.tables()))
        self.h.queue_clear()
        keys = self.h.r2_keys()
        if keys:
            self.h.r2_delete(*keys)
        defaults = {
            "RUNWARE_API_KEY": self.fake.api_key,
            "RUNWARE_API_URL": self.fake.url,
            "IG_MEDIA_HOSTS": "127.0.0.1",
            "IG_PUBLIC_URL": BASE,
        }
        self.configure(**{name: defaults.get(name) for name in SETTING_NAMES})  # every other setting unset
        # No Images binding, as a deployment without [images]: the messages and R2 objects that
        # thumbnails add stay out of the tests that count them; IMAGES="1" puts it in (and MEDIA="1"
        # the fake Media binding).
        self.configure(IMAGES=None, MEDIA=None)
        self.configure(**vars)

    def tables(self) -> list[str]:
        """ig's tables in an order D1 can empty them in (its REFERENCES are enforced: children
        first), read from the schema so this follows schema changes. FTS shadow tables are left
        to their virtual table. Cached per harness: each D1 query from Node costs ~25 ms."""
        if not hasattr(self.h, "ig_tables"):
            self.h.ig_tables = self._tables()
        return self.h.ig_tables

    def _tables(self) -> list[str]:
        found = self.rows(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'"
        )
        virtual = [t["name"] for t in found if t["sql"].upper().startswith("CREATE VIRTUAL")]
        names = [t["name"] for t in found if not any(t["name"].startswith(v + "_") for v in virtual)]
        parents = {n: {f["table"] for f in self.rows(f"PRAGMA foreign_key_list({n})")} - {n} for n in names}
        ordered: list[str] = []
        while len(ordered) < len(names):
            # a table goes once every table referencing it has gone
            ready = [
                n for n in names if n not in ordered and all(n not in parents[c] for c in names if c not in ordered)
            ]
            assert ready, f"reference cycle among {names}"
            ordered += sorted(ready)
        return ordered

    def configure(self, **vars: str | int | None) -> None:
        for name, value in vars.items():
            self.h.set_var(name, "" if value is None else str(value))

    # ------------------------------------------------------------------ HTTP into the Worker
    def fetch(self, method: str, path: str, **kwargs: Any) -> HarnessResponse:
        r = self.h.fetch(method, BASE + path, **kwargs)
        assert r.exception is None, r.exception["error"]
        return r

    def submit(self, body: Any = None, **kwargs: Any) -> HarnessResponse:
        return self.fetch("POST", "/v1/jobs", json=IMAGE_JOB if body is None else body, **kwargs)

    def submitted(self, body: Any = None, **kwargs: Any) -> str:
        r = self.submit(body, **kwargs)
        assert r.status == 202, r.text
        return r.json()["id"]

    def task(self, job_id: str) -> dict[str, Any]:
        return self.fake.tasks[job_id]

    def token(self, job_id: str) -> str:
        return self.task(job_id)["webhookURL"].rsplit("/", 1)[-1]

    def webhook(self, job_id: str, body: Any, token: str | None = None) -> HarnessResponse:
        """POST one webhook body as Runware would (the Worker has no port for the fake to call)."""
        return self.fetch("POST", f"/webhooks/runware/{job_id}/{token or self.token(job_id)}", json=body)

    def deliver_results(self, job_id: str, *, shape: str = "flat", copies: int = 1) -> list[dict[str, Any]]:
        """Deliver every result of the job's task as webhooks, each ``copies`` times; all must be 200."""
        items = self.fake.results_for(self.task(job_id))
        for item in items:
            body = item if shape == "flat" else {"data": [item]}
            for _ in range(copies):
                r = self.webhook(job_id, body)
                assert r.status == 200, r.text
                assert r.json() == {"received": True}
        return items

    def drain(self) -> dict[str, Any]:
        """Deliver queued messages until both queues are empty; no batch may raise."""
        report = self.h.drain()
        for batch in report["batches"]:
            assert batch["exception"] is None, batch["exception"]["error"]
        assert report["remaining"] == {"ig-jobs": 0, "ig-jobs-dlq": 0}
        return report

    def complete_by_webhooks(self, body: Any = None) -> str:
        self.fake.drop_webhooks = True
        job_id = self.submitted(body)
        self.deliver_results(job_id)
        self.drain()
        assert self.job(job_id)["status"] == "succeeded", self.job(job_id)
        return job_id

    # ------------------------------------------------------------------ reading D1 / R2 from Node
    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return self.h.d1_rows(sql, *params)

    def job(self, job_id: str) -> dict[str, Any]:
        [row] = self.rows("SELECT * FROM jobs WHERE id = ?", job_id)
        return row

    def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM artifacts WHERE job_id = ? ORDER BY result_key", job_id)

    def results(self, job_id: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM results WHERE job_id = ? ORDER BY result_key", job_id)

    def artifact_tags(self, artifact_id: str) -> list[str]:
        rows = self.rows(
            "SELECT t.tag FROM artifact_tags t JOIN artifacts a ON a.seq = t.artifact_seq"
            " WHERE a.id = ? ORDER BY t.tag",
            artifact_id,
        )
        return [r["tag"] for r in rows]

    def artifact_ids_newest_first(self) -> list[str]:
        return [r["id"] for r in self.rows("SELECT id FROM artifacts ORDER BY seq DESC")]

    def error(self, job_id: str) -> dict[str, Any] | None:
        raw = self.job(job_id)["error"]
        return None if raw is None else json.loads(raw)

    def blob(self, key: str) -> dict[str, Any]:
        obj = self.h.r2_get(key)
        assert obj is not None, f"no R2 object {key}"
        return obj
