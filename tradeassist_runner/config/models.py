"""Validated config and rule models.

Every model forbids unknown keys: a misspelled ``cooldwn`` must be an error, not a
silently ignored field that leaves the default 60s cooldown in place.  Rule models are
derived from the rule-type registry (``rules/catalog.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from .types import Duration, no_items
from ..rules.modifiers import Timezone

InstrumentType = Literal["future", "index", "internal", "equity", "option", "forex"]
Condition = Literal["above", "below", "crosses_above", "crosses_below"]




class Strict(BaseModel):
    """Base for every file-backed model: unknown keys are errors; instances are frozen.

    Validators are built on a model's first use (``defer_build``): a load validates whole
    files (``Config``, ``RulesFile``) and builds only those, instead of one validator per
    nested model at import (some 45 models, a tenth of ``tradeassist validate``'s CPU).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Instrument(Strict):
    symbol: Annotated[str, Field(min_length=1, description="Symbol as Schwab writes it: /ES, $SPX, AAPL")]
    name: str | None = Field(default=None, description="Human-readable name")
    type: InstrumentType = Field(description="future | index | internal | equity | option | forex")
    timezone: Timezone = Field(
        default="America/New_York",
        description="IANA timezone of the exchange: trading hours, days, VWAP anchors and alert times use it",
    )


class SyntheticSource(Strict):
    """Seeded random walk for every instrument: runs with no credentials."""

    type: Literal["synthetic"]
    seed: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] = 7
    ticks_per_second: Annotated[float, Field(gt=0, le=1_000_000)] = 20.0
    volatility_bps: Annotated[float, Field(gt=0, le=10_000)] = 3.0
    duration: Duration | None = Field(default=None, description="Stop after this long; none = forever")


class ReplaySource(Strict):
    """A CSV or Parquet tick file (format: docs/semantics.md, "Ticks")."""

    type: Literal["replay"]
    path: str
    speed: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Pace at N x recorded speed; omit to replay as fast as possible"
    )


class SchwabSource(Strict):
    """Live level-one quotes from Charles Schwab (schwab-py); credentials come from the environment."""

    type: Literal["schwab"]
    token_path: str = Field(
        default="../data/schwab-token.json",
        description="Token file written by `tradeassist schwab login`; relative to this file's folder",
    )
    refresh_warning: Duration = Field(
        default=timedelta(days=2), description="Warn when the 7-day refresh token expires within this"
    )
    reconnect_initial: Duration = Field(default=timedelta(seconds=1), description="First reconnect delay")
    reconnect_max: Duration = Field(default=timedelta(seconds=60), description="Longest reconnect delay")
    heartbeat_timeout: Duration = Field(
        default=timedelta(seconds=60), description="Reconnect when the stream is silent this long"
    )
    max_login_failures: Annotated[StrictInt, Field(ge=1)] = Field(
        default=5, description="Consecutive denied logins before giving up"
    )
    on_replaced: Literal["stop", "wait"] = Field(
        default="stop",
        description="Schwab closed the stream for another client on the same account (code 12): "
        "stop with an error, or wait `replaced_wait` and connect again",
    )
    replaced_wait: Duration = Field(
        default=timedelta(minutes=10), description="With on_replaced: wait, how long before connecting again"
    )
    healthy_after: Duration = Field(
        default=timedelta(minutes=2),
        description="The reconnect delay starts over only after a stream stayed up this long",
    )
    reply_timeout: Duration = Field(
        default=timedelta(seconds=30), description="Longest wait for the streamer's reply to a login or subscribe"
    )
    allow_delayed: StrictBool = Field(
        default=False, description="Use delayed quotes for alerting (off: delayed ticks are refused and reported)"
    )
    max_clock_skew: Duration = Field(
        default=timedelta(hours=1),
        description="Refuse a trade whose time is further than this from this machine's clock",
    )
    silence_after: Duration = Field(
        default=timedelta(minutes=10),
        description="Report a subscribed symbol with no data for this long since it was subscribed, or no update "
        "for this long while other symbols of its service update (0 = never)",
    )
    silent_not_ready: Literal["all", "any"] = Field(
        default="all",
        description="When silent symbols fail /readyz: all = only when no subscribed symbol produces data "
        "(one silent symbol among live ones is a warning), any = as soon as one is silent",
    )


Feed = Annotated[Union[SyntheticSource, ReplaySource, SchwabSource], Field(discriminator="type")]


class RedisSource(Strict):
    """Sharded runners: ``tradeassist ingest`` runs ``feed`` once and publishes its ticks to
    Redis Streams, one stream per shard; ``tradeassist run --shard I/N`` consumes one.

    One config serves the ingest and every runner (one ConfigMap). The password, if any,
    comes from ``TRADEASSIST_REDIS_PASSWORD``, never from this file.
    """

    type: Literal["redis"]
    url: Annotated[str, Field(pattern=r"^(redis|rediss|unix)://")] = Field(
        default="redis://127.0.0.1:6379/0", description="Redis server (no password here: TRADEASSIST_REDIS_PASSWORD)"
    )
    shards: Annotated[StrictInt, Field(ge=1, le=4096)] = Field(
        description="Number of shards N (fixed: a symbol group's shard is a hash of the group mod N)"
    )
    feed: Feed = Field(description="What the ingest reads: a synthetic, replay or schwab source")
    stream_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$")] = Field(
        default="tradeassist", description="Streams are PREFIX:shard:I; the ingest's position is PREFIX:ingest"
    )
    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$")] = Field(
        default="runners", description="Consumer group of the runners (the ingest trims what every group committed)"
    )
    read_count: Annotated[StrictInt, Field(ge=1, le=100_000)] = Field(
        default=64, description="Stream entries a runner reads at a time"
    )
    max_stream_length: Annotated[StrictInt, Field(ge=1000)] | None = Field(
        default=None,
        description="Safety cap on entries per stream (approximate MAXLEN): a runner down longer than that "
        "loses the oldest entries; none = keep everything no group has committed",
    )
    reconnect_initial: Duration = Field(default=timedelta(milliseconds=200), description="First reconnect delay")
    reconnect_max: Duration = Field(default=timedelta(seconds=10), description="Longest reconnect delay")


