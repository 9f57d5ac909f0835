"""/api/alerts and /api/alerts/stats over an alert log with known rows: pages, filters, 422s."""

from __future__ import annotations

import asyncio
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from collections.abc import Callable

import pytest

from tradeassist_runner.sinks.postgres import PostgresAlertLog
from tradeassist_runner.sinks.sqlite import SqliteAlertLog
from tradeassist_runner.sinks.store import AlertStore
from tradeassist_runner.timefmt import iso_ms

from ..servers import postgres_server, postgres_url  # noqa: F401
from ..sinks.conftest import T0, alert_row, make_alerts
from .conftest import NEVER, Service, project

SQLITE_STORAGE = "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Callable[[], AlertStore], Callable[[Path], Path]]:
    """(open the project's alert log, point a project's config at it): SQLite, or PostgreSQL."""
    if request.param == "sqlite":
        return lambda: SqliteAlertLog(tmp_path / "data" / "a.sqlite"), lambda config: config
    url = request.getfixturevalue("postgres_url")

    def on_postgres(config: Path) -> Path:
        config.write_text(config.read_text().replace(SQLITE_STORAGE, f'storage: {{url: "{url}", parquet_dir: data/a}}'))
        return config

    return lambda: PostgresAlertLog(url), on_postgres


def seed_log(db: Path | Callable[[], AlertStore]) -> None:
    """12 alerts, one per second from T0: seq 0-5 es_above (slack sent), 6-9 nq_below (slack
    failed, critical), 10-11 es_vol (log skipped, info)."""
    if isinstance(db, Path):
        db.parent.mkdir(parents=True)
        opened: AlertStore = SqliteAlertLog(db)
    else:
        opened = db()
    with closing(opened) as log:
        log.write(make_alerts(*(alert_row(i) for i in range(6))), {"slack": {"status": "sent", "attempts": 1}})
        log.write(
            make_alerts(*(alert_row(i, rule_id="nq_below", symbol="/NQ", severity="critical") for i in range(6, 10))),
            {"slack": {"status": "failed", "attempts": 4, "error": "HTTP 500"}},
        )
        log.write(make_alerts(*(alert_row(i, rule_id="es_vol", severity="info") for i in range(10, 12))),
                  {"log": {"status": "skipped"}})


def test_alerts_are_paginated_and_filtered(tmp_path: Path, backend: tuple[Callable[[], AlertStore], Callable[[Path], Path]]) -> None:
    open_log, point_at = backend
    (tmp_path / "data").mkdir()
    seed_log(open_log)
    config = point_at(project(tmp_path, {"a.yaml": NEVER}))

    async def seqs(svc: Service, **params: object) -> list[int]:
        page = await svc.json("/api/alerts", params=params)
        return [int(a["alert_id"].rsplit("#", 1)[1]) for a in page["items"]]

    async def scenario() -> None:
        async with Service(config) as svc:
            page = await svc.json("/api/alerts")
            assert page["total"] == 12 and page["next_offset"] is None
            assert [int(a["alert_id"].rsplit("#", 1)[1]) for a in page["items"]] == list(range(11, -1, -1))
            first = page["items"][-1]
            assert first["ts"] == iso_ms(T0) and first["symbol"] == "/ES" and first["rule_id"] == "es_above"
            assert first["delivery_status"]["slack"]["status"] == "sent"

            # pages of 5, newest first, stitch back to the whole log
            pages, offset = [], 0
            while offset is not None:
                p = await svc.json("/api/alerts", params={"limit": 5, "offset": offset})
                assert p["total"] == 12 and p["limit"] == 5
                pages += [int(a["alert_id"].rsplit("#", 1)[1]) for a in p["items"]]
                offset = p["next_offset"]
            assert pages == list(range(11, -1, -1))
            assert await seqs(svc, order="asc", limit=3) == [0, 1, 2]

            assert await seqs(svc, rule="nq_below") == [9, 8, 7, 6]
            assert await seqs(svc, symbol="/ES", order="asc") == [0, 1, 2, 3, 4, 5, 10, 11]
            assert await seqs(svc, status="failed") == [9, 8, 7, 6]
            assert await seqs(svc, status="skipped") == [11, 10]
            assert await seqs(svc, status="pending") == []
            assert await seqs(svc, severity="info") == [11, 10]
            window = {"since": iso_ms(T0 + timedelta(seconds=3)), "until": iso_ms(T0 + timedelta(seconds=8))}
            assert await seqs(svc, **window, order="asc") == [3, 4, 5, 6, 7]  # since inclusive, until exclusive
            assert await seqs(svc, **window, symbol="/ES", status="sent") == [5, 4, 3]
            assert await seqs(svc, since="1d") == []  # a duration back from now: T0 is long ago

            stats = await svc.json("/api/alerts/stats", params=window)
            assert stats == {
                "since": window["since"], "until": window["until"], "total": 5,
                "by_rule": {"es_above": 3, "nq_below": 2}, "by_symbol": {"/ES": 3, "/NQ": 2},
                "by_severity": {"critical": 2, "warning": 3}, "by_delivery_status": {"failed": 2, "sent": 3},
            }
            everything = await svc.json("/api/alerts/stats")
            assert everything["total"] == 12 and everything["by_rule"]["es_vol"] == 2
            assert everything["by_delivery_status"] == {"failed": 4, "sent": 6, "skipped": 2}

    asyncio.run(scenario())


