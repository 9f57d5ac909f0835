"""Alert batches shaped exactly like the engine's output (``ALERT_SCHEMA``).

Imported by the tests (``from .conftest import ...``) so every sink test builds rows the
same way the engine does, including its ``alert_id`` scheme.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from tradeassist_runner.engine.alerts import ALERT_SCHEMA
from tradeassist_runner.timefmt import to_epoch_ms

T0 = datetime(2026, 1, 5, 14, 30, 0, 125000, tzinfo=timezone.utc)
EVALUATED_AT = datetime(2026, 1, 5, 14, 30, 1, 7000, tzinfo=timezone.utc)


def alert_row(
    seq: int,
    *,
    ts: datetime | None = None,
    rule_id: str = "es_above",
    symbol: str = "/ES",
    value: float | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """One alert; ``ts`` defaults to ``T0 + seq seconds`` and ids follow the engine's scheme."""
    ts = ts if ts is not None else T0 + timedelta(seconds=seq)
    ts_ms = to_epoch_ms(ts)
    price = 4500.25 + seq
    row: dict[str, Any] = {
        "alert_id": f"{rule_id}@{ts_ms}#{seq}",
        "rule_id": rule_id,
        "rule_name": f"{rule_id} name",
        "symbol": symbol,
        "ts": ts,
        "seq": seq,
        "price": price,
        "volume": 3 + seq,
        "value": price if value is None else value,
        "prev_value": price - 1.0,
        "threshold": 4500.0,
        "condition": "above",
        "type": "threshold",
        "severity": "warning",
        "message": f"{symbol} {price} above 4500",
        "evaluated_at": EVALUATED_AT,
    }
    row.update(overrides)
    return row


def make_alerts(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ALERT_SCHEMA)


def alerts_range(start: int, stop: int, **kwargs: Any) -> pl.DataFrame:
    """Alerts with seq ``start..stop-1``; same kwargs as :func:`alert_row`."""
    return make_alerts(*(alert_row(i, **kwargs) for i in range(start, stop)))


# -- both backends of the alert log --------------------------------------------------

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tradeassist_runner.sinks.store import AlertStore  # noqa: E402

from ..servers import postgres_server, postgres_url  # noqa: E402, F401

OpenStore = Callable[[], AlertStore]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the same (initially empty) alert log each call: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        from tradeassist_runner.sinks.sqlite import SqliteAlertLog

        yield lambda: SqliteAlertLog(tmp_path / "alerts.db")
        return
    from tradeassist_runner.sinks.postgres import PostgresAlertLog

    url = request.getfixturevalue("postgres_url")
    yield lambda: PostgresAlertLog(url)


# -- values a stored row must survive, for the property tests of the Python-built rows -----

from hypothesis import strategies as st  # noqa: E402

#: Epoch ms from year 1 to about year 14,000: past 9999 Python has no datetime.
any_epoch_ms = st.integers(min_value=-62_135_596_800_000, max_value=400_000_000_000_000)
any_float = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
