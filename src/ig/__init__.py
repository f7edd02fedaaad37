"""ig: asynchronous generative-AI inference through Runware, every output kept as an artifact.

Everything under this package except ``ig.adapters.cloudflare`` is plain Python that runs on
CPython and on Pyodide alike; the Workers FFI stays in ``src/entry.py`` and that one package.
"""
