"""Bounds of the numeric query parameters, in one place: the handlers enforce them and the API
schemas document them from here. (The library's page sizes live with its filters.)"""

from __future__ import annotations

from dataclasses import dataclass

from ig.library.content import MAX_URL_SECONDS


@dataclass(frozen=True)
class Bound:
    low: int
    high: int
    default: int


WAIT_SECONDS = Bound(0, 60, 0)
"""How long ``?wait=`` (and ``Prefer: wait=N``) may hold an answer for a job to finish."""
TAG_PAGE = Bound(1, 1000, 100)
PRESET_VERSION = Bound(1, 2**31, 1)
URL_LIFETIME_SECONDS = Bound(1, MAX_URL_SECONDS, 3600)
