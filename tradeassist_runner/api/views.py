"""What the API shows, computed from the :class:`Observer`: pure functions, no I/O.

Kept apart from the routes so that the same view feeds ``/api/status`` and the
WebSocket's ``health_status``, and so each is testable without a server.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .. import __version__
from ..config.durations import format_duration
from ..rules.registry import REGISTRY
from ..service.observe import SPARKLINE_STEP_MS, InstrumentState, Observer, ReloadResult
from ..timefmt import from_epoch_ms
from .models import (
    ChannelHealthOut,
    ConditionOut,
    Counters,
    DeliveryCount,
    FeedHealthOut,
    HealthStatus,
    InstrumentOut,
    ParquetOut,
    PlanOut,
    ReloadOut,
    RuleOut,
    RuleState,
    SourceOut,
    StatusOut,
    StorageOut,
    WebSocketOut,
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def reload_view(result: ReloadResult | None) -> ReloadOut | None:
    if result is None:
        return None
    return ReloadOut(
        ok=result.ok, at=result.at, plan_version=result.plan_version, errors=list(result.errors),
        added=list(result.added), removed=list(result.removed), changed=list(result.changed),
    )


def _change(st: InstrumentState | None) -> tuple[float | None, float | None]:
    if st is None or st.last_price is None or st.first_price is None:
        return None, None
    change = st.last_price - st.first_price
    # of the base's size: $TICK and $ADD swing around zero, and a fall from -79 to -387 is a fall
    return change, (change / abs(st.first_price) * 100.0 if st.first_price else None)


def instruments_view(observer: Observer) -> list[InstrumentOut]:
    declared = observer.loaded.instruments if observer.loaded is not None else ()
    out = []
    delayed, silent = _feed_map(observer, "delayed"), _feed_map(observer, "silent")
    why, contracts = _feed_map(observer, "silent_why"), _feed_map(observer, "contracts")
    for inst in declared:
        st = observer.instruments.get(inst.symbol)
        change, change_pct = _change(st)
        out.append(
            InstrumentOut(
                symbol=inst.symbol, name=inst.name, type=inst.type, timezone=inst.timezone,
                last_price=st.last_price if st else None, last_tick_at=st.last_ts if st else None,
                ticks=st.ticks if st else 0, delayed=delayed.get(inst.symbol),
                silent_since=silent.get(inst.symbol), silent_reason=why.get(inst.symbol),
                contract=contracts.get(inst.symbol),
                first_price=st.first_price if st else None, change=change, change_pct=change_pct,
                sparkline=[price for _, price in st.recent] if st else [],
                sparkline_step_seconds=SPARKLINE_STEP_MS / 1000,
            )
        )
    return out


def _feed_map(observer: Observer, name: str) -> dict[str, Any]:
    """symbol -> value, from a live feed that tracks it (the Schwab feed's status); empty otherwise."""
    found = getattr(getattr(observer.feed, "status", None), name, None)
    return dict(found) if isinstance(found, dict) else {}


def feed_view(observer: Observer) -> FeedHealthOut:
    problems = getattr(getattr(observer.feed, "status", None), "problems", None)
    return FeedHealthOut(
        connected=observer.connected, lag_seconds=observer.feed_lag_s,
        delayed=sorted(s for s, d in _feed_map(observer, "delayed").items() if d),
        silent=_feed_map(observer, "silent"),
        problems=list(problems()) if callable(problems) else [],
    )


def _last_fires(observer: Observer) -> dict[str, datetime]:
    """Last fire per rule fingerprint from the engine (restored from snapshots, so it survives restarts)."""
    if observer.engine_state is None:
        return {}
    rules = observer.engine_state().rules
    return {key: from_epoch_ms(int(st["last"])) for key, st in rules.items() if st.get("last") is not None}


def _conditions(compiled: Any) -> list[ConditionOut]:
    out = []
    for c in compiled.conditions:
        rt = REGISTRY[c.type_name]
        out.append(ConditionOut(type=c.type_name, condition=c.condition, threshold=c.threshold,
                                series=rt.describe(c.params), params=dict(rt.placeholders(c.params))))
    return out


def rules_view(observer: Observer) -> list[RuleOut]:
    if observer.plan is None:
        return []
    fires = _last_fires(observer)
    firing = observer.engine_state().rules if observer.engine_state is not None else {}
    out = []
    for compiled in observer.plan.rules:
        rule = compiled.rule
        last = fires.get(compiled.state_key) or observer.last_fired.get(rule.id)
        until = last + rule.cooldown if last is not None and rule.cooldown > timedelta(0) else None
        inst = observer.instruments.get(rule.instrument)
        tick_now = inst.last_ts if inst is not None and inst.last_ts is not None else _now()
        remaining = (until - tick_now).total_seconds() if until is not None and tick_now < until else None
        state: RuleState
        if not rule.active:
            state = "inactive"
        elif until is not None and tick_now < until:  # cooldowns run in tick time (docs/semantics.md)
            state = "cooling_down"
        else:
            state = "armed"
        conds = _conditions(compiled)
        single = len(conds) == 1
        st = firing.get(compiled.state_key, {})
        run = st.get("run")
        series = conds[0].series if single else "all of: " + "; ".join(
            f"{c.series} {c.condition} {c.threshold:g}" for c in conds)
        if rule.bar is not None:
            series += f" on {format_duration(rule.bar)} bars"
        out.append(
            RuleOut(
                id=rule.id, name=rule.name, description=rule.description, instrument=rule.instrument,
                type=rule.type, condition=conds[0].condition if single else None,
                threshold=conds[0].threshold if single else None,
                series=series, params=conds[0].params if single else {},
                conditions=None if single else conds,
                bar=format_duration(rule.bar) if rule.bar is not None else None,
                **{"for": format_duration(rule.for_) if rule.for_ is not None else None},
                rearm=rule.rearm, hours=rule.hours, days=list(rule.days) if rule.days else None, calendar=rule.calendar,
                rearmed=None if rule.rearm is None else bool(st.get("armed", True)),
                holding_since=from_epoch_ms(int(run)) if rule.for_ is not None and run is not None else None,
                cooldown=format_duration(rule.cooldown), cooldown_seconds=rule.cooldown.total_seconds(),
                active=rule.active, severity=rule.severity, notify=rule.notify, location=compiled.location,
                last_fired=last, fire_count=observer.alerts_by_rule.get(rule.id, 0), state=state,
                cooling_down_until=until if state == "cooling_down" else None,
                cooldown_remaining_seconds=remaining if state == "cooling_down" else None,
            )
        )
    return out


def _feed_details(observer: Observer) -> dict[str, Any] | None:
    status = getattr(observer.feed, "status", None)
    snapshot = getattr(status, "snapshot", None)
    return snapshot() if callable(snapshot) else None


def counters_view(observer: Observer) -> Counters:
    return Counters(
        ticks_in=observer.ticks_in, ticks_rejected=observer.ticks_rejected,
        unknown_symbol_ticks=observer.unknown_symbol_ticks, batches=observer.batches,
        alerts=sum(observer.alerts_by_rule.values()), reloads_ok=observer.reload_ok,
        reloads_failed=observer.reload_failed, feed_lag_seconds=observer.feed_lag_s,
        deliveries=[
            DeliveryCount(channel=ch, status=st, count=n)
            for (ch, st), n in sorted(observer.delivery_counts().items())
        ],
    )


def channels_view(observer: Observer) -> list[ChannelHealthOut]:
    """The notifier's per-channel health, as the composition root handed it to the observer."""
    if observer.channel_health is None:
        return []
    return [ChannelHealthOut.model_validate(h, from_attributes=True) for h in observer.channel_health()]


def storage_view(observer: Observer) -> StorageOut:
    if observer.parquet_status is None:
        return StorageOut(parquet=None)
    st = observer.parquet_status()
    return StorageOut(parquet=ParquetOut(ok=st.ok, behind=st.behind, failures=st.failures,
                                         last_error=st.last_error, last_error_at=st.last_error_at))


def status_view(observer: Observer, connections: int, max_connections: int) -> StatusOut:
    plan = None
    if observer.plan is not None and observer.loaded is not None:
        plan = PlanOut(
            version=observer.plan.version, rules=len(observer.plan.rules),
            active_rules=sum(1 for c in observer.plan.rules if c.rule.active),
            instruments=len(observer.loaded.instruments),
            rule_files=[str(p) for p in observer.loaded.rule_files],
        )
    reasons = observer.not_ready()
    return StatusOut(
        version=__version__, ready=not reasons, not_ready=reasons,
        source=SourceOut(type=observer.source_type, connected=observer.connected, details=_feed_details(observer)),
        plan=plan, started_at=observer.started_at,
        uptime_seconds=(_now() - observer.started_at).total_seconds(),
        config_valid=not observer.config_invalid, last_reload=reload_view(observer.last_reload),
        counters=counters_view(observer), storage=storage_view(observer),
        websocket=WebSocketOut(connections=connections, max_connections=max_connections),
        notifications=channels_view(observer), feed=feed_view(observer),
    )


def health_message(observer: Observer) -> HealthStatus:
    reasons = observer.not_ready()
    return HealthStatus(
        at=_now(), ready=not reasons, not_ready=reasons, source_connected=observer.connected,
        plan_version=observer.plan.version if observer.plan is not None else None,
        rules=len(observer.plan.rules) if observer.plan is not None else 0,
        config_valid=not observer.config_invalid, last_reload=reload_view(observer.last_reload),
        ticks_in=observer.ticks_in, alerts=sum(observer.alerts_by_rule.values()),
        feed_lag_seconds=observer.feed_lag_s, feed=feed_view(observer),
    )
