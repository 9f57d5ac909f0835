"""What every command does with its CONFIG argument, in one place.

Load it with the environment's settings applied (``TRADEASSIST_*``), or print every
located problem to stderr and exit 1, so that each command reports a bad config the
same way ``validate`` does.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the models import pydantic: only commands that load a config pay for it
    from ..config.loaded import LoadedConfig

#: Exit code for invalid input (docs/semantics.md, "Command line").
INVALID = 1


def load_or_exit(config: str) -> LoadedConfig:
    from ..config.loader import load_config
    from ..errors import ConfigError
    from ..settings import apply_settings, load_settings

    try:
        return apply_settings(load_config(config), load_settings())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(INVALID)
