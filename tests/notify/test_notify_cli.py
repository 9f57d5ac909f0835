"""``tradeassist notify-test``: one line per channel, exit 1 when a channel failed."""

from __future__ import annotations

import importlib.util
import platform
from pathlib import Path

import pytest

from ..cli_helpers import tradeassist
from .conftest import Hook, free_port, make_project


def test_notify_test_reports_each_channel(tmp_path: Path, hook: Hook) -> None:
    make_project(
        tmp_path,
        f"""notifications:
  channels:
    web: {{urls: "{hook.url()}"}}
    down: {{urls: "json://127.0.0.1:{free_port()}/x"}}
    file: {{urls: "logfile://data/notifications.log"}}
    desktop: {{urls: "windows://", optional: true}}
  delivery: {{retry: {{timeout: 3s}}}}
""",
    )
    result = tradeassist("notify-test", "config.yaml", cwd=tmp_path)
    lines = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if not line.startswith(" ")}
    assert lines == {"web": "sent", "down": "failed", "file": "sent", "desktop": "skipped"}, result.stdout
    assert result.returncode == 1
    assert hook.bodies[0]["title"] == "TradeAssist test notification"
    assert "channel 'file' works" in (tmp_path / "data/notifications.log").read_text()

    only = tradeassist("notify-test", "config.yaml", "--channel", "web", cwd=tmp_path)
    assert only.returncode == 0 and only.stdout.split()[:2] == ["web", "sent"]
    unknown = tradeassist("notify-test", "config.yaml", "--channel", "slack", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown channel slack" in unknown.stderr


def test_a_channel_from_an_apprise_config_file_sends(tmp_path: Path, hook: Hook) -> None:
    make_project(tmp_path, "notifications:\n  channels:\n    file: {config: apprise.yaml}\n")
    (tmp_path / "apprise.yaml").write_text(f"version: 1\nurls:\n  - {hook.url()}\n")
    result = tradeassist("notify-test", "config.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split()[:2] == ["file", "sent"]
    assert [b["title"] for b in hook.bodies] == ["TradeAssist test notification"]


@pytest.mark.skipif(platform.system() != "Linux", reason="the D-Bus hint is about Linux")
@pytest.mark.skipif(importlib.util.find_spec("dbus") is not None, reason="dbus-python is installed here")
def test_a_desktop_channel_says_what_to_install(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        'notifications:\n  channels:\n    desktop: {urls: ["dbus://", "macosx://"], optional: true}\n',
    )
    result = tradeassist("notify-test", "config.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr  # optional: skipped, not failed
    head, *notes = result.stdout.splitlines()
    assert head.split() == ["desktop", "skipped", "cannot", "work", "on", "this", "machine:"]
    [dbus, mac] = notes
    assert dbus.startswith("    - dbus:// needs the D-Bus bindings (Python module 'dbus', package dbus-python)")
    assert "sudo apt install libdbus-1-dev libglib2.0-dev" in dbus
    assert "pip install 'tradeassist-runner[desktop]'" in dbus and "sudo apt install python3-dbus" in dbus
    assert mac == "    - macosx:// works on macOS only (there it needs: brew install terminal-notifier)"
    assert "libdbus-1.so.x" not in result.stdout  # not apprise's vague sentence
