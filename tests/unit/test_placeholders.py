"""``{variable}`` placeholders in preset parameters (``ig.jobs.placeholders``)."""

from __future__ import annotations

from collections import Counter

import pytest

from ig.jobs.placeholders import MissingVariable, fill, names_in, occurrences

TEMPLATE = {
    "positivePrompt": "Billboard saying {headline} in {style} style, {{not a placeholder}}",
    "width": "{width}",
    "loras": [{"model": "{lora}", "weight": 0.8}, "{style}"],
    "note": '{ not a name } {1abc} {} json: {"a": 1}',
    "seed": 7,
}


def test_every_placeholder_is_found_in_strings_inside_objects_and_lists():
    assert names_in(TEMPLATE) == {"headline", "style", "width", "lora"}
    assert occurrences(TEMPLATE) == Counter({"style": 2, "headline": 1, "width": 1, "lora": 1})
    assert names_in("{{headline}}") == set()  # doubled braces are literal
    assert names_in(["{a}{a}", {"x": "{b}"}, 3, None]) == {"a", "b"}
    assert occurrences("{a}{a}{{a}}{a}") == Counter({"a": 3})


def test_a_name_is_an_identifier_of_at_most_64_characters():
    assert names_in("{" + "n" * 64 + "}") == {"n" * 64}
    assert names_in("{" + "n" * 65 + "}") == set()
    assert names_in("{_x9} {9x} {a-b} {a b}") == {"_x9"}


def test_filling_replaces_placeholders_and_keeps_literal_braces_and_other_text():
    variables = {"headline": "Spring Sale", "style": "art deco", "width": 1536, "lora": "civitai:1@2"}
    assert fill(TEMPLATE, variables) == {
        "positivePrompt": "Billboard saying Spring Sale in art deco style, {not a placeholder}",
        "width": 1536,  # exactly one placeholder: the variable's own JSON type
        "loras": [{"model": "civitai:1@2", "weight": 0.8}, "art deco"],
        "note": '{ not a name } {1abc} {} json: {"a": 1}',
        "seed": 7,
    }


def test_a_value_inside_a_longer_string_is_written_as_json_unless_it_is_text():
    values = {"n": 3, "on": True, "nothing": None, "list": [1, "a"], "obj": {"k": "v"}, "text": 'say "hi"'}
    assert fill("{n}|{on}|{nothing}|{list}|{obj}|{text}", values) == '3|true|null|[1, "a"]|{"k": "v"}|say "hi"'
    assert fill("{obj}", values) == {"k": "v"} and fill("{nothing}", values) is None


def test_a_missing_variable_is_named():
    with pytest.raises(MissingVariable) as missing:
        fill({"a": ["ok {present}", "{absent}"]}, {"present": 1})
    assert missing.value.args == ("absent",)
    assert fill("{{absent}}", {}) == "{absent}"  # a literal needs no variable
