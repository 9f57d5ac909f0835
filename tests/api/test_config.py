"""The ``api:`` section and its TRADEASSIST_API_* overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import ConfigError
from tradeassist_runner.settings import apply_settings, load_settings

from .conftest import NEVER, project


def test_defaults_bind_localhost_and_env_overrides_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_config(project(tmp_path, {"a.yaml": NEVER}, api="{enabled: false}"))
    api = loaded.config.api
    assert (api.enabled, api.host, api.port) == (False, "127.0.0.1", 8080)
    assert api.websocket.max_connections == 20 and api.websocket.tick_interval.total_seconds() == 0.25
    assert apply_settings(loaded, load_settings()) == loaded

    monkeypatch.setenv("TRADEASSIST_API_ENABLED", "true")
    monkeypatch.setenv("TRADEASSIST_API_HOST", "0.0.0.0")
    monkeypatch.setenv("TRADEASSIST_API_PORT", "9000")
    monkeypatch.setenv("TRADEASSIST_API_TOKEN", "a-long-enough-token")
    settings = load_settings()
    applied = apply_settings(loaded, settings).config.api
    assert (applied.enabled, applied.host, applied.port) == (True, "0.0.0.0", 9000)
    assert applied.websocket == api.websocket
    assert "a-long-enough-token" not in repr(settings)  # a SecretStr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("API_PORT", "70000", "$TRADEASSIST_API_PORT:1:1:"),
        ("API_ENABLED", "maybe", "$TRADEASSIST_API_ENABLED:1:1:"),
        ("API_TOKEN", "", "$TRADEASSIST_API_TOKEN:1:1: must not be empty"),
    ],
)
def test_bad_environment_values_are_named(name: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"TRADEASSIST_{name}", value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert str(exc.value).startswith(message)


def test_mistakes_in_the_api_section_are_located(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": NEVER}, api="{enabled: true, prot: 80, websocket: {max_connections: 0}}")
    with pytest.raises(ConfigError) as exc:
        load_config(config)
    assert [str(p) for p in exc.value.problems] == [
        f"{config}:7:22: unknown field 'prot' (did you mean 'port'?)",
        f"{config}:7:61: max_connections: must be >= 1, got 0",
    ]
