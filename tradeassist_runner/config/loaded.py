"""What the loader hands to the rest of the runner: validated models plus where they came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Any

from .models import Config, Instrument

if TYPE_CHECKING:
    from ..rules.catalog import AnyRule
else:
    AnyRule = Any


@dataclass(frozen=True)
class Location:
    """1-based position of a value in a YAML file."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class LoadedRule:
    rule: AnyRule
    source: Location


@dataclass(frozen=True)
class LoadedConfig:
    """A config whose every file validated; rules in declaration order.

    Declaration order (rule files sorted by name, then position in the file) is the
    order in which rules that fire on the same tick are reported.
    """

    path: Path
    config: Config
    instruments: tuple[Instrument, ...]
    rules: tuple[LoadedRule, ...]
    rule_files: tuple[Path, ...]
    #: ``PATH:LINE:COLUMN: warning: ...`` lines: valid, but probably not what was meant
    #: (no rules at all).  ``validate`` prints them, ``run`` logs them at every load.
    warnings: tuple[str, ...] = ()

    def resolve(self, relative: str) -> Path:
        """A path from the config, taken relative to the config file's folder."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.path.parent / p).resolve()
