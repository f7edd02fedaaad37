"""schema.sql is the canonical schema; src/ig/migrations/ must produce exactly the same database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ig.adapters.local.sqlite_db import SqliteDatabase

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "src" / "ig" / "migrations"


def _shape(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    shape = {}
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'd1_migrations'"
    ):
        shape[name] = conn.execute(f"PRAGMA table_info({name})").fetchall()
        for index in conn.execute(f"PRAGMA index_list({name})").fetchall():
            shape[f"{name}.{index[1]}"] = [index[2:], conn.execute(f"PRAGMA index_xinfo({index[1]})").fetchall()]
    for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"):
        shape[f"trigger {name}"] = " ".join(sql.split())
    return shape


def test_migrations_produce_the_schema(tmp_path):
    canonical = sqlite3.connect(":memory:")
    canonical.executescript((ROOT / "schema.sql").read_text())
    db = SqliteDatabase(tmp_path / "m.sqlite3")
    # Without a directory, migrate applies the ones shipped inside the package, found as an install would.
    assert db.migrate() == sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    assert db.migrate(MIGRATIONS) == []  # applied once
    db.close()
    migrated = sqlite3.connect(tmp_path / "m.sqlite3")
    assert _shape(migrated) == _shape(canonical)
    assert len(_shape(canonical)) > 6


def test_migrating_from_a_place_without_migrations_fails_loudly(tmp_path):
    db = SqliteDatabase(tmp_path / "m.sqlite3")
    (tmp_path / "empty").mkdir()
    for missing in (tmp_path / "empty", tmp_path / "absent"):
        with pytest.raises(FileNotFoundError, match="no migrations"):
            db.migrate(missing)
    assert db._conn.execute("SELECT name FROM sqlite_master").fetchall() == []  # nothing created
    db.close()


async def test_batch_is_atomic(tmp_path):
    db = SqliteDatabase(tmp_path / "b.sqlite3")
    await db.run("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    try:
        await db.batch([("INSERT INTO t VALUES (1)", []), ("INSERT INTO t VALUES (1)", [])])
    except sqlite3.IntegrityError:
        pass
    assert await db.all("SELECT * FROM t") == []
    assert await db.batch(
        [("INSERT INTO t VALUES (?1)", [1]), ("INSERT INTO t SELECT value FROM json_each(?1)", ["[2, 3]"])]
    ) == [1, 2]
    assert [r["x"] for r in await db.all("SELECT x FROM t ORDER BY x")] == [1, 2, 3]


def test_rebuilding_jobs_for_the_cancelled_status_keeps_every_row_and_reference(tmp_path):
    """Migration 0003 rebuilds ``jobs`` (SQLite cannot alter a CHECK): rows, seq (the FTS rowid),
    child rows and foreign keys must all survive it."""
    migrations = sorted((MIGRATIONS).glob("*.sql"))
    before = tmp_path / "before"
    before.mkdir()
    for path in migrations[:2]:
        (before / path.name).write_text(path.read_text())
    db = SqliteDatabase(tmp_path / "old.sqlite3")
    db.migrate(before)
    conn = db._conn
    conn.execute(
        "INSERT INTO jobs (id, status, provider, task, model, params, metadata, request, provider_request,"
        " provider_task_id, expected_results, created_at, deadline_at, next_check_at, updated_at, model_alias)"
        " VALUES ('j1', 'succeeded', 'mock', 'imageInference', 'mock', '{}', '{}', '{}', '{}', 'j1', 1,"
        " '2026-01-01T00:00:00.000Z', '2026-01-01T00:30:00.000Z', '2026-01-01T00:02:00.000Z',"
        " '2026-01-01T00:00:00.000Z', 'flux-schnell')"
    )
    conn.execute("INSERT INTO job_tags VALUES ('j1', 'kept')")
    conn.execute("INSERT INTO job_search (rowid, body) SELECT seq, 'a lighthouse' FROM jobs WHERE id = 'j1'")
    conn.execute(
        "INSERT INTO artifacts (id, role, job_id, kind, content_type, size, sha256, blob_key, created_at)"
        " VALUES ('a1', 'output', 'j1', 'image', 'image/png', 1, 'x', 'artifacts/a1', '2026-01-01T00:00:01.000Z')"
    )
    conn.commit()
    assert db.migrate(MIGRATIONS) == [p.name for p in migrations[2:]]
    db.close()
    conn = sqlite3.connect(tmp_path / "old.sqlite3")
    conn.execute("PRAGMA foreign_keys = ON")
    [job] = conn.execute("SELECT seq, id, status, model_alias, timeout_seconds FROM jobs").fetchall()
    assert tuple(job) == (1, "j1", "succeeded", "flux-schnell", None)
    assert conn.execute("SELECT rowid FROM job_search WHERE job_search MATCH 'lighthouse'").fetchall() == [(1,)]
    assert conn.execute("SELECT job_id FROM job_tags").fetchall() == [("j1",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.execute("UPDATE jobs SET status = 'cancelled' WHERE id = 'j1'")  # the new status is allowed
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO job_tags VALUES ('nobody', 'x')")  # references still enforced
    conn.close()
