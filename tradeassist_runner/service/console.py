"""Alerts printed on the console, which must never stop the runner.

The console is a convenience beside the alert log and the channels: stdout redirected to
a file on a full disk, or a terminal that went away, would otherwise end a live run with
an exception after its alerts were logged but before they were handed to the channels.
A failed write is logged once, the runner goes on, and the next batch tries again.
"""

from __future__ import annotations

import logging
from typing import TextIO

import polars as pl

from ..logs import log
from ..timefmt import iso_ms

logger = logging.getLogger("tradeassist.run")


class ConsoleAlerts:
    """One line per alert on ``out``; tells the log when writing stops and starts working."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.failing = False

    def print(self, alerts: pl.DataFrame) -> None:
        try:
            for r in alerts.iter_rows(named=True):
                self._out.write(f"{iso_ms(r['ts'])}  {r['severity'].upper():8} {r['rule_id']}  {r['message']}\n")
            self._out.flush()
        except (OSError, ValueError) as exc:  # a full disk, a closed pipe or terminal
            if not self.failing:
                self.failing = True
                log(logger, logging.WARNING, "console output failed; alerts are still logged and delivered",
                    error=getattr(exc, "strerror", None) or str(exc))
            return
        if self.failing:
            self.failing = False
            log(logger, logging.INFO, "console output works again")
