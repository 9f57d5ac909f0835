"""Shared fixtures: credentials in the environment, a token file, a fast-retrying source."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # authlib forces its deprecation warnings to "always" when authlib.deprecate is imported,
    # then warns about its httpx module (which schwab-py 1.5 uses): import it once here,
    # with an ignore filter placed in front of authlib's own.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    import schwab.auth  # noqa: F401
    import schwab.streaming  # noqa: F401

from tradeassist_runner.config.models import Instrument, SchwabSource

from .fake_schwab import write_token

INSTRUMENTS = [
    Instrument(symbol="/ES", type="future"),
    Instrument(symbol="/NQ", type="future"),
    Instrument(symbol="$TICK", type="internal"),
    Instrument(symbol="$SPX", type="index"),
]


@pytest.fixture(autouse=True)
def schwab_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEASSIST_SCHWAB_APP_KEY", "test-app-key")
    monkeypatch.setenv("TRADEASSIST_SCHWAB_APP_SECRET", "test-app-secret")
    monkeypatch.setenv("TRADEASSIST_SCHWAB_CALLBACK_URL", "https://127.0.0.1:8182")


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "schwab-token.json"
    write_token(path)
    return path


@pytest.fixture
def fast_source() -> SchwabSource:
    return SchwabSource(
        type="schwab", reconnect_initial="10ms", reconnect_max="40ms", heartbeat_timeout="30s",
        max_login_failures=3,
    )
