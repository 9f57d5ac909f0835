"""Save and restore the run's state: engine state, ordering marks, replay position.

A restart resumes from the last snapshot.  Ticks evaluated after it are evaluated
again; their alerts get the same ids (rule, tick time, arrival number) and the alert
log ignores ids it already holds, so a kill never duplicates or loses a logged alert.

A snapshot belongs to one config and one source (its *fingerprint*: the config file,
the source type and, for a replay, the file's path, size and a hash of its ends).
Restoring another's state would apply foreign cooldowns or reject every tick of an
earlier file, so a mismatch stops the run with a message pointing at ``run --fresh``.
A damaged snapshot (see :mod:`..sinks.state_store`) is not the user's choice, so the
run starts fresh instead: empty state, a replay from its first row, and the alert
log's ids make the re-evaluated alerts no-ops (not logged, not sent again).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..config.loaded import LoadedConfig
from ..config.models import ReplaySource
from ..engine.evaluate import Engine
from ..engine.snapshot import load_state, state_json_pieces
from ..engine.state import EngineState
from ..errors import SinkError
from ..logs import log
from ..sinks.backend import sqlite_state_path
from ..sinks.state_store import SnapshotDamaged
from ..sinks.store import SnapshotStore
from ..sources.ticks import TickGate
from ..timefmt import from_epoch_ms, to_epoch_ms

logger = logging.getLogger("tradeassist.snapshot")

#: Time spent encoding a snapshot after each batch: at least this (seconds), or a tenth of
#: the batch's own time when that is more, so a big state under a heavy load still finishes.
SNAPSHOT_SLICE_S = 0.001

#: Bytes hashed at each end of a replay file for its identity (the whole file may be GBs).
_IDENTITY_BYTES = 1 << 20


class SnapshotMismatch(SinkError):
    """The snapshot was saved for another config or source."""


def state_path(loaded: LoadedConfig) -> Path:
    """``storage.state``, or by default beside the alert log: ``alerts.sqlite`` -> ``alerts.state.sqlite``."""
    return sqlite_state_path(loaded)


def _prefix_hash(path: Path, length: int) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read(length)).hexdigest()
    except OSError:
        return None


def _file_identity(path: Path) -> dict[str, Any]:
    """The file's first bytes (up to 1 MiB): a recording that grew since is the same source,
    another file at the same path is not."""
    try:
        size = path.stat().st_size
    except OSError:
        return {"path": str(path)}  # unreadable: the source itself will say so
    length = min(size, _IDENTITY_BYTES)
    return {"path": str(path), "size": size, "prefix": length, "sha256_prefix": _prefix_hash(path, length)}


def _same_source(saved: dict[str, Any], now: dict[str, Any]) -> bool:
    """Same config and source; a replay file may have grown (its saved prefix still matches)."""
    if {k: v for k, v in saved.items() if k != "replay"} != {k: v for k, v in now.items() if k != "replay"}:
        return False
    old, new = saved.get("replay"), now.get("replay")
    if old is None or new is None:
        return old == new
    if not isinstance(old, dict) or old.get("path") != new.get("path") or "prefix" not in old:
        return False
    if int(new.get("size", -1)) < int(old["prefix"]):
        return False
    return _prefix_hash(Path(str(new["path"])), int(old["prefix"])) == old.get("sha256_prefix")


def fingerprint(loaded: LoadedConfig) -> dict[str, Any]:
    """What a snapshot belongs to; computed once per run (a replay file is hashed at its ends)."""
    source = loaded.config.source
    finger: dict[str, Any] = {"config": str(loaded.path.resolve()), "source": source.type}
    if isinstance(source, ReplaySource):
        finger["replay"] = _file_identity(loaded.resolve(source.path))
    return finger


def _describe(finger: dict[str, Any]) -> str:
    text = f"config {finger.get('config', '?')}, source {finger.get('source', '?')}"
    replay = finger.get("replay")
    if isinstance(replay, dict):
        text += f" {replay.get('path', '?')} ({replay.get('size', '?')} bytes)"
    return text


def _fresh(problem: SnapshotDamaged) -> int:
    log(logger, logging.ERROR,
        "state snapshot is damaged; ignoring it and starting fresh (alerts already logged are not logged or sent again)",
        path=str(problem.path), problem=problem.problem)
    return 0


def restore_snapshot(
    store: SnapshotStore, engine: Engine, gate: TickGate, loaded: LoadedConfig, finger: dict[str, Any] | None = None
) -> int:
    """Install the saved state; returns the replay row to resume after (0: from the start).

    Raises :class:`SnapshotMismatch` when the snapshot belongs to another config or source.
    """
    finger = finger if finger is not None else fingerprint(loaded)
    if store.set_aside is not None:
        return _fresh(store.set_aside)
    try:
        snapshot = store.load()
    except SnapshotDamaged as exc:
        return _fresh(exc)
    except SinkError as exc:
        return _fresh(SnapshotDamaged(store.path, str(exc)))
    if snapshot is None:
        return 0
    if not _same_source(snapshot.fingerprint, finger):
        raise SnapshotMismatch(
            f"state snapshot {store.path} was saved for another source or config "
            f"(saved: {_describe(snapshot.fingerprint)}; now: {_describe(finger)}); not restoring it. "
            f"To start fresh (empty cooldowns, replay from the start; the alert log is kept and "
            f"alerts already in it are not logged or sent again): tradeassist run --fresh {loaded.path}"
        )
    parts = snapshot.parts
    try:
        run = json.loads(parts["run"])
        state = load_state(parts)
        marks = {str(sym): from_epoch_ms(int(ms)) for sym, ms in run["marks"].items()}
        resume = int(run.get("row", 0))
    except Exception as exc:  # noqa: BLE001 - a sound checksum over parts this version cannot decode
        return _fresh(SnapshotDamaged(store.path, f"cannot be decoded ({type(exc).__name__}: {exc})"))
    engine.state = state
    gate.restore_marks(marks)
    log(logger, logging.INFO, "state restored", saved_at=run.get("saved_at", "?"),
        next_seq=engine.state.next_seq, resume_after_row=resume)
    return resume


@dataclass(frozen=True)
class TakenSnapshot:
    """The run's state at one point between batches, not encoded yet.

    Engine states are never mutated (each batch makes a new one and shares what did not
    change), so holding a reference is enough: the encoding, which takes tens to hundreds of
    milliseconds for a state holding minutes of look-back at thousands of ticks/s, is done
    a slice at a time between the next batches (:class:`SnapshotEncoder`) instead of
    stalling them.
    """

    state: EngineState
    marks: dict[str, int]
    row: int
    plan: str
    saved_at: str

    def run_part(self) -> bytes:
        """The snapshot's ``run`` part: where the run resumes and the gate's marks."""
        return json.dumps({"marks": self.marks, "row": self.row, "plan": self.plan, "saved_at": self.saved_at}).encode()


class Taken(Protocol):
    """A state taken by reference between batches, with the ``run`` part its runner restores."""

    @property
    def state(self) -> EngineState: ...

    def run_part(self) -> bytes: ...


def slice_budget(batch_s: float) -> float:
    """How long to encode after a batch that took ``batch_s`` seconds (see :data:`SNAPSHOT_SLICE_S`)."""
    return max(SNAPSHOT_SLICE_S, batch_s / 10)


def take_snapshot(engine: Engine, gate: TickGate, row: int) -> TakenSnapshot:
    """The run's state now (taken between batches; cheap: no copy, no encoding)."""
    return TakenSnapshot(
        engine.state, {sym: to_epoch_ms(ts) for sym, ts in gate.marks().items()}, row, engine.plan.version,
        datetime.now(timezone.utc).isoformat(),
    )


