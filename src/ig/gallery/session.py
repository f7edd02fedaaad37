"""The gallery's session: a signed cookie instead of a server-side table, and the CSRF token
derived from it.

``ig_session=s1.<expires>.<nonce>.<mac>``: the MAC is an HMAC over the expiry and a random nonce,
keyed from ``IG_API_TOKEN``, so changing the token ends every session and nothing is stored. The
CSRF token is an HMAC of the nonce: a page from another site can neither read it nor derive it,
and every state-changing request from the gallery carries it (``X-CSRF-Token`` or a ``csrf`` form
field). Without ``IG_API_TOKEN`` (local development) the gallery is open, like the API, but still
hands out a session so that the CSRF rule is the same everywhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from ig.settings import Settings

COOKIE = "ig_session"
LIFETIME_SECONDS = 7 * 24 * 3600
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
_VERSION = "s1"
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class Session:
    nonce: str
    expires: int
    csrf: str


def _key(settings: Settings) -> bytes:
    # Open instances still sign, with a key anyone could know: there is nothing to guard but CSRF,
    # and that rests on the nonce, which only the browser holding the cookie knows.
    secret = settings.api_token or "ig-open-local-instance"
    return hashlib.sha256(b"ig gallery sessions\x00" + secret.encode()).digest()


def _mac(settings: Settings, text: str) -> str:
    digest = hmac.new(_key(settings), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_session(settings: Settings, now: int) -> tuple[Session, str]:
    """A fresh session and its cookie value."""
    nonce = secrets.token_urlsafe(18)
    expires = now + LIFETIME_SECONDS
    session = Session(nonce, expires, _mac(settings, f"csrf.{nonce}"))
    return session, f"{_VERSION}.{expires}.{nonce}.{_mac(settings, f'{expires}.{nonce}')}"


def read_session(settings: Settings, cookie_header: str | None, now: int) -> Session | None:
    """The session the request's cookie proves, or None (absent, forged, expired, or signed
    under another token)."""
    value = cookie_value(cookie_header, COOKIE)
    if value is None:
        return None
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    _, expires, nonce, mac = parts
    if len(expires) > 12 or int(expires) < now:
        return None
    if not hmac.compare_digest(_mac(settings, f"{expires}.{nonce}").encode(), mac.encode()):
        return None
    return Session(nonce, int(expires), _mac(settings, f"csrf.{nonce}"))


def csrf_valid(session: Session | None, given: str | None) -> bool:
    return session is not None and given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())


def cookie_value(header: str | None, name: str) -> str | None:
    for pair in (header or "").split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value.strip()
    return None


def set_cookie(value: str, base_url: str) -> str:
    return f"{COOKIE}={value}; Path=/; Max-Age={LIFETIME_SECONDS}; HttpOnly; SameSite=Strict{_secure(base_url)}"


def clear_cookie(base_url: str) -> str:
    return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{_secure(base_url)}"


def _secure(base_url: str) -> str:
    """``Secure`` everywhere but on loopback, where ``ig serve`` speaks plain HTTP (browsers would
    drop a Secure cookie sent over it)."""
    return "" if (urlsplit(base_url).hostname or "") in _LOOPBACK_HOSTS else "; Secure"


def token_valid(settings: Settings, given: str) -> bool:
    token = settings.api_token
    return token is not None and hmac.compare_digest(given.strip().encode(), token.encode())
