"""Response models of the HTTP API and the WebSocket messages.

They are the API's contract: FastAPI publishes them in ``/openapi.json`` and checks
every response against them, so the document a client generates code from cannot
drift from what the server sends. Times are ISO-8601 UTC with milliseconds and ``Z``,
the one spelling the CLI and the alert log use too.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, field_validator

from ..timefmt import iso_ms

UtcTime = Annotated[
    datetime,
    PlainSerializer(iso_ms, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-01-05T14:30:00.125Z"]}),
]
DeliveryStatus = Literal["pending", "sent", "failed", "skipped"]
RuleState = Literal["armed", "cooling_down", "inactive"]


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Health(Out):
    status: Literal["ok"] = "ok"


class Readiness(Out):
    ready: bool
    reasons: list[str] = Field(description="Why not ready (empty when ready)")
    warnings: list[str] = Field(
        default_factory=list, description="Worth a look but not failing readiness (e.g. one silent symbol)"
    )


class InstrumentOut(Out):
    symbol: str
    name: str | None
    type: str
    timezone: str
    last_price: float | None = Field(description="Price of the last accepted tick")
    last_tick_at: UtcTime | None = Field(description="Tick time of the last accepted tick")
    ticks: int = Field(description="Accepted ticks since the runner started")
    delayed: bool | None = Field(
        default=None, description="The live feed flags this symbol's data as delayed (null: not known)"
    )
    silent_since: UtcTime | None = Field(
        default=None, description="The live feed has had no data for this symbol since then (null: not silent)"
    )
    silent_reason: str | None = Field(default=None, description="Why the symbol counts as silent")
    contract: str | None = Field(
        default=None, description="Futures: the contract the live feed streams for this symbol (changes at a roll)"
    )
    first_price: float | None = Field(default=None, description="First accepted price since the runner started")
    change: float | None = Field(default=None, description="last_price - first_price")
    change_pct: float | None = Field(default=None, description="change in percent of |first_price| (null when it is 0)")
    sparkline: list[float] = Field(
        default_factory=list,
        description="Recent prices, oldest first: the last price of each sparkline_step_seconds of tick time",
    )
    sparkline_step_seconds: float = Field(default=1.0, description="Tick time covered by one sparkline point")


class ConditionOut(Out):
    type: str
    condition: str
    threshold: float
    series: str
    params: dict[str, Any]


class RuleOut(Out):
    id: str
    name: str | None
    description: str | None
    instrument: str
    type: str
    condition: str | None = Field(description="The condition (null for type all: see conditions)")
    threshold: float | None = Field(description="The threshold (null for type all: see conditions)")
    series: str = Field(description="The value in words, e.g. RSI(14) on 5m bars")
    params: dict[str, Any] = Field(description="The type's parameters, e.g. {period: 14}")
    conditions: list[ConditionOut] | None = Field(description="type all: every condition")
    bar: str | None = Field(description="Bar length when the rule runs on closed bars")
    for_: str | None = Field(alias="for", description="How long the condition must hold before firing")
    rearm: float | None = Field(description="Re-arm distance from the threshold")
    hours: list[str] | None
    days: list[str] | None
    calendar: str | None
    rearmed: bool | None = Field(description="With rearm: whether the rule may fire again (null without rearm)")
    holding_since: UtcTime | None = Field(
        description="With for: sample time since which the condition has held (null when it does not hold)"
    )
    cooldown: str = Field(description="e.g. 60s")
    cooldown_seconds: float
    active: bool
    severity: str
    notify: list[str] | None
    location: str = Field(description="Where the rule is defined: PATH:LINE:COLUMN")
    last_fired: UtcTime | None = Field(description="Tick time of the last fire (kept across restarts)")
    fire_count: int = Field(description="Alerts fired since the runner started")
    state: RuleState = Field(description="inactive, cooling_down (until cooling_down_until, tick time) or armed")
    cooling_down_until: UtcTime | None
    cooldown_remaining_seconds: float | None = Field(
        default=None,
        description="While cooling down: seconds of tick time left (the instrument's last tick to cooling_down_until)",
    )


class ChannelDelivery(Out):
    status: str
    attempts: int = 0
    error: str | None = None
    updated_at: str | None = None


class AlertOut(Out):
    alert_id: str
    rule_id: str
    rule_name: str | None
    symbol: str
    ts: UtcTime = Field(description="Tick time")
    price: float | None
    volume: int | None
    value: float | None
    prev_value: float | None
    threshold: float | None
    condition: str | None
    type: str | None
    severity: str | None
    message: str | None
    evaluated_at: UtcTime | None = None
    delivery_status: dict[str, ChannelDelivery] | None = Field(
        default=None, description="Per channel: pending, sent, failed or skipped (absent on alert_fired)"
    )

    @field_validator("value", "prev_value", "price", "threshold", mode="before")
    @classmethod
    def _finite(cls, v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    @field_validator("delivery_status", mode="before")
    @classmethod
    def _parse_status(cls, v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v


class AlertPage(Out):
    items: list[AlertOut]
    total: int = Field(description="Alerts matching the filter, over all pages")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


class AlertStats(Out):
    since: UtcTime | None
    until: UtcTime | None
    total: int
    by_rule: dict[str, int]
    by_symbol: dict[str, int]
    by_severity: dict[str, int]
    by_delivery_status: dict[str, int] = Field(description="(alert, channel) deliveries per status")


class SourceOut(Out):
    type: str
    connected: bool
    details: dict[str, Any] | None = Field(description="The live feed's own status (Schwab), else null")


class PlanOut(Out):
    version: str
    rules: int
    active_rules: int
    instruments: int
    rule_files: list[str]


class ReloadOut(Out):
    ok: bool
    at: UtcTime
    plan_version: str
    errors: list[str] = Field(description="Every problem as PATH:LINE:COLUMN: message")
    added: list[str]
    removed: list[str]
    changed: list[str]


class DeliveryCount(Out):
    channel: str
    status: str
    count: int


class Counters(Out):
    ticks_in: int
    ticks_rejected: int
    unknown_symbol_ticks: int
    batches: int
    alerts: int
    reloads_ok: int
    reloads_failed: int
    feed_lag_seconds: float
    deliveries: list[DeliveryCount]


class ParquetOut(Out):
    ok: bool = Field(description="False while the Parquet copy is behind SQLite or its last copy failed")
    behind: int = Field(description="Alerts in SQLite (the log of record) not yet in Parquet")
    failures: int = Field(description="Parquet copy attempts that failed since start")
    last_error: str | None
    last_error_at: UtcTime | None


class StorageOut(Out):
    parquet: ParquetOut | None


class WebSocketOut(Out):
    connections: int
    max_connections: int


class ChannelHealthOut(Out):
    """One notification channel: is it getting messages out, and what is waiting for it."""

    channel: str
    state: Literal["closed", "open", "half-open", "unavailable"] = Field(
        description="Circuit breaker: closed = sending; open = down, sends paused; half-open = one trial "
        "send out; unavailable = this machine cannot use the channel"
    )
    pending: int = Field(description="Alerts queued or being sent")
    waiting: int = Field(description="Of those, alerts whose retries ran out while the channel is down")
    sent: int = Field(description="Alerts delivered since start")
    failed: int = Field(description="Alerts given up on since start (see the alert log for why)")
    consecutive_failures: int
    circuit_opens: int = Field(description="Times the breaker opened since start")
    last_error: str | None
    last_error_at: UtcTime | None
    last_sent_at: UtcTime | None
    down_since: UtcTime | None = Field(description="When the breaker opened, while it is not closed")


class FeedHealthOut(Out):
    """Is data arriving: the connection, how far behind it is, and the symbols it lacks."""

    connected: bool
    lag_seconds: float = Field(description="Wall clock minus the newest tick time (large for a replay of old ticks)")
    delayed: list[str] = Field(description="Symbols whose data the live feed flags as delayed")
    silent: dict[str, UtcTime] = Field(description="Symbols the live feed has had no update for, and since when")
    problems: list[str] = Field(description="What the feed cannot deliver right now, in words")


class StatusOut(Out):
    version: str
    ready: bool
    not_ready: list[str]
    source: SourceOut
    plan: PlanOut | None
    started_at: UtcTime
    uptime_seconds: float
    config_valid: bool = Field(description="False while the files on disk do not validate")
    last_reload: ReloadOut | None
    counters: Counters
    storage: StorageOut
    websocket: WebSocketOut
    notifications: list[ChannelHealthOut] = Field(default_factory=list, description="Per-channel delivery health")
    feed: FeedHealthOut


class TickUpdate(Out):
    """WebSocket: the latest price of a symbol (throttled per symbol)."""

    type: Literal["tick_update"] = "tick_update"
    symbol: str
    price: float | None
    ts: UtcTime
    ticks: int = Field(description="Accepted ticks of the symbol since start")


class AlertFired(Out):
    """WebSocket: one alert, as it fires (before delivery)."""

    type: Literal["alert_fired"] = "alert_fired"
    alert: AlertOut


class HealthStatus(Out):
    """WebSocket: periodic, on connect and on every reload."""

    type: Literal["health_status"] = "health_status"
    at: UtcTime
    ready: bool
    not_ready: list[str]
    source_connected: bool
    plan_version: str | None
    rules: int
    config_valid: bool
    last_reload: ReloadOut | None
    ticks_in: int
    alerts: int
    feed_lag_seconds: float
    feed: FeedHealthOut
