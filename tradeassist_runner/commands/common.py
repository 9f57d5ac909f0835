"""What every command does with its CONFIG argument, in one place.

Load it with the environment's settings applied (``TRADEASSIST_*``), or print every
located problem to stderr and exit 1, so that each command reports a bad config the
same way ``validate`` does.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the models import pydantic: only commands that load a config pay for it
    from ..backtest import BacktestStats, ProgressHook
    from ..config.loaded import LoadedConfig
    from ..config.loader import RulesFileCache
    from ..terminal import Progress

#: Exit code for invalid input (docs/semantics.md, "Command line").
INVALID = 1


#: ``settings.ENV_PREFIX``, spelled here so that a command need not import pydantic-settings
#: (a tenth of a second) to learn that the environment overrides nothing.
_ENV_PREFIX = "TRADEASSIST_"


def _environment_overrides() -> bool:
    """Whether any ``TRADEASSIST_*`` variable is set (pydantic-settings matches names in any case)."""
    return any(name.upper().startswith(_ENV_PREFIX) for name in os.environ)


def load_or_exit(config: str, cache: RulesFileCache | None = None) -> LoadedConfig:
    from ..config.loader import load_config
    from ..errors import ConfigError

    try:
        loaded = load_config(config, cache=cache)
        if not _environment_overrides():
            return loaded  # what Settings() with every field unset would leave
        from ..settings import apply_settings, load_settings

        return apply_settings(loaded, load_settings())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(INVALID)


class ProgressBar:
    """The progress of backtests over tick files on stderr, when it is a terminal.

    :meth:`start` begins one pass over a file (``diff`` makes two, ``test`` one per case
    with a tick file) and returns what ``backtest(..., progress=)`` calls; with
    ``--quiet``, or when stderr is a file or a pipe, nothing at all is written.
    """

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._progress: Progress | None = None

    def start(self, label: str, ticks: Path) -> ProgressHook:
        from ..terminal import Progress

        self.close()
        total = None
        if self.enabled:
            from ..sources.tick_count import estimate_rows

            total = estimate_rows(ticks)
        progress = self._progress = Progress(sys.stderr, self.enabled, total, label)

        def hook(stats: BacktestStats) -> None:
            progress.update(stats.rows_done, stats.alerts)

        return hook

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


class StartUp:
    """The garbage collector paused while a command imports its modules and loads its config.

    Nearly everything allocated then (modules, models, the rules) lives until the command
    ends, so the collections that start-up triggers only re-examine live objects: a tenth
    of ``validate``'s CPU time. :meth:`done` (work from here on makes garbage) freezes
    what start-up built, so later full collections skip it too, and resumes collecting;
    leaving the block undoes both, for an in-process caller.
    """

    def __init__(self) -> None:
        self._was_enabled = gc.isenabled()
        self._frozen = False

    def __enter__(self) -> StartUp:
        gc.disable()
        return self

    def done(self, collect: bool = True) -> None:
        """Start-up is over; with ``collect=False`` the collector stays paused until the
        block is left: a batch job whose loop makes no garbage cycles worth collecting (a
        backtest frees its frames and arrays by reference counting; a million-tick run
        leaves a few hundred objects in cycles) need not stop its threads for it."""
        if collect and self._was_enabled and not gc.isenabled():
            gc.freeze()
            self._frozen = True
            gc.enable()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.done()  # (frozen first: resuming must not start by examining all of start-up at once)
        if self._frozen:
            gc.unfreeze()
