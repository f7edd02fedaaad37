"""Runtime adapters: ``cloudflare`` (the only code that touches the Workers FFI) and ``local``
(CPython: sqlite3, files, a SQLite queue, aiohttp, uvicorn)."""
