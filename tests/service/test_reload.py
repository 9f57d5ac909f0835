"""Hot reload, observed on a running service: valid edits apply, invalid ones never take it down."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..waiting import until
from tradeassist_runner.config.loader import RulesFileCache, load_config
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.service import reload as reload_module
from tradeassist_runner.service.observe import Observer, ReloadResult
from tradeassist_runner.service.reload import rebuild
from tradeassist_runner.service.runner import run_service

ALWAYS = "rules:\n  - {{id: {id}, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: {cd}}}\n"


def project(tmp_path: Path, rules: dict[str, str], rules_dir: str = "rules.d", data: str = "data") -> Path:
    """A config with its rules under ``tmp_path``; ``data="../data"`` keeps the alert log out
    of the watched folder, so that only the test's own edits make file events."""
    d = tmp_path / "rules.d"
    d.mkdir(exist_ok=True)
    for name, text in rules.items():
        (d / name).write_text(text)
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: /NQ, type: future}\n"
        f"rules_dir: {rules_dir}\n"
        "source: {type: synthetic, seed: 5, ticks_per_second: 100}\n"
        f"storage: {{sqlite: {data}/a.sqlite, parquet_dir: {data}/a, state: {data}/s.sqlite}}\n"
    )
    return config


class Running:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.observer = Observer()
        self.stop = asyncio.Event()

    async def __aenter__(self) -> Running:
        loaded = load_config(self.config)
        self.task = asyncio.create_task(
            run_service(loaded, stop=self.stop, out=io.StringIO(), observer=self.observer,
                        reload_debounce_ms=50, fresh=True)
        )
        await until(lambda: self.observer.batches > 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert await asyncio.wait_for(self.task, 30) == 0

    def fired(self, rule_id: str) -> int:
        return self.observer.alerts_by_rule.get(rule_id, 0)


def test_rebuild_reports_added_changed_removed(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h") + ALWAYS.format(id="b", cd="1h")[7:]})
    old = compile_plan(load_config(config).rules)
    (tmp_path / "rules.d" / "a.yaml").write_text(
        ALWAYS.format(id="a", cd="2h") + ALWAYS.format(id="c", cd="1h")[7:]
    )
    rebuilt = rebuild(old, config)
    assert rebuilt.result.ok and rebuilt.plan is not None
    assert (rebuilt.result.added, rebuilt.result.changed, rebuilt.result.removed) == (["c"], ["a"], ["b"])


def test_rebuild_of_invalid_files_keeps_the_old_plan(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h")})
    old = compile_plan(load_config(config).rules)
    (tmp_path / "rules.d" / "a.yaml").write_text("rules:\n  - {id: a, instrument: /ES, type: threshold, condition: abov, threshold: 1}\n")
    rebuilt = rebuild(old, config)
    assert not rebuilt.result.ok and rebuilt.plan is None
    assert rebuilt.result.errors == [
        f"{tmp_path}/rules.d/a.yaml:2:58: condition: 'abov' is not one of above, below, crosses_above,"
        " crosses_below (did you mean 'above'?)"
    ]


def test_valid_edit_applies_and_unchanged_rules_keep_their_cooldown(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="keep", cd="1h")})

    async def scenario() -> None:
        async with Running(config) as run:
            await until(lambda: run.fired("keep") == 1)
            (tmp_path / "rules.d" / "b.yaml").write_text(ALWAYS.format(id="new", cd="0s"))
            await until(lambda: run.fired("new") > 3)
            assert run.fired("keep") == 1  # still in its 1h cooldown: state carried over
            assert run.observer.last_reload is not None and run.observer.last_reload.added == ["new"]

    asyncio.run(scenario())


def test_invalid_edit_is_rejected_and_the_old_plan_keeps_firing(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="old", cd="0s")})

    async def scenario() -> None:
        async with Running(config) as run:
            await until(lambda: run.fired("old") > 0)
            (tmp_path / "rules.d" / "a.yaml").write_text("rules:\n  - {id: old, instrument: /ES, type: treshold}\n")
            await until(lambda: run.observer.reload_failed > 0)
            assert run.observer.last_reload is not None
            assert any(":2:" in e and "treshold" in e for e in run.observer.last_reload.errors)
            before = run.fired("old")
            await until(lambda: run.fired("old") > before + 3)  # the previous plan still fires
            (tmp_path / "rules.d" / "a.yaml").write_text(ALWAYS.format(id="fixed", cd="0s"))
            await until(lambda: run.fired("fixed") > 0)
            assert run.observer.last_reload.ok

    asyncio.run(scenario())


