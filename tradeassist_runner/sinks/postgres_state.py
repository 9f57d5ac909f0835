"""Engine-state snapshots in PostgreSQL, one per ``scope`` (a runner, or a shard).

Several runners share the database, so every row is keyed by the scope that saved it:
a shard restarted on another machine finds its own state and no one else's. A save
replaces the scope's parts and manifest in one transaction, and a load checks them
exactly as the SQLite store does (:func:`.state_store.check_snapshot`).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from .pg_conn import Session, checked_url, migrate
from .state_store import Manifest, Snapshot, SnapshotDamaged, check_snapshot, make_manifest


class PostgresStateStore:
    def __init__(self, url: str, scope: str = "default") -> None:
        self.scope = scope
        self._session = Session(checked_url(url), "state store")
        self.path = f"{self._session.where} (scope {scope!r})"
        self.set_aside: SnapshotDamaged | None = None  # nothing to set aside: rows, not a file
        try:
            migrate(self._session)
        except BaseException:
            self._session.close()
            raise

    def save(self, parts: dict[str, bytes], fingerprint: dict[str, Any] | None = None) -> None:
        now = time.time()
        manifest = make_manifest(parts, fingerprint)
        with self._session.run(f"scope {self.scope!r}: cannot save snapshot") as conn, conn.transaction():
            conn.execute("DELETE FROM state_parts WHERE scope = %s", (self.scope,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO state_parts (scope, part, data, saved_at) VALUES (%s, %s, %s, %s)",
                    [(self.scope, name, data, now) for name, data in parts.items()],
                )
            conn.execute(
                "INSERT INTO state_manifests (scope, format, fingerprint, parts, digest) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (scope) DO UPDATE SET format = excluded.format, fingerprint = excluded.fingerprint, "
                "parts = excluded.parts, digest = excluded.digest",
                (self.scope, manifest.format, manifest.fingerprint, manifest.parts, manifest.digest),
            )

    def load(self) -> Snapshot | None:
        with self._session.run(f"scope {self.scope!r}: cannot read snapshot") as conn, conn.transaction():
            rows = conn.execute("SELECT part, data FROM state_parts WHERE scope = %s", (self.scope,)).fetchall()
            found = conn.execute(
                "SELECT format, fingerprint, parts, digest FROM state_manifests WHERE scope = %s", (self.scope,)
            ).fetchone()
        parts = {str(k): bytes(v) for k, v in rows}
        manifest = None if found is None else Manifest(int(found[0]), str(found[1]), str(found[2]), str(found[3]))
        return check_snapshot(self.path, parts, manifest)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PostgresStateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
