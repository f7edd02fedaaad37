"""The client's file handling without a server (``ig_client._transfer``, ``ig_client._core.query``):
query strings, where downloads land, how a download's temporary file becomes the file, and how an
upload is framed and streamed."""

from __future__ import annotations

import io
import os
from datetime import UTC, date, datetime
from email.parser import BytesParser
from email.policy import HTTP

import pytest
from ig_client._core import query
from ig_client._transfer import CHUNK_SIZE, FileSink, download_target, upload_body

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def test_query_repeats_lists_spells_booleans_and_times_and_drops_none():
    pairs = query(
        {
            "tag": ["user:42", "channel:1"],
            "kind": "image",
            "nsfw": False,
            "created_after": datetime(2026, 11, 1, 12, tzinfo=UTC),
            "until": date(2026, 11, 2),
            "limit": 2,
            "cursor": None,
        }
    )
    assert pairs == (
        ("tag", "user:42"),
        ("tag", "channel:1"),
        ("kind", "image"),
        ("nsfw", "false"),
        ("created_after", "2026-11-01T12:00:00+00:00"),
        ("until", "2026-11-02"),
        ("limit", "2"),
    )


@pytest.mark.parametrize(
    ("content_type", "name"),
    [
        ("image/png", "a1.png"),
        ("image/jpeg", "a1.jpg"),
        ("text/plain; charset=utf-8", "a1.txt"),
        ("model/gltf-binary", "a1.glb"),
        ("application/x-unheard-of", "a1.bin"),
    ],
)
def test_a_download_into_a_directory_is_named_after_the_artifact_and_its_type(tmp_path, content_type, name):
    assert download_target(tmp_path, "a1", content_type) == tmp_path / name


def test_a_download_into_a_directory_written_as_one_goes_inside_it_even_before_it_exists(tmp_path):
    assert download_target(f"{tmp_path}/out/", "a1", "image/png") == tmp_path / "out" / "a1.png"


def test_a_download_to_a_file_path_goes_there(tmp_path):
    assert download_target(tmp_path / "fox.png", "a1", "image/jpeg") == tmp_path / "fox.png"


def test_a_verified_download_replaces_the_target_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "deep" / "fox.png"
    sink = FileSink(target)
    sink.write(b"wrong start")
    sink.restart()
    sink.write(PNG[:100])
    sink.write(PNG[100:])
    assert sink.commit() == target
    assert target.read_bytes() == PNG
    assert os.listdir(target.parent) == ["fox.png"]


def test_a_failed_download_leaves_nothing_and_an_existing_file_untouched(tmp_path):
    target = tmp_path / "fox.png"
    target.write_bytes(b"the previous fox")
    sink = FileSink(target)
    sink.write(PNG)
    sink.discard()
    assert os.listdir(tmp_path) == ["fox.png"]
    assert target.read_bytes() == b"the previous fox"


def _parsed(body: bytes, content_type: str) -> tuple[str | None, str, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    [part] = list(message.iter_parts())
    return part.get_filename(), part.get_content_type(), part.get_payload(decode=True)


def test_an_upload_from_a_path_is_one_file_part_of_the_declared_length_and_can_be_sent_again(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(PNG * 300)  # several chunks
    body = upload_body(path, None, None, None)
    sent = b"".join(body.chunks())
    assert body.length == len(sent) and body.resendable
    assert _parsed(sent, body.content_type) == ("photo.png", "image/png", PNG * 300)
    assert b"".join(body.chunks()) == sent  # a retry sends the same bytes


class ReadRecorder(io.BytesIO):
    """A file object that notes how much each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)


def test_an_upload_from_a_file_object_is_read_a_chunk_at_a_time_from_where_it_stands():
    data = b"junk" + PNG * 2000  # over three chunks
    file = ReadRecorder(data)
    file.seek(4)
    progress: list[tuple[int, int | None]] = []
    body = upload_body(file, "image/png", "fox.png", lambda done, total: progress.append((done, total)))
    sent = b"".join(body.chunks())
    assert _parsed(sent, body.content_type) == ("fox.png", "image/png", data[4:])
    assert body.length == len(sent) and body.resendable
    assert file.asked and all(0 < size <= CHUNK_SIZE for size in file.asked)  # never read whole
    assert progress[-1] == (len(data) - 4, len(data) - 4) and len(progress) == -(-(len(data) - 4) // CHUNK_SIZE)
    assert b"".join(body.chunks()) == sent  # rewound to where it stood


def test_an_upload_from_a_pipe_is_sent_once_without_a_length():
    read_end, write_end = os.pipe()
    os.write(write_end, PNG)
    os.close(write_end)
    with open(read_end, "rb") as pipe:
        body = upload_body(pipe, "image/png", None, None)
        sent = b"".join(body.chunks())
    assert body.length is None and not body.resendable
    assert _parsed(sent, body.content_type)[2] == PNG


def test_a_file_name_with_quotes_and_line_breaks_stays_one_header():
    body = upload_body(io.BytesIO(PNG), "image/png", 'my "best"\r\nfox.png', None)
    sent = b"".join(body.chunks())
    assert _parsed(sent, body.content_type)[0] == "my %22best%22fox.png"


def test_an_upload_whose_type_cannot_be_told_asks_for_it():
    with pytest.raises(ValueError, match="media_type="):
        upload_body(io.BytesIO(PNG), None, "noextension", None)
