"""Which paths are the gallery's, kept apart from its pages so that ``ig.web`` can tell without
importing them: an API request on a cold Worker never pays for the gallery."""

from __future__ import annotations

UI_PREFIX = "/ui"
"""``/ui/v1/...`` is ``/v1/...`` for the gallery's own scripts and images."""
_FIRST_SEGMENTS = ("artifacts", "jobs", "create", "usage", "login", "logout", "static", "favicon.ico")


def serves(path: str) -> bool:
    """The gallery answers this path (everything else is the API's)."""
    if path == "/" or path.startswith(UI_PREFIX + "/"):
        return True
    return path.split("/")[1] in _FIRST_SEGMENTS


def api_path(path: str) -> str:
    """The API path a request is for: ``/ui/v1/x`` is ``/v1/x``; any other path is itself."""
    return path[len(UI_PREFIX) :] if path.startswith(UI_PREFIX + "/v1/") else path
