"""Credentials from the environment, the token file (0600, schwab-py format), redaction."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tradeassist_runner.errors import SourceError
from tradeassist_runner.logs import redact
from tradeassist_runner.sources.schwab.auth import TokenStore, check_token, format_span
from tradeassist_runner.sources.schwab.credentials import load_credentials

from .fake_schwab import write_token


def test_credentials_come_from_the_environment_as_secrets() -> None:
    creds = load_credentials()
    assert creds.app_key.get_secret_value() == "test-app-key"
    assert "test-app-secret" not in repr(creds) and "test-app-secret" not in str(creds)
    assert creds.callback_url == "https://127.0.0.1:8182"


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEASSIST_SCHWAB_APP_KEY")
    monkeypatch.delenv("TRADEASSIST_SCHWAB_APP_SECRET")
    with pytest.raises(SourceError, match="TRADEASSIST_SCHWAB_APP_KEY, TRADEASSIST_SCHWAB_APP_SECRET"):
        load_credentials()


def test_token_write_is_0600_atomic_and_in_schwab_py_format(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "new" / "token.json")
    store.write({"creation_timestamp": 1_767_600_000, "token": {"access_token": "a", "expires_at": 1_767_601_800}})
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["token.json"]  # no temp file left
    info = store.info()
    assert info.created == datetime.fromtimestamp(1_767_600_000, timezone.utc)
    assert info.refresh_expires - info.created == timedelta(days=7)
    assert info.access_expires == datetime.fromtimestamp(1_767_601_800, timezone.utc)


def test_check_token(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    with pytest.raises(SourceError, match="no Schwab token at .*tradeassist schwab login"):
        check_token(TokenStore(path))
    path.write_text(json.dumps({"access_token": "legacy"}))
    with pytest.raises(SourceError, match="not in schwab-py's format"):
        check_token(TokenStore(path))
    write_token(path, age_s=7.5 * 86400)
    with pytest.raises(SourceError, match=r"expired 12h 0m ago"):
        check_token(TokenStore(path))
    write_token(path, age_s=86400)
    assert check_token(TokenStore(path)).remaining(datetime.now(timezone.utc)) > timedelta(days=5)


def test_format_span() -> None:
    assert format_span(timedelta(days=2, hours=3, minutes=5)) == "2d 3h"
    assert format_span(timedelta(hours=4, minutes=12)) == "4h 12m"
    assert format_span(timedelta(minutes=37, seconds=5)) == "37m"


def test_token_values_are_redacted_from_log_lines() -> None:
    line = redact('token file {"access_token": "AAA.BBB", "refresh_token":"RRR", "expires_in": 1800} '
                  "grant_type=refresh_token&refresh_token=RRR client_secret=SSS")
    assert "AAA" not in line and "RRR" not in line and "SSS" not in line
    assert "expires_in" in line
