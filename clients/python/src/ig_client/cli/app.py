"""The ``ig`` command: every subcommand, on top of :class:`ig_client.Client`. Results go to stdout
(paths, ids, tables, or JSON with ``--json``), progress and errors to stderr, and the exit status
says what failed (:mod:`ig_client.cli.exits`)."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click
from click.shell_completion import get_completion_class

from ig_client.cli import extensions, keyvalue, render
from ig_client.cli.exits import ExitCode, epilog, exit_code_for
from ig_client.cli.render import Column
from ig_client.cli.render import field as column

# The library (httpx, pydantic) and rich are imported in the functions that use them, not here:
# ``ig --help``, usage errors and shell completion (run on every TAB) need only click, and loading
# them would make each of those take about a second.
if TYPE_CHECKING:
    from rich.console import Console

    from ig_client import Client, IgError

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_LIMIT = 20
"""Rows a listing shows unless ``--limit`` says otherwise; it follows ig's cursors up to that."""
COMPLETE_VAR = "_IG_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def console(stderr: bool = False) -> Console:
    """Text as it is: no highlighting, markup or emoji codes (prompts and tags may hold any of them)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, markup=False, emoji=False)


@dataclass
class Session:
    """What every command shares: where ig is, how to print, and the client. The consoles and the client
    are made on first use, so a mistake in the options exits without loading rich or the library."""

    url: str | None
    token: str | None
    as_json: bool

    @functools.cached_property
    def out(self) -> Console:
        return console()

    @functools.cached_property
    def err(self) -> Console:
        return console(stderr=True)

    @contextmanager
    def client(self) -> Iterator[Client]:
        from ig_client import Client

        with Client(url=self.url, token=self.token) as client:
            yield client

    def json(self, value: Any) -> None:
        render.print_json(self.out, value)

    def listing(self, found: Any, columns: Sequence[Column]) -> None:
        """A listing as one JSON array with ``--json``, else as a table (rows in a pipe)."""
        if self.as_json:
            self.json(found)
        else:
            render.print_table(self.out, render.to_data(found), columns)


def ig_command(group: click.Group, name: str, **settings: Any) -> Callable[[Callable[..., R]], click.Command]:
    """A subcommand of ``group`` with the options every command has (``--json``, ``--url``,
    ``--token``), called with a :class:`Session` first."""

    def decorate(function: Callable[..., R]) -> click.Command:
        @functools.wraps(function)
        def run(*args: Any, url: str | None, token: str | None, as_json: bool, **kwargs: Any) -> R:
            return function(Session(url, token, as_json), *args, **kwargs)

        command = group.command(name, **settings)(run)
        command.params += [  # after the command's own options in its help
            click.Option(["--url"], metavar="URL", help="Where ig is [default: $IG_URL or http://127.0.0.1:8787]"),
            click.Option(["--token"], metavar="TOKEN", help="ig's API token [default: $IG_API_TOKEN]"),
            click.Option(["--json", "as_json"], is_flag=True, help="Print JSON on stdout, for scripts."),
        ]
        return command

    return decorate


class IgGroup(click.Group):
    """Lists the commands in the order they were added (the order a new user needs them)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=IgGroup, epilog=epilog(), context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ig-client", prog_name="ig")
def cli() -> None:
    """ig from the command line: make, find and download generated media.

    \b
      ig generate "a fox in snow" --model flux-schnell -n 2 -o out/
      ig artifacts list --tag user:42
      ig artifacts download <id> -o out/

    ig is found at IG_URL (default http://127.0.0.1:8787), with IG_API_TOKEN when it needs one;
    --url and --token say otherwise. key=value options take JSON values (n=2, x=true, o={"a":1}),
    dotted keys (inputs.image=...) and files (key=@photo.png is uploaded, key=@body.json is its JSON,
    key=@notes.txt its text).
    """


# --- options shared by several commands ----------------------------------------------------------