def test_rename_over_save_and_many_files_at_once(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h")})

    async def scenario() -> None:
        async with Running(config) as run:
            await until(lambda: run.fired("a") == 1)
            tmp = tmp_path / "rules.d" / ".a.yaml.swp"  # editor: write a temp file, rename over
            tmp.write_text(ALWAYS.format(id="renamed", cd="1h"))
            os.replace(tmp, tmp_path / "rules.d" / "a.yaml")
            await until(lambda: run.fired("renamed") == 1)
            for i in range(10):  # git checkout: many files at once
                (tmp_path / "rules.d" / f"m{i}.yaml").write_text(ALWAYS.format(id=f"m{i}", cd="1h"))
            await until(lambda: all(run.fired(f"m{i}") == 1 for i in range(10)))

    asyncio.run(scenario())


def test_kubernetes_configmap_symlink_swap(tmp_path: Path) -> None:
    d = tmp_path / "rules.d"
    (d / "..2026_01").mkdir(parents=True)
    (d / "..2026_01" / "r.yaml").write_text(ALWAYS.format(id="v1", cd="1h"))
    (d / "..data").symlink_to("..2026_01")
    (d / "r.yaml").symlink_to("..data/r.yaml")
    config = project(tmp_path, {})

    async def scenario() -> None:
        async with Running(config) as run:
            await until(lambda: run.fired("v1") == 1)
            (d / "..2026_02").mkdir()
            (d / "..2026_02" / "r.yaml").write_text(ALWAYS.format(id="v2", cd="1h"))
            (d / "..data_tmp").symlink_to("..2026_02")
            os.replace(d / "..data_tmp", d / "..data")  # the atomic swap the kubelet does
            await until(lambda: run.fired("v2") == 1)

    asyncio.run(scenario())


def test_sighup_forces_a_reload(tmp_path: Path) -> None:
    import signal

    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h")})

    async def scenario() -> None:
        loaded = load_config(config)
        observer, stop = Observer(), asyncio.Event()
        task = asyncio.create_task(
            run_service(loaded, stop=stop, out=io.StringIO(), observer=observer, watch_files=False, fresh=True)
        )
        await until(lambda: observer.batches > 0)
        (tmp_path / "rules.d" / "b.yaml").write_text(ALWAYS.format(id="b", cd="1h"))
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: observer.alerts_by_rule.get("b", 0) == 1)
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0

    asyncio.run(scenario())




def crash_on(rule_id: str, entered: threading.Event | None = None, release: threading.Event | None = None) -> Any:
    """A ``compile_plan`` that fails (as polars would) on plans holding ``rule_id``.

    With ``entered``/``release`` it first signals that the reload is under way and waits
    to be let go, so a test can edit the files while the failing reload runs.
    """
    real = compile_plan

    def compile_or_crash(rules: Any, instruments: Any = ()) -> Any:
        if any(r.rule.id == rule_id for r in rules):
            if entered is not None and release is not None:
                entered.set()
                assert release.wait(60), "the test never released the reload"
            raise OverflowError("Python int too large to convert to C long")
        return real(rules, instruments)

    return compile_or_crash


def test_rebuild_reports_a_compile_failure_at_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h")})
    old = compile_plan(load_config(config).rules)
    (tmp_path / "rules.d" / "a.yaml").write_text(ALWAYS.format(id="a", cd="1h") + ALWAYS.format(id="boom", cd="1h")[7:])
    monkeypatch.setattr(reload_module, "compile_plan", crash_on("boom"))
    rebuilt = rebuild(old, config)
    assert not rebuilt.result.ok and rebuilt.plan is None
    assert rebuilt.result.errors == [
        (
            f"{tmp_path}/rules.d/a.yaml:3:5: rule 'boom' cannot be compiled: "
            "OverflowError: Python int too large to convert to C long"
        )
    ]