def encode_snapshot(taken: Taken) -> dict[str, bytes]:
    """The bytes a snapshot stores, in one go."""
    encoder = SnapshotEncoder(taken)
    parts = encoder.step(None)
    assert parts is not None
    return parts


class SnapshotEncoder:
    """Encodes a taken snapshot a few milliseconds at a time, between batches.

    Not in a thread: pure-Python encoding holds the GIL, and beside it the engine's thread
    waited for the GIL at each of its steps (a live batch took several times as long for
    the whole encoding). A slice per batch delays each batch by that slice only.
    """

    #: Pieces written between two looks at the clock.
    _CHECK_EVERY = 8

    def __init__(self, taken: Taken) -> None:
        self.taken = taken
        self._pieces = state_json_pieces(taken.state)
        self._out: list[str] = []

    def step(self, budget_s: float | None) -> dict[str, bytes] | None:
        """Encode for about ``budget_s`` seconds (None: to the end); the parts once done."""
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        out, check = self._out, self._CHECK_EVERY
        for piece in self._pieces:
            out.append(piece)
            if deadline is not None and len(out) % check == 0 and time.perf_counter() >= deadline:
                return None
        return {"state": "".join(out).encode(), "run": self.taken.run_part()}


def capture_snapshot(engine: Engine, gate: TickGate, row: int) -> dict[str, bytes]:
    """The run's state now, as the bytes a snapshot stores (taken between batches).

    Taking it and storing it are separate so the runner can store it later, once every
    alert of the batches it covers is committed, while evaluation goes on.
    """
    return encode_snapshot(take_snapshot(engine, gate, row))


async def store_snapshot(store: SnapshotStore, parts: dict[str, bytes], finger: dict[str, Any]) -> None:
    try:
        await asyncio.to_thread(store.save, parts, finger)
    except SinkError as exc:
        log(logger, logging.ERROR, "state snapshot failed; will retry", error=str(exc))