def pairs(*names: str, help: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(*names, multiple=True, metavar="KEY=VALUE", help=help)


def library_filters(jobs: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The filters of ``GET /v1/jobs`` and ``GET /v1/artifacts`` (and, without paging, of usage)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        options = [
            click.option("-t", "--tag", multiple=True, help="Has this tag (repeat: has all of them)."),
            click.option("--any-tag", multiple=True, help="Has at least one of these (repeat)."),
            click.option("--not-tag", multiple=True, help="Has none of these (repeat)."),
            click.option("--kind", type=click.Choice(["image", "video", "audio", "text", "file"])),
            click.option("--task", help="Task type, e.g. imageInference."),
            click.option("--model", help="A model alias or the provider's model id."),
            click.option("--provider", help="runware, fal, replicate or mock."),
            click.option("--job", "job_id", metavar="JOB_ID", help="Made by this job."),
            click.option("-q", "--search", "q", metavar="WORDS", help="Full text: every word must appear."),
        ]
        if jobs:
            options.append(
                click.option("--status", type=click.Choice(["queued", "submitted", "succeeded", "failed", "cancelled"]))
            )
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def time_range(function: Callable[P, R]) -> Callable[P, R]:
    function = click.option("--before", "created_before", metavar="TIME", help="Created before (ISO 8601).")(function)
    return click.option("--after", "created_after", metavar="TIME", help="Created after (ISO 8601).")(function)


def limit_option(function: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=DEFAULT_LIMIT,
        show_default=True,
        help="Show at most this many (newest first).",
    )(function)


def query(filters: dict[str, Any]) -> dict[str, Any]:
    """Options as the client's filters: unset ones left out, repeated ones as lists."""
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in filters.items()
        if value is not None and value != ()
    }


MAX_PAGE = 500
"""The largest page ig serves (its listings' ``limit`` bound)."""


def first(items: Iterable[R], limit: int) -> list[R]:
    return list(islice(items, limit))


def read_pairs(values: Iterable[str], option: str) -> dict[str, Any]:
    try:
        return keyvalue.parse_pairs(values, option)
    except keyvalue.KeyValueError as error:
        raise click.UsageError(str(error)) from None


def upload_media(session: Session, client: Client, *trees: dict[str, Any]) -> list[dict[str, Any]]:
    """Upload each ``key=@media`` file once and put its ``artifact:<id>`` where it was named."""
    uploaded: dict[keyvalue.MediaFile, str] = {}
    for media in keyvalue.media_files(*trees):
        artifact = client.artifacts.upload(media.path, media_type=media.media_type)
        session.err.print(f"uploaded {media.path} as artifact {artifact.id}", soft_wrap=True)
        uploaded[media] = f"artifact:{artifact.id}"
    return [keyvalue.upload_media(tree, uploaded) for tree in trees]


def provider_choice(providers: tuple[str, ...]) -> str | list[str] | None:
    """One ``--provider`` is that provider (or ``auto``); several are a failover list, in order."""
    if not providers:
        return None
    return providers[0] if len(providers) == 1 else list(providers)


# --- generate ------------------------------------------------------------------------------------

RESULTS_PARAM = "num_outputs"
"""ig's common name for the task's number of results: ig itself moves it to the task's and the
provider's own parameter (Runware's ``numberResults`` or ``promptVersions``, fal's ``num_images``)."""


@ig_command(cli, "generate")
@click.argument("prompt", required=False)
@click.option("-m", "--model", help="A model alias (ig models) or the provider's own model id.")
@click.option("--task", help="ig's task type (ig tasks); ig knows it for aliases and most models.")
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="runware (default), fal, replicate, mock or auto; repeat to fail over in that order.",
)
@click.option("--preset", help="Start from this preset (ig presets list).")
@pairs("--var", "variables", help="A preset variable (repeat).")
@pairs("-p", "--param", "params", help="A task parameter (repeat); dotted keys nest.")
@click.option("-t", "--tag", "tags", multiple=True, help="Tag the job and its artifacts (repeat).")
@pairs("--metadata", help="Your own data kept with the job (repeat).")
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=1),
    help="How many results: ig's num_outputs, which ig moves to the task's and provider's own parameter "
    "(numberResults, num_images, ...). A preset that sets that parameter itself is overridden with -p instead.",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory for the files.",
)
@click.option("--timeout", type=click.IntRange(1, 86400), help="The job's deadline in seconds: ig fails it after.")
@click.option("--wait-timeout", type=click.FloatRange(min=0), help="Stop waiting after this many seconds (exit 8).")
def generate(
    session: Session,
    prompt: str | None,
    model: str | None,
    task: str | None,
    providers: tuple[str, ...],
    preset: str | None,
    variables: tuple[str, ...],
    params: tuple[str, ...],
    tags: tuple[str, ...],
    metadata: tuple[str, ...],
    count: int | None,
    output_dir: Path,
    timeout: int | None,
    wait_timeout: float | None,
) -> None:
    """Make something, wait for it and download it.

    Prints the paths of the files, one a line. PROMPT goes to the task's prompt parameter. Examples:

    \b
      ig generate "a fox in snow" --model flux-schnell --tag user:42 -n 4 -o out/
      ig generate "a fox" -m flux-dev --provider fal -p seed=7 -p width=768
      ig generate "the same, in snow" -m flux-dev -p seedImage=@fox.png -p strength=0.6
      ig generate --preset billboard --var headline="Spring Sale"
    """
    parsed_params = read_pairs(params, "--param")
    parsed_variables = read_pairs(variables, "--var")
    parsed_metadata = read_pairs(metadata, "--metadata")
    from ig_client import JobFailed  # after the options are read: a mistake in them exits without loading these
    from ig_client.cli.progress import JobWatch

    with session.client() as client:
        parsed_params, parsed_variables, parsed_metadata = upload_media(
            session, client, parsed_params, parsed_variables, parsed_metadata
        )
        if count is not None:
            parsed_params[RESULTS_PARAM] = count
        job = client.submit(
            model=model,
            prompt=prompt,
            params=parsed_params,
            task=task,
            provider=provider_choice(providers),
            preset=preset,
            variables=parsed_variables or None,
            tags=list(tags) or None,
            metadata=parsed_metadata or None,
            timeout_seconds=timeout,
        )
        with JobWatch(session.err) as watch:
            watch(job)
            job = client.wait(job, timeout=wait_timeout, on_progress=watch)
        if job.status != "succeeded":
            if session.as_json:
                session.json({"job": job, "files": []})
            raise JobFailed(job)
        files = download_all(session, client, job.artifacts, output_dir)
    if session.as_json:
        session.json({"job": job, "files": files})
    else:
        render.print_lines(session.out, [str(path) for path in files])


