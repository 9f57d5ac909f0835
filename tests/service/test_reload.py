"""Hot reload, observed on a running service: valid edits apply, invalid ones never take it down."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from ..waiting import until
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.service.observe import Observer
from tradeassist_runner.service.reload import rebuild
from tradeassist_runner.service.runner import run_service

ALWAYS = "rules:\n  - {{id: {id}, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: {cd}}}\n"


def project(tmp_path: Path, rules: dict[str, str], rules_dir: str = "rules.d") -> Path:
    d = tmp_path / "rules.d"
    d.mkdir(exist_ok=True)
    for name, text in rules.items():
        (d / name).write_text(text)
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: /NQ, type: future}\n"
        f"rules_dir: {rules_dir}\n"
        "source: {type: synthetic, seed: 5, ticks_per_second: 100}\n"
        "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}\n"
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