Source = Annotated[Union[SyntheticSource, ReplaySource, SchwabSource, RedisSource], Field(discriminator="type")]


class BatchSettings(Strict):
    max_size: Annotated[StrictInt, Field(ge=1, le=10_000_000)] = 1000
    catch_up_size: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = Field(
        default=None,
        description="When more than max_size ticks are waiting (the engine fell behind a fast feed), a batch "
        "takes up to this many: larger batches cost less per tick, so the backlog shrinks; none = max_size",
    )
    max_delay: Duration = Field(
        default=timedelta(0),
        description="Longest a partial batch waits for more ticks; 0 = evaluate as soon as the engine is free",
    )


class StorageSettings(Strict):
    sqlite: str = Field(default="../data/alerts.sqlite", description="Relative to the config file")
    parquet_dir: str = Field(default="../data/alerts", description="Relative to the config file")
    state: str | None = Field(
        default=None,
        description="Engine-state snapshots, relative to the config file; default beside the alert log "
        "(alerts.sqlite -> alerts.state.sqlite), so each alert log has its own",
    )
    snapshot_interval: Duration = Field(
        default=timedelta(seconds=5), description="How often engine state is snapshotted (and at shutdown)"
    )
    parquet_roll: Duration = Field(
        default=timedelta(minutes=1),
        description="How often new alerts are copied to Parquet as a new part file (and at shutdown); "
        "0 = after every batch. Finished days are compacted to one file",
    )
    url: str | None = Field(
        default=None,
        description="PostgreSQL instead of SQLite for the alert log, outbox and engine state: "
        "postgresql://USER@HOST:PORT/DB (needs the [postgres] extra). Keep the password out of the file: "
        "PGPASSWORD, ~/.pgpass, ${ENV_VAR} in the URL, or TRADEASSIST_STORAGE_URL. storage.sqlite and "
        "storage.state are then unused; the Parquet copy stays local in parquet_dir",
    )
    scope: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/-]+$")] = Field(
        default="default",
        description="With storage.url: this runner's name among runners sharing the database (one per shard); "
        "its engine state and pending deliveries are kept under it",
    )

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a PostgreSQL URL: postgresql://USER@HOST:PORT/DATABASE")
        return v


class WebSocketSettings(Strict):
    """The ``/ws/realtime`` stream: bounded so that slow or many clients never slow evaluation."""

    max_connections: Annotated[StrictInt, Field(ge=1)] = Field(
        default=20, description="Connections beyond this are closed with code 1013 (try again later)"
    )
    queue_size: Annotated[StrictInt, Field(ge=10)] = Field(
        default=1000, description="Messages buffered per connection; the oldest tick_update goes first when full"
    )
    tick_interval: Duration = Field(
        default=timedelta(milliseconds=250),
        description="At most one tick_update per symbol per this interval (the latest price wins); 0s = every batch",
    )
    health_interval: Duration = Field(
        default=timedelta(seconds=5), description="How often a health_status message is sent (and on every reload)"
    )

    @field_validator("health_interval")
    @classmethod
    def _health_positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("health_interval must be greater than 0")
        return v

    @field_validator("tick_interval")
    @classmethod
    def _tick_not_negative(cls, v: timedelta) -> timedelta:
        if v < timedelta(0):
            raise ValueError("tick_interval must not be negative")
        return v


class ApiSettings(Strict):
    """HTTP API, Prometheus metrics and WebSocket (the ``[server]`` extra), in the runner's process.

    Off unless enabled, so a config without ``api:`` opens no port (tests, several runners on
    one machine); the shipped config enables it. The token is a secret: environment only
    (``TRADEASSIST_API_TOKEN``).
    """

    enabled: StrictBool = Field(default=False, description="Serve the API (needs pip install '.[server]')")
    host: Annotated[str, Field(min_length=1)] = Field(
        default="127.0.0.1", description="Interface to bind; 0.0.0.0 only inside a container or behind a proxy"
    )
    port: Annotated[StrictInt, Field(ge=0, le=65535)] = Field(
        default=8080, description="TCP port; 0 = any free port (the log line 'api listening' shows which)"
    )
    websocket: WebSocketSettings = Field(default_factory=WebSocketSettings)
    allow_unauthenticated: StrictBool = Field(
        default=False,
        description="Serve a non-loopback host without TRADEASSIST_API_TOKEN (a proxy does the auth); "
        "otherwise the runner refuses to start",
    )


from .notify_models import Notifications  # noqa: E402


class Config(Strict):
    instruments: list[Instrument] = Field(default_factory=no_items)
    rules_dir: str = Field(default="rules.d", description="Relative to this file's folder")
    source: Source = Field(default_factory=lambda: SyntheticSource(type="synthetic"))
    batch: BatchSettings = Field(default_factory=BatchSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    notifications: Notifications = Field(
        default_factory=Notifications, description="Channels, routes, templates and delivery (see README)"
    )
    api: ApiSettings = Field(
        default_factory=ApiSettings, description="HTTP API, /metrics and /ws/realtime (see README); restart to apply"
    )
