"""Which hosts ig may call on a consumer's behalf (callback URLs): only globally routable unicast
addresses, plus loopback when ig runs locally.

A host is read the way a WHATWG URL parser (the Worker's ``fetch``) reads it, so no spelling of a
private address slips through: percent-escapes and Unicode are mapped first (fullwidth digits
become ASCII), a name whose last label is a number is an IPv4 address in any of its forms
(``0x7f.1``, ``2130706433``, ``0177.0.0.1``, ``127.1``), IPv6 literals are judged by the IPv4
address they embed (mapped, NAT64, 6to4), and ``localhost`` and ``*.localhost`` are loopback
whatever they resolve to. The refused ranges are listed here rather than taken from
``ipaddress``'s ``is_global``, whose answers differ between Python releases."""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_REFUSED_IPV4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback (allowed in local mode, see is_allowed)
        "169.254.0.0/16",  # link-local, cloud metadata services
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relays (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_LOOPBACK_IPV4 = ipaddress.IPv4Network("127.0.0.0/8")
_GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
_REFUSED_IPV6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo among them
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
_MAPPED_IPV6 = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64_IPV6 = ipaddress.IPv6Network("64:ff9b::/96")
_6TO4_IPV6 = ipaddress.IPv6Network("2002::/16")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
"""The full stops a WHATWG parser (UTS 46) treats as label separators."""


class AddressRefused(ConnectionError):
    """A host resolved to an address ig does not call."""


@dataclass(frozen=True)
class Host:
    """A URL's host as a fetch would connect to it: an IP address, or an ASCII domain name
    (lower case, without a trailing dot). ``written`` says whether the URL spelled it that way."""

    address: Address | None
    name: str | None
    written: bool

    @property
    def canonical(self) -> str:
        if self.address is None:
            return str(self.name)
        return f"[{self.address}]" if self.address.version == 6 else str(self.address)

    @property
    def is_loopback(self) -> bool:
        if self.address is not None:
            return is_loopback(self.address)
        return self.name == "localhost" or str(self.name).endswith(".localhost")


def parse_host(raw: str) -> Host:
    """The host of a URL's authority (``raw``, port already removed), or ValueError."""
    if raw.startswith("["):
        if not raw.endswith("]") or "%" in raw:  # WHATWG has no zone ids
            raise ValueError("not a valid IPv6 address")
        return Host(ipaddress.IPv6Address(raw[1:-1]), None, written=True)
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("the host is not UTF-8") from exc
    mapped = unicodedata.normalize("NFKC", text).casefold().translate(_DOTS)
    labels = mapped.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # one trailing dot names the same host
    if not labels or any(label == "" for label in labels):
        raise ValueError("the host has an empty label")
    ascii_labels = [label if label.isascii() else "xn--" + label.encode("punycode").decode() for label in labels]
    name = ".".join(ascii_labels)
    if not all(c.isalnum() or c in "-_." for c in name) or not name.isascii():
        raise ValueError("the host has characters a host name cannot have")
    written = raw.lower().removesuffix(".")
    if _ends_in_a_number(ascii_labels):
        address = _ipv4(ascii_labels)
        return Host(address, None, written=written == str(address))
    return Host(None, name, written=written == name)


def _ends_in_a_number(labels: list[str]) -> bool:
    last = labels[-1]
    return last.isdigit() or (last[:2] == "0x" and all(c in "0123456789abcdef" for c in last[2:]))


def _ipv4(labels: list[str]) -> ipaddress.IPv4Address:
    """WHATWG's IPv4 parser: one to four parts, each decimal, octal (leading 0) or hex (0x);
    the last part fills the bytes the others leave."""
    if len(labels) > 4:
        raise ValueError("not a valid IPv4 address")
    numbers = []
    for part in labels:
        if part[:2] == "0x":
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part[0] == "0":
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        try:
            numbers.append(int(digits, base))
        except ValueError as exc:
            raise ValueError("not a valid IPv4 address") from exc
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise ValueError("not a valid IPv4 address")
    value = last + sum(n << (8 * (3 - i)) for i, n in enumerate(leading))
    return ipaddress.IPv4Address(value)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries traffic to (IPv4-mapped, NAT64, 6to4)."""
    if address in _MAPPED_IPV6 or address in _NAT64_IPV6:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _6TO4_IPV6:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


def is_loopback(address: Address) -> bool:
    if address.version == 6:
        if address in _MAPPED_IPV6:
            return is_loopback(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return address == ipaddress.IPv6Address("::1")
    return address in _LOOPBACK_IPV4


def is_allowed(address: Address, *, allow_loopback: bool = False) -> bool:
    """Whether ig may connect to ``address``: globally routable unicast, or loopback when
    ``allow_loopback`` (ig running locally)."""
    if getattr(address, "scope_id", None):
        return False  # a scoped address is link-local by definition
    if allow_loopback and is_loopback(address):
        return True
    if address.version == 4:
        return not any(address in network for network in _REFUSED_IPV4)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_allowed(embedded)  # what it reaches is never the host's own loopback
    return address in _GLOBAL_UNICAST_IPV6 and not any(address in network for network in _REFUSED_IPV6)


def host_problem(host: Host, *, allow_loopback: bool) -> str | None:
    """Why ig will not call ``host``, or None. Names other than localhost are judged when they
    are resolved, where the runtime lets ig see the answer."""
    if host.is_loopback and not allow_loopback:
        return f"may not point at this machine ({host.canonical} is loopback)"
    if host.address is not None and not is_allowed(host.address, allow_loopback=allow_loopback):
        return f"may not point at a private, link-local, multicast or reserved address ({host.address})"
    if not host.written:
        return f"write the host as {host.canonical}"
    return None


def url_problem(url: str, *, local_mode: bool) -> str | None:
    """Why ig will not call ``url``, or None: https to a public host; in local mode also
    loopback, by plain http too (see ``ig.addresses`` for what counts as public)."""
    if any(c <= " " or c in "\\\x7f" for c in url):
        return "may not contain spaces, control characters or backslashes"  # parsers disagree on them
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "not a valid URL"
    if not parts.hostname or parts.scheme not in ("https", "http"):
        return "must be an https:// URL"
    if "@" in parts.netloc:
        return "may not carry credentials; put a secret in the path or verify the signature"
    raw_host = parts.netloc
    if ":" in raw_host and not raw_host.endswith("]"):
        raw_host = raw_host.rpartition(":")[0]  # the port, checked above
    try:
        host = parse_host(raw_host)
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    problem = host_problem(host, allow_loopback=local_mode)
    if problem is not None:
        return problem
    if parts.scheme == "http":
        if not local_mode:
            return "must be https (plain http only to localhost when ig runs locally)"
        if not host.is_loopback:
            return "plain http is allowed only to localhost"
    return None
