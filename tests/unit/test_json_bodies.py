"""How every route reads a client's JSON body (``ig.safe_json.decode_json_body``): UTF-8 only, a
byte order mark ignored, no half surrogate pairs, no NaN or Infinity, nesting bounded; and how a
provider's answer is read (``decode_json``: None when it is not JSON)."""

from __future__ import annotations

import json

import pytest

from ig.errors import ValidationFailed
from ig.safe_json import MAX_JSON_DEPTH, decode_json, decode_json_body, json_too_deep, parse_json_body

BODY = {"model": "m", "tags": ["caf\u00e9", "\U0001f98a"]}


def refused(raw: bytes) -> tuple[str, str, str]:
    with pytest.raises(ValidationFailed) as refusal:
        decode_json_body(raw)
    [error] = refusal.value.errors
    return error.field, error.code, error.message


def test_utf8_is_read_and_the_text_kept_as_received():
    raw = json.dumps(BODY, ensure_ascii=False).encode()
    body = decode_json_body(raw)
    assert body.value == BODY and body.text == raw.decode()


def test_a_utf8_byte_order_mark_is_ignored_and_not_kept():
    raw = json.dumps(BODY, ensure_ascii=False).encode()
    body = decode_json_body(b"\xef\xbb\xbf" + raw)
    assert body.value == BODY and body.text == raw.decode() and not body.text.startswith("\ufeff")


@pytest.mark.parametrize(
    ("encoding", "bom", "named"),
    [
        ("utf-16-le", b"\xff\xfe", "UTF-16"),
        ("utf-16-be", b"\xfe\xff", "UTF-16"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "UTF-32"),
        ("utf-32-be", b"\x00\x00\xfe\xff", "UTF-32"),
    ],
)
def test_utf16_and_utf32_are_refused_naming_the_encoding_when_it_is_marked(encoding, bom, named):
    text = json.dumps(BODY, ensure_ascii=False)
    assert refused(bom + text.encode(encoding)) == (
        "body",
        "not_utf8",
        f"JSON bodies must be UTF-8 (RFC 8259); this one is {named}",
    )
    assert refused(text.encode(encoding)) == ("body", "not_utf8", "JSON bodies must be UTF-8 (RFC 8259)")


def test_latin1_is_not_utf8():
    assert refused('{"tag": "caf\u00e9"}'.encode("latin-1"))[1] == "not_utf8"


def test_half_a_surrogate_pair_is_refused_and_a_whole_one_is_a_character():
    message = "a \\u escape names half of a surrogate pair, which is not a character"
    for lone in (rb'{"t": "\ud83e"}', rb'{"t": "\uDD8A x"}', rb'{"\udfff": 1}', rb'["a\ud800\u0041"]'):
        assert refused(lone) == ("body", "lone_surrogate", message), lone
    assert decode_json_body(rb'{"t": "\ud83e\udd8a"}').value == {"t": "\U0001f98a"}
    assert decode_json_body(rb'{"t": "\\ud83e"}').value == {"t": "\\ud83e"}  # an escaped backslash, not an escape


def test_nan_infinity_and_numbers_too_large_are_not_json():
    assert refused(b'{"x": NaN}') == ("body", "json_invalid", "not valid JSON: NaN is not a JSON number")
    assert refused(b'{"x": -Infinity}')[1] == "json_invalid"
    assert refused(b'{"x": 1e999}') == ("body", "json_invalid", "not valid JSON: 1e999 is too large for a JSON number")
    assert decode_json_body(b'{"x": 1e308}').value == {"x": 1e308}


def test_nesting_is_refused_past_64_levels_before_decoding():
    assert MAX_JSON_DEPTH == 64
    assert decode_json_body(b"[" * 64 + b"]" * 64).value is not None
    too_deep = ("body", "too_deeply_nested", "JSON nested deeper than 64 levels")
    assert refused(b"[" * 65 + b"]" * 65) == too_deep
    assert refused(b'{"a":' * 65 + b"1" + b"}" * 65) == too_deep
    assert refused(b"[" * 100_000) == too_deep  # not even well-formed: never decoded
    assert not json_too_deep(b'["' + b"[" * 1000 + b'"]')  # brackets inside a string do not count
    assert not json_too_deep(b'["\\"' + b"[" * 1000 + b'"]')  # nor after an escaped quote


def test_guarantee_10_nesting_is_measured_without_recursion():
    assert not json_too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert json_too_deep(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert json_too_deep(b"[" * 100_000)  # unclosed counts too
    assert not json_too_deep(json.dumps({"text": "[{" * 1000, "escaped": '\\"[[[' * 100}).encode())
    assert not json_too_deep(b"[" + b"[]," * 100_000 + b"[]]")  # wide, not deep
    nested = {"a": [1]}
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = {"a": nested}
    assert parse_json_body(json.dumps(nested).encode()) == nested


def test_empty_and_malformed_bodies_are_named():
    assert refused(b"") == ("body", "missing", "a JSON body is required")
    assert refused(b"{not json")[:2] == ("body", "json_invalid")


def test_a_providers_answer_is_none_when_it_is_not_json():
    assert decode_json(b'{"data": []}') == {"data": []}
    for raw in (b"<html>bad gateway</html>", b"\xff\xfe", b'{"x": NaN}', b"[" * 65 + b"]" * 65, b""):
        assert decode_json(raw) is None, raw
