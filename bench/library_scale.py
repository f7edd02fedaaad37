"""How library queries scale: p50/p95 latency of tag AND, OR, NOT, full-text q and a deep page
through ig's HTTP API (a real ``ig serve`` on loopback), of artifacts and of jobs, with 10,000 and
with 1,000,000 artifacts (half as many jobs) in the same run, and the ratio between the two sizes.

    uv run python bench/library_scale.py [--sizes 10000 1000000] [--requests 200]

Databases are generated once (about 3 tags per artifact, Zipf-skewed: channels, users, styles;
prompts from a word list; two artifacts per job, jobs tagged with their channel and user) and
cached under ~/.cache/ig-bench/, keyed by the schema."""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from machine import cpu_model  # noqa: E402

from ig.adapters.local.sqlite_db import SqliteDatabase  # noqa: E402
from ig.library.filters import encode_cursor  # noqa: E402

WORDS = (
    "fox lighthouse harbor snow neon forest cathedral desert portrait robot dragon city river "
    "mountain garden ocean castle sunset galaxy village"
).split()
STYLES = [f"style:{w}" for w in ("photo", "anime", "oil", "sketch", "pixel", "watercolor", "3d", "noir")]
KINDS = [  # (share of jobs, kind, task, content type)
    (0.80, "image", "imageInference", "image/png"),
    (0.10, "video", "videoInference", "video/mp4"),
    (0.06, "audio", "audioInference", "audio/mpeg"),
    (0.04, "text", "caption", "text/plain"),
]
STATUSES = [(0.90, "succeeded"), (0.07, "failed"), (0.03, "cancelled")]
BATCH = 20_000
EPOCH = 1_700_000_000
"""Job ``n`` (artifacts ``2n + 1`` and ``2n + 2``) was created ``n`` seconds after this."""


def created_at(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(EPOCH + seconds)) + ".000Z"


def pick(rng: random.Random, shares: list[tuple]) -> tuple:
    x = rng.random()
    for choice in shares:
        x -= choice[0]
        if x < 0:
            return choice
    return shares[-1]


def zipf_sampler(rng: random.Random, n: int, s: float = 1.1):
    weights = [1 / (k**s) for k in range(1, n + 1)]
    total = sum(weights)
    cumulative, acc = [], 0.0
    for w in weights:
        acc += w / total
        cumulative.append(acc)
    import bisect

    return lambda: min(bisect.bisect_left(cumulative, rng.random()), n - 1) + 1


