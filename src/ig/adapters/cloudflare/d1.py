"""The ``Database`` port on a D1 binding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ig.adapters.cloudflare.convert import to_py
from ig.ports import Row, Statement

# Pyodide hands Python ints from 2**53 - 1 outwards to JS as BigInt, which D1 refuses
# ("D1_TYPE_ERROR: Type 'bigint' not supported"). D1 binds every JS number as a double (REAL,
# stored as INTEGER by column affinity), so passing the same value as a float changes nothing,
# as long as the float holds it exactly.
_LARGEST_JS_NUMBER_INT = 2**53 - 2


def _param(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST_JS_NUMBER_INT:
        as_float = float(value)
        if int(as_float) != value:
            raise ValueError(f"D1 cannot bind the integer {value} exactly (it is beyond 2**53): bind it as text")
        return as_float
    return value


def _changes(result: Any) -> int:
    return int(to_py(result["meta"])["changes"] or 0)


class D1Database:
    def __init__(self, binding: Any) -> None:
        self._db = binding

    def _statement(self, sql: str, params: Sequence[Any]) -> Any:
        statement = self._db.prepare(sql)
        # D1 rejects `undefined`; the vendored SDK binds None as JS null (Python 3.13 runtime).
        return statement.bind(*[_param(p) for p in params]) if params else statement

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        result = await self._statement(sql, params).all()
        return [to_py(row) for row in result["results"]]

    async def first(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = await self._statement(sql, params).first()
        return None if row is None else to_py(row)

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _changes(await self._statement(sql, params).run())

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        # D1's batch is its only transaction: all statements commit or none do.
        results = await self._db.batch([self._statement(sql, params) for sql, params in statements])
        return [_changes(r) for r in results]
