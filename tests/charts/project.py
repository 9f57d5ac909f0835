"""A small project whose rules cover what a chart draws: a tick price and bars, an RSI panel
with re-arm, a `for` run, a spread against a second symbol, a conjunction, cooldowns."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from tradeassist_runner.config.models import Instrument, SyntheticSource
from tradeassist_runner.sources.synthetic import SyntheticFeed

INSTRUMENTS = [{"symbol": "/ES", "type": "future"}, {"symbol": "$SPX", "type": "index"}]

RULES = [
    {"id": "es.level", "instrument": "/ES", "type": "threshold", "condition": "crosses_above", "threshold": 6001,
     "cooldown": "30s"},
    {"id": "es.rsi", "instrument": "/ES", "type": "rsi", "period": 14, "condition": "crosses_above",
     "threshold": 60, "rearm": 5, "cooldown": "10s"},
    {"id": "es.bar.ma", "instrument": "/ES", "type": "moving_average", "bar": "1m", "period": 3,
     "condition": "above", "threshold": 0, "cooldown": "2m"},
    {"id": "es.held", "instrument": "/ES", "type": "threshold", "condition": "above", "threshold": 6000,
     "for": "5s", "cooldown": "1m"},
    {"id": "es.basis", "instrument": "/ES", "type": "spread", "other": "$SPX", "condition": "crosses_above",
     "threshold": 3, "cooldown": "20s"},
    {"id": "es.both", "instrument": "/ES", "type": "all", "cooldown": "30s", "conditions": [
        {"type": "rsi", "period": 14, "condition": "below", "threshold": 45},
        {"type": "bollinger", "period": 20, "condition": "below", "threshold": -1},
    ]},
    {"id": "spx.level", "instrument": "$SPX", "type": "threshold", "condition": "crosses_below",
     "threshold": 5999, "cooldown": "30s"},
]


def write_project(root: Path, n_ticks: int = 3000, rules: list[dict[str, object]] | None = None,
                  folder: str = "rules.d") -> tuple[Path, Path]:
    """(config, tick file): seeded, so every run sees the same ticks and alerts."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    config = root / ("config.yaml" if folder == "rules.d" else f"{folder}.yaml")
    config.write_text(json.dumps({"instruments": INSTRUMENTS, "rules_dir": folder}))
    (root / folder / "rules.yaml").write_text(json.dumps({"rules": rules if rules is not None else RULES}))
    ticks = root / "ticks.parquet"
    if not ticks.exists():
        feed = SyntheticFeed(
            [Instrument(symbol=i["symbol"], type=i["type"]) for i in INSTRUMENTS],  # type: ignore[arg-type]
            SyntheticSource(type="synthetic", seed=5, ticks_per_second=5, volatility_bps=2),
            start=datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc),
        )
        feed.generate(n_ticks).write_parquet(ticks)
    return config, ticks
