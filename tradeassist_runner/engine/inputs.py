"""What a fired alert's decision used, recorded next to it (the ``inputs`` column).

A reviewer asking "why did this fire?" needs more than the value: the reference
price (and its time) a rate of change was measured against, the volumes a spike was
averaged over, the cooldown and the previous fire it was measured from. The engine
has all of that in hand for exactly one batch, so it is captured here, only for the
ticks that fired (few), and ``tradeassist explain`` later re-runs the value
computation from it. Nothing here changes which alerts fire.

JSON keys: ``cooldown_ms``, ``last_fire_ts`` (ISO ms or null) for every type, plus
``window_ms``, ``ref_ts``, ``ref_price`` (rate_of_change) or ``period``, ``volumes``
(volume_spike, oldest first).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl

from ..config.models import RateOfChangeRule, VolumeSpikeRule
from ..rules.rate_of_change import PriceSeries
from ..rules.registry import RULE_TYPES
from ..rules.volume_spike import VolumeSeries
from ..timefmt import iso_ms, iso_ms_expr
from .plan import Plan

INPUTS = "inputs"
#: Up to this many alerts, build the column a row at a time (about 40 us an alert) rather
#: than column-wise (a fixed ~5 ms of polars steps): live micro-batches fire a few.
#: Both builds must give the same text; tests/engine/test_inputs.py holds them to it.
ROW_BY_ROW_MAX = 100


def decision_inputs(
    plan: Plan, history: dict[str, pl.DataFrame], batch: pl.DataFrame, fired: pl.DataFrame
) -> pl.DataFrame:
    """``fired`` plus a JSON ``inputs`` column; ``history`` is the state *before* this batch.

    Built column-wise (one polars pass per part), because a batch can fire hundreds of
    thousands of alerts and a Python loop per alert would cost more than evaluating them.
    """
    if fired.height == 0:
        return fired.with_columns(pl.lit(None, pl.String).alias(INPUTS))
    if fired.height <= ROW_BY_ROW_MAX:
        return _row_by_row(plan, history, batch, fired)
    # fired is sorted by (rule_index, seq): the previous fire of a rule is the row above
    # it, or the one carried from earlier batches.
    rows = fired.with_row_index("_row").with_columns(
        pl.col("ts_ms").shift(1).over("state_key").fill_null(pl.col("last_fire_ms")).alias("_last_fire")
    ).join(plan.meta.select("rule_index", "symbol", "type", "param"), on="rule_index",
           how="left", maintain_order="left")
    last_fire = pl.col("_last_fire").cast(pl.Datetime("ms", "UTC"))
    head = pl.concat_str(
        pl.lit('{"cooldown_ms":'), pl.col("cooldown_ms").cast(pl.String), pl.lit(',"last_fire_ts":'),
        pl.when(pl.col("_last_fire").is_null()).then(pl.lit("null"))
        .otherwise(pl.lit('"') + iso_ms_expr(last_fire) + pl.lit('"')),
    )
    tails = [pl.lit("")]
    roc = rows.filter(pl.col("type") == "rate_of_change")
    vol = rows.filter(pl.col("type") == "volume_spike")
    extra: list[pl.DataFrame] = []
    if roc.height:
        extra.append(_roc_tails(plan, roc, history, batch))
    if vol.height:
        extra.append(_volume_tails(plan, vol, history, batch))
    if extra:
        tails_df = pl.concat(extra)
        rows = rows.join(tails_df, on="_row", how="left", maintain_order="left")
        tails = [pl.col("_tail").fill_null("")]
    out = rows.select(pl.concat_str(head, *tails, pl.lit("}")).alias(INPUTS))
    return fired.with_columns(out[INPUTS])


def _json_floats(values: pl.Series) -> pl.Series:
    """Python's ``repr`` of each float (what ``json.dumps`` writes), for the distinct values only."""
    distinct = values.drop_nulls().unique()
    spelled = {v: repr(float(v)) for v in distinct.to_list()}
    return values.replace_strict(spelled, default=None, return_dtype=pl.String) if spelled else (
        pl.Series(values.name, [None] * len(values), dtype=pl.String))


def _symbol_codes(plan: Plan, rows: pl.DataFrame) -> tuple[dict[str, int], dict[int, str]]:
    """Plan symbol codes: all of them by symbol, and code -> symbol for those ``rows`` name."""
    codes = {s: i for i, s in enumerate(plan.symbol_list)}
    return codes, {codes[s]: s for s in rows["symbol"].unique().to_list()}


def _roc_tails(
    plan: Plan, roc: pl.DataFrame, history: dict[str, pl.DataFrame], batch: pl.DataFrame
) -> pl.DataFrame:
    """``window_ms``, ``ref_ts``, ``ref_price``: the same look-up the engine's value used."""
    codes, names = _symbol_codes(plan, roc)
    series = PriceSeries.build(history.get("rate_of_change"), batch, names)
    sym = roc["symbol"].replace_strict(codes, return_dtype=pl.Int64).to_numpy()
    ref_ts, ref, found = series.lookup(sym, (roc["ts_ms"] - roc["param"]).to_numpy())
    found_s = pl.Series(found)
    tail = pl.DataFrame(
        {
            "_row": roc["_row"],
            "param": roc["param"],
            "ref_ts": pl.Series(ref_ts, dtype=pl.Int64).set(~found_s, None),
            "_ref": _json_floats(pl.Series(ref, dtype=pl.Float64, nan_to_null=True)),
        }
    )
    ref_time = pl.col("ref_ts").cast(pl.Datetime("ms", "UTC"))
    return tail.select(
        "_row",
        pl.concat_str(
            pl.lit(',"window_ms":'), pl.col("param").cast(pl.String), pl.lit(',"ref_ts":'),
            pl.when(pl.col("ref_ts").is_null()).then(pl.lit("null"))
            .otherwise(pl.lit('"') + iso_ms_expr(ref_time) + pl.lit('"')),
            pl.lit(',"ref_price":'), pl.col("_ref").fill_null("null"),
        ).alias("_tail"),
    )


