"""The HTTP endpoints over a real runner: probes, status, rules, instruments and the OpenAPI document."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .conftest import NEVER, Service, project, until

RULES = """\
rules:
  - id: es.any
    instrument: /ES
    type: threshold
    condition: above
    threshold: 0
    cooldown: 1h
    severity: critical
  - {id: nq.fast, instrument: /NQ, type: rate_of_change, condition: above, threshold: 99, window: 30s}
  - {id: es.off, instrument: /ES, type: volume_spike, condition: above, threshold: 5, period: 20, active: false}
"""

#: Every path of the issue and the component its 200 response must be.
EXPECTED_200 = {
    "/healthz": "Health",
    "/readyz": "Readiness",
    "/api/status": "StatusOut",
    "/api/alerts": "AlertPage",
    "/api/alerts/stats": "AlertStats",
}
EXPECTED_ARRAYS = {"/api/instruments": "InstrumentOut", "/api/rules": "RuleOut"}


def validate(doc: dict[str, Any], component: str, instance: Any, array: bool = False) -> None:
    """Check a real response against the schema the OpenAPI document publishes for it."""
    ref = {"$ref": f"#/components/schemas/{component}"}
    schema = {"type": "array", "items": ref} if array else ref
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(instance)


def test_endpoints_show_the_running_service_and_match_the_openapi_document(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": RULES})

    async def scenario() -> None:
        async with Service(config) as svc:
            await until(lambda: svc.observer.alerts_by_rule.get("es.any", 0) == 1)
            doc = await svc.json("/openapi.json")
            for path, component in {**EXPECTED_200, **EXPECTED_ARRAYS}.items():
                schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                if path in EXPECTED_ARRAYS:
                    assert schema["items"]["$ref"] == f"#/components/schemas/{component}", path
                else:
                    assert schema["$ref"] == f"#/components/schemas/{component}", path
            readyz_503 = doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]
            assert readyz_503["schema"]["$ref"] == "#/components/schemas/Readiness"
            assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
            assert (await svc.http.get("/docs")).status_code == 200

            assert await svc.json("/healthz") == {"status": "ok"}
            ready = await svc.json("/readyz")
            assert ready == {"ready": True, "reasons": [], "warnings": []}

            status = await svc.json("/api/status")
            validate(doc, "StatusOut", status)
            assert status["source"] == {"type": "synthetic", "connected": True, "details": None}
            assert status["plan"]["rules"] == 3 and status["plan"]["active_rules"] == 2
            assert status["config_valid"] is True and status["last_reload"] is None
            assert status["counters"]["ticks_in"] > 0 and status["counters"]["alerts"] >= 1

            instruments = await svc.json("/api/instruments")
            validate(doc, "InstrumentOut", instruments, array=True)
            es = next(i for i in instruments if i["symbol"] == "/ES")
            assert es["name"] == "E-mini S&P 500" and es["type"] == "future"
            assert es["ticks"] > 0 and es["last_price"] > 0 and es["last_tick_at"].endswith("Z")

            rules = {r["id"]: r for r in await svc.json("/api/rules")}
            validate(doc, "RuleOut", list(rules.values()), array=True)
            any_rule = rules["es.any"]
            assert any_rule["location"] == f"{tmp_path}/rules.d/a.yaml:2:5"
            assert any_rule["fire_count"] == 1 and any_rule["last_fired"] is not None
            assert any_rule["state"] == "cooling_down" and any_rule["cooldown"] == "1h"
            assert any_rule["cooling_down_until"] > any_rule["last_fired"]
            assert rules["nq.fast"]["state"] == "armed" and rules["nq.fast"]["params"]["window"] == "30s"
            assert rules["nq.fast"]["series"] == "30s change %"
            assert rules["nq.fast"]["cooldown"] == "1m" and rules["nq.fast"]["cooldown_seconds"] == 60
            assert rules["es.off"]["state"] == "inactive" and rules["es.off"]["params"]["period"] == 20

            await until(lambda: svc.observer.ticks_in > 0)
            page = await svc.json("/api/alerts")
            validate(doc, "AlertPage", page)
            assert [a["rule_id"] for a in page["items"]] == ["es.any"]
            stats = await svc.json("/api/alerts/stats")
            validate(doc, "AlertStats", stats)
            assert stats["by_rule"] == {"es.any": 1} and stats["by_severity"] == {"critical": 1}

    asyncio.run(scenario())


def test_readyz_follows_the_live_feed_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Schwab feed (a local fake): ready while connected, 503 with the reason during an outage."""
    with warnings.catch_warnings():  # as tests/sources/schwab/conftest.py: schwab-py imports deprecated modules
        import authlib.deprecate  # noqa: F401

        warnings.simplefilter("ignore", DeprecationWarning)
        import schwab.auth  # noqa: F401
        import schwab.streaming  # noqa: F401

    from tradeassist_runner.sources.schwab import stream as schwab_stream

    from ..sources.schwab.fake_schwab import FakeSchwab, write_token

    for name, value in (("APP_KEY", "test-app-key"), ("APP_SECRET", "test-app-secret")):
        monkeypatch.setenv(f"TRADEASSIST_SCHWAB_{name}", value)
    write_token(tmp_path / "data" / "schwab-token.json")
    config = project(
        tmp_path, {"a.yaml": NEVER},
        source="{type: schwab, token_path: data/schwab-token.json, reconnect_initial: 1500ms, reconnect_max: 2s}",
    )

    async def scenario() -> None:
        async with FakeSchwab() as fake:
            monkeypatch.setattr(schwab_stream, "HTTP_TRANSPORT", fake.transport())
            async with Service(config, wait_batches=False) as svc:
                await fake.wait_subscribed()
                await until(lambda: svc.observer.connected)
                assert (await svc.http.get("/readyz")).json() == {"ready": True, "reasons": [], "warnings": []}
                details = (await svc.json("/api/status"))["source"]["details"]
                assert details["connected"] is True and details["connects"] == 1
                assert sorted(details["subscribed"]["LEVELONE_FUTURES"]) == ["/ES", "/NQ"]

                await fake.drop()  # the feed waits 1.5 s before reconnecting
                await until(lambda: not svc.observer.connected)
                response = await svc.http.get("/readyz")
                assert response.status_code == 503
                assert response.json() == {"ready": False, "reasons": ["source schwab not connected"], "warnings": []}
                assert (await svc.http.get("/healthz")).status_code == 200  # alive, just not ready
                assert "tradeassist_source_connected 0.0" in (await svc.http.get("/metrics")).text

                await until(lambda: svc.observer.connected)  # reconnected and resubscribed
                assert (await svc.http.get("/readyz")).status_code == 200

    asyncio.run(asyncio.wait_for(scenario(), 60))
