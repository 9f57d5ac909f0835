"""Snapshot integrity: every part checksummed, any damage refused with what is wrong."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradeassist_runner.sinks.state_store import SnapshotDamaged, StateStore

PARTS = {"meta": b'{"next_seq": 3}', "run": b'{"row": 10}', "frame": b"ARROW1\x00\x01"}
FINGER = {"config": "/p/config.yaml", "source": "replay"}


def saved(tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite"
    with StateStore(path) as store:
        store.save(PARTS, FINGER)
    return path


def test_a_saved_snapshot_loads_back_with_its_fingerprint(tmp_path: Path) -> None:
    with StateStore(saved(tmp_path)) as store:
        snap = store.load()
    assert snap is not None and snap.parts == PARTS and snap.fingerprint == FINGER


def test_an_empty_store_has_no_snapshot(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.sqlite") as store:
        assert store.load() is None


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("UPDATE snapshot SET data = x'00' WHERE part = 'frame'", "part 'frame' does not match its checksum"),
        ("DELETE FROM snapshot WHERE part = 'meta'", "part 'meta' is missing"),
        ("INSERT INTO snapshot VALUES ('extra', x'00', 0)", "part 'extra' is not in the manifest"),
        ("UPDATE snapshot_manifest SET fingerprint = '{\"config\": \"/q\"}'", "manifest does not match its checksum"),
        ("DELETE FROM snapshot_manifest", "has no checksum manifest"),
        ("UPDATE snapshot_manifest SET parts = 'nope'", "manifest is unreadable"),
    ],
)
def test_damage_is_refused_naming_the_file_and_the_fault(tmp_path: Path, sql: str, problem: str) -> None:
    path = saved(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute(sql)
    with StateStore(path) as store, pytest.raises(SnapshotDamaged) as caught:
        store.load()
    assert problem in str(caught.value) and str(path) in str(caught.value)


def test_a_file_that_is_not_sqlite_is_set_aside_and_a_new_store_opened(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with StateStore(path) as store:
        assert store.set_aside is not None and "not a SQLite database" in store.set_aside.problem
        assert store.load() is None
        store.save(PARTS, FINGER)
    assert (tmp_path / "s.sqlite.damaged").read_bytes() == b"garbage" * 1000
