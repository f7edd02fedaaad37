"""The gallery's session cookie and CSRF token (``ig.gallery.session``) and its HTML escaping
(``ig.gallery.markup``): what is accepted, what is refused, and what the cookie says."""

from __future__ import annotations

import pytest

from ig.gallery import session as sessions
from ig.gallery.markup import Markup, attrs, esc, html
from ig.settings import Settings

NOW = 1_800_000_000
SETTINGS = Settings(api_token="the-token")


def _other_first(text: str) -> str:
    return ("m" if text[0] == "n" else "n") + text[1:]


def _cookie(value: str) -> str:
    return f"other=1; {sessions.COOKIE}={value}; theme=dark"


def test_a_new_session_is_read_back_from_its_cookie_with_the_same_csrf_token():
    made, value = sessions.new_session(SETTINGS, NOW)
    read = sessions.read_session(SETTINGS, _cookie(value), NOW + 60)
    assert read == made
    assert read.expires == NOW + sessions.LIFETIME_SECONDS
    assert sessions.csrf_valid(read, made.csrf)


def test_each_session_has_its_own_nonce_and_csrf_token():
    first, _ = sessions.new_session(SETTINGS, NOW)
    second, _ = sessions.new_session(SETTINGS, NOW)
    assert first.nonce != second.nonce and first.csrf != second.csrf
    assert not sessions.csrf_valid(first, second.csrf)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.replace("s1.", "s2.", 1),  # another format
        lambda v: ".".join([*v.split(".")[:3], "A" * 43]),  # another MAC
        lambda v: ".".join([v.split(".")[0], str(int(v.split(".")[1]) + 1), *v.split(".")[2:]]),  # longer life
        lambda v: ".".join([*v.split(".")[:2], _other_first(v.split(".")[2]), v.split(".")[3]]),  # another nonce
        lambda v: v + ".x",  # a fifth part
        lambda v: "",  # empty
    ],
)
def test_a_cookie_changed_in_any_part_is_no_session(tamper):
    _, value = sessions.new_session(SETTINGS, NOW)
    assert sessions.read_session(SETTINGS, _cookie(tamper(value)), NOW) is None


def test_an_expired_cookie_is_no_session():
    _, value = sessions.new_session(SETTINGS, NOW)
    assert sessions.read_session(SETTINGS, _cookie(value), NOW + sessions.LIFETIME_SECONDS) is not None
    assert sessions.read_session(SETTINGS, _cookie(value), NOW + sessions.LIFETIME_SECONDS + 1) is None


def test_changing_the_api_token_ends_every_session():
    _, value = sessions.new_session(SETTINGS, NOW)
    assert sessions.read_session(Settings(api_token="the-new-token"), _cookie(value), NOW) is None


def test_no_cookie_or_another_cookie_is_no_session():
    assert sessions.read_session(SETTINGS, None, NOW) is None
    assert sessions.read_session(SETTINGS, "ig_session_old=s1.1.2.3; x=y", NOW) is None


def test_a_csrf_token_is_refused_without_a_session_or_when_missing_or_wrong():
    made, _ = sessions.new_session(SETTINGS, NOW)
    assert not sessions.csrf_valid(None, made.csrf)
    assert not sessions.csrf_valid(made, None)
    assert not sessions.csrf_valid(made, "")
    assert not sessions.csrf_valid(made, made.csrf[:-1])


def test_the_cookie_is_httponly_and_strict_and_secure_except_on_loopback():
    for base_url in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        cookie = sessions.set_cookie("v", base_url)
        assert cookie == f"ig_session=v; Path=/; Max-Age={sessions.LIFETIME_SECONDS}; HttpOnly; SameSite=Strict"
    assert sessions.set_cookie("v", "https://ig.example.com").endswith("; HttpOnly; SameSite=Strict; Secure")
    assert sessions.clear_cookie("https://ig.example.com") == (
        "ig_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
    )


def test_the_token_check_needs_a_token_and_the_same_one():
    assert sessions.token_valid(SETTINGS, "the-token")
    assert sessions.token_valid(SETTINGS, " the-token\n")  # pasted with a line break
    assert not sessions.token_valid(SETTINGS, "the-token-not")
    assert not sessions.token_valid(Settings(), "")


def test_html_escapes_every_argument_but_markup():
    made = html('<a href="{href}">{text}</a>{raw}', href='"><script>', text="<b>&", raw=Markup("<i>ok</i>"))
    assert made == '<a href="&quot;&gt;&lt;script&gt;">&lt;b&gt;&amp;</a><i>ok</i>'
    assert isinstance(made, Markup)
    assert esc(None) == "" and esc("'") == "&#x27;"


def test_attrs_drops_false_and_none_and_escapes_values():
    assert attrs(class_="tile", data_id='x"y', hidden=True, disabled=False, title=None) == (
        ' class="tile" data-id="x&quot;y" hidden'
    )
