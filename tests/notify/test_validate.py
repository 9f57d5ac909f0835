"""Notification mistakes are located config problems: `tradeassist validate` prints them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..cli_helpers import tradeassist
from .conftest import make_project

RULES = """\
instruments: [{symbol: /ES, type: future}]
rules:
  - {id: a, instrument: /ES, type: threshold, condition: above, threshold: 1, notify: [slack, sms]}
  - id: b
    instrument: /ES
    type: threshold
    condition: above
    threshold: 1
    message: "{symbol} at {prise}"
  - {id: c, instrument: /ES, type: volume_spike, condition: above, threshold: 3, period: 5,
     message: "{symbol} {value:.1f}x the {period}-tick mean, {window}"}
"""

NOTIFICATIONS = """\
notifications:
  channels:
    slack:
      urls: ${TA_TEST_UNSET_WEBHOOK}
    web:
      urls: ["json://127.0.0.1:9/x", "slak://T/B/C", "mailto://user:hunter2pw@127.0.0.1:25?from=bad"]
      tags: [ops]
    file:
      config: missing-apprise.yaml
  routes:
    critical: [web, pager]
    info: [ops]
  templates:
    title: "{severity_upper} {symbl}"
    by_type:
      rate_of_change: {body: "{message} {value:d}"}
"""


def test_every_notification_problem_is_reported_at_its_line(tmp_path: Path) -> None:
    make_project(tmp_path, NOTIFICATIONS, rules=RULES)
    result = tradeassist("validate", "config.yaml", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    expected = [
        ("config.yaml:7:13:", "environment variable ${TA_TEST_UNSET_WEBHOOK} is not set (channel 'slack' needs it)"),
        ("config.yaml:9:38:", "channel 'web': unknown notification scheme 'slak://' (did you mean 'slack'?)"),
        ("config.yaml:9:54:", "channel 'web': invalid E-Mail URL (mailto://)"),
        ("config.yaml:12:15:", "channel 'file': apprise config file"),
        ("config.yaml:14:21:", "unknown channel 'pager'"),
        ("config.yaml:17:12:", "title: unknown placeholder {symbl} (did you mean 'symbol'?)"),
        ("config.yaml:19:30:", "body: invalid template"),
        ("rules.d/r.yaml:3:95:", "unknown channel 'sms' (channels: file, slack, web; tags: ops)"),
        ("rules.d/r.yaml:9:14:", "message: unknown placeholder {prise} (did you mean 'price'?)"),
        ("rules.d/r.yaml:11:15:", "message: unknown placeholder {window}"),
    ]
    for where, what in expected:
        assert any(line.startswith(where) and what in line for line in lines), (where, what, lines)
    assert len(lines) == len(expected), lines
    assert "hunter2pw" not in result.stdout + result.stderr  # a password in a bad URL is not echoed


def test_a_set_variable_and_valid_urls_validate(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        """notifications:
  channels:
    slack: {urls: "${TA_TEST_WEBHOOK}"}
    desktop: {urls: ["dbus://", "macosx://"], optional: true}
    sound: {urls: "sound://?volume=0.2", optional: true}
    log: {urls: logfile://data/n.log}
  routes: {critical: [slack, sound, desktop], info: [log]}
""",
    )
    result = tradeassist(
        "validate", "config.yaml", cwd=tmp_path,
        env={"TA_TEST_WEBHOOK": "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXX"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("notifications:\n  channels:\n    x: {tags: [a]}\n", "a channel needs 'urls:'"),
        ("notifications:\n  channels:\n    x: {urls: 'json://h', colour: red}\n", "unknown field 'colour'"),
        ("notifications:\n  routes: {urgent: []}\n", "urgent"),
    ],
)
def test_shape_errors_are_located_too(tmp_path: Path, block: str, message: str) -> None:
    make_project(tmp_path, block)
    result = tradeassist("validate", "config.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert any(line.startswith("config.yaml:") and message in line for line in result.stdout.splitlines()), (
        result.stdout
    )


def test_the_shipped_config_validates_without_any_secret() -> None:
    result = tradeassist("validate", "config/config.yaml")
    assert result.returncode == 0, result.stdout


def _file_channel(tmp_path: Path, name: str, text: str | None) -> Path:
    """A project with one channel read from an apprise config file (``text`` None: no file)."""
    config = make_project(
        tmp_path,
        f"notifications:\n  channels:\n    file: {{config: {name}}}\n  routes: {{critical: [file]}}\n",
    )
    if text is not None:
        (tmp_path / name).write_text(text)
    return config


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("apprise.txt", "# desk\njson://127.0.0.1:9/x\nops=form://127.0.0.1:9/y\n"),
        ("apprise.yaml", "version: 1\nurls:\n  - json://127.0.0.1:9/x\n  - form://127.0.0.1:9/y:\n      - tag: ops\n"),
    ],
)
def test_a_valid_apprise_config_file_validates(tmp_path: Path, name: str, text: str) -> None:
    _file_channel(tmp_path, name, text)
    result = tradeassist("validate", "config.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_apprise_config_file_is_located_at_its_key(tmp_path: Path) -> None:
    _file_channel(tmp_path, "missing.yaml", None)
    result = tradeassist("validate", "config.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("config.yaml:6:20: channel 'file': apprise config file ") and "does not exist" in line


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("apprise.txt", "# desk\njson://127.0.0.1:9/x\nops = slak://T/B/C\n", "apprise.txt:3:7:"),
        ("apprise.yaml", "version: 1\nurls:\n  - json://127.0.0.1:9/x\n  - slak://T/B/C:\n      - tag: ops\n",
         "apprise.yaml:4:5:"),
    ],
)
def test_a_bad_url_in_an_apprise_config_file_is_located_in_that_file(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    _file_channel(tmp_path, name, text)
    result = tradeassist("validate", "config.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.splitlines() == [
        f"{where} channel 'file': unknown notification scheme 'slak://' (did you mean 'slack'?)"
    ]


def test_an_unreadable_apprise_config_file_is_located(tmp_path: Path) -> None:
    _file_channel(tmp_path, "apprise.yaml", "version: 1\nurls: [json://127.0.0.1:9/x\n")
    result = tradeassist("validate", "config.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("apprise.yaml:") and "channel 'file'" in line, line
