"""``tradeassist backtest --workers/--scheduler``: the same bytes as the single-process run.

One real LocalCluster (two single-threaded worker processes) serves the whole module;
the command is pointed at it with ``--scheduler``, and ``--workers`` (which starts its
own cluster) is run once as a user would, in a subprocess. ``evaluated_at`` is the wall
clock at which an alert was produced, so it differs between any two runs, single-process
ones included; every other byte of stdout and stderr is compared.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tradeassist_runner.cli import main
from tradeassist_runner.errors import ConfigError
from tradeassist_runner.timefmt import iso_ms

from .cli_helpers import tradeassist
from .engine.reference import Tick
from .engine.test_equivalence import body, rule_sets, streams
from .ports import free_port
from .waiting import wait_until

distributed = pytest.importorskip("distributed")

INSTRUMENTS = [
    {"symbol": "/ES", "type": "future"}, {"symbol": "$TICK", "type": "internal"},
    {"symbol": "/NQ", "type": "future"}, {"symbol": "$ADD", "type": "internal"},
]
#: The second pair of symbols: a rule set drawn for the first pair, renamed.
RENAME = {"/ES": "/NQ", "$TICK": "$ADD"}
EVALUATED_AT = re.compile(r'"evaluated_at": ?"[^"]*"')


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    ) as cluster:
        yield cluster.scheduler_address


def _renamed(rule: dict[str, Any], i: int) -> dict[str, Any]:
    out = json.loads(json.dumps(rule))
    out["id"] = f"b{i}"
    out["instrument"] = RENAME[out["instrument"]]
    for b in out.get("conditions", [out]):
        if "other" in b:
            b["other"] = RENAME[b["other"]]
    return out


@st.composite
def projects(draw: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Two independent symbol pairs (so two partitions), one with a spread rule across its pair.

    The tick file interleaves both pairs' streams and carries rows every report mentions:
    a price that is not a number, a blank symbol, an undeclared symbol, a tick earlier than
    its symbol's last one.
    """
    first = draw(rule_sets())
    first.append({"id": "spread", "instrument": "/ES", "cooldown": "0s", **draw(body("spread", "/ES"))})
    second = [_renamed(r, i) for i, r in enumerate(draw(rule_sets()))]
    a: list[Tick] = draw(streams(max_size=30))
    b = [Tick(t.ts_ms, RENAME[t.symbol], t.price, t.volume) for t in draw(streams(max_size=30))]
    order = draw(st.lists(st.booleans(), min_size=len(a) + len(b), max_size=len(a) + len(b)))
    rows: list[str] = []
    for take_a in order:
        src = a if (take_a and a) or not b else b
        t = src.pop(0)
        ts = str(t.ts_ms) if len(rows) % 2 else iso_ms(t.ts_ms)
        rows.append(f"{ts},{t.symbol},{t.price!r},{'' if t.volume is None else t.volume}")
    for bad in draw(st.lists(st.sampled_from(["bad-price", "blank", "undeclared", "late"]), max_size=4)):
        at = draw(st.integers(0, len(rows)))
        row = {"bad-price": "1772900000000,/NQ,abc,1", "blank": "1772900000000, ,1.0,1",
               "undeclared": "1772900000000,ZZZ,1.0,1", "late": "1000,$ADD,1.0,1"}[bad]
        rows.insert(at, row)
    return first + second, rows


def _write(root: Path, rules: list[dict[str, Any]], rows: list[str], kind: str = "csv") -> tuple[Path, Path]:
    """The project, its ticks as CSV or as Parquet of text columns in row groups of 5 rows
    (the partitions select their rows from each row group as they read it)."""
    (root / "rules.d").mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    config.write_text(json.dumps({"instruments": INSTRUMENTS, "rules_dir": "rules.d"}))
    (root / "rules.d" / "rules.yaml").write_text(json.dumps({"rules": rules}))
    if kind == "parquet":
        ticks = root / "ticks.parquet"
        cells = [r.split(",") for r in rows]
        columns = {name: pl.Series(name, [c[i] for c in cells], pl.String)
                   for i, name in enumerate(("ts", "symbol", "price", "volume"))}
        pl.DataFrame(columns).write_parquet(ticks, row_group_size=5)
        return config, ticks
    csv = root / "ticks.csv"
    csv.write_text("\n".join(["ts,symbol,price,volume", *rows]) + "\n")
    return config, csv


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, EVALUATED_AT.sub("", result.stdout), result.stderr


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(project=projects(), batch_size=st.sampled_from(["1", "3", "50000"]), fmt=st.sampled_from(["jsonl", "table"]),
       kind=st.sampled_from(["csv", "parquet"]))
def test_dask_backtest_is_byte_identical(
    scheduler: str, tmp_path_factory: pytest.TempPathFactory, project: tuple[list[dict[str, Any]], list[str]],
    batch_size: str, fmt: str, kind: str,
) -> None:
    from tradeassist_runner.config.loader import load_config

    config, csv = _write(tmp_path_factory.mktemp("p"), *project, kind=kind)
    try:
        load_config(config)
    except ConfigError:
        assume(False)  # a rule that can never (or always) fire: validate refuses the set
    args = ["backtest", str(config), "--ticks", str(csv), "--format", fmt, "--batch-size", batch_size]
    single = _run(*args)
    assert single[0] == 0, single
    assert _run(*args, "--scheduler", scheduler) == single