def _volume_tails(
    plan: Plan, vol: pl.DataFrame, history: dict[str, pl.DataFrame], batch: pl.DataFrame
) -> pl.DataFrame:
    """``period``, ``volumes``: the last ``period`` non-null volumes that arrived before the tick."""
    _, names = _symbol_codes(plan, vol)
    series = VolumeSeries.build(history.get("volume_spike"), batch, names)
    batch_row = np.searchsorted(batch["seq"].to_numpy(), vol["seq"].to_numpy())  # seq has gaps
    owner, volumes = series.before(batch_row, vol["param"].to_numpy())
    joined = (
        pl.DataFrame({"_i": owner, "v": volumes}, schema={"_i": pl.Int64, "v": pl.Int64})
        .group_by("_i", maintain_order=True)
        .agg(pl.col("v").cast(pl.String).str.join(","))
    )
    listed = (
        pl.DataFrame({"_i": np.arange(vol.height, dtype=np.int64)})
        .join(joined, on="_i", how="left", maintain_order="left")["v"]
    )
    return pl.DataFrame({"_row": vol["_row"], "param": vol["param"], "v": listed}).select(
        "_row",
        pl.concat_str(
            pl.lit(',"period":'), pl.col("param").cast(pl.String), pl.lit(',"volumes":['),
            pl.col("v").fill_null(""), pl.lit("]"),
        ).alias("_tail"),
    )


def _row_by_row(
    plan: Plan, history: dict[str, pl.DataFrame], batch: pl.DataFrame, fired: pl.DataFrame
) -> pl.DataFrame:
    """The same column, one alert at a time: cheaper than the column-wise build for a few alerts.

    Look-ups are the rule types' own (numpy) series, vectorized over the alerts; only
    the JSON text is written per alert, by ``json.dumps``.
    """
    n = fired.height
    rule_index = fired["rule_index"].to_numpy()
    ts_ms = fired["ts_ms"].to_numpy()
    # fired is sorted by (rule_index, seq): the previous fire of a rule is the row above
    # it, or the one carried from earlier batches.
    carried = fired["last_fire_ms"].to_list()
    same = np.concatenate(([False], rule_index[1:] == rule_index[:-1]))
    rules = [plan.rules[i].rule for i in rule_index.tolist()]
    codes = {sym: i for i, sym in enumerate(plan.symbol_list)}
    sym = np.array([codes[r.instrument] for r in rules], dtype=np.int64)
    param = np.array([RULE_TYPES[r.type].param(r) for r in rules], dtype=np.int64)
    is_roc = np.array([isinstance(r, RateOfChangeRule) for r in rules], dtype=np.bool_)
    is_vol = np.array([isinstance(r, VolumeSpikeRule) for r in rules], dtype=np.bool_)
    ref_ts: list[int] = []
    ref_px: list[float] = []
    found: list[bool] = []
    if is_roc.any():
        names = {int(c): plan.symbol_list[int(c)] for c in np.unique(sym[is_roc])}
        series = PriceSeries.build(history.get("rate_of_change"), batch, names)
        t, px, ok = series.lookup(sym[is_roc], ts_ms[is_roc] - param[is_roc])
        ref_ts, ref_px, found = t.tolist(), px.tolist(), ok.tolist()
    volumes: list[list[int]] = [[] for _ in range(n)]
    if is_vol.any():
        names = {int(c): plan.symbol_list[int(c)] for c in np.unique(sym[is_vol])}
        vseries = VolumeSeries.build(history.get("volume_spike"), batch, names)
        rows = np.flatnonzero(is_vol)
        batch_row = np.searchsorted(batch["seq"].to_numpy(), fired["seq"].to_numpy()[rows])
        owner, vols = vseries.before(batch_row, param[rows])
        for o, v in zip(owner.tolist(), vols.tolist()):
            volumes[rows[o]].append(v)
    out: list[str] = []
    k = 0
    cooldown = fired["cooldown_ms"].to_list()
    ts_list = ts_ms.tolist()
    for i in range(n):
        last_fire = ts_list[i - 1] if same[i] else carried[i]
        record: dict[str, Any] = {
            "cooldown_ms": cooldown[i],
            "last_fire_ts": None if last_fire is None else iso_ms(int(last_fire)),
        }
        if is_roc[i]:
            record.update(window_ms=int(param[i]), ref_ts=iso_ms(ref_ts[k]) if found[k] else None,
                          ref_price=ref_px[k] if found[k] else None)
            k += 1
        elif is_vol[i]:
            record.update(period=int(param[i]), volumes=volumes[i])
        out.append(json.dumps(record, separators=(",", ":")))
    return fired.with_columns(pl.Series(INPUTS, out, dtype=pl.String))


