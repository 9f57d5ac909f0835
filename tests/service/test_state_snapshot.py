"""A damaged state snapshot is refused with a clear message and the run starts fresh.

The snapshot is taken by a real runner SIGKILLed mid-stream, then damaged on disk the
ways disks and people damage files. The restarted runner must not crash, must name the
file and the damage, and must end with the same alert log as an uninterrupted run:
nothing skipped, nothing logged or sent twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .storage_helpers import Runner, make_ticks, project, run, sqlite_ids

STORAGE = "sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite, snapshot_interval: 100ms"


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ticks(tmp_path_factory.mktemp("ticks") / "es.parquet")


@pytest.fixture(scope="module")
def uninterrupted(ticks: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("whole")
    done = run(project(root, ticks, storage=STORAGE))
    assert done.returncode == 0, done.stderr
    ids = sqlite_ids(root / "data/a.sqlite")
    assert len(ids) > 50
    return ids


def saved_row(state: Path) -> int:
    try:
        with sqlite3.connect(state) as conn:
            row = conn.execute("SELECT data FROM snapshot WHERE part = 'run'").fetchone()
    except sqlite3.Error:
        return 0
    return int(json.loads(row[0])["row"]) if row else 0


def killed_mid_stream(root: Path, ticks: Path) -> Path:
    config = project(root, ticks, speed=40, storage=STORAGE)
    runner = Runner(config)
    runner.wait_for("out", "  ", count=20)
    state = root / "data/s.sqlite"
    # Wait (on the file, generously) until a snapshot with a replay position exists.
    deadline = time.monotonic() + 90
    while saved_row(state) == 0:
        assert runner.proc.poll() is None, runner.stderr
        assert time.monotonic() < deadline, "no snapshot was saved"
        time.sleep(0.02)
    runner.kill()
    return project(root, ticks, storage=STORAGE)  # same config file, now replayed at full speed


def set_part(state: Path, part: str, data: bytes | None) -> None:
    with sqlite3.connect(state) as conn:
        if data is None:
            conn.execute("DELETE FROM snapshot WHERE part = ?", (part,))
        else:
            assert conn.execute("UPDATE snapshot SET data = ? WHERE part = ?", (data, part)).rowcount == 1


def bad_json(state: Path) -> None:
    set_part(state, "run", b"{not json")


def garbage_state(state: Path) -> None:
    set_part(state, "state", b'{"format":2,"garbage' * 10)


def missing_part(state: Path) -> None:
    set_part(state, "state", None)


def row_plus_5000(state: Path) -> None:
    with sqlite3.connect(state) as conn:
        run_part = json.loads(conn.execute("SELECT data FROM snapshot WHERE part = 'run'").fetchone()[0])
    run_part["row"] += 5000  # plausible, valid JSON: only a checksum can tell
    set_part(state, "run", json.dumps(run_part).encode())


def not_a_database(state: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    state.write_bytes(b"\x00garbage, not SQLite" * 100)


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "bad-json": (bad_json, "part 'run' does not match its checksum"),
    "garbage-state": (garbage_state, "part 'state' does not match its checksum"),
    "missing-part": (missing_part, "part 'state' is missing"),
    "row-plus-5000": (row_plus_5000, "part 'run' does not match its checksum"),
    "not-a-database": (not_a_database, "not a SQLite database"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_snapshot_is_refused_and_the_run_starts_fresh(
    damage: str, ticks: Path, uninterrupted: list[str], tmp_path: Path
) -> None:
    config = killed_mid_stream(tmp_path, ticks)
    partial = sqlite_ids(tmp_path / "data/a.sqlite")
    assert 0 < len(partial) < len(uninterrupted)
    state = tmp_path / "data/s.sqlite"
    corrupt, problem = DAMAGE[damage]
    corrupt(state)

    resumed = run(config)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    [line] = [ln for ln in resumed.stderr.splitlines() if "state snapshot is damaged" in ln]
    assert str(state) in line and problem in line, line
    assert "state restored" not in resumed.stderr
    assert sqlite_ids(tmp_path / "data/a.sqlite") == uninterrupted  # nothing skipped, nothing twice

    again = run(config)  # the fresh run saved a sound snapshot: restored, nothing new
    assert again.returncode == 0 and "state restored" in again.stderr, again.stderr
    assert sqlite_ids(tmp_path / "data/a.sqlite") == uninterrupted


def test_starting_fresh_after_damage_sends_no_notification_twice(ticks: Path, tmp_path: Path) -> None:
    channel = (
        'notifications:\n  channels:\n    file: {urls: "logfile://data/notifications.log"}\n'
        "  routes: {info: [file], warning: [file], critical: [file]}\n"
    )
    config = project(tmp_path, ticks, storage=STORAGE, extra=channel)
    first = run(config)
    assert first.returncode == 0, first.stderr
    sent = (tmp_path / "data/notifications.log").read_text()
    assert sent
    garbage_state(tmp_path / "data/s.sqlite")

    again = run(config)
    assert again.returncode == 0, again.stderr
    assert "state snapshot is damaged" in again.stderr
    assert (tmp_path / "data/notifications.log").read_text() == sent


def test_a_snapshot_encoded_a_slice_at_a_time_has_the_bytes_of_one_dump() -> None:
    """The runner encodes a snapshot between batches in small slices; the result must not differ."""
    from tradeassist_runner.engine.snapshot import dump_state, load_state
    from tradeassist_runner.engine.state import EngineState
    from tradeassist_runner.service.snapshots import SnapshotEncoder, TakenSnapshot

    chunks = [[[1_000 + i, 1_001 + i], [100.5 + i, float("nan")]] for i in range(300)]
    state = EngineState(
        next_seq=7,
        sources={"/ES|tick": {"bar": None, "same": [3, 1], "latest": 1_301}},
        series={f"rate_of_change|/ES|{w}": {"type": {"chunks": chunks}, "last": 0.25} for w in (5_000, 60_000)},
        rules={f"r{i}": {"last": None if i % 2 else 1_200, "armed": True, "run": None} for i in range(50)},
    )
    taken = TakenSnapshot(state, {"/ES": 1_301}, 0, "v1", "2026-01-05T14:30:00+00:00")
    encoder = SnapshotEncoder(taken)
    steps = 1
    while (parts := encoder.step(0.0)) is None:
        steps += 1
    assert steps > 1  # it did stop and resume
    body = {"format": 2, "next_seq": 7, "sources": state.sources, "series": state.series, "rules": state.rules}
    assert parts["state"] == dump_state(state)["state"] == json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    assert load_state(parts).rules == state.rules
    assert json.loads(parts["run"])["marks"] == {"/ES": 1_301}
