"""Hot reload: re-validate everything on a change, swap in a new plan, or keep the old one.

The decision is a pure function, ``rebuild(old_plan, config_path)``, so it is tested by
calling it; the watcher only decides *when* to call it.  The watcher observes folders,
not files: editors that save by write-to-temp-and-rename, ``git checkout`` replacing
many files, and a Kubernetes ConfigMap swapping its ``..data`` symlink all show up as
events in the folder, and whatever the event, the reload re-reads every file and
compares the result, so a spurious event costs one validation and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import watchfiles

from ..config.loaded import LoadedConfig
from ..config.loader import load_config
from ..engine.plan import Plan, compile_plan
from ..errors import ConfigError
from ..logs import log
from .observe import ReloadResult

logger = logging.getLogger("tradeassist.reload")


@dataclass(frozen=True)
class Rebuilt:
    loaded: LoadedConfig | None
    plan: Plan | None
    result: ReloadResult

    @property
    def changed_anything(self) -> bool:
        r = self.result
        return bool(r.added or r.removed or r.changed) or not r.ok


def rebuild(
    old_plan: Plan | None,
    config_path: Path,
    apply: Callable[[LoadedConfig], LoadedConfig] = lambda x: x,
) -> Rebuilt:
    """Load and compile everything again; on any problem keep ``old_plan`` (returns plan=None)."""
    now = datetime.now(timezone.utc)
    try:
        loaded = apply(load_config(config_path))
    except ConfigError as exc:
        version = old_plan.version if old_plan else ""
        return Rebuilt(None, None, ReloadResult(False, now, version, errors=[str(p) for p in exc.problems]))
    plan = compile_plan(loaded.rules, loaded.instruments)
    old = {c.rule.id: c.state_key for c in old_plan.rules} if old_plan else {}
    new = {c.rule.id: c.state_key for c in plan.rules}
    result = ReloadResult(
        True,
        now,
        plan.version,
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        changed=sorted(k for k in new.keys() & old.keys() if new[k] != old[k]),
    )
    return Rebuilt(loaded, plan, result)


def watched_paths(loaded: LoadedConfig) -> list[Path]:
    """The config's folder and the rules folder (not their resolved symlink targets)."""
    rules_dir = loaded.resolve(loaded.config.rules_dir)
    paths = {loaded.path.parent.absolute()}
    if rules_dir.exists():
        paths.add(rules_dir)
    return sorted(paths)


async def watch(
    paths: list[Path],
    trigger: Callable[[str], Awaitable[None]],
    stop: asyncio.Event,
    debounce_ms: int = 300,
) -> None:
    """Call ``trigger`` once per burst of file events under ``paths``; never raises out."""
    while not stop.is_set():
        try:
            async for changes in watchfiles.awatch(
                *paths, stop_event=stop, debounce=debounce_ms, step=50, recursive=True,
                watch_filter=None,
            ):
                names = sorted({Path(p).name for _, p in changes})
                await trigger("files changed: " + ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""))
        except Exception as exc:  # a vanished folder must not kill the runner
            log(logger, logging.ERROR, "file watcher failed; retrying", error=str(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
