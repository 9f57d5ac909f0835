"""What the Schwab feed knows about its own health, for the status line and a health API.

The feed is the only writer; readers (runner, health endpoint) only look. Gaps are
wall-clock times on purpose: they describe the connection, not the market.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Gap:
    """A time without market data: from losing the stream to being resubscribed."""

    start: datetime
    end: datetime
    reason: str

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Roll:
    """A futures root symbol (``/ES``) switched to another contract."""

    symbol: str
    old: str
    new: str
    at: datetime


@dataclass
class FeedStatus:
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    frames: int = 0
    unparsable_frames: int = 0
    repaired_frames: int = 0  # not JSON as sent, parsed after schwab-py's backslash repair
    malformed_items: int = 0
    ticks: int = 0
    last_error: str | None = None
    gap_started: datetime | None = None
    gap_reason: str = ""
    gaps: deque[Gap] = field(default_factory=lambda: deque(maxlen=100))
    subscribed: dict[str, list[str]] = field(default_factory=dict)
    skipped_symbols: dict[str, str] = field(default_factory=dict)  # symbol -> why
    token_expires: datetime | None = None
    #: service -> why Schwab refused it (e.g. code 11: this account is not entitled to it).
    refused_services: dict[str, str] = field(default_factory=dict)
    #: symbol -> its level-one data is flagged delayed by Schwab (latest frame wins).
    delayed: dict[str, bool] = field(default_factory=dict)
    delayed_ticks_refused: int = 0
    seeded: int = 0  # subscription snapshots merged, not emitted
    implausible_ticks: int = 0  # refused: trade time far from the clock
    restamped_ticks: int = 0  # changed price without a new trade time
    allow_delayed: bool = False
    #: symbol -> wall-clock time of its last level-one update.
    last_update: dict[str, datetime] = field(default_factory=dict)
    #: futures symbol -> the contract streamed for it (``/ES`` -> ``/ESH26``).
    contracts: dict[str, str] = field(default_factory=dict)
    #: Contract rolls seen (newest last).
    rolls: deque[Roll] = field(default_factory=lambda: deque(maxlen=100))
    #: symbol -> since when it has been silent (reported once per silence).
    silent: dict[str, datetime] = field(default_factory=dict)
    #: symbol -> why it counts as silent (never any data, or stopped while its market trades).
    silent_why: dict[str, str] = field(default_factory=dict)
    #: When silent symbols fail readiness: "all" (no subscribed symbol produces data) or "any".
    silent_not_ready: str = "all"

    def disconnected(self, reason: str, at: datetime | None = None) -> None:
        self.connected = False
        self.last_error = reason
        if self.gap_started is None:
            self.gap_started = at or _now()
            self.gap_reason = reason

    def resumed(self, at: datetime | None = None) -> Gap | None:
        """Mark the stream live again; returns the gap it closed, if any."""
        self.connected = True
        self.connects += 1
        if self.gap_started is None:
            return None
        gap = Gap(self.gap_started, at or _now(), self.gap_reason)
        self.gaps.append(gap)
        self.gap_started = None
        self.reconnects += 1
        return gap

    def problems(self) -> list[str]:
        """Why readiness fails, per service/symbol: what the feed cannot deliver for alerting.

        A refused service, and delayed data that is refused for alerting, always count. A
        silent symbol counts with ``silent_not_ready: any``; with ``all`` (the default)
        only when no subscribed symbol produces data at all, since one dead symbol among
        live ones leaves the rest alerting (it is a :meth:`notices` line then).
        """
        out = [f"schwab {svc} refused: {why}" for svc, why in sorted(self.refused_services.items())]
        delayed = sorted(s for s, d in self.delayed.items() if d)
        if delayed and not self.allow_delayed:
            out.append(f"schwab data is delayed for {', '.join(delayed)}: refused for alerting "
                       "(source.allow_delayed: false)")
        if self._silence_fails():
            if self.silent_not_ready == "all":
                out.append("schwab: no subscribed symbol is producing data")
            out.extend(self._silent_lines())
        return out

    def notices(self) -> list[str]:
        """Worth an operator's look but not a readiness failure (shown beside the reasons)."""
        out = []
        delayed = sorted(s for s, d in self.delayed.items() if d)
        if delayed and self.allow_delayed:
            out.append(f"schwab data is delayed for {', '.join(delayed)}: used for alerting")
        if not self._silence_fails():
            out.extend(self._silent_lines())
        return out

    def _silence_fails(self) -> bool:
        if not self.silent:
            return False
        if self.silent_not_ready == "any":
            return True
        watched = {s for symbols in self.subscribed.values() for s in symbols}
        return bool(watched) and watched <= set(self.silent)

    def _silent_lines(self) -> list[str]:
        return [
            f"schwab symbol {symbol} silent since {since.isoformat(timespec='seconds')}"
            + (f": {self.silent_why[symbol]}" if symbol in self.silent_why else "")
            for symbol, since in sorted(self.silent.items())
        ]

    @property
    def total_gap(self) -> timedelta:
        return sum((g.duration for g in self.gaps), timedelta(0))

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view for a health endpoint or metrics."""
        return {
            "connected": self.connected,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "frames": self.frames,
            "unparsable_frames": self.unparsable_frames,
            "repaired_frames": self.repaired_frames,
            "malformed_items": self.malformed_items,
            "ticks": self.ticks,
            "last_error": self.last_error,
            "in_gap_since": self.gap_started.isoformat() if self.gap_started else None,
            "gaps": [
                {"start": g.start.isoformat(), "end": g.end.isoformat(),
                 "seconds": g.duration.total_seconds(), "reason": g.reason}
                for g in self.gaps
            ],
            "subscribed": {k: sorted(v) for k, v in self.subscribed.items()},
            "skipped_symbols": dict(self.skipped_symbols),
            "token_refresh_expires": self.token_expires.isoformat() if self.token_expires else None,
            "refused_services": dict(self.refused_services),
            "delayed_symbols": sorted(s for s, d in self.delayed.items() if d),
            "delayed_ticks_refused": self.delayed_ticks_refused,
            "snapshots_seeded": self.seeded,
            "implausible_ticks": self.implausible_ticks,
            "restamped_ticks": self.restamped_ticks,
            "last_update": {s: t.isoformat() for s, t in sorted(self.last_update.items())},
            "silent_symbols": {s: t.isoformat() for s, t in sorted(self.silent.items())},
            "silent_reasons": dict(sorted(self.silent_why.items())),
            "contracts": dict(sorted(self.contracts.items())),
            "rolls": [{"symbol": r.symbol, "from": r.old, "to": r.new, "at": r.at.isoformat()} for r in self.rolls],
        }