def test_rebuild_reports_a_loader_failure_at_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h")})

    def broken(path: Any, **options: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(reload_module, "load_config", broken)
    rebuilt = rebuild(None, config)
    assert rebuilt.result.errors == [
        f"{config}:1:1: the config could not be loaded: RecursionError: maximum recursion depth exceeded"
    ]


def test_a_failing_reload_is_reported_and_an_edit_made_meanwhile_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = tmp_path / "project"
    tmp_path.mkdir()
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="old", cd="0s")}, data="../data")
    entered, release = threading.Event(), threading.Event()
    monkeypatch.setattr(reload_module, "compile_plan", crash_on("boom", entered, release))

    async def scenario() -> None:
        async with Running(config) as run:
            results: list[ReloadResult] = []
            on_reload = run.observer.on_reload

            def keep(result: ReloadResult) -> None:
                results.append(result)
                on_reload(result)

            run.observer.on_reload = keep  # type: ignore[method-assign]
            await until(lambda: run.fired("old") > 0)
            (tmp_path / "rules.d" / "a.yaml").write_text(ALWAYS.format(id="boom", cd="0s"))
            await until(entered.is_set, timeout=60)
            (tmp_path / "rules.d" / "a.yaml").write_text(ALWAYS.format(id="fixed", cd="0s"))  # saved meanwhile
            release.set()
            await until(lambda: run.fired("fixed") > 0, timeout=60)
            failed = [r for r in results if not r.ok]
            assert len(failed) == 1 and failed[0].errors == [
                (
                    f"{tmp_path}/rules.d/a.yaml:2:5: rule 'boom' cannot be compiled: "
                    "OverflowError: Python int too large to convert to C long"
                )
            ]
            assert results[-1].ok and not run.observer.config_invalid

    asyncio.run(scenario())


def test_a_rule_nested_5000_levels_deep_is_rejected_and_the_fix_applies(tmp_path: Path) -> None:
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="old", cd="0s")})

    async def scenario() -> None:
        async with Running(config) as run:
            await until(lambda: run.fired("old") > 0)
            (tmp_path / "rules.d" / "a.yaml").write_text("rules:\n  - notify: " + "[" * 5000 + "]" * 5000 + "\n")
            await until(lambda: run.observer.config_invalid, timeout=60)
            assert run.observer.last_reload is not None
            assert [e.split(": ", 1)[1] for e in run.observer.last_reload.errors] == ["nested deeper than 64 levels"]
            (tmp_path / "rules.d" / "a.yaml").write_text(ALWAYS.format(id="fixed", cd="0s"))
            await until(lambda: run.fired("fixed") > 0, timeout=60)
            assert not run.observer.config_invalid

    asyncio.run(scenario())


def test_sighup_and_recovery_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import signal

    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h")})
    rules = tmp_path / "rules.d" / "a.yaml"

    def logged(text: str) -> Callable[[], bool]:
        return lambda: any(text in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        loaded = load_config(config)
        observer, stop = Observer(), asyncio.Event()
        task = asyncio.create_task(
            run_service(loaded, stop=stop, out=io.StringIO(), observer=observer, watch_files=False, fresh=True)
        )
        await until(lambda: observer.batches > 0)
        os.kill(os.getpid(), signal.SIGHUP)
        await until(logged("rules unchanged"))
        assert logged("reload requested (SIGHUP)")()
        rules.write_text("rules:\n  - {id: a, instrument: /ES, type: treshold}\n")
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: observer.config_invalid)
        rules.write_text(ALWAYS.format(id="a", cd="1h"))
        os.kill(os.getpid(), signal.SIGHUP)
        await until(logged("config valid again"))
        assert not observer.config_invalid
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0

    with caplog.at_level(logging.INFO, logger="tradeassist"):
        asyncio.run(scenario())


