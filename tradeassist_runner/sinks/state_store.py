"""Engine-state snapshots in SQLite: one transaction per snapshot, so a kill mid-write
leaves the previous snapshot intact (SQLite's journal guarantees it)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import TracebackType

from ..errors import SinkError


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS snapshot (part TEXT PRIMARY KEY, data BLOB NOT NULL, saved_at REAL NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise SinkError(f"state store {path}: {exc}") from exc

    def save(self, parts: dict[str, bytes]) -> None:
        now = time.time()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM snapshot")
            self._conn.executemany(
                "INSERT INTO snapshot (part, data, saved_at) VALUES (?, ?, ?)",
                [(k, v, now) for k, v in parts.items()],
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise SinkError(f"state store {self.path}: cannot save snapshot: {exc}") from exc

    def load(self) -> dict[str, bytes] | None:
        try:
            rows = self._conn.execute("SELECT part, data FROM snapshot").fetchall()
        except sqlite3.Error as exc:
            raise SinkError(f"state store {self.path}: cannot read snapshot: {exc}") from exc
        return {k: bytes(v) for k, v in rows} or None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