def test_bad_parameters_are_422_naming_the_parameter(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": NEVER})

    async def scenario() -> None:
        async with Service(config) as svc:
            cases = {
                "since": {"since": "yesterday-ish"},
                "until": {"since": "2026-01-05T15:00:00Z", "until": "2026-01-05T14:00:00Z"},
                "limit": {"limit": 0},
                "offset": {"offset": -1},
                "status": {"status": "delivered"},
                "order": {"order": "sideways"},
            }
            for name, params in cases.items():
                response = await svc.http.get("/api/alerts", params=params)
                assert response.status_code == 422, (name, response.text)
                assert any(d["loc"] == ["query", name] for d in response.json()["detail"]), response.text
            response = await svc.http.get("/api/alerts", params={"limit": "ten"})
            assert response.status_code == 422
            bad = await svc.http.get("/api/alerts/stats", params={"until": "not a time"})
            assert bad.status_code == 422 and "invalid time 'not a time'" in bad.json()["detail"][0]["msg"]

    asyncio.run(scenario())


def test_numbers_past_what_the_log_can_hold_are_422_not_500(
    tmp_path: Path, backend: tuple[Callable[[], AlertStore], Callable[[Path], Path]]
) -> None:
    open_log, point_at = backend
    (tmp_path / "data").mkdir()
    seed_log(open_log)
    config = point_at(project(tmp_path, {"a.yaml": NEVER}))

    async def scenario() -> None:
        async with Service(config) as svc:
            for path, name, value in [
                ("/api/alerts", "offset", "9223372036854775808"),
                ("/api/alerts", "since", "99999999999999d"),
                ("/api/alerts", "until", "99999999999999d"),
                ("/api/alerts/stats", "since", "99999999999999d"),
                ("/api/alerts/stats", "until", "99999999999999d"),
            ]:
                response = await svc.http.get(path, params={name: value})
                assert response.status_code == 422, (path, name, response.text)
                assert any(d["loc"] == ["query", name] for d in response.json()["detail"]), response.text
                assert "Traceback" not in response.text
            last = await svc.json("/api/alerts", params={"offset": "9223372036854775807"})
            assert last["items"] == [] and last["total"] == 12

    asyncio.run(scenario())


def test_empty_since_and_until_mean_not_given(tmp_path: Path) -> None:
    seed_log(tmp_path / "data" / "a.sqlite")
    config = project(tmp_path, {"a.yaml": NEVER})

    async def scenario() -> None:
        async with Service(config) as svc:
            page = await svc.json("/api/alerts", params={"since": "", "until": "", "rule": "", "symbol": ""})
            assert page["total"] == 12
            stats = await svc.json("/api/alerts/stats", params={"since": "", "until": " "})
            assert stats["total"] == 12 and stats["since"] is None

    asyncio.run(scenario())
