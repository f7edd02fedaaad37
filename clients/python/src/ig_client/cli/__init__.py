"""``ig``: the command line of ig's Python client (``ig generate "a fox" -o out/``, ``ig jobs list``,
``ig artifacts download``, ...). ``ig serve`` runs the server when it is installed (``ig[local]``)."""

from ig_client.cli.app import main

__all__ = ["main"]
