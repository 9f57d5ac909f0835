"""The ``tradeassist`` program's entry point: ``--version`` answered before anything is imported.

Importing click and the commands is most of what ``tradeassist --version`` costs, for a
line this module can print itself, in click's ``version_option`` words.  Everything else
goes to :func:`.cli.main`.
"""

from __future__ import annotations

import sys

from . import __version__

#: What ``cli.main``'s ``@click.version_option`` prints.
VERSION_LINE = f"tradeassist, version {__version__}"


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(VERSION_LINE + "\n")
        sys.stdout.flush()
        sys.exit(0)
    from .cli import main as program

    program()
