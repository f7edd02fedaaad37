"""``ig``'s command line without a server: exit statuses and the help that documents them, errors
as printed, usage mistakes caught before anything is sent, shell completion, and ``ig serve``
handing its arguments to the server's own ``main``."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from ig_client import (
    ApiError,
    ChecksumMismatch,
    Conflict,
    ConnectionFailed,
    Gone,
    Job,
    JobFailed,
    NotFound,
    RateLimited,
    ServerError,
    TimedOut,
    Unauthorized,
    ValidationError,
)
from ig_client.cli.app import report, run
from ig_client.cli.exits import MEANINGS, ExitCode, exit_code_for
from rich.console import Console

JOB = Job.model_construct(id="j1", status="failed", error=None)
PROBLEM = {"title": "Request validation failed", "code": "validation_error", "detail": "params.width: too small"}


def test_each_error_has_the_exit_status_that_names_it():
    cases = [
        (JobFailed(JOB), ExitCode.JOB_FAILED),
        (NotFound(404, {}), ExitCode.NOT_FOUND),
        (Gone(410, {}), ExitCode.NOT_FOUND),
        (Unauthorized(401, {}), ExitCode.UNAUTHORIZED),
        (Unauthorized(403, {}), ExitCode.UNAUTHORIZED),
        (ValidationError(422, PROBLEM), ExitCode.REJECTED),
        (ConnectionFailed("refused"), ExitCode.UNREACHABLE),
        (TimedOut(JOB, 5.0), ExitCode.TIMED_OUT),
        (ChecksumMismatch("a1", Path("a1.png"), "sha256 differs"), ExitCode.INTEGRITY),
        (Conflict(409, {}), ExitCode.ERROR),
        (RateLimited(429, {}), ExitCode.ERROR),
        (ServerError(503, {}), ExitCode.ERROR),
        (ApiError(418, {}), ExitCode.ERROR),
    ]
    assert [exit_code_for(error) for error, _ in cases] == [code for _, code in cases]


def test_help_lists_every_exit_status_with_its_meaning(capsys):
    assert run(["--help"]) == ExitCode.OK
    shown = capsys.readouterr().out
    table = shown[shown.index("Exit status:") :].splitlines()[1:]
    expected = [[str(int(code)), meaning] for code, meaning in MEANINGS.items()]
    assert [line.split(maxsplit=1) for line in table] == expected
    assert set(MEANINGS) == set(ExitCode)


def test_a_problem_is_printed_with_its_title_and_every_field_error():
    buffer = io.StringIO()
    errors = [
        {"field": "params.width", "message": "must be a multiple of 64", "code": "invalidParameter"},
        {"field": "tags.0", "message": "empty tag", "code": "invalid_tag"},
    ]
    report(Console(file=buffer, width=40), ValidationError(422, {**PROBLEM, "errors": errors, "job_id": "j9"}))
    assert buffer.getvalue().splitlines() == [
        "ig: Request validation failed (422 validation_error)",
        "  params.width: must be a multiple of 64 (invalidParameter)",
        "  tags.0: empty tag (invalid_tag)",
        "  job: j9",
    ]


def test_a_problem_without_field_errors_shows_its_detail_and_other_errors_their_message():
    buffer = io.StringIO()
    console = Console(file=buffer, width=40)
    report(console, Conflict(409, {"title": "Job is finished", "code": "job_finished", "detail": "it succeeded"}))
    report(console, ApiError(502, {}))
    report(console, ConnectionFailed("GET http://127.0.0.1:9/v1/jobs: ConnectError: refused (after 4 retries)"))
    assert buffer.getvalue().splitlines() == [
        "ig: Job is finished (409 job_finished)",
        "  it succeeded",
        "ig: error (502)",
        "ig: GET http://127.0.0.1:9/v1/jobs: ConnectError: refused (after 4 retries)",
    ]


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["generate", "x", "-p", "width"], "--param 'width': expected key=value"),
        (["generate", "x", "--var", "photo=@/no/such/file.png"], "no such file"),
        (["generate", "x", "-n", "0"], "Invalid value for '-n'"),
        (["jobs", "frobnicate"], "No such command 'frobnicate'"),
        (["artifacts", "download"], "Missing argument 'ARTIFACT_IDS...'"),
        (["completion", "tcsh"], "Invalid value for '{bash|zsh|fish}'"),
    ],
)
def test_usage_mistakes_exit_2_before_anything_is_sent(argv, complaint, capsys, monkeypatch):
    monkeypatch.setenv("IG_URL", "http://127.0.0.1:9")  # nothing listens there: a request would exit 7
    assert run(argv) == ExitCode.USAGE
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "_IG_COMPLETE=bash_complete"), ("zsh", "#compdef ig"), ("fish", "_IG_COMPLETE=fish_complete")],
)
def test_completion_prints_each_shell_s_script(shell, marker, capsys):
    assert run(["completion", shell]) == ExitCode.OK
    assert marker in capsys.readouterr().out


def test_completion_completes_commands_and_options(capsys, monkeypatch):
    monkeypatch.setenv("_IG_COMPLETE", "bash_complete")
    for words, expected in (("ig art", ["artifacts"]), ("ig artifacts d", ["download", "delete"])):
        monkeypatch.setenv("COMP_WORDS", words)
        monkeypatch.setenv("COMP_CWORD", str(len(words.split()) - 1))
        with pytest.raises(SystemExit) as done:
            run([])
        assert done.value.code == 0
        assert [line.split(",")[1] for line in capsys.readouterr().out.splitlines()] == expected


def test_ig_serve_passes_its_arguments_to_the_server_unchanged(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["ig"])
    with pytest.raises(SystemExit) as done:
        run(["serve", "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: ig serve [-h] [--host HOST] [--port PORT] [--data-dir DATA_DIR]")
    with pytest.raises(SystemExit) as refused:
        run(["serve", "--port", "not-a-port"])
    assert refused.value.code == 2
    assert "ig serve: error: argument --port: invalid int value: 'not-a-port'" in capsys.readouterr().err
