"""/metrics, parsed as Prometheus does, against what really happened: the replay file and the alert log."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Service, project, until

RULES = """\
rules:
  - {id: es.cross, instrument: /ES, type: threshold, condition: crosses_above, threshold: 100, cooldown: 0s}
  - {id: nq.high, instrument: /NQ, type: threshold, condition: above, threshold: 50, cooldown: 1h}
"""


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def write_replay(path: Path) -> dict[str, int]:
    """200 /ES ticks alternating 99/101 (100 crossings), 100 /NQ ticks, 3 bad rows, 2 of an
    undeclared symbol, then one tick 10 minutes later that the test never waits for."""
    lines = ["ts,symbol,price,volume"]
    for i in range(200):
        lines.append(f"2026-01-05T14:30:00.{i * 2:03d}Z,/ES,{99 if i % 2 == 0 else 101},1")
        if i % 2 == 0:
            lines.append(f"2026-01-05T14:30:00.{i * 2:03d}Z,/NQ,{60 + i},2")
    lines += [
        "2026-01-05T14:30:00.401Z,/ES,oops,1",  # not a number
        "2026-01-05T14:30:00.402Z,/NQ,70,-5",  # negative volume
        "2026-01-05T14:29:59.000Z,/NQ,70,1",  # time going back for /NQ
        "2026-01-05T14:30:00.403Z,/ZZ,1,1",  # undeclared
        "2026-01-05T14:30:00.404Z,/ZZ,1,1",
        "2026-01-05T14:40:00.000Z,/ES,99,1",  # the sentinel: keeps the replay (and the API) alive
    ]
    path.write_text("\n".join(lines) + "\n")
    return {"accepted": 300, "rejected": 3, "unknown": 2}


def logged_per_rule(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        return dict(con.execute("SELECT rule_id, count(*) FROM alert_logs GROUP BY rule_id").fetchall())


def test_metrics_count_the_replayed_ticks_and_the_logged_alerts(tmp_path: Path) -> None:
    expected = write_replay(tmp_path / "ticks.csv")
    config = project(tmp_path, {"r.yaml": RULES}, source="{type: replay, path: ticks.csv, speed: 1}")

    async def scenario() -> None:
        async with Service(config) as svc:
            o = svc.observer
            # every row but the sentinel counted: the undeclared ones come last and may be a batch later
            counted = expected["accepted"] + expected["rejected"] + expected["unknown"]
            await until(lambda: o.ticks_in + o.ticks_rejected + o.unknown_symbol_ticks == counted, timeout=60)
            await until(lambda: sum(logged_per_rule(tmp_path / "data/a.sqlite").values()) == 101, timeout=60)
            m = parse((await svc.http.get("/metrics")).text)

            assert m[("tradeassist_ticks_total", ())] == expected["accepted"]
            assert m[("tradeassist_ticks_rejected_total", ())] == expected["rejected"]
            assert m[("tradeassist_ticks_unknown_symbol_total", ())] == expected["unknown"]
            logged = logged_per_rule(tmp_path / "data/a.sqlite")
            assert logged == {"es.cross": 100, "nq.high": 1}
            for rule_id, n in logged.items():
                assert m[("tradeassist_alerts_total", (("rule_id", rule_id),))] == n
            batches = m[("tradeassist_batches_total", ())]
            assert batches >= 1
            assert m[("tradeassist_batch_duration_seconds_count", ())] == batches
            assert m[("tradeassist_batch_duration_seconds_bucket", (("le", "+Inf"),))] == batches
            assert m[("tradeassist_plan_rules", ())] == 2
            assert m[("tradeassist_instrument_ticks_total", (("symbol", "/ES"),))] == 200
            assert m[("tradeassist_instrument_last_price", (("symbol", "/NQ"),))] == 60 + 198
            assert m[("tradeassist_config_invalid", ())] == 0
            assert m[("tradeassist_source_connected", ())] == 1
            assert ("process_resident_memory_bytes", ()) in m  # this app's registry has process metrics

            # The API agrees with the log it reads.
            stats = await svc.json("/api/alerts/stats")
            assert stats["by_rule"] == logged and stats["total"] == 101

    asyncio.run(scenario())


GOOD = "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 1h}\n"
BAD = "rules:\n  - {id: es.any, instrument: /ES, type: threshold, condition: abov, threshold: 0}\n"


def save(path: Path, staging: Path, text: str) -> None:
    """Replace a watched file whole with one rename, as an editor's atomic save does.
    Written in place, a loaded machine can let the watcher read the emptied file between
    truncate and write, and that (valid, rule-less) file would become the running rules.
    ``staging`` is outside every watched folder, so the rename is the only event."""
    tmp = staging / f".{path.name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


def test_a_rejected_reload_is_counted_located_and_recovers(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = project(tmp_path, {"a.yaml": GOOD})
    rule_file = tmp_path / "rules.d" / "a.yaml"
    staging = tmp_path_factory.mktemp("staging")

    async def scenario() -> None:
        async with Service(config) as svc:
            m = parse((await svc.http.get("/metrics")).text)
            assert m[("tradeassist_reloads_total", (("result", "failure"),))] == 0

            save(rule_file, staging, BAD)
            await until(lambda: svc.observer.reload_failed == 1)
            m = parse((await svc.http.get("/metrics")).text)
            assert m[("tradeassist_reloads_total", (("result", "failure"),))] == 1
            assert m[("tradeassist_config_invalid", ())] == 1
            status = await svc.json("/api/status")
            assert status["config_valid"] is False
            assert status["last_reload"]["ok"] is False
            assert status["last_reload"]["errors"] == [
                f"{rule_file}:2:63: condition: 'abov' is not one of above, below, crosses_above, crosses_below"
                " (did you mean 'above'?)"
            ]
            assert status["plan"]["rules"] == 1  # the previous rules keep running
            assert (await svc.http.get("/readyz")).status_code == 200

            save(rule_file, staging, GOOD.replace("threshold: 0,", "threshold: 1,") + GOOD.replace("es.any", "es.two")[7:])
            await until(lambda: svc.observer.reload_ok == 1)
            m = parse((await svc.http.get("/metrics")).text)
            assert m[("tradeassist_reloads_total", (("result", "success"),))] == 1
            assert m[("tradeassist_reloads_total", (("result", "failure"),))] == 1
            assert m[("tradeassist_config_invalid", ())] == 0
            assert m[("tradeassist_plan_rules", ())] == 2
            status = await svc.json("/api/status")
            assert status["config_valid"] is True and status["last_reload"]["errors"] == []
            assert status["last_reload"]["added"] == ["es.two"] and status["last_reload"]["changed"] == ["es.any"]

    asyncio.run(scenario())
