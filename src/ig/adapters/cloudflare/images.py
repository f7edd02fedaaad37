"""The ``Thumbnailer`` port on the Images binding: the stored R2 object's body goes to the binding
as a stream (its bytes never enter Python), the WebP comes back whole. The work runs outside the
isolate, so a large image costs the Worker neither CPU nor memory. Miniflare emulates the binding
offline with sharp, so the Worker tests run it for real.

Video posters take the Media Transformations binding as well (``[media] binding = "MEDIA"``,
optional): it cuts the frame at ``poster_time`` from the R2 object's stream as a JPEG, which the
Images binding then turns into the WebP, so neither the video nor the frame passes through
Python. Without it ``makes_posters`` is False. Miniflare has no offline Media binding: the Worker
tests give a fake one (tests/worker/harness.mjs) that answers with a real JPEG."""

from __future__ import annotations

from typing import Any

from pyodide.ffi import JsException, JsProxy

from ig.adapters.cloudflare.convert import py_bytes, to_js_object
from ig.library.probe import MediaProbe
from ig.ports import THUMBNAIL_SIDE, THUMBNAIL_TYPE, StoredBlob, Thumbnail, ThumbnailRefused, poster_time

WEBP_QUALITY = 80
REFUSED_CODES = ("9412", "9520")
"""ImagesError codes for input that is not an image, or not one the service reads: the same every time."""
MEDIA_MAX_INPUT_BYTES = 40 * 1000 * 1000
"""The Media binding's documented input limit ("less than 40MB"): a larger video is not sent."""
POSTER_FORMAT = "jpg"
"""The binding's stills are JPEG or PNG, never WebP: hence the second pass through the Images binding."""


class ImagesThumbnailer:
    def __init__(self, images: Any, media: Any = None) -> None:
        self._images = images
        self._media = media
        self.makes_posters = media is not None

    async def thumbnail(self, source: StoredBlob) -> Thumbnail:
        return await self._webp(source.body.body)

    async def poster(self, source: StoredBlob, content_type: str, duration_seconds: float | None) -> Thumbnail:
        if self._media is None:
            raise ThumbnailRefused("no Media binding: no frame is taken from videos")
        if source.size >= MEDIA_MAX_INPUT_BYTES:
            raise ThumbnailRefused(f"the Media binding takes videos under {MEDIA_MAX_INPUT_BYTES} bytes")
        # A JsException here (MediaError: a video the service cannot read, or its limits) is left
        # to be tried again: the binding's codes for unreadable input are not documented.
        still = {"mode": "frame", "time": f"{poster_time(duration_seconds):g}s", "format": POSTER_FORMAT}
        frame = self._media.input(source.body.body).output(to_js_object(still))
        response = await frame.response()
        return await self._webp(response.body)

    async def _webp(self, stream: Any) -> Thumbnail:
        # The options go as JS objects whether or not the SDK wraps this binding (and what it returns).
        fit = to_js_object({"width": THUMBNAIL_SIDE, "height": THUMBNAIL_SIDE, "fit": "scale-down"})
        try:
            transformer = self._images.input(stream).transform(fit)
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
