"""The gallery's style sheets and scripts, kept as Python text so that both runtimes carry them
inside the package (a Worker bundles Python modules, not arbitrary files), served from
``/static/<name>`` under a URL that changes with their content, so browsers cache them for good."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from ig.gallery.assets import activity, base, library


@dataclass(frozen=True)
class Asset:
    content_type: str
    text: str

    @property
    def version(self) -> str:
        return _version(self.text)


@cache
def _version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


ASSETS = {
    "icon.svg": Asset("image/svg+xml", base.ICON),
    "base.css": Asset("text/css; charset=utf-8", base.CSS),
    "common.js": Asset("text/javascript; charset=utf-8", base.JS),
    "library.css": Asset("text/css; charset=utf-8", library.CSS),
    "library.js": Asset("text/javascript; charset=utf-8", library.JS),
    "activity.css": Asset("text/css; charset=utf-8", activity.CSS),
    "activity.js": Asset("text/javascript; charset=utf-8", activity.JS),
}


def asset_url(name: str) -> str:
    return f"/static/{name}?v={ASSETS[name].version}"
