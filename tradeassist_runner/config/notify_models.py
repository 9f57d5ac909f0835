"""Config models of the ``notifications:`` section: channels, routes, templates, delivery.

Kept apart from :mod:`.models` so the notification design can grow without touching the
shared rule/source models; :class:`~.models.Config` holds one ``notifications`` field.
Only the shape is checked here. What needs the outside world - ``${ENV}`` variables,
apprise URL syntax, channel names used by rules, template placeholders - is checked by
:mod:`tradeassist_runner.notify.validate`, which reports every problem located in the file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from .types import Duration, Severity, no_entries, no_items

CHANNEL_NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
RuleTypeName = Literal["threshold", "rate_of_change", "volume_spike"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # as models.Strict


def _listify(value: object) -> object:
    """``urls: json://host`` (one URL) means the same as a one-item list."""
    return [value] if isinstance(value, str) else value


class RateLimit(_Strict):
    """At most ``max`` messages per ``per``; alerts beyond it are grouped into one digest."""

    max: Annotated[StrictInt, Field(ge=1)] = Field(default=10, description="Messages per window")
    per: Duration = Field(default=timedelta(seconds=60), description="The window, e.g. 60s")


class RetryPolicy(_Strict):
    """Exponential backoff with jitter: initial, 2x initial, 4x ... capped at ``max_delay``."""

    attempts: Annotated[StrictInt, Field(ge=1, le=100)] = Field(
        default=4, description="Tries per message, the first included"
    )
    initial_delay: Duration = Field(default=timedelta(seconds=1), description="Wait before the 2nd try")
    max_delay: Duration = Field(default=timedelta(seconds=60), description="Longest wait between tries")
    timeout: Duration = Field(default=timedelta(seconds=15), description="Per try")


class CircuitBreakerPolicy(_Strict):
    """After ``failures`` failed tries in a row a channel rests ``reset`` before one trial try."""

    failures: Annotated[StrictInt, Field(ge=1)] = 5
    reset: Duration = timedelta(seconds=60)


class Channel(_Strict):
    """A named destination: one or more apprise URLs and/or an apprise config file."""

    urls: Annotated[
        list[str],
        BeforeValidator(_listify),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
    ] = Field(
        default_factory=no_items,
        description="Apprise URLs; write secrets as ${ENV_VAR}, e.g. ${SLACK_WEBHOOK_URL}",
    )
    config: str | None = Field(
        default=None, description="An apprise config file (YAML or TEXT), relative to this file's folder"
    )
    tags: list[str] = Field(
        default_factory=no_items, description="Extra names a rule's notify: or a route may use to pick this channel"
    )
    optional: StrictBool = Field(
        default=False,
        description="On a machine where it cannot work (no desktop session, no audio), record 'skipped' "
        "instead of 'failed'",
    )
    rate_limit: RateLimit | None = Field(default=None, description="Overrides delivery.rate_limit")
    concurrency: Annotated[StrictInt, Field(ge=1, le=64)] | None = Field(
        default=None, description="Overrides delivery.concurrency"
    )

    @model_validator(mode="after")
    def _has_destination(self) -> Channel:
        if not self.urls and self.config is None:
            raise ValueError("a channel needs 'urls:' (apprise URLs) or 'config:' (an apprise config file)")
        return self


class TemplatePair(_Strict):
    title: str | None = Field(default=None, description="Title template, e.g. '{severity_upper} {symbol}'")
    body: str | None = Field(default=None, description="Body template, e.g. '{message} at {time_local}'")


class Templates(_Strict):
    """Title/body templates over the alert's fields; ``by_type`` overrides per rule type."""

    title: str | None = Field(default=None, description="Default title template")
    body: str | None = Field(default=None, description="Default body template")
    by_type: dict[RuleTypeName, TemplatePair] = Field(default_factory=no_entries)


class DeliverySettings(_Strict):
    queue_size: Annotated[StrictInt, Field(ge=1)] = Field(
        default=10_000, description="Alerts held in memory per channel; past it they wait in the log"
    )
    concurrency: Annotated[StrictInt, Field(ge=1, le=64)] = Field(default=2, description="Sends in flight per channel")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    circuit_breaker: CircuitBreakerPolicy = Field(default_factory=CircuitBreakerPolicy)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    shutdown_grace: Duration = Field(
        default=timedelta(seconds=5),
        description="At shutdown, how long to finish deliveries; the rest stay pending for the next start",
    )


class Notifications(_Strict):
    channels: dict[Annotated[str, Field(pattern=CHANNEL_NAME_PATTERN)], Channel] = Field(default_factory=no_entries)
    routes: dict[Severity, list[str]] = Field(
        default_factory=no_entries,
        description="Channels (or tags) per severity, for rules without their own notify:",
    )
    templates: Templates = Field(default_factory=Templates)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
