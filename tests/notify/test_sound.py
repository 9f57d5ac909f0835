"""``sound://`` through apprise: a tone per severity, a clear error without audio."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import stat
import wave
from pathlib import Path

import apprise
import pytest

from tradeassist_runner.notify import plugins, sound

plugins.ensure_registered()


def fake_player(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def notify(url: str, notify_type: str) -> tuple[bool, list[str]]:
    ap = apprise.Apprise()
    assert ap.add(url)
    result = asyncio.run(ap.async_notify(body="b", title="t", notify_type=notify_type))
    try:
        return result.status.name == "SUCCESS", [e.message for e in result.logs()]
    finally:
        result.close()


@pytest.mark.parametrize(("severity", "beeps"), [("info", 1), ("warning", 2), ("critical", 3)])
def test_each_severity_has_its_own_tone(severity: str, beeps: int) -> None:
    with wave.open(io.BytesIO(sound.tone_wav(severity))) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
    assert seconds == pytest.approx(0.15 * beeps + 0.08 * (beeps - 1), abs=0.01)


def test_the_tone_is_played_by_the_player_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    played = tmp_path / "played.txt"
    fake_player(tmp_path / "bin", sound.PLAYERS[0], f'{shutil.which("cp")} "$1" "{played}"\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    ok, _ = notify("sound://", "failure")  # critical
    assert ok
    with wave.open(str(played)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(0.61, abs=0.01)  # three beeps


def test_no_player_is_a_clear_delivery_error_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to play with
    ok, said = notify("sound://", "warning")
    assert not ok
    assert any("no audio player found on PATH" in line for line in said), said
    assert sound.unavailable_reason() is not None


def test_a_player_without_a_device_reports_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_player(tmp_path / "bin", sound.PLAYERS[-1], 'echo "ALSA lib: cannot find card 0" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    ok, said = notify("sound://", "info")
    assert not ok
    assert any("could not play" in line and "cannot find card 0" in line for line in said), said


@pytest.mark.skipif(os.name != "posix", reason="POSIX shell player")
def test_the_channel_records_the_sound_error_without_a_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tradeassist_runner.config.notify_models import Channel, DeliverySettings
    from tradeassist_runner.notify.channels import build_channel

    monkeypatch.setenv("PATH", str(tmp_path))
    optional = build_channel("sound", Channel(urls=["sound://"], optional=True), DeliverySettings(), tmp_path)
    assert optional.apprise is None and optional.skip_status == "skipped"
    assert "no audio player" in (optional.unavailable or "")
    required = build_channel("sound", Channel(urls=["sound://"]), DeliverySettings(), tmp_path)
    assert required.apprise is not None  # tried on every alert, each failure recorded with the reason
