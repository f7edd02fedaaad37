"""Crossing the FFI: Python values to JS objects and JS values back to plain Python."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import js
from pyodide.ffi import JsProxy, jsnull, to_js


def to_js_object(value: Any) -> Any:
    """Python dicts become plain JS objects (not Maps), as the Workers APIs expect."""
    return to_js(value, dict_converter=js.Object.fromEntries)


def is_null(value: Any) -> bool:
    """JS ``null`` arrives as ``pyodide.ffi.jsnull`` (Pyodide 0.28), not None, wherever the SDK
    does not convert it (e.g. ``Request.body`` of a GET, ``Response.body`` of a 304)."""
    return value is None or value is jsnull


def to_py(value: Any) -> Any:
    """JS values (JsProxy, JsDict rows) to plain Python; ``null``/``undefined`` to None."""
    if is_null(value):
        return None
    if isinstance(value, JsProxy):
        converted = value.to_py()
        if isinstance(converted, JsProxy):  # a class instance to_py cannot convert
            return converted
        return to_py(converted)  # to_py leaves nested nulls as jsnull
    if isinstance(value, dict):
        return {k: to_py(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_py(v) for v in value]
    return value


def js_bytes(data: bytes) -> Any:
    """A JS Uint8Array copy of ``data``."""
    return to_js(data)


def py_bytes(chunk: Any) -> bytes:
    """Python bytes from a JS Uint8Array/ArrayBuffer (or bytes already converted by the SDK)."""
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    return chunk.to_bytes()


async def read_stream(reader: Any) -> AsyncIterator[bytes]:
    """Python bytes, chunk by chunk, from a JS ReadableStream reader (bodies never sit whole in
    memory); the lock is released when the stream ends or the caller stops."""
    try:
        while True:
            step = await reader.read()
            if step.done:
                return
            yield py_bytes(step.value)
    finally:
        reader.releaseLock()
