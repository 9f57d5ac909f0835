"""Templates: checked at load time, rendered with the exchange's local time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tradeassist_runner.rules.catalog import RULE_MODELS
from tradeassist_runner.config.models import Instrument
from tradeassist_runner.config.notify_models import TemplatePair, Templates
from tradeassist_runner.notify.policy import RateLimiter, backoff
from tradeassist_runner.notify.templates import Renderer, alert_fields, check_template

from .clock import ManualClock

RateOfChangeRule = RULE_MODELS["rate_of_change"]

ROW = {
    "alert_id": "nq@1#0", "rule_id": "nq.drop", "rule_name": None, "symbol": "/NQ",
    "ts": datetime(2026, 7, 1, 13, 30, 0, 250000, tzinfo=timezone.utc), "price": 19800.0, "volume": None,
    "value": -1.0, "prev_value": None, "threshold": -0.5, "condition": "below", "type": "rate_of_change",
    "severity": "critical", "message": "/NQ moved -1% over 5m",
}  # fmt: skip
NQ = Instrument(symbol="/NQ", name="E-mini Nasdaq", type="future", timezone="America/Chicago")
RULE = RateOfChangeRule.model_validate(
    {"id": "nq.drop", "instrument": "/NQ", "type": "rate_of_change", "condition": "below", "threshold": -0.5,
     "window": "5m"}
)


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{symbol} {price:.2f}", None),
        ("{{literal}} {symbol}", None),
        ("{sybmol}", "unknown placeholder {sybmol} (did you mean 'symbol'?)"),
        ("{symbol.upper}", "attribute and index access are not supported"),
        ("{}", "every placeholder needs a name"),
        ("{symbol", "invalid template"),
        ("{price:q}", "invalid template: Unknown format code 'q'"),
    ],
)
def test_check_template(template: str, error: str | None) -> None:
    found = check_template(template)
    assert (found is None) if error is None else (found is not None and error in found), found


def test_fields_show_exchange_time_and_type_details() -> None:
    f = alert_fields(ROW, NQ, RULE)
    assert f["time_local"] == "2026-07-01 08:30:00.250 CDT"
    assert f["time_utc"] == "2026-07-01 13:30:00.250 UTC"
    assert (f["name"], f["instrument"], f["window"], f["volume"]) == ("nq.drop", "E-mini Nasdaq", "5m", "")


def test_per_type_templates_win_over_the_default_ones() -> None:
    renderer = Renderer(
        Templates(title="{symbol}", by_type={"rate_of_change": TemplatePair(title="{symbol} {value:+.1f}%")})
    )
    rendered = renderer.render(alert_fields(ROW, NQ, RULE))
    assert rendered.title == "/NQ -1.0%"
    assert rendered.body.startswith("/NQ moved -1% over 5m\nE-mini Nasdaq (/NQ), 5m change %, at")


def test_a_value_of_an_unexpected_type_still_renders() -> None:
    renderer = Renderer(Templates(body="{volume:d} contracts"))
    assert renderer.render(alert_fields(ROW, NQ, RULE)).body == " contracts"


def test_rate_limiter_and_backoff() -> None:
    clock = ManualClock()
    limiter = RateLimiter(2, 60, clock=clock)
    limiter.take()
    limiter.take()
    assert limiter.remaining() == 0
    clock.t = 60.5
    assert limiter.remaining() == 2
    delays = [backoff(n, 1.0, 10.0, rng=lambda: 1.0) for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff(3, 1.0, 10.0, rng=lambda: 0.0) == 2.0  # jitter: half to all of the step
    assert timedelta(seconds=delays[-1]) <= timedelta(seconds=10)
