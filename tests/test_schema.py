"""schema.sql is the canonical schema; migrations/ must produce exactly the same database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ig.adapters.local.sqlite_db import SqliteDatabase

ROOT = Path(__file__).resolve().parents[1]


def _shape(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    shape = {}
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'd1_migrations'"
    ):
        shape[name] = conn.execute(f"PRAGMA table_info({name})").fetchall()
        for index in conn.execute(f"PRAGMA index_list({name})").fetchall():
            shape[f"{name}.{index[1]}"] = [index[2:], conn.execute(f"PRAGMA index_xinfo({index[1]})").fetchall()]
    return shape


def test_migrations_produce_the_schema(tmp_path):
    canonical = sqlite3.connect(":memory:")
    canonical.executescript((ROOT / "schema.sql").read_text())
    db = SqliteDatabase(tmp_path / "m.sqlite3")
    assert db.migrate(ROOT / "migrations") == sorted(p.name for p in (ROOT / "migrations").glob("*.sql"))
    assert db.migrate(ROOT / "migrations") == []  # applied once
    db.close()
    migrated = sqlite3.connect(tmp_path / "m.sqlite3")
    assert _shape(migrated) == _shape(canonical)
    assert len(_shape(canonical)) > 6


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
