"""Callback URLs (``ig.addresses``): which hosts ig may call on a consumer's behalf, in every
spelling a WHATWG URL parser (the Worker's ``fetch``) reads, each with the one problem it has."""

from __future__ import annotations

import ipaddress

import pytest

from ig import addresses


def reserved(address: str) -> str:
    return f"may not point at a private, link-local, multicast or reserved address ({address})"


def loopback(host: str) -> str:
    return f"may not point at this machine ({host} is loopback)"


REFUSED_HOSTS = {
    "169.254.169.254": reserved("169.254.169.254"),  # cloud metadata
    "10.0.0.1": reserved("10.0.0.1"),
    "172.16.5.4": reserved("172.16.5.4"),
    "192.168.1.1": reserved("192.168.1.1"),
    "100.64.0.1": reserved("100.64.0.1"),  # carrier-grade NAT
    "0.0.0.0": reserved("0.0.0.0"),
    "0": reserved("0.0.0.0"),
    "224.0.0.1": reserved("224.0.0.1"),  # multicast
    "255.255.255.255": reserved("255.255.255.255"),
    "240.0.0.1": reserved("240.0.0.1"),
    "198.18.0.1": reserved("198.18.0.1"),
    "192.0.2.1": reserved("192.0.2.1"),
    "0x7f.1": loopback("127.0.0.1"),
    "2130706433": loopback("127.0.0.1"),
    "0177.0.0.1": loopback("127.0.0.1"),
    "127.1": loopback("127.0.0.1"),
    "0x0a.0.0.1": reserved("10.0.0.1"),
    "012.0.0.1": reserved("10.0.0.1"),  # octal
    "167772161": reserved("10.0.0.1"),
    "0xa9fea9fe": reserved("169.254.169.254"),
    "%31%32%37.0.0.1": loopback("127.0.0.1"),
    "%31%30.0.0.1": reserved("10.0.0.1"),
    "\uff11\uff10\uff0e\uff10\uff0e\uff10\uff0e\uff11": reserved("10.0.0.1"),  # fullwidth
    "169.254.169.254.": reserved("169.254.169.254"),
    "localhost": loopback("localhost"),
    "LOCALHOST.": loopback("localhost"),
    "hooks.localhost": loopback("hooks.localhost"),
    "[::1]": loopback("[::1]"),
    "[::]": reserved("::"),
    "[::ffff:127.0.0.1]": loopback("[::ffff:127.0.0.1]"),
    "[::ffff:a9fe:a9fe]": reserved("::ffff:169.254.169.254"),  # mapped
    "[::ffff:10.0.0.1]": reserved("::ffff:10.0.0.1"),
    "[::7f00:1]": reserved("::7f00:1"),  # IPv4-compatible
    "[64:ff9b::a00:1]": reserved("64:ff9b::a00:1"),  # NAT64 of 10.0.0.1
    "[64:ff9b::7f00:1]": reserved("64:ff9b::7f00:1"),
    "[2002:a9fe:a9fe::1]": reserved("2002:a9fe:a9fe::1"),  # 6to4 of 169.254.169.254
    "[2002:7f00:1::]": reserved("2002:7f00:1::"),
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]": reserved("2001:0:4136:e378:8000:63bf:3fff:fdd2"),  # Teredo
    "[fe80::1]": reserved("fe80::1"),
    "[fc00::1]": reserved("fc00::1"),
    "[fd12:3456::1]": reserved("fd12:3456::1"),
    "[fec0::1]": reserved("fec0::1"),  # site-local
    "[ff02::1]": reserved("ff02::1"),
    "[2001:db8::1]": reserved("2001:db8::1"),
    "[fe80::1%25eth0]": "not a valid URL: not a valid IPv6 address",
}
"""Each refused host, as a callback URL outside local mode, and the problem ig names."""
PUBLIC_HOSTS = ["example.com", "hooks.example.com:8443", "EXAMPLE.com.", "8.8.8.8", "[2606:4700:4700::1111]"]
LOOPBACK_AS_WRITTEN = {"localhost", "LOCALHOST.", "hooks.localhost", "[::1]", "[::ffff:127.0.0.1]"}
LOOPBACK_SPELLED_OTHERWISE = {"0x7f.1", "2130706433", "0177.0.0.1", "127.1", "%31%32%37.0.0.1"}


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_callback_urls_to_private_loopback_or_reserved_addresses_are_refused_in_every_spelling(host):
    assert addresses.url_problem(f"https://{host}/hook", local_mode=False) == REFUSED_HOSTS[host]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_in_local_mode_loopback_is_let_through_only_as_plainly_written(host):
    problem = addresses.url_problem(f"https://{host}/hook", local_mode=True)
    if host in LOOPBACK_AS_WRITTEN:
        assert problem is None
    elif host in LOOPBACK_SPELLED_OTHERWISE:
        assert problem == "write the host as 127.0.0.1"
    else:
        assert problem == REFUSED_HOSTS[host]


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
def test_callback_urls_to_public_hosts_are_accepted(host):
    assert addresses.url_problem(f"https://{host}/hook", local_mode=False) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.com\\@10.0.0.1/", "may not contain spaces, control characters or backslashes"),
        ("https://exa mple.com/", "may not contain spaces, control characters or backslashes"),
        ("https://10.0.0.\n1/", "may not contain spaces, control characters or backslashes"),
        ("https://ex%61mple.com/", "write the host as example.com"),
        ("https://b\u00fccher.example/", "write the host as xn--bcher-kva.example"),
        ("https://1.2.3.4.5/", "not a valid URL: not a valid IPv4 address"),
        ("https://example.09/", "not a valid URL: not a valid IPv4 address"),
    ],
)
def test_callback_urls_that_parsers_read_differently_are_refused(url, problem):
    assert addresses.url_problem(url, local_mode=False) == problem


@pytest.mark.parametrize(
    ("url", "outside", "local"),
    [
        ("http://example.com/hook", "must be https (plain http only to localhost when ig runs locally)",
         "plain http is allowed only to localhost"),
        ("ftp://example.com/hook", "must be an https:// URL", "must be an https:// URL"),
        ("https://user:pw@example.com/hook",
         "may not carry credentials; put a secret in the path or verify the signature",
         "may not carry credentials; put a secret in the path or verify the signature"),
        ("https://example.com:99999/hook", "not a valid URL", "not a valid URL"),
        ("http://127.0.0.1:9/hook", loopback("127.0.0.1"), None),
        ("http://[::1]:9/hook", loopback("[::1]"), None),
    ],
)  # fmt: skip
def test_the_scheme_credentials_and_port_are_checked_and_plain_http_goes_only_to_loopback_locally(url, outside, local):
    assert addresses.url_problem(url, local_mode=False) == outside
    assert addresses.url_problem(url, local_mode=True) == local


@pytest.mark.parametrize(
    ("address", "allowed", "allowed_locally"),
    [
        ("93.184.215.14", True, True),
        ("2606:4700:4700::1111", True, True),
        ("127.0.0.1", False, True),
        ("127.255.0.9", False, True),
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("10.0.0.7", False, False),
        ("169.254.169.254", False, False),
        ("64:ff9b::7f00:1", False, False),
        ("fe80::1", False, False),
    ],
)
def test_a_resolved_address_is_allowed_only_when_public_or_loopback_in_local_mode(address, allowed, allowed_locally):
    """What the local runtime checks for every address a callback host resolves to."""
    parsed = ipaddress.ip_address(address)
    assert addresses.is_allowed(parsed) is allowed
    assert addresses.is_allowed(parsed, allow_loopback=True) is allowed_locally