def test_an_empty_rules_folder_is_logged_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = project(tmp_path, {})

    async def scenario() -> None:
        with caplog.at_level(logging.INFO, logger="tradeassist"):
            async with Running(config):
                pass

    asyncio.run(scenario())
    assert any(
        r.levelno == logging.WARNING and "warning: no rules: rules_dir 'rules.d' holds no *.yaml" in r.getMessage()
        for r in caplog.records
    )


def test_a_reload_that_fails_after_validation_is_a_located_rejection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradeassist_runner.notify.delivery import Notifier

    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="old", cd="0s")})

    async def refuse(self: Notifier, loaded: Any) -> None:
        raise RuntimeError("channel table\nbroken")

    async def scenario() -> None:
        async with Running(config) as run:
            await until(lambda: run.fired("old") > 0)
            monkeypatch.setattr(Notifier, "reconfigure", refuse)
            (tmp_path / "rules.d" / "a.yaml").write_text(ALWAYS.format(id="new", cd="0s"))
            await until(lambda: run.observer.config_invalid)
            assert run.observer.last_reload is not None
            assert run.observer.last_reload.errors == [
                f"{config}:1:1: the reload failed: RuntimeError: channel table\\u000abroken"
            ]
            before = run.fired("old")
            await until(lambda: run.fired("old") > before)  # the previous plan keeps running
            monkeypatch.undo()

    asyncio.run(scenario())


def test_a_rejection_logged_into_the_watched_folder_is_logged_once(tmp_path: Path) -> None:
    """A runner whose log goes to a file beside its config: the rejection's own lines change
    that file, and the reload that change causes finds the same problems and stays quiet,
    instead of logging them again (and so causing the next one) until the rules are fixed."""
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="old", cd="0s")}, data="../data")
    handler = logging.FileHandler(tmp_path / "run.log")
    handler.setFormatter(logging.Formatter("%(message)s"))
    tradeassist = logging.getLogger("tradeassist")
    tradeassist.addHandler(handler)

    async def scenario() -> None:
        async with Running(config) as run:
            await until(lambda: run.fired("old") > 0)
            (tmp_path / "rules.d" / "a.yaml").write_text("rules:\n  - {id: old, instrument: /ES, type: treshold}\n")
            # the first rejection, then the one its log lines cause
            await until(lambda: run.observer.reload_failed >= 2)
            (tmp_path / "rules.d" / "a.yaml").write_text(ALWAYS.format(id="fixed", cd="0s"))
            await until(lambda: run.fired("fixed") > 0)

    try:
        asyncio.run(scenario())
    finally:
        tradeassist.removeHandler(handler)
        handler.close()
    logged = (tmp_path / "run.log").read_text()
    assert logged.count("reload rejected; the previous rules keep running") == 1
    assert logged.count("treshold") == 1


def test_a_reload_reads_again_only_the_files_that_changed(tmp_path: Path) -> None:
    """The runner's reloads share the cache its first load filled: an edit of one file of
    two parses and validates that file alone."""
    config = project(tmp_path, {"a.yaml": ALWAYS.format(id="a", cd="1h"), "b.yaml": ALWAYS.format(id="b", cd="1h")},
                     data="../data")
    cache = RulesFileCache()
    loaded = load_config(config, cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)

    async def scenario() -> ReloadResult | None:
        observer, stop = Observer(), asyncio.Event()
        task = asyncio.create_task(run_service(loaded, stop=stop, out=io.StringIO(), observer=observer,
                                               reload_debounce_ms=50, fresh=True, rules_cache=cache))
        await until(lambda: observer.batches > 0)
        (tmp_path / "rules.d" / "b.yaml").write_text(ALWAYS.format(id="b", cd="2h"))
        await until(lambda: observer.last_reload is not None and observer.last_reload.changed == ["b"])
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        return observer.last_reload

    reloaded = asyncio.run(scenario())
    assert reloaded is not None and reloaded.ok
    assert cache.misses == 3  # b.yaml once more; a.yaml never again
    assert cache.hits >= 1
