"""The console's alert lines: a write that fails is said once, and so is its recovery."""

from __future__ import annotations

import io
import logging
from datetime import datetime, timezone

import polars as pl
import pytest

from tradeassist_runner.service.console import ConsoleAlerts


class Disk(io.StringIO):
    full = True

    def write(self, text: str) -> int:
        if self.full:
            raise OSError(28, "No space left on device")
        return super().write(text)


def _alerts(n: int) -> pl.DataFrame:
    ts = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
    return pl.DataFrame({"ts": [ts] * n, "severity": ["warning"] * n, "rule_id": [f"r{i}" for i in range(n)],
                         "message": ["m"] * n})


def test_a_full_console_is_said_once_and_its_recovery_too(caplog: pytest.LogCaptureFixture) -> None:
    out = Disk()
    console = ConsoleAlerts(out)
    with caplog.at_level(logging.INFO, logger="tradeassist.run"):
        console.print(_alerts(2))
        console.print(_alerts(3))
        assert console.failing
        out.full = False
        console.print(_alerts(1))
        console.print(_alerts(1))
    said = [r.getMessage() for r in caplog.records]
    assert sum("console output failed" in m for m in said) == 1
    assert sum("console output works again" in m for m in said) == 1
    assert not console.failing
    assert out.getvalue() == "2026-01-05T14:30:00.000Z  WARNING  r0  m\n" * 2