def download_all(session: Session, client: Client, artifacts: Iterable[Any], directory: Path) -> list[Path]:
    from ig_client.cli.progress import DownloadBars

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    with DownloadBars(session.err) as bars:
        for artifact in artifacts:
            path = client.artifacts.download(
                artifact, directory, on_progress=bars.file(str(artifact.id)[:8], artifact.size)
            )
            bars.saved(path, artifact.size)
            paths.append(path)
    return paths


# --- jobs ----------------------------------------------------------------------------------------


@cli.group(cls=IgGroup)
def jobs() -> None:
    """List, show, wait for and cancel jobs."""


JOB_COLUMNS = (
    column("id"),
    column("status"),
    column("task"),
    Column("MODEL", lambda job: render.text(job.get("model_alias") or job.get("model"))),
    column("provider"),
    column("created_at", render.moment),
    Column("RESULTS", lambda job: str(len(job.get("artifacts") or [])), right=True),
    column("tags"),
)


@ig_command(jobs, "list")
@library_filters(jobs=True)
@time_range
@limit_option
def jobs_list(session: Session, limit: int, **filters: Any) -> None:
    """Jobs, newest first."""
    with session.client() as client:
        found = first(client.jobs.list(limit=min(limit, MAX_PAGE), **query(filters)), limit)
    session.listing(found, JOB_COLUMNS)


@ig_command(jobs, "show")
@click.argument("job_id")
def jobs_show(session: Session, job_id: str) -> None:
    """One job, with its artifacts."""
    with session.client() as client:
        job = client.jobs.get(job_id)
    show_job(session, job)


@ig_command(jobs, "wait")
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop waiting after this many seconds (exit 8).")
def jobs_wait(session: Session, job_id: str, timeout: float | None) -> None:
    """Wait until a job ends; exit 3 unless it succeeded."""
    from ig_client import JobFailed
    from ig_client.cli.progress import JobWatch

    with session.client() as client, JobWatch(session.err) as watch:
        job = client.wait(job_id, timeout=timeout, on_progress=watch)
    show_job(session, job)
    if job.status != "succeeded":
        raise JobFailed(job)


@ig_command(jobs, "cancel")
@click.argument("job_id")
def jobs_cancel(session: Session, job_id: str) -> None:
    """Cancel an open job; says what the provider did about it."""
    with session.client() as client:
        job = client.jobs.cancel(job_id)
    if session.as_json:
        session.json(job)
        return
    stopped = render.to_data(job).get("provider_cancel")
    what = "the provider stops nothing it has accepted" if stopped is None else render.text(stopped)
    render.print_details(session.out, [("id", job.id), ("status", job.status), ("provider cancel", what)])


