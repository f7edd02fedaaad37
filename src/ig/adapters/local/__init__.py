"""The local runtime: ig on plain CPython with SQLite, files and an in-process consumer."""
