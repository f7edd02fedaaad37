"""The ``Thumbnailer`` port on the Images binding: the stored R2 object's body goes to the binding
as a stream (its bytes never enter Python), the WebP comes back whole. The work runs outside the
isolate, so a large image costs the Worker neither CPU nor memory. Miniflare emulates the binding
offline with sharp, so the Worker tests run it for real."""

from __future__ import annotations

from typing import Any

from pyodide.ffi import JsException, JsProxy

from ig.adapters.cloudflare.convert import py_bytes, to_js_object
from ig.library.probe import MediaProbe
from ig.ports import THUMBNAIL_SIDE, THUMBNAIL_TYPE, StoredBlob, Thumbnail, ThumbnailRefused

WEBP_QUALITY = 80
REFUSED_CODES = ("9412", "9520")
"""ImagesError codes for input that is not an image, or not one the service reads: the same every time."""


class ImagesThumbnailer:
    makes_posters = False

    def __init__(self, binding: Any) -> None:
        self._images = binding

    async def thumbnail(self, source: StoredBlob) -> Thumbnail:
        # The options go as JS objects whether or not the SDK wraps this binding (and what it returns).
        fit = to_js_object({"width": THUMBNAIL_SIDE, "height": THUMBNAIL_SIDE, "fit": "scale-down"})
        try:
            transformer = self._images.input(source.body.body).transform(fit)
            result = await transformer.output(to_js_object({"format": THUMBNAIL_TYPE, "quality": WEBP_QUALITY}))
            response = result.response()
            data = py_bytes(await response.arrayBuffer()) if isinstance(response, JsProxy) else await response.bytes()
        except JsException as exc:
            if any(code in str(exc) for code in REFUSED_CODES):
                raise ThumbnailRefused(f"the Images binding refused it: {exc}") from exc
            raise
        probe = MediaProbe(THUMBNAIL_TYPE)
        probe.feed(data)
        found = probe.result()
        if not data.startswith(b"RIFF") or found.width is None or found.height is None:
            raise ValueError(f"the Images binding answered something other than a WebP ({len(data)} bytes)")
        return Thumbnail(data, found.width, found.height)