def test_worker_killed_mid_run_gives_the_same_alerts(scheduler: str, tmp_path: Path) -> None:
    """SIGKILL the worker holding a partition while it runs; Dask reruns it elsewhere."""
    from dataclasses import replace

    from tradeassist_runner.backtest import BacktestStats, backtest
    from tradeassist_runner.config.loader import load_config
    from tradeassist_runner.dask_backtest import dask_backtest
    from tradeassist_runner.sinks.query import format_jsonl

    rows = [f"{1772900000000 + 1000 * i},{s},{1.0 + (i % 7) * 0.5},{i % 4}"
            for i in range(400) for s in ("/ES", "$TICK", "/NQ", "$ADD")]
    rules = [
        {"id": "es-up", "instrument": "/ES", "type": "threshold", "condition": "crosses_above", "threshold": 2.25},
        {"id": "es-tick", "instrument": "/ES", "type": "spread", "other": "$TICK", "mode": "difference",
         "condition": "crosses_below", "threshold": -0.7},
        {"id": "nq-dn", "instrument": "/NQ", "type": "threshold", "condition": "crosses_below", "threshold": 1.75},
        {"id": "add-up", "instrument": "$ADD", "type": "threshold", "condition": "above", "threshold": 3.25,
         "cooldown": "5s"},
    ]
    config, csv = _write(tmp_path, rules, rows)
    loaded = load_config(config)
    expected = [EVALUATED_AT.sub("", line) for f in backtest(loaded, csv, 50_000) for line in format_jsonl(f)]
    assert len(expected) > 20

    marker, release = tmp_path / "started", tmp_path / "release"
    killed: list[int] = []

    def hold_first(tasks: list[Any]) -> list[Any]:
        return [replace(t, hold=(str(marker), str(release))) if t.index == 0 else t for t in tasks]

    def kill_its_worker(client: Any, futures: list[Any]) -> None:
        wait_until(marker.exists, what="the held partition to start")
        key = futures[0].key
        on = [w for w, keys in client.processing().items() if key in keys]
        assert len(on) == 1, client.processing()
        pid = client.run(os.getpid, workers=on)[on[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        release.write_text("go\n")

    stats = BacktestStats()
    frames = dask_backtest(loaded, csv, 50_000, stats, scheduler=scheduler,
                           prepare=hold_first, on_submitted=kill_its_worker)
    got = [EVALUATED_AT.sub("", line) for f in frames for line in format_jsonl(f)]
    assert killed, "no worker was killed"
    assert marker.read_text() == "started\n" * 2, "the partition did not run again after its worker died"
    assert got == expected
    assert stats.alerts == len(expected) and stats.ticks_read == len(rows)


def test_workers_option_starts_a_local_cluster(tmp_path: Path) -> None:
    rules = [{"id": "es-up", "instrument": "/ES", "type": "threshold", "condition": "above", "threshold": 1.5}]
    rows = ["1772900000000,/ES,1.0,1", "1772900001000,/ES,2.0,1", "1772900002000,/NQ,x,1", "1000,/ES,3.0,1",
            "1772900003000,ZZZ,1.0,1", "1772900004000,/ES,3.0,1"]
    config, csv = _write(tmp_path, rules, rows)
    args = ["backtest", config, "--ticks", csv, "--format", "jsonl"]
    single = _run(*map(str, args))
    on_dask = tradeassist(*args, "--workers", "2")
    assert on_dask.returncode == single[0] == 0, on_dask.stderr
    assert EVALUATED_AT.sub("", on_dask.stdout) == single[1]
    assert on_dask.stdout.count("\n") == 1  # the default cooldown holds the later ticks back
    assert on_dask.stderr == single[2]
    assert "line 4: price 'x' is not a number" in on_dask.stderr


def test_unreachable_scheduler_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config, csv = _write(tmp_path, [{"id": "a", "instrument": "/ES", "type": "threshold",
                                      "condition": "above", "threshold": 1.5}], ["1772900000000,/ES,2.0,1"])
    address = f"tcp://127.0.0.1:{free_port()}"
    code, out, err = _run("backtest", str(config), "--ticks", str(csv), "--scheduler", address)
    assert code == 1
    assert err.startswith(f"error: cannot connect to the Dask scheduler at {address}: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_without_the_dask_extra_the_option_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, csv = _write(tmp_path, [], ["1772900000000,/ES,2.0,1"])
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` meets without the extra
    code, out, err = _run("backtest", str(config), "--ticks", str(csv), "--workers", "2")
    assert code == 2
    assert err == "error: --workers and --scheduler need Dask: pip install 'tradeassist-runner[dask]'\n"
    assert out == ""


def test_diff_over_ticks_on_the_cluster_reports_the_same(scheduler: str, tmp_path: Path) -> None:
    rows = [f"{1772900000000 + 1000 * i},{s},{1.0 + (i % 5) * 0.5},1" for i in range(60) for s in ("/ES", "/NQ")]
    rules = [{"id": "es", "instrument": "/ES", "type": "threshold", "condition": "crosses_above", "threshold": 1.75},
             {"id": "nq", "instrument": "/NQ", "type": "threshold", "condition": "crosses_below", "threshold": 2.25}]
    old_config, csv = _write(tmp_path / "old", rules, rows)
    rules[1]["threshold"] = 1.25
    new_config, _ = _write(tmp_path / "new", rules, rows)
    args = ["diff", str(old_config), str(new_config), "--ticks", str(csv), "--format", "json"]
    single = _run(*args)
    assert single[0] == 0 and '"nq"' in single[1]
    assert _run(*args, "--scheduler", scheduler) == single
