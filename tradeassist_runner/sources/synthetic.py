"""The built-in synthetic feed: plausible ticks for every instrument, with no credentials.

It exists so that a new user can ``tradeassist run`` a config before wiring up Schwab,
and so that benchmarks and tests have an endless, reproducible tick source. Prices are
a seeded random walk (log space, so they stay positive) starting near real levels;
market internals ($TICK, $ADD, $TRIN) mean-revert instead, as they do in reality.
Same seed and same calls -> same prices and volumes; only the clock start differs.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import numpy as np
import polars as pl

from ..config.models import Instrument, SyntheticSource
from ..timefmt import to_epoch_ms
from .ticks import TICK_SCHEMA, empty_ticks

Kind = Literal["walk", "revert", "log_revert"]

# Mean reversion per tick: x <- (1 - _REVERSION) * x + noise.
_REVERSION = 0.02
_SPIKE_SHARE = 0.02
_SPIKE_RANGE = (5, 11)  # multiplier, upper bound exclusive
_JITTER = 0.5  # tick gaps are uniform in [1 - j, 1 + j] x the mean gap
#: The live stream generates ticks this many seconds ahead, per block.
BLOCK_S = 0.1
BLOCK_MIN = 256
#: The live stream's shortest sleep between hand-overs (seconds).
MIN_WAIT = 0.001


@dataclass(frozen=True)
class _Profile:
    """How one symbol moves: start level, tick size, walk or mean-revert, volume size."""

    start: float
    tick: float
    kind: Kind = "walk"
    spread_sd: float = 0.0  # stationary sd of mean-reverting series (level, or log level)
    volume_mean: float | None = 5.0  # None: the symbol has no traded volume


_PROFILES: dict[str, _Profile] = {
    "/ES": _Profile(6000.0, 0.25, volume_mean=6.0),
    "/NQ": _Profile(21000.0, 0.25, volume_mean=4.0),
    "/YM": _Profile(44000.0, 1.0, volume_mean=2.0),
    "/CL": _Profile(70.0, 0.01, volume_mean=5.0),
    "/GC": _Profile(2650.0, 0.1, volume_mean=3.0),
    "$SPX": _Profile(6000.0, 0.01, volume_mean=100.0),
    "$NDX": _Profile(21000.0, 0.01, volume_mean=100.0),
    "$RUT": _Profile(2300.0, 0.01, volume_mean=100.0),
    "$VIX": _Profile(16.0, 0.01, volume_mean=None),
    "$TRIN": _Profile(1.0, 0.01, "log_revert", spread_sd=0.25, volume_mean=None),
    "$TICK": _Profile(0.0, 1.0, "revert", spread_sd=300.0, volume_mean=None),
    "$ADD": _Profile(0.0, 1.0, "revert", spread_sd=600.0, volume_mean=None),
}
_VOLUME_BY_TYPE: dict[str, float | None] = {
    "future": 5.0, "index": 100.0, "internal": None, "equity": 100.0, "option": 10.0, "forex": 1000.0,
}


def profile_for(symbol: str, instrument_type: str | None = None) -> _Profile:
    """Known symbols get real levels; anything else starts at 100 with a cent tick."""
    if symbol in _PROFILES:
        return _PROFILES[symbol]
    volume = _VOLUME_BY_TYPE.get(instrument_type or "equity", 100.0)
    return _Profile(100.0, 0.01, volume_mean=volume)


def _decimals(tick: float) -> int:
    exponent = Decimal(str(tick)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


class SyntheticFeed:
    """Seeded random-walk ticks for the configured instruments, on a simulated clock.

    The clock starts at the wall clock (or ``start``) on first use and advances by a
    jittered ``1 / (ticks_per_second * instruments)`` per tick, so each symbol gets
    about ``ticks_per_second`` and its ``ts`` never decreases.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument | str],
        source: SyntheticSource | None = None,
        *,
        start: datetime | None = None,
    ) -> None:
        self._source = source if source is not None else SyntheticSource(type="synthetic")
        symbols: list[str] = []
        profiles: list[_Profile] = []
        for item in instruments:
            symbol, kind = (item, None) if isinstance(item, str) else (item.symbol, item.type)
            if symbol in symbols:
                continue
            symbols.append(symbol)
            profiles.append(profile_for(symbol, kind))
        self.symbols: tuple[str, ...] = tuple(symbols)
        self._profiles = profiles
        self._rng = np.random.default_rng(self._source.seed)
        self._sigma = self._source.volatility_bps / 10_000.0
        # State: log price for walks, level / log level for mean-reverting series.
        self._state = np.array(
            [math.log(p.start) if p.kind in ("walk", "log_revert") else p.start for p in profiles],
            dtype=np.float64,
        )
        self._means = self._state.copy()
        self._clock_ms: float | None = float(to_epoch_ms(start)) if start is not None else None

    @property
    def ticks_per_ms(self) -> float:
        """All instruments together, per millisecond of simulated time."""
        return len(self.symbols) * self._source.ticks_per_second / 1000.0

    def _clock(self) -> float:
        if self._clock_ms is None:
            self._clock_ms = float(time.time_ns() // 1_000_000)
        return self._clock_ms

    def generate(self, n_ticks: int) -> pl.DataFrame:
        """The next ``n_ticks`` ticks (all instruments, round-robin in shuffled order).

        Vectorized: a million ticks take well under a second.
        """
        k = len(self.symbols)
        if n_ticks <= 0 or k == 0:
            return empty_ticks()
        rng = self._rng
        rounds = -(-n_ticks // k)
        order = np.argsort(rng.random((rounds, k)), axis=1).ravel()[:n_ticks]

        gaps = rng.uniform(1.0 - _JITTER, 1.0 + _JITTER, n_ticks) / self.ticks_per_ms
        t = self._clock() + np.cumsum(gaps)
        self._clock_ms = float(t[-1])
        ts = np.floor(t).astype(np.int64)

        shocks = rng.standard_normal(n_ticks)
        price = np.empty(n_ticks, dtype=np.float64)
        half_spread = np.full(n_ticks, np.nan)
        has_volume = np.zeros(n_ticks, dtype=bool)
        volume_mean = np.ones(n_ticks, dtype=np.float64)
        by_symbol = np.argsort(order, kind="stable")
        bounds = np.searchsorted(order[by_symbol], np.arange(k + 1))
        for j, prof in enumerate(self._profiles):
            idx = by_symbol[bounds[j] : bounds[j + 1]]
            if idx.size == 0:
                continue
            path = self._advance(j, prof, shocks[idx])
            level = np.exp(path) if prof.kind in ("walk", "log_revert") else path
            price[idx] = np.round(np.round(level / prof.tick) * prof.tick, _decimals(prof.tick))
            if prof.volume_mean is not None:
                has_volume[idx] = True
                volume_mean[idx] = prof.volume_mean
                half_spread[idx] = prof.tick

        volume = rng.geometric(1.0 / np.maximum(volume_mean, 1.0)).astype(np.int64)
        spikes = rng.random(n_ticks) < _SPIKE_SHARE
        volume[spikes] *= rng.integers(*_SPIKE_RANGE, size=int(spikes.sum()))
        spread_ticks = rng.integers(1, 3, n_ticks)
        bid_size = rng.geometric(0.1, n_ticks).astype(np.int64)
        ask_size = rng.geometric(0.1, n_ticks).astype(np.int64)

        quoted = pl.col("_quoted")
        frame = pl.DataFrame(
            {
                "ts": ts,
                "symbol": pl.Series(self.symbols, dtype=pl.String).gather(order),
                "price": price,
                "volume": volume,
                "_half": half_spread * spread_ticks / 2.0,
                "bid_size": bid_size,
                "ask_size": ask_size,
                "_quoted": has_volume,
            }
        )
        return frame.select(
            pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
            "symbol",
            "price",
            pl.when(quoted).then(pl.col("volume")).alias("volume"),
            pl.when(quoted).then(pl.col("price") - pl.col("_half")).alias("bid"),
            pl.when(quoted).then(pl.col("price") + pl.col("_half")).alias("ask"),
            pl.when(quoted).then(pl.col("bid_size")).alias("bid_size"),
            pl.when(quoted).then(pl.col("ask_size")).alias("ask_size"),
        ).cast(TICK_SCHEMA)  # type: ignore[arg-type]

    def _advance(self, j: int, prof: _Profile, shocks: np.ndarray) -> np.ndarray:
        """Move symbol ``j`` through ``len(shocks)`` steps; returns the path, keeps the end."""
        start = self._state[j]
        if prof.kind == "walk":
            path: np.ndarray = start + np.cumsum(shocks * self._sigma)
        else:
            mean = self._means[j]
            start -= mean  # revert around the start level
            # AR(1) x_t = a x_(t-1) + e_t, run by polars' EWM (adjust=False computes
            # y_t = a y_(t-1) + (1 - a) u_t): feed u = e / (1 - a), and fold the carried
            # state into the first input so the series continues across calls.
            a = 1.0 - _REVERSION
            noise = shocks * prof.spread_sd * math.sqrt(1.0 - a * a)
            u = noise / _REVERSION
            u[0] = a * start + noise[0]
            path = pl.Series(u).ewm_mean(alpha=_REVERSION, adjust=False).to_numpy() + mean
        self._state[j] = path[-1]
        return path

    async def stream(self, batch_interval: float | None = None) -> AsyncIterator[pl.DataFrame]:
        """Ticks in real time, each handed over once the wall clock reaches its ``ts``.

        Like a live feed, the stream never holds a tick to fill a batch: when asked, it
        gives every tick that is due; when none is, it sleeps until the next one is (at
        least :data:`MIN_WAIT` s, so a very fast feed wakes the loop about a thousand times
        a second, handing over what came due meanwhile). Ticks are generated ahead in
        blocks of about :data:`BLOCK_S` s in a worker thread and handed over in slices.
        The pace follows the wall clock, so jitter and slow consumers self-correct
        instead of drifting.

        With ``batch_interval`` the hand-over is paced instead: every ``batch_interval`` s,
        the ticks the clock has reached. Stops after the source's ``duration`` of
        simulated (= wall) time, if one is set.
        """
        loop = asyncio.get_running_loop()
        anchor_ms = self._clock()
        anchor_at = loop.time()
        duration = self._source.duration
        end_ms = anchor_ms + duration.total_seconds() * 1000.0 if duration is not None else None
        rate = self.ticks_per_ms
        if rate <= 0:
            return
        if batch_interval is not None:
            async for frame in self._paced(batch_interval, anchor_ms, anchor_at, end_ms):
                yield frame
            return
        block_n = max(BLOCK_MIN, int(rate * BLOCK_S * 1000.0))
        ahead = await asyncio.to_thread(self.generate, block_n)
        due = ahead["ts"].dt.epoch("ms").to_numpy()
        pos = 0
        upcoming: asyncio.Future[pl.DataFrame] | None = None
        try:
            while True:
                now_ms = anchor_ms + (loop.time() - anchor_at) * 1000.0
                if end_ms is not None:
                    now_ms = min(now_ms, end_ms)
                parts: list[pl.DataFrame] = []
                while True:  # everything due, across blocks (a slow reader catches up at once)
                    reached = int(np.searchsorted(due, now_ms, side="right"))
                    if reached > pos:
                        parts.append(ahead.slice(pos, reached - pos))
                        pos = reached
                    if pos < ahead.height:
                        break
                    nxt = upcoming if upcoming is not None else asyncio.ensure_future(
                        asyncio.to_thread(self.generate, block_n)
                    )
                    upcoming = None
                    ahead = await nxt
                    due = ahead["ts"].dt.epoch("ms").to_numpy()
                    pos = 0
                if parts:
                    yield parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
                    continue
                if end_ms is not None and due[pos] > end_ms:
                    return
                if upcoming is None and ahead.height - pos < block_n // 2 + 1:
                    upcoming = asyncio.ensure_future(asyncio.to_thread(self.generate, block_n))
                await asyncio.sleep(max(MIN_WAIT, (float(due[pos]) - now_ms) / 1000.0))
        finally:
            if upcoming is not None:
                upcoming.cancel()

    async def _paced(
        self, batch_interval: float, anchor_ms: float, anchor_at: float, end_ms: float | None
    ) -> AsyncIterator[pl.DataFrame]:
        loop = asyncio.get_running_loop()
        rate = self.ticks_per_ms
        while True:
            await asyncio.sleep(batch_interval)
            target = anchor_ms + (loop.time() - anchor_at) * 1000.0
            if end_ms is not None:
                target = min(target, end_ms)
            n = int((target - self._clock()) * rate)
            if n > 0:
                frame = await asyncio.to_thread(self.generate, n)
                if end_ms is not None:
                    frame = frame.filter(pl.col("ts").dt.epoch("ms") <= int(end_ms))
                if frame.height:
                    yield frame
            if end_ms is not None and target >= end_ms:
                return
