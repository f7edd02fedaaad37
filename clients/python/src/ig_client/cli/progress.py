"""Progress on stderr (stdout is kept for results): on a terminal a spinner while a job runs and a bar
per download; otherwise plain lines, one per change of a job's status and one per file saved, which
read well in a log."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ig_client.cli.render import size


class JobWatch:
    """Called with the job each time the client sees it (``on_progress``); shows each new status."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown: tuple[str, str] | None = None
        self._live: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> JobWatch:
        if self.console.is_terminal:
            columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
            self._live = Progress(*columns, console=self.console)
            self._live.start()
        return self

    def __call__(self, job: Any) -> None:
        state = (str(job.id), str(job.status))
        if state == self.shown:
            return
        self.shown = state
        line = f"job {job.id}: {job.status}"
        if self._live is None:
            self.console.print(line, highlight=False, soft_wrap=True)
        elif self._task is None:
            self._task = self._live.add_task(line, total=None)
        else:
            self._live.update(self._task, description=line)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._live is not None:
            if self._task is not None:  # the spinner stops; the line stays, with the time it took
                self._live.update(self._task, total=1, completed=1)
            self._live.stop()


class DownloadBars:
    """One bar per file on a terminal; a ``saved <path> (<size>)`` line per file otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live: Progress | None = None

    def __enter__(self) -> DownloadBars:
        if self.console.is_terminal:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
            )
            self._live = Progress(*columns, console=self.console)
            self._live.start()
        return self

    def file(self, label: str, expected_size: int | None) -> FileProgress:
        if self._live is None:
            return FileProgress(None, None)
        return FileProgress(self._live, self._live.add_task(label, total=expected_size))

    def saved(self, path: Path, stored_size: int) -> None:
        if self._live is None:
            self.console.print(f"saved {path} ({size(stored_size)})", highlight=False, soft_wrap=True)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()


class FileProgress:
    """The ``on_progress(done_bytes, total_bytes)`` of one download."""

    def __init__(self, live: Progress | None, task: TaskID | None) -> None:
        self.live, self.task = live, task

    def __call__(self, done: int, total: int | None) -> None:
        if self.live is not None and self.task is not None:
            self.live.update(self.task, completed=done, total=total)
