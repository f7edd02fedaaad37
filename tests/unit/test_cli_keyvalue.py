"""``ig``'s ``key=value`` options: JSON values, dotted keys, and ``key=@file``, read from real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ig_client.cli.keyvalue import (
    MAX_TEXT_FILE_BYTES,
    KeyValueError,
    MediaFile,
    media_files,
    parse_pairs,
    upload_media,
)


def test_values_that_parse_as_json_are_json_and_the_rest_are_strings():
    parsed = parse_pairs(
        [
            "steps=4",
            "guidance=3.5",
            "hdr=true",
            "seed=null",
            'safety={"checkContent": true}',
            "sizes=[1, 2]",
            "style=art deco",
            'quoted="42"',
            "empty=",
            "equation=a=b",
        ],
        "--param",
    )
    assert parsed == {
        "steps": 4,
        "guidance": 3.5,
        "hdr": True,
        "seed": None,
        "safety": {"checkContent": True},
        "sizes": [1, 2],
        "style": "art deco",
        "quoted": "42",
        "empty": "",
        "equation": "a=b",
    }


def test_python_only_numbers_stay_strings_rather_than_becoming_nan_or_infinity():
    parsed = parse_pairs(["a=NaN", "b=-Infinity", "c=1e999"], "--param")
    assert parsed == {"a": "NaN", "b": "-Infinity", "c": "1e999"}


def test_dotted_keys_nest_and_merge_into_objects_given_as_json():
    parsed = parse_pairs(
        ['inputs={"mask": "m"}', "inputs.image=artifact:1", "safety.checkContent=true", "safety.mode=fast"], "--param"
    )
    assert parsed == {"inputs": {"mask": "m", "image": "artifact:1"}, "safety": {"checkContent": True, "mode": "fast"}}


def test_a_later_pair_replaces_an_earlier_value():
    assert parse_pairs(["seed=1", "seed=2"], "--param") == {"seed": 2}


@pytest.mark.parametrize(
    ("pair", "complaint"),
    [
        ("width", "--param 'width': expected key=value"),
        ("=3", "--param '=3': expected key=value"),
        ("inputs..image=x", "empty part in the key 'inputs..image'"),
        ("width.x=1", "width already has a value that is not an object"),
    ],
)
def test_malformed_pairs_are_refused_naming_the_option_and_the_pair(pair, complaint):
    with pytest.raises(KeyValueError) as refused:
        parse_pairs(["width=512", pair], "--param")
    assert complaint in str(refused.value)


def test_a_json_file_is_its_json_and_another_file_its_text(tmp_path: Path):
    (tmp_path / "safety.json").write_text('{"checkContent": true, "mode": "full"}')
    (tmp_path / "prompt.txt").write_text("a red fox\nin snow\n", encoding="utf-8")
    parsed = parse_pairs([f"safety=@{tmp_path / 'safety.json'}", f"positivePrompt=@{tmp_path / 'prompt.txt'}"], "-p")
    assert parsed == {"safety": {"checkContent": True, "mode": "full"}, "positivePrompt": "a red fox\nin snow\n"}


def test_a_media_file_is_marked_for_upload_with_its_type(tmp_path: Path):
    for name in ("photo.png", "clip.webm", "voice.wav", "song.flac"):
        (tmp_path / name).write_bytes(b"\x00\x01")
    parsed = parse_pairs(
        [
            f"seedImage=@{tmp_path / 'photo.png'}",
            f"inputs.video=@{tmp_path / 'clip.webm'}",
            f"inputs.audio=@{tmp_path / 'voice.wav'}",
            f"reference=@{tmp_path / 'song.flac'}",
        ],
        "-p",
    )
    assert parsed == {
        "seedImage": MediaFile(tmp_path / "photo.png", "image/png"),
        "inputs": {
            "video": MediaFile(tmp_path / "clip.webm", "video/webm"),
            "audio": MediaFile(tmp_path / "voice.wav", "audio/x-wav"),
        },
        "reference": MediaFile(tmp_path / "song.flac", "audio/flac"),
    }


def test_media_files_are_listed_once_each_and_replaced_by_their_references(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "b.jpg").write_bytes(b"jpg")
    params = parse_pairs([f"seedImage=@{tmp_path / 'a.png'}", f"maskImage=@{tmp_path / 'b.jpg'}", "seed=1"], "-p")
    variables = parse_pairs([f"photo=@{tmp_path / 'a.png'}"], "--var")
    found = media_files(params, variables)
    assert found == [MediaFile(tmp_path / "a.png", "image/png"), MediaFile(tmp_path / "b.jpg", "image/jpeg")]
    uploaded = {found[0]: "artifact:A", found[1]: "artifact:B"}
    assert upload_media(params, uploaded) == {"seedImage": "artifact:A", "maskImage": "artifact:B", "seed": 1}
    assert upload_media(variables, uploaded) == {"photo": "artifact:A"}


def test_file_problems_are_refused_before_anything_is_sent(tmp_path: Path):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "huge.txt").write_bytes(b"a" * (MAX_TEXT_FILE_BYTES + 1))
    (tmp_path / "fits.txt").write_bytes(b"a" * MAX_TEXT_FILE_BYTES)
    cases = {
        f"x=@{tmp_path / 'missing.png'}": "no such file",
        f"x=@{tmp_path / 'broken.json'}": "is not valid JSON",
        f"x=@{tmp_path / 'blob.bin'}": "neither UTF-8 text nor a media file",
        f"x=@{tmp_path / 'huge.txt'}": "is over 1024 KiB",
    }
    for pair, complaint in cases.items():
        with pytest.raises(KeyValueError) as refused:
            parse_pairs([pair], "--var")
        assert complaint in str(refused.value), pair
    assert parse_pairs([f"x=@{tmp_path / 'fits.txt'}"], "--var") == {"x": "a" * MAX_TEXT_FILE_BYTES}


def test_a_value_starting_with_at_can_be_given_as_a_json_string():
    assert parse_pairs(['handle="@ig_bot"'], "--metadata") == {"handle": "@ig_bot"}
