"""Validation lists the calendar codes without importing exchange_calendars (and pandas)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from tradeassist_runner.rules.calendar_codes import CODES, VERSION
from tradeassist_runner.rules.modifiers import calendar_names


def test_the_shipped_list_is_what_the_installed_exchange_calendars_accepts() -> None:
    import exchange_calendars  # type: ignore[import-untyped]

    if version("exchange_calendars") != VERSION:
        pytest.skip(f"exchange_calendars {version('exchange_calendars')} is not {VERSION}: the list is not used")
    assert list(CODES) == list(exchange_calendars.get_calendar_names(include_aliases=True))
    assert calendar_names() == list(CODES)


def test_listing_the_codes_does_not_import_pandas() -> None:
    if version("exchange_calendars") != VERSION:
        pytest.skip(f"exchange_calendars {version('exchange_calendars')} is not {VERSION}: it is asked itself")
    code = (
        "import sys\n"
        "from tradeassist_runner.rules.modifiers import calendar_names\n"
        "assert 'XNYS' in calendar_names() and 'CMES' in calendar_names()\n"
        "print(sorted(m for m in ('exchange_calendars', 'pandas') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
