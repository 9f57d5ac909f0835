"""TRADEASSIST_API_TOKEN: every endpoint but /healthz needs the bearer token; the token is never logged."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tradeassist_runner.logs import KeyValueFormatter, log

from .conftest import NEVER, Service, project

TOKEN = "s3cret-token-0123456789abcdef"
PROTECTED = ["/readyz", "/metrics", "/api/status", "/api/instruments", "/api/rules", "/api/alerts",
             "/api/alerts/stats", "/no/such/path"]
#: The API's description, open so that a browser can load /docs and use its Authorize button.
DOCS = ["/openapi.json", "/docs", "/docs/oauth2-redirect"]


def test_every_endpoint_but_healthz_needs_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TRADEASSIST_API_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG, logger="tradeassist")
    config = project(tmp_path, {"a.yaml": NEVER})
    good = {"Authorization": f"Bearer {TOKEN}"}

    async def scenario() -> None:
        async with Service(config) as svc:
            assert (await svc.http.get("/healthz")).status_code == 200
            for path in DOCS:
                assert (await svc.http.get(path)).status_code == 200, path
            for path in PROTECTED:
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                {"Authorization": f"Basic {TOKEN}"}):
                    response = await svc.http.get(path, headers=headers)
                    assert response.status_code == 401, (path, headers)
                    assert response.headers["www-authenticate"] == "Bearer"
                if path != "/no/such/path":
                    assert (await svc.http.get(path, headers=good)).status_code == 200, path
            assert (await svc.http.get("/no/such/path", headers=good)).status_code == 404
            doc = (await svc.http.get("/openapi.json")).json()
            assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
            for path, operations in doc["paths"].items():
                for operation in operations.values():
                    if path == "/healthz":
                        assert "security" not in operation and "401" not in operation["responses"]
                    else:
                        assert operation["security"] == [{"HTTPBearer": []}], path
                        assert "401" in operation["responses"], path
            # Swagger UI draws its Authorize button from that scheme; the page loads without a token.
            assert "/openapi.json" in (await svc.http.get("/docs")).text

            # WebSocket: a 401 on the handshake without the token; header or ?token= both work.
            for url, headers in ((svc.ws_url, None), (f"{svc.ws_url}?token=wrong", None)):
                with pytest.raises(InvalidStatus) as denied:
                    async with connect(url, additional_headers=headers, proxy=None):
                        pass
                assert denied.value.response.status_code == 401
            for url, headers in ((svc.ws_url, good), (f"{svc.ws_url}?token={TOKEN}", None)):
                async with connect(url, additional_headers=headers, proxy=None) as ws:
                    assert '"health_status"' in str(await asyncio.wait_for(ws.recv(), 5))

    asyncio.run(scenario())
    # The token never reaches a log line, even when something tries to log it.
    formatter = KeyValueFormatter()
    assert all(TOKEN not in formatter.format(r) for r in caplog.records)
    [listening] = [formatter.format(r) for r in caplog.records if r.getMessage() == "api listening"]
    assert " host=127.0.0.1 port=" in listening and listening.endswith(" auth=required")  # readable, not masked
    log(logging.getLogger("tradeassist.test"), logging.ERROR, f"oops {TOKEN}", detail=TOKEN, url=f"?token={TOKEN}")
    assert TOKEN not in formatter.format(caplog.records[-1])


def test_without_a_token_the_api_is_open(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": NEVER})

    async def scenario() -> None:
        async with Service(config) as svc:
            for path in PROTECTED[:-1] + DOCS:
                assert (await svc.http.get(path)).status_code == 200, path
            doc = (await svc.http.get("/openapi.json")).json()
            assert "securitySchemes" not in doc.get("components", {})
            assert all("401" not in op["responses"] for ops in doc["paths"].values() for op in ops.values())

    asyncio.run(scenario())
