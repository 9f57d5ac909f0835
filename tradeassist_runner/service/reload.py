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
from ..config.loader import RulesFileCache, load_config
from ..engine.plan import Plan, compile_plan
from ..errors import ConfigError, Problem
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
    cache: RulesFileCache | None = None,
) -> Rebuilt:
    """Load and compile everything again; on any problem keep ``old_plan`` (returns plan=None).

    Never raises: every outcome is either a new plan or a rejection with located
    ``PATH:LINE:COLUMN: message`` errors.  Validation should catch everything, but a
    failure it missed (an engine limit, a bug) must still reach ``/api/status`` as an
    invalid config rather than escape into the file watcher and lose the next edit.
    """
    now = datetime.now(timezone.utc)
    version = old_plan.version if old_plan else ""
    try:
        loaded = apply(load_config(config_path, cache=cache))
    except ConfigError as exc:
        return Rebuilt(None, None, ReloadResult(False, now, version, errors=[str(p) for p in exc.problems]))
    except Exception as exc:  # noqa: BLE001 - not a validation problem: report it, located at the config file
        problem = Problem(str(config_path), 1, 1, f"the config could not be loaded: {_what(exc)}")
        return Rebuilt(None, None, ReloadResult(False, now, version, errors=[str(problem)]))
    try:
        plan = compile_plan(loaded.rules, loaded.instruments)
    except Exception as exc:  # noqa: BLE001 - whatever the engine raised
        return Rebuilt(None, None, ReloadResult(False, now, version, errors=_compile_errors(loaded, exc)))
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


def _what(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _compile_errors(loaded: LoadedConfig, exc: Exception) -> list[str]:
    """The rules that do not compile on their own, each at its place; else the error at the config."""
    errors: list[str] = []
    for rule in loaded.rules:
        try:
            compile_plan([rule])
        except Exception as one:  # noqa: BLE001 - which rule it is
            where = rule.source
            errors.append(
                str(Problem(where.path, where.line, where.column, f"rule '{rule.rule.id}' cannot be compiled: {_what(one)}"))
            )
    if not errors:
        errors.append(str(Problem(str(loaded.path), 1, 1, f"the rules cannot be compiled: {_what(exc)}")))
    return errors


class Rejections:
    """Logs a rejected reload: its reason and every located problem, once per set of problems.

    A file event that leaves the same problems (an editor's swap file, a log file in the
    watched folder) says nothing new. Logged again, the lines would reach such a log file,
    whose change is the next event: a runner whose stderr went to a file beside its config
    logged the same rejection twenty times a second until the rules were fixed. SIGHUP, an
    explicit request, always gets its answer.
    """

    def __init__(self, to: logging.Logger) -> None:
        self._logger = to
        self._last: list[str] | None = None

    def report(self, reason: str, errors: list[str]) -> None:
        if errors == self._last and reason != "SIGHUP":
            return
        self._last = list(errors)
        log(self._logger, logging.ERROR, "reload rejected; the previous rules keep running",
            reason=reason, problems=len(errors))
        for line in errors:
            log(self._logger, logging.ERROR, line)

    def clear(self) -> None:
        """The files were valid again: the next rejection is news, whatever it says."""
        self._last = None


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
    """Call ``trigger`` once per burst of file events under ``paths``; never raises out.

    Events that arrive while ``trigger`` runs are kept by the watcher and make the next
    burst, so the last state of the files always gets a reload.  A failing ``trigger``
    is logged and the watcher goes on (restarting it would drop the events of the
    restart's gap); when the watcher itself has to restart, one reload follows, for
    whatever changed while nothing was watching.
    """
    restarted = False
    while not stop.is_set():
        try:
            # A restarted watcher also wakes on a timeout, so its first wake-up reloads
            # even if nothing changes from then on.
            async for changes in watchfiles.awatch(
                *paths, stop_event=stop, debounce=debounce_ms, step=50, recursive=True, watch_filter=None,
                yield_on_timeout=restarted, rust_timeout=max(debounce_ms, 50) if restarted else None,
            ):
                if restarted:
                    restarted = False
                    await _guarded(trigger, "file watcher restarted")
                    continue
                if not changes:
                    continue
                names = sorted({Path(p).name for _, p in changes})
                await _guarded(
                    trigger, "files changed: " + ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
                )
        except Exception as exc:  # noqa: BLE001 - a vanished folder must not kill the runner
            log(logger, logging.ERROR, "file watcher failed; retrying", error=_what(exc))
            restarted = True
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass


async def _guarded(trigger: Callable[[str], Awaitable[None]], reason: str) -> None:
    """Run one reload; a failure is logged, and the watching goes on (its events kept)."""
    try:
        await trigger(reason)
    except Exception as exc:  # noqa: BLE001 - logged, never raised into the watcher
        log(logger, logging.ERROR, "reload failed", reason=reason, error=_what(exc))
