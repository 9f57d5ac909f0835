"""Save and restore the run's state: engine state, ordering marks, replay position.

A restart resumes from the last snapshot.  Ticks evaluated after it are evaluated
again; their alerts get the same ids (rule, tick time, arrival number) and the alert
log ignores ids it already holds, so a kill never duplicates or loses a logged alert.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone

from ..config.loaded import LoadedConfig
from ..config.models import ReplaySource
from ..engine.evaluate import Engine
from ..engine.snapshot import dump_state, load_state
from ..errors import SinkError
from ..logs import log
from ..sinks.state_store import StateStore
from ..sources.ticks import TickGate
from ..timefmt import from_epoch_ms, to_epoch_ms

logger = logging.getLogger("tradeassist.snapshot")


def _source_id(loaded: LoadedConfig) -> str:
    source = loaded.config.source
    if isinstance(source, ReplaySource):
        return f"replay:{loaded.resolve(source.path)}"
    return source.type


def restore_snapshot(store: StateStore, engine: Engine, gate: TickGate, loaded: LoadedConfig) -> int:
    """Install the saved state; returns the replay row to resume after (0: from the start)."""
    try:
        parts = store.load()
    except SinkError as exc:
        log(logger, logging.ERROR, "cannot read the state snapshot; starting fresh", error=str(exc))
        return 0
    if not parts or "run" not in parts:
        return 0
    run = json.loads(parts["run"])
    engine.state = load_state(parts)
    gate.restore_marks({sym: from_epoch_ms(ms) for sym, ms in run["marks"].items()})
    same_source = run.get("source") == _source_id(loaded)
    resume = int(run.get("row", 0)) if same_source else 0
    log(logger, logging.INFO, "state restored", saved_at=run.get("saved_at", "?"),
        next_seq=engine.state.next_seq, resume_after_row=resume)
    return resume


async def save_snapshot(store: StateStore, engine: Engine, gate: TickGate, loaded: LoadedConfig, row: int) -> None:
    parts = dump_state(engine.state)
    parts["run"] = json.dumps(
        {
            "marks": {sym: to_epoch_ms(ts) for sym, ts in gate.marks().items()},
            "source": _source_id(loaded),
            "row": row,
            "plan": engine.plan.version,
            "saved_at": datetime.now(timezone.utc).isoformat(),
        }
    ).encode()
    try:
        await asyncio.to_thread(store.save, parts)
    except SinkError as exc:
        log(logger, logging.ERROR, "state snapshot failed; will retry", error=str(exc))
