"""Engine-state snapshots in SQLite, checksummed, one transaction per snapshot.

A kill mid-write leaves the previous snapshot intact (SQLite's journal guarantees it),
but nothing guards the parts against a bad disk, a bad copy or a hand edit: a garbled
part used to crash every restart, and a plausible wrong value (a replay position
5000 rows ahead) silently skipped alerts. So every save also writes a manifest: the
sha256 of each part and one digest over the part names, their digests and the
snapshot's fingerprint (which config and source it belongs to). :meth:`StateStore.load`
checks all of it and raises :class:`SnapshotDamaged` naming the file and the fault.
The check is generic: it holds for whatever parts the engine chooses to save.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import SinkError

#: Version of the manifest layout; a snapshot with another one is not trusted.
MANIFEST_FORMAT = 1


class SnapshotDamaged(SinkError):
    """The snapshot cannot be trusted; ``problem`` says why (for the log line)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"state snapshot {path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Snapshot:
    parts: dict[str, bytes]
    #: What the snapshot belongs to (config, source); compared by the caller.
    fingerprint: dict[str, Any]


def _digest(parts: dict[str, str], fingerprint: str) -> str:
    h = hashlib.sha256()
    h.update(f"format={MANIFEST_FORMAT}\n".encode())
    h.update(fingerprint.encode())
    for name in sorted(parts):
        h.update(f"\n{name}={parts[name]}".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What a save writes next to the parts, and a load checks them against."""

    format: int
    fingerprint: str  # JSON
    parts: str  # JSON: part name -> sha256
    digest: str


def make_manifest(parts: dict[str, bytes], fingerprint: dict[str, Any] | None) -> Manifest:
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in parts.items()}
    finger = json.dumps(fingerprint or {}, sort_keys=True)
    return Manifest(MANIFEST_FORMAT, finger, json.dumps(sums, sort_keys=True), _digest(sums, finger))


def check_snapshot(where: Path | str, parts: dict[str, bytes], manifest: Manifest | None) -> Snapshot | None:
    """The snapshot if parts and manifest agree; None if there is none; else ``SnapshotDamaged``.

    Shared by every backend, so a snapshot is trusted on the same grounds wherever it is kept.
    """
    if not parts and manifest is None:
        return None
    if manifest is None:
        raise SnapshotDamaged(where, "has no checksum manifest (written by an older version, or edited)")
    fmt, finger, sums_text, digest = manifest.format, manifest.fingerprint, manifest.parts, manifest.digest
    if fmt != MANIFEST_FORMAT:
        raise SnapshotDamaged(where, f"manifest format {fmt} is not {MANIFEST_FORMAT}")
    try:
        sums = json.loads(sums_text)
        fingerprint = json.loads(finger)
    except ValueError as exc:
        raise SnapshotDamaged(where, f"manifest is unreadable ({exc})") from exc
    if not isinstance(sums, dict) or not isinstance(fingerprint, dict):
        raise SnapshotDamaged(where, "manifest is unreadable (not JSON objects)")
    if _digest({str(k): str(v) for k, v in sums.items()}, str(finger)) != digest:
        raise SnapshotDamaged(where, "manifest does not match its checksum")
    for name in sorted(sums):
        if name not in parts:
            raise SnapshotDamaged(where, f"part '{name}' is missing")
        if hashlib.sha256(parts[name]).hexdigest() != sums[name]:
            raise SnapshotDamaged(where, f"part '{name}' does not match its checksum")
    extra = sorted(set(parts) - set(sums))
    if extra:
        raise SnapshotDamaged(where, f"part '{extra[0]}' is not in the manifest")
    return Snapshot(parts, fingerprint)


class StateStore:
    def __init__(self, path: Path) -> None:
        """Open (creating) the store; a file that is not SQLite is set aside, not fatal.

        ``set_aside`` then tells what was wrong and where the old file went, so the
        caller can log it and start fresh instead of never starting.
        """
        self.path = path
        self.set_aside: SnapshotDamaged | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"state store {path}: cannot create its folder: {exc.strerror}") from exc
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "not a database" not in str(exc):
                raise SinkError(f"state store {path}: {exc}") from exc
            aside = path.with_name(path.name + ".damaged")
            try:
                os.replace(path, aside)
                for suffix in ("-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                self._conn = self._open()
            except (OSError, sqlite3.Error) as again:
                raise SinkError(f"state store {path}: not a SQLite database and cannot be replaced: {again}") from again
            self.set_aside = SnapshotDamaged(path, f"not a SQLite database ({exc}); moved to {aside}")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS snapshot (part TEXT PRIMARY KEY, data BLOB NOT NULL, saved_at REAL NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS snapshot_manifest (id INTEGER PRIMARY KEY CHECK (id = 1), "
                "format INTEGER NOT NULL, fingerprint TEXT NOT NULL, parts TEXT NOT NULL, digest TEXT NOT NULL)"
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def save(self, parts: dict[str, bytes], fingerprint: dict[str, Any] | None = None) -> None:
        now = time.time()
        manifest = make_manifest(parts, fingerprint)
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM snapshot")
            self._conn.executemany(
                "INSERT INTO snapshot (part, data, saved_at) VALUES (?, ?, ?)",
                [(k, v, now) for k, v in parts.items()],
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO snapshot_manifest (id, format, fingerprint, parts, digest) VALUES (1, ?, ?, ?, ?)",
                (manifest.format, manifest.fingerprint, manifest.parts, manifest.digest),
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise SinkError(f"state store {self.path}: cannot save snapshot: {exc}") from exc

    def load(self) -> Snapshot | None:
        """The last snapshot, checked; None if there is none; ``SnapshotDamaged`` if it is bad."""
        try:
            rows = self._conn.execute("SELECT part, data FROM snapshot").fetchall()
            manifest = self._conn.execute(
                "SELECT format, fingerprint, parts, digest FROM snapshot_manifest WHERE id = 1"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise SnapshotDamaged(self.path, f"cannot be read ({exc})") from exc
        parts = {str(k): bytes(v) for k, v in rows}
        found = None if manifest is None else Manifest(manifest[0], manifest[1], manifest[2], manifest[3])
        return check_snapshot(self.path, parts, found)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
