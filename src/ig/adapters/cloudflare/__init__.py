"""The Cloudflare adapters: D1, R2, Queues and the runtime's fetch behind ig's ports. With
``src/entry.py`` this is the only code that touches the Workers FFI (js, pyodide, workers)."""