def fill(path: Path, count: int) -> None:
    """Write ``count`` artifacts (two per job) with tags, results and search text: jobs mostly
    succeeded, some failed or cancelled; artifacts mostly images, some video, audio and text."""
    db = SqliteDatabase(path)
    db.migrate()
    db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(42)
    channel, user, style = zipf_sampler(rng, 200), zipf_sampler(rng, 5000), zipf_sampler(rng, len(STYLES))
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        conn.execute("BEGIN")
        jobs, job_tags, job_text, artifacts, results, tags, texts = [], [], [], [], [], [], []
        for i in range(first, min(first + BATCH, count), 2):
            job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            created = created_at(i // 2)
            prompt = " ".join(rng.sample(WORDS, 3))
            model = f"runware:{100 + i % 7}@1"
            job_tag_set = [f"channel:{channel()}", f"user:{user()}"]
            _, kind, task, content_type = pick(rng, KINDS)
            _, status = pick(rng, STATUSES)
            params = json.dumps({"positivePrompt": prompt, "numberResults": 2})
            jobs.append((job_id, model, params, created, status, task))
            job_tags += [(job_id, t) for t in job_tag_set]
            job_text.append((job_id, prompt))
            for n in range(2):
                seq = i + n + 1
                artifact_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                key = f"imageUUID:{artifact_id}"
                artifacts.append((seq, artifact_id, job_id, key, model, created, kind, task, content_type))
                results.append((job_id, key, json.dumps({"imageUUID": artifact_id}), str(rng.getrandbits(31)), created))
                tags += [(t, seq) for t in {*job_tag_set, STYLES[style() - 1]}]
                texts.append((seq, prompt))
        conn.executemany(
            "INSERT INTO jobs (id, status, provider, task, model, params, metadata, request, provider_request,"
            " provider_task_id, expected_results, created_at, submitted_at, completed_at, deadline_at,"
            " next_check_at, updated_at) VALUES (?1, ?5, 'runware', ?6, ?2, ?3, '{}', '{}',"
            " '{}', ?1, 2, ?4, ?4, ?4, ?4, ?4, ?4)",
            jobs,
        )
        conn.executemany("INSERT INTO job_tags (job_id, tag) VALUES (?, ?)", job_tags)
        conn.executemany(
            "INSERT INTO job_search (rowid, body) SELECT seq, ? FROM jobs WHERE id = ?", [(t, j) for j, t in job_text]
        )
        conn.executemany(
            "INSERT INTO results (job_id, result_key, raw, seed, cost, event_id, received_at, stored_at)"
            " VALUES (?1, ?2, ?3, ?4, 0.0013, 'bench', ?5, ?5)",
            results,
        )
        conn.executemany(
            "INSERT INTO artifacts (seq, id, role, job_id, result_key, output_name, provider, task, model, kind,"
            " content_type, size, sha256, blob_key, created_at) VALUES (?1, ?2, 'output', ?3, ?4, 'imageURL',"
            " 'runware', ?8, ?5, ?7, ?9, 1000, 'x', 'artifacts/x', ?6)",
            artifacts,
        )
        conn.executemany("INSERT INTO artifact_tags (tag, artifact_seq) VALUES (?, ?)", tags)
        conn.executemany("INSERT INTO artifact_search (rowid, body) VALUES (?, ?)", texts)
        conn.execute("COMMIT")
        done = min(first + BATCH, count)
        print(f"  filled {done:,}/{count:,} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, end="\r")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(file=sys.stderr)


def dataset(count: int) -> Path:
    """The cached library of ``count`` artifacts, generated anew whenever ig's schema (its
    migrations) or this generator changes."""
    migrations = [ROOT / "schema.sql", *sorted((ROOT / "src" / "ig" / "migrations").glob("*.sql"))]
    generator = [inspect.getsource(f) for f in (fill, zipf_sampler, created_at, pick)]
    generator.append(repr((WORDS, STYLES, KINDS, STATUSES, BATCH, EPOCH)))
    key = b"".join(path.read_bytes() for path in migrations) + "".join(generator).encode()
    schema = hashlib.sha256(key).hexdigest()[:12]
    directory = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ig-bench" / f"{count}-{schema}"
    if not (directory / "ready").exists():
        print(f"generating {count:,} artifacts into {directory} (once)", file=sys.stderr)
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("ig.sqlite3*"):
            leftover.unlink()
        fill(directory / "ig.sqlite3", count)
        (directory / "ready").touch()
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def queries(count: int) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Each query measured: its name, the list it pages and its parameters (50 items a page)."""
    deep = encode_cursor(count // 2)
    return {
        "two tags (AND)": ("/v1/artifacts", [("tag", "channel:1"), ("tag", STYLES[0])]),
        "any of two tags (OR)": ("/v1/artifacts", [("any_tag", "user:2"), ("any_tag", "user:3")]),
        "any of 20 tags (OR), kind, task, since": (
            "/v1/artifacts",
            [
                *(("any_tag", f"user:{i}") for i in range(20)),
                ("kind", "image"),
                ("task", "imageInference"),
                ("created_after", "2000-01-01T00:00:00Z"),
            ],
        ),
        "tag, NOT tag": ("/v1/artifacts", [("tag", "channel:2"), ("not_tag", STYLES[0])]),
        "q (full text)": ("/v1/artifacts", [("q", "lighthouse")]),
        "deep page (middle of the library)": ("/v1/artifacts", [("cursor", deep)]),
        "jobs: tag": ("/v1/jobs", [("tag", "channel:1")]),
        "jobs: two tags (AND)": ("/v1/jobs", [("tag", "channel:1"), ("tag", "user:1")]),
        "jobs: q (full text)": ("/v1/jobs", [("q", "lighthouse")]),
        "jobs: deep page": ("/v1/jobs", [("cursor", encode_cursor(count // 4))]),
    }


def serve(count: int) -> tuple[subprocess.Popen, httpx.Client]:
    """A real ``ig serve`` on the cached library of ``count`` artifacts, answering."""
    directory = dataset(count)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IG_", "RUNWARE_"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "ig.adapters.local.cli", "--port", str(port), "--data-dir", str(directory)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    for _ in range(200):
        try:
            client.get("/healthz")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, client


def measure(sizes: list[int], requests: int) -> dict[int, dict[str, tuple[float, float]]]:
    """p50 and p95 of every query at each size. The sizes' requests alternate (one server per
    size, both running), so whatever else the machine does weighs on both alike."""
    servers = {size: serve(size) for size in sizes}
    figures: dict[int, dict[str, tuple[float, float]]] = {size: {} for size in sizes}
    try:
        for name in queries(sizes[0]):
            samples: dict[int, list[float]] = {size: [] for size in sizes}
            for size, (_, client) in servers.items():
                path, params = queries(size)[name]
                first = client.get(path, params=[*params, ("limit", "50")])
                assert first.status_code == 200 and len(first.json()["items"]) == 50, (name, first.text[:200])
            for i in range(requests):
                for size in sizes if i % 2 else sizes[::-1]:
                    path, params = queries(size)[name]
                    client = servers[size][1]
                    started = time.perf_counter()
                    response = client.get(path, params=[*params, ("limit", "50")])
                    samples[size].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
            for size in sizes:
                ordered = sorted(samples[size])
                figures[size][name] = (statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1])
    finally:
        for server, client in servers.values():
            client.close()
            server.terminate()
            server.wait(timeout=10)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    small, large = args.sizes
    results = measure([small, large], args.requests)
    cpu = cpu_model()
    print(
        f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {args.requests} requests per query and size, the sizes alternating,"
        " 50-item pages, HTTP on loopback"
    )
    print(
        f"{'query':40} {f'p50 @{small:,}':>12} {f'p95 @{small:,}':>12} {f'p50 @{large:,}':>13}"
        f" {f'p95 @{large:,}':>13} {'p50 ratio':>10}"
    )
    for name in results[small]:
        s50, s95 = results[small][name]
        l50, l95 = results[large][name]
        print(f"{name:40} {s50:10.2f}ms {s95:10.2f}ms {l50:11.2f}ms {l95:11.2f}ms {l50 / s50:9.2f}x")


if __name__ == "__main__":
    main()
