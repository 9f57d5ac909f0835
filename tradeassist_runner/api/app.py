"""The FastAPI application: routes only; what they show comes from ``views`` and the reader.

Every handler is ``async def`` so it runs on the runner's event loop, where the observer
lives (no locks needed, see ``service/observe.py``); the only blocking work, SQLite reads
of the alert log, goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, WebSocket
from fastapi.security import HTTPBearer

from .. import __version__
from ..config.models import ApiSettings
from ..errors import SinkError
from ..service.observe import Observer
from ..sinks.query import parse_since
from ..sinks.reader import AlertFilter
from ..sinks.store import AlertQueries
from .auth import TokenAuth
from .dashboard import dashboard_router
from .metrics import Metrics
from .models import (
    AlertOut,
    AlertPage,
    AlertStats,
    DeliveryStatus,
    Health,
    InstrumentOut,
    Readiness,
    RuleOut,
    StatusOut,
)
from .realtime import RealtimeHub
from .views import instruments_view, rules_view, status_view

Severity = Literal["info", "warning", "critical"]
SINCE = "ISO-8601 or a duration back from now (15m, 2h, 1d); inclusive; empty = not given"
UNTIL = "ISO-8601 or a duration back from now; exclusive; after since (else 422); empty = not given"
#: SQLite binds 64-bit signed integers; a larger offset cannot be asked of the log.
MAX_OFFSET = 2**63 - 1
#: What ``since``/``until`` accept, for the OpenAPI document only (the handler checks, with a
#: message that says what is wrong): empty, a duration of up to 4 parts, or an ISO-8601 date
#: or datetime. Narrower than what is accepted (days 29-31, fractions, longer durations) so that every
#: string it describes is one the server takes: clients and fuzzers may trust it.
TIME_PATTERN = (
    r"^(|([0-9]{1,5}(ms|s|m|h|d)){1,4}"
    r"|[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?)$"
)
_TIME_SCHEMA: dict[str, Any] = {"pattern": TIME_PATTERN}
_503: dict[int | str, dict[str, Any]] = {503: {"description": "The alert log cannot be read"}}
_401: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Missing or wrong bearer token (`Authorization: Bearer $TRADEASSIST_API_TOKEN`)",
        "content": {"application/json": {"schema": {
            "type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"],
        }}},
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    }
}


def _time(name: str, text: str | None, now: datetime) -> datetime | None:
    """``since``/``until``: ISO-8601 or a duration back from now; a 422 that names the parameter.

    Empty means not given: a form or a client that always sends the key (``?since=``)
    asks for no bound, not for an invalid one.
    """
    if text is None or not text.strip():
        return None
    try:
        return parse_since(text, now)
    except ValueError as exc:
        message = str(exc)
    except OverflowError:  # a duration longer than the calendar (99999999999999d)
        message = f"{name} {text!r} is out of range: it reaches before year 1"
    raise HTTPException(
        status_code=422, detail=[{"type": "value_error", "loc": ["query", name], "msg": message, "input": text}]
    )


def _range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    now = datetime.now(timezone.utc)
    t0, t1 = _time("since", since, now), _time("until", until, now)
    if t0 is not None and t1 is not None and t0 >= t1:
        raise HTTPException(
            status_code=422,
            detail=[{"type": "value_error", "loc": ["query", "until"], "msg": "until must be after since",
                     "input": until}],
        )
    return t0, t1


async def _read(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except SinkError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None


def create_app(observer: Observer, reader: AlertQueries, settings: ApiSettings, token: str | None = None) -> FastAPI:
    """The API over one running service. ``token`` set: every path but ``/healthz`` needs it."""
    hub = RealtimeHub(observer, settings.websocket)
    metrics = Metrics(observer, lambda: len(hub.connections))
    app = FastAPI(
        title="TradeAssist runner",
        version=__version__,
        description="Status, rules, alerts and metrics of a running `tradeassist run`; "
        "live ticks and alerts on the WebSocket `/ws/realtime`.",
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.metrics = metrics
    # With a token, the protected routes say so in the OpenAPI document (scheme, 401); TokenAuth
    # enforces it. Without one, declaring either would promise an authentication that is not there.
    scheme = HTTPBearer(auto_error=False, description="The value of TRADEASSIST_API_TOKEN")
    secured: list[Any] = [Depends(scheme)] if token else []
    api = APIRouter(dependencies=secured, responses=_401 if token else None)

    @app.get("/healthz", response_model=Health, tags=["probes"], summary="Liveness: 200 while the loop runs")
    async def healthz() -> Health:
        return Health()

    @api.get(
        "/readyz", response_model=Readiness, tags=["probes"],
        summary="Readiness: 200 when a plan is loaded and the source connected, else 503",
        responses={503: {"model": Readiness, "description": "Not ready; `reasons` says why"}},
    )
    async def readyz(response: Response) -> Readiness:
        reasons = observer.not_ready()
        if reasons:
            response.status_code = 503
        return Readiness(ready=not reasons, reasons=reasons, warnings=observer.warnings())

    @api.get(
        "/metrics", tags=["probes"], summary="Prometheus metrics (text exposition)",
        response_class=Response,
        responses={200: {"description": "Prometheus text format",
                         "content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus(request: Request) -> Response:
        body, content_type = metrics.render(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    @api.get("/api/status", response_model=StatusOut, tags=["service"], summary="Source, plan, reload, counters")
    async def status() -> StatusOut:
        return status_view(observer, len(hub.connections), settings.websocket.max_connections)

    @api.get("/api/instruments", response_model=list[InstrumentOut], tags=["service"],
             summary="Watched instruments with their last price")
    async def instruments() -> list[InstrumentOut]:
        return instruments_view(observer)

    @api.get("/api/rules", response_model=list[RuleOut], tags=["service"],
             summary="Loaded rules with their source location, last fire and cooldown state")
    async def rules() -> list[RuleOut]:
        return rules_view(observer)

    @api.get("/api/alerts", response_model=AlertPage, tags=["alerts"], responses=_503,
             summary="Logged alerts, newest first, paginated and filtered")
    async def alerts(
        limit: Annotated[int, Query(ge=1, le=1000, description="Page size")] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Alerts to skip")] = 0,
        rule: Annotated[str | None, Query(description="Only this rule id")] = None,
        symbol: Annotated[str | None, Query(description="Only this symbol, e.g. /ES")] = None,
        severity: Annotated[Severity | None, Query()] = None,
        status: Annotated[DeliveryStatus | None, Query(description="With a channel in this delivery status")] = None,
        since: Annotated[str | None, Query(description=SINCE, json_schema_extra=_TIME_SCHEMA)] = None,
        until: Annotated[str | None, Query(description=UNTIL, json_schema_extra=_TIME_SCHEMA)] = None,
        order: Annotated[Literal["desc", "asc"], Query(description="By tick time")] = "desc",
    ) -> AlertPage:
        t0, t1 = _range(since, until)
        where = AlertFilter(rule_id=rule or None, symbol=symbol or None, severity=severity, status=status, since=t0, until=t1)
        page = await _read(reader.page, where, limit=limit, offset=offset, newest_first=order == "desc")
        items = [AlertOut.model_validate(row) for row in page.alerts.iter_rows(named=True)]
        end = offset + len(items)
        return AlertPage(items=items, total=page.total, limit=limit, offset=offset,
                         next_offset=end if end < page.total else None)

    @api.get("/api/alerts/stats", response_model=AlertStats, tags=["alerts"], responses=_503,
             summary="Alert counts per rule, symbol, severity and delivery status over a time range")
    async def alert_stats(
        since: Annotated[str | None, Query(description=SINCE, json_schema_extra=_TIME_SCHEMA)] = None,
        until: Annotated[str | None, Query(description=UNTIL, json_schema_extra=_TIME_SCHEMA)] = None,
        rule: Annotated[str | None, Query()] = None,
        symbol: Annotated[str | None, Query()] = None,
    ) -> AlertStats:
        t0, t1 = _range(since, until)
        counts = await _read(reader.counts, AlertFilter(rule_id=rule or None, symbol=symbol or None, since=t0, until=t1))
        return AlertStats(since=t0, until=t1, total=counts.total, by_rule=counts.by_rule,
                          by_symbol=counts.by_symbol, by_severity=counts.by_severity,
                          by_delivery_status=counts.by_delivery_status)

    @app.websocket("/ws/realtime")
    async def realtime(websocket: WebSocket) -> None:
        await hub.serve(websocket)

    app.include_router(api)
    app.include_router(dashboard_router())
    if token:
        app.add_middleware(TokenAuth, token=token)
    return app
