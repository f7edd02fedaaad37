"""The ``Database`` port on sqlite3, with D1's semantics: auto-commit statements, ``batch`` as
the only transaction, and the same migrations wrangler applies (tracked in ``d1_migrations``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ig.ports import Row, Statement


def packaged_migrations() -> Traversable:
    """The migrations shipped inside the ig package: the same files in a checkout and an install."""
    return files("ig") / "migrations"


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


class SqliteDatabase:
    def __init__(self, path: str | Path) -> None:
        # isolation_level=None: every statement commits on its own, as on D1.
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.row_factory = _row
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 5000")

    def migrate(self, directory: Traversable | None = None) -> list[str]:
        """Apply migrations not yet applied, in name order, each atomically; return their names."""
        directory = packaged_migrations() if directory is None else directory
        found = [path for path in directory.iterdir() if path.name.endswith(".sql")] if directory.is_dir() else []
        migrations = sorted(found, key=lambda path: path.name)
        if not migrations:
            # Applying nothing would leave an empty database whose first query fails far from the cause.
            raise FileNotFoundError(f"no migrations (*.sql) in {directory}: this ig installation is incomplete")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE,"
            " applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)"
        )
        done = {r["name"] for r in self._conn.execute("SELECT name FROM d1_migrations").fetchall()}
        applied = []
        for path in migrations:
            if path.name in done:
                continue
            script = path.read_text()
            self._conn.executescript(
                f"BEGIN;\n{script}\nINSERT INTO d1_migrations (name) VALUES ('{path.name}');\nCOMMIT;"
            )
            applied.append(path.name)
        return applied

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    async def first(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._conn.execute(sql, tuple(params)).fetchone()

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        changes = []
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                changes.append(self._conn.execute(sql, tuple(params)).rowcount)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return changes

    def close(self) -> None:
        self._conn.close()
