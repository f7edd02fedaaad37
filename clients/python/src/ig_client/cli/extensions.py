"""Commands other distributions add to ``ig`` through the ``ig.commands`` entry-point group: each is a
``main(argv)`` that gets the rest of the command line unchanged. The server (``ig``, with its
``local`` extra) adds ``serve``; the client never imports it, so ``ig serve`` works wherever the
server is installed and says what to install where it is not."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points

import click

GROUP = "ig.commands"
SERVE_HELP = "Run ig on this machine: API, queue and sweeper (ig serve --help says how)."
SERVE_SHORT_HELP = "Run ig on this machine (the server: ig[local])."
INSTALL_SERVER = "pip install 'ig[local]'"


def installed() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=GROUP)}


def passthrough(name: str, help: str, short_help: str) -> click.Command:
    """``ig <name> ...``: the installed entry point's ``main`` with every argument after the name, its
    own ``--help`` included; ``argv[0]`` reads ``ig <name>`` so its usage lines name the command typed."""

    def run(args: tuple[str, ...]) -> None:
        entry = installed().get(name)
        if entry is None:
            raise click.ClickException(f"ig {name} needs the ig server, which is not installed: {INSTALL_SERVER}")
        target = entry.load()
        sys.argv = [f"ig {name}", *args]
        target(list(args))

    return click.Command(
        name,
        callback=run,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        help=help,
        short_help=short_help,
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def commands(builtin: set[str]) -> list[click.Command]:
    """``serve`` always (it explains itself when the server is missing), and any other installed
    command whose name the client does not use itself."""
    extra = sorted(name for name in installed() if name not in builtin and name != "serve")
    others = [passthrough(name, f"{name}: see ig {name} --help", f"(from {GROUP})") for name in extra]
    return [passthrough("serve", SERVE_HELP, SERVE_SHORT_HELP), *others]
