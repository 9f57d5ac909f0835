"""A real ``run_service`` with the API on 127.0.0.1 and a free port, driven over real TCP.

Tests use async clients (httpx.AsyncClient, websockets) because the server runs on the
test's own event loop, exactly as it runs on the runner's loop in production.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..waiting import until  # noqa: F401  (re-exported to the tests here)
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service.observe import Observer
from tradeassist_runner.service.runner import run_service
from tradeassist_runner.settings import apply_settings, load_settings

NEVER = "rules:\n  - {id: never, instrument: /ES, type: threshold, condition: above, threshold: 1000000000}\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's TRADEASSIST_* variables must not leak into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("TRADEASSIST_"):
            monkeypatch.delenv(name)


def project(
    tmp_path: Path,
    rules: dict[str, str],
    *,
    source: str = "{type: synthetic, seed: 5, ticks_per_second: 100}",
    api: str = "{enabled: true, port: 0}",
) -> Path:
    d = tmp_path / "rules.d"
    d.mkdir(exist_ok=True)
    for name, text in rules.items():
        (d / name).write_text(text)
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future, name: E-mini S&P 500}\n  - {symbol: /NQ, type: future}\n"
        "rules_dir: rules.d\n"
        f"source: {source}\n"
        "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}\n"
        f"api: {api}\n"
    )
    return config


class Service:
    """``async with Service(config) as svc``: the runner and its API, stopped cleanly at exit."""

    def __init__(self, config: Path, *, wait_batches: bool = True) -> None:
        self.config = config
        self.observer = Observer()
        self.stop = asyncio.Event()
        self.wait_batches = wait_batches

    async def __aenter__(self) -> Service:
        loaded = apply_settings(load_config(self.config), load_settings())  # as `tradeassist run` does
        self.task = asyncio.create_task(
            run_service(loaded, stop=self.stop, out=io.StringIO(), observer=self.observer,
                        reload_debounce_ms=50, fresh=True)
        )
        await until(lambda: self.observer.api_url is not None or self.task.done())
        if self.task.done():
            self.task.result()  # raises what stopped it
        assert self.observer.api_url is not None
        self.url = self.observer.api_url
        self.ws_url = self.url.replace("http://", "ws://", 1) + "/ws/realtime"
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10, trust_env=False)
        if self.wait_batches:
            await until(lambda: self.observer.batches > 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        self.stop.set()
        assert await asyncio.wait_for(self.task, 30) == 0

    async def json(self, path: str, **kwargs: Any) -> Any:
        response = await self.http.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()