@ig_command(jobs, "tag")
@click.argument("job_id")
@click.option("--add", multiple=True, help="Tag to add (repeat).")
@click.option("--remove", multiple=True, help="Tag to remove (repeat).")
def jobs_tag(session: Session, job_id: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Add and remove a job's tags (its artifacts keep theirs); prints the tags it has now."""
    with session.client() as client:
        tags = client.jobs.tag(job_id, add=add, remove=remove)
    print_tags(session, tags)


def show_job(session: Session, job: Any) -> None:
    if session.as_json:
        session.json(job)
        return
    data = render.to_data(job)
    error = data.get("error") or {}
    render.print_details(
        session.out,
        [
            ("id", data["id"]),
            ("status", data["status"]),
            ("task", render.text(data.get("task"))),
            ("model", render.text(data.get("model_alias") or data.get("model"))),
            ("provider", render.text(data.get("provider"))),
            ("created", render.moment(data.get("created_at"))),
            ("completed", render.moment(data.get("completed_at"))),
            ("cost", render.cost(data.get("cost"))),
            ("tags", render.text(data.get("tags"))),
            ("error", f"{error['code']}: {error['message']}" if error else "-"),
        ],
    )
    if data.get("artifacts"):
        session.out.out("")
        render.print_table(session.out, data["artifacts"], ARTIFACT_COLUMNS)


# --- artifacts -----------------------------------------------------------------------------------


@cli.group(cls=IgGroup)
def artifacts() -> None:
    """List, show, download, tag, delete artifacts.

    Every output of a job is an artifact, and so is every upload."""


ARTIFACT_COLUMNS = (
    column("id"),
    column("kind"),
    column("content_type"),
    column("size", render.size),
    Column("DIMENSIONS", render.dimensions),
    column("created_at", render.moment),
    column("tags"),
)


@ig_command(artifacts, "list")
@library_filters(jobs=False)
@click.option("--role", type=click.Choice(["output", "input"]), help="output (made by jobs) or input (uploads).")
@click.option("--nsfw/--not-nsfw", default=None, help="Flagged (or not) by the provider's content check.")
@time_range
@limit_option
def artifacts_list(session: Session, limit: int, **filters: Any) -> None:
    """Artifacts, newest first."""
    with session.client() as client:
        found = first(client.artifacts.list(limit=min(limit, MAX_PAGE), **query(filters)), limit)
    session.listing(found, ARTIFACT_COLUMNS)


@ig_command(artifacts, "show")
@click.argument("artifact_id")
def artifacts_show(session: Session, artifact_id: str) -> None:
    """One artifact and where it came from."""
    with session.client() as client:
        artifact = client.artifacts.get(artifact_id)
    if session.as_json:
        session.json(artifact)
        return
    data = render.to_data(artifact)
    provenance = data.get("provenance") or {}
    render.print_details(
        session.out,
        [
            ("id", data["id"]),
            ("job", render.text(data.get("job_id"))),
            ("role", render.text(data.get("role"))),
            ("kind", render.text(data.get("kind"))),
            ("type", render.text(data.get("content_type"))),
            ("size", render.size(data.get("size"))),
            ("dimensions", render.dimensions(data)),
            ("sha256", render.text(data.get("sha256"))),
            ("created", render.moment(data.get("created_at"))),
            ("tags", render.text(data.get("tags"))),
            ("deleted", render.moment(data.get("deleted_at"))),
            ("model", render.text(provenance.get("model_alias") or provenance.get("model"))),
            ("params", render.text(provenance.get("params"))),
            ("content", render.text(data.get("content_url"))),
        ],
    )


@ig_command(artifacts, "download")
@click.argument("artifact_ids", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory for the files (named <id>.<extension>).",
)
def artifacts_download(session: Session, artifact_ids: tuple[str, ...], output_dir: Path) -> None:
    """Download artifacts, checking each one's sha256; prints the paths."""
    with session.client() as client:
        found = [client.artifacts.get(artifact_id) for artifact_id in artifact_ids]
        files = download_all(session, client, found, output_dir)
    if session.as_json:
        session.json({"files": files})
    else:
        render.print_lines(session.out, [str(path) for path in files])


@ig_command(artifacts, "tag")
@click.argument("artifact_id")
@click.option("--add", multiple=True, help="Tag to add (repeat).")
@click.option("--remove", multiple=True, help="Tag to remove (repeat).")
def artifacts_tag(session: Session, artifact_id: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Add and remove an artifact's tags; prints the tags it has now."""
    with session.client() as client:
        tags = client.artifacts.tag(artifact_id, add=add, remove=remove)
    print_tags(session, tags)


@ig_command(artifacts, "delete")
@click.argument("artifact_id")
def artifacts_delete(session: Session, artifact_id: str) -> None:
    """Delete an artifact's file; its record and provenance stay (with deleted_at)."""
    with session.client() as client:
        client.artifacts.delete(artifact_id)
    if session.as_json:
        session.json({"deleted": artifact_id})
    else:
        session.err.print(f"deleted {artifact_id}", soft_wrap=True)


def print_tags(session: Session, tags: list[str]) -> None:
    if session.as_json:
        session.json({"tags": tags})
    else:
        render.print_lines(session.out, tags)


# --- uploads -------------------------------------------------------------------------------------


@ig_command(cli, "upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "media_type", metavar="MEDIA_TYPE", help="e.g. image/png [default: from the name]")
@click.option("-t", "--tag", "tags", multiple=True, help="Tag the upload (repeat).")
def upload(session: Session, file: Path, media_type: str | None, tags: tuple[str, ...]) -> None:
    """Upload an image, audio or video file.

    Prints its artifact id; pass it to a job as artifact:<id>."""
    with session.client() as client:
        artifact = client.artifacts.upload(file, media_type=media_type, tags=list(tags) or None)
    if session.as_json:
        session.json(artifact)
    else:
        render.print_lines(session.out, [artifact.id])


# --- presets -------------------------------------------------------------------------------------


@cli.group(cls=IgGroup)
def presets() -> None:
    """List, show and save presets (job templates)."""


PRESET_COLUMNS = (
    column("name"),
    Column("VERSION", lambda preset: render.text(preset.get("version")), right=True),
    column("model"),
    column("task"),
    column("variables"),
    column("description"),
)


@ig_command(presets, "list")
def presets_list(session: Session) -> None:
    """Every preset (its current version)."""
    with session.client() as client:
        found = list(client.presets.list())
    session.listing(found, PRESET_COLUMNS)


@ig_command(presets, "show")
@click.argument("name")
@click.option("--version", type=click.IntRange(min=1), help="An earlier version.")
def presets_show(session: Session, name: str, version: int | None) -> None:
    """One preset, as JSON (the body ig presets put takes)."""
    with session.client() as client:
        preset = client.presets.get(name, version=version)
    session.json(preset)


PRESET_ANSWER_ONLY = frozenset({"name", "version", "variables", "created_at", "updated_at", "version_created_at"})
"""Fields ig answers about a preset but does not take, so what ``ig presets show`` prints can be edited and put."""


@ig_command(presets, "put")
@click.argument("name")
@click.option(
    "-f",
    "--file",
    "body_file",
    type=click.File("r"),
    help="The whole preset as JSON (- for stdin); the other options override its fields.",
)
@click.option("-m", "--model", help="A model alias or the provider's model id.")
@click.option("--task", help="ig's task type.")
@click.option("--provider", "providers", multiple=True, metavar="NAME", help="Provider (repeat to fail over).")
@pairs("-p", "--param", "params", help="A parameter; strings may hold {variables} (repeat).")
@click.option("-t", "--tag", "tags", multiple=True, help="A default tag (repeat).")
@pairs("--metadata", help="Default metadata (repeat).")
@click.option("--description", help="What the preset is for.")
def presets_put(
    session: Session,
    name: str,
    body_file: Any,
    model: str | None,
    task: str | None,
    providers: tuple[str, ...],
    params: tuple[str, ...],
    tags: tuple[str, ...],
    metadata: tuple[str, ...],
    description: str | None,
) -> None:
    """Save a preset (a changed body makes a new version); prints its name and version."""
    body: dict[str, Any] = {}
    if body_file is not None:
        try:
            body = json.loads(body_file.read())
        except ValueError as error:
            raise click.UsageError(f"--file: not JSON ({error})") from None
        if not isinstance(body, dict):
            raise click.UsageError("--file: the preset must be a JSON object")
        body = {key: value for key, value in body.items() if key not in PRESET_ANSWER_ONLY}
    parsed_params = read_pairs(params, "--param")
    parsed_metadata = read_pairs(metadata, "--metadata")
    given = {
        "model": model,
        "task": task,
        "provider": provider_choice(providers),
        "params": parsed_params or None,
        "tags": list(tags) or None,
        "metadata": parsed_metadata or None,
        "description": description,
    }
    body.update({key: value for key, value in given.items() if value is not None})
    with session.client() as client:
        body["params"], body["metadata"] = upload_media(
            session, client, body.get("params") or {}, body.get("metadata") or {}
        )
        preset = client.presets.put(name, **body)
    if session.as_json:
        session.json(preset)
    else:
        render.print_lines(session.out, [f"{preset.name} version {preset.version}"])


# --- catalogue and usage -------------------------------------------------------------------------

MODEL_COLUMNS = (
    column("name"),
    column("task"),
    Column("PROVIDERS", lambda model: ",".join(model.get("providers") or {}) or "-"),
    column("description"),
)


@ig_command(cli, "models")
@click.option("--task", help="Only aliases of this task type.")
@click.option("--provider", help="Only aliases this provider runs.")
def models(session: Session, task: str | None, provider: str | None) -> None:
    """Model aliases and the providers that run them.

    An alias names the same model on each provider that has it."""
    with session.client() as client:
        found = client.models(**query({"task": task, "provider": provider}))
    session.listing(found, MODEL_COLUMNS)


TASK_COLUMNS = (
    column("task"),
    column("modality"),
    column("results_param"),
    column("summary"),
)


@ig_command(cli, "tasks")
def tasks(session: Session) -> None:
    """Task types and what they make.

    --json adds each one's parameter schema."""
    with session.client() as client:
        found = client.tasks()
    session.listing(found, TASK_COLUMNS)


USAGE_COLUMNS = (
    column("key"),
    Column("JOBS", lambda row: render.text(row.get("jobs")), right=True),
    Column("SUCCEEDED", lambda row: render.text(row.get("succeeded")), right=True),
    Column("FAILED", lambda row: render.text(row.get("failed")), right=True),
    Column("RESULTS", lambda row: render.text(row.get("results")), right=True),
    Column("COST", lambda row: render.cost(row.get("cost")), right=True),
    Column("P50 S", lambda row: render.cost(row.get("p50_seconds")), right=True),
    Column("P95 S", lambda row: render.cost(row.get("p95_seconds")), right=True),
)


@ig_command(cli, "usage")
@click.option(
    "--by", "group_by", type=click.Choice(["day", "model", "task", "tag", "provider"]), default="day", show_default=True
)
@click.option("--since", metavar="TIME", help="Jobs created after (ISO 8601).")
@click.option("--until", metavar="TIME", help="Jobs created before (ISO 8601).")
@library_filters(jobs=True)
def usage(session: Session, **filters: Any) -> None:
    """Jobs, results, cost and latency, grouped."""
    with session.client() as client:
        report = client.usage(**query(filters))
    if session.as_json:
        session.json(report)
    else:
        render.print_table(session.out, render.to_data(report)["items"], USAGE_COLUMNS)


# --- completion, extensions, main ----------------------------------------------------------------


@cli.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script.

    \b
      bash: eval "$(ig completion bash)"     (in ~/.bashrc)
      zsh:  eval "$(ig completion zsh)"      (in ~/.zshrc)
      fish: ig completion fish > ~/.config/fish/completions/ig.fish
    """
    script = get_completion_class(shell)
    assert script is not None  # every name in SHELLS is one of click's
    click.echo(script(cli, {}, "ig", COMPLETE_VAR).source())


for _command in extensions.commands(set(cli.commands)):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> NoReturn:
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """``ig`` with these arguments; the exit status (:class:`ExitCode`)."""
    try:
        result = cli.main(args=argv, prog_name="ig", standalone_mode=False, complete_var=COMPLETE_VAR)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        console(stderr=True).print("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # the reader (head, less) stopped reading: nothing failed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush has somewhere to go
        return ExitCode.OK
    except Exception as error:
        from ig_client import IgError  # only commands that loaded the library get here, not help or completion

        if not isinstance(error, IgError):
            raise
        report(console(stderr=True), error)
        return exit_code_for(error)
    return result if isinstance(result, int) else ExitCode.OK


def report(err: Console, error: IgError) -> None:
    """The error on stderr: a problem's title and detail and every field error, else the error's own message."""
    from ig_client import ApiError

    if isinstance(error, ApiError):
        code = f" {error.code}" if error.code else ""
        err.print(f"ig: {error.title or 'error'} ({error.status}{code})", soft_wrap=True)
        for bad in error.errors:
            err.print(f"  {bad.field}: {bad.message} ({bad.code})", soft_wrap=True)
        if error.detail and not error.errors:  # with field errors, the detail only sums them up
            err.print(f"  {error.detail}", soft_wrap=True)
        if error.job_id:
            err.print(f"  job: {error.job_id}", soft_wrap=True)
        return
    err.print(f"ig: {error}", soft_wrap=True)  # the job's error, the connection's, the checksums, ...
