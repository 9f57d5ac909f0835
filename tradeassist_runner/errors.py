"""The one exception tree of the runner.

    TradeAssistError
    ├── ConfigError        config/rule files invalid; carries every located Problem
    ├── TickFileError      a tick file cannot be read at all (missing, unknown format,
    │                      required column absent) -> exit 1
    ├── SinkError          the alert log cannot be written (disk full, permissions)
    ├── SourceError        a live source cannot go on (Schwab token missing/expired/rejected)
    ├── ApiError           the HTTP API cannot start (extra not installed, port in use)
    └── ChartError         a chart cannot be drawn or written (extra not installed, path
                           not writable) -> exit 1

Rejected tick *rows* are not exceptions: they are counted and reported, never raised,
because one bad row must not stop a live feed (docs/semantics.md, "Ticks").
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

#: Unicode categories never printed as they are: controls (incl. NEL), format characters
#: (bidi overrides) and the line/paragraph separators that ``splitlines`` breaks on.
_UNPRINTED = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def escape_controls(text: str) -> str:
    """``text`` with every control or separator character written as ``\\uXXXX``.

    A message quotes what the user wrote (a key, a value, a file name); a U+2029 or a
    newline in there would split one ``PATH:LINE:COLUMN: message`` line into two, and an
    escape sequence could repaint the terminal.
    """
    if text.isprintable():
        return text
    return "".join(
        ch if ch == " " or unicodedata.category(ch) not in _UNPRINTED else (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        for ch in text
    )


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem, printed as ``PATH:LINE:COLUMN: message`` (1-based), on one line."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{escape_controls(self.path)}:{self.line}:{self.column}: {escape_controls(self.message)}"


class TradeAssistError(Exception):
    """Base of every error the runner raises on purpose."""


class ConfigError(TradeAssistError):
    """The config or a rules file is invalid; ``problems`` holds all of them, sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TickFileError(TradeAssistError):
    """A tick file cannot be read at all (as opposed to individual bad rows)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SinkError(TradeAssistError):
    """The alert log could not be written; raised so the caller can keep the alerts."""


class SourceError(TradeAssistError):
    """A live tick source cannot go on (credentials missing, expired or rejected, login denied).

    Transient trouble (a dropped socket) is retried inside the source; this is raised only
    when retrying cannot help, so ``run`` stops with a clear message and exit code 1.
    """


class ApiError(TradeAssistError):
    """The HTTP API was enabled but cannot serve: ``run`` stops with the reason and exit code 1.

    Failing loudly beats running without the API: a container's probes and a Prometheus
    scrape would otherwise fail with no clue why.
    """


class ChartError(TradeAssistError):
    """``--chart FILE`` cannot be honoured: the ``[charts]`` extra is missing or FILE cannot
    be written.  Checked before a long backtest starts where possible."""
