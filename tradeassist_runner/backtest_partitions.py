"""A backtest cut into independent partitions, and the merge that makes it one run again.

Engine state belongs to one symbol group, so a partition (some whole groups, their rules
and their instruments) evaluated on its own fires exactly the alerts the single run
fires for those symbols; batch-size independence means it may be evaluated whole, in
any batches. What must be carried through is *where* each alert and each rejected row
sits in the single run, so the merge can restore its order:

- alerts are ordered by their tick's position in the file (the single run evaluates in
  file order, and ties on one tick are in declaration order, which a partition keeps);
- rejections by (read chunk, stage, row): the single run keeps the first
  ``max_kept_rejections`` in that order, normalize's before the gate's within a chunk.

A task is pure: its inputs are the tick file's path, the partition's rules and
instruments, and the batch size; its output is a :class:`PartitionResult` holding the
alerts as Arrow IPC bytes. A worker that dies mid-task can therefore be replaced by
running the task again, anywhere, with the same result.
"""

from __future__ import annotations

import io
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from .backtest import READ_CHUNK, BacktestStats
from .config.loaded import LoadedConfig, LoadedRule
from .config.models import Instrument
from .engine.alerts import ALERT_SCHEMA
from .engine.evaluate import MAX_NOTES, Engine
from .engine.plan import compile_plan
from .errors import TickFileError
from .rules.groups import symbol_groups
from .sources.replay import is_parquet, iter_parquet_selection, iter_tick_file
from .sources.ticks import ROW, Rejection, TickGate, normalize

#: Stages of a read chunk, in the order the single run reports their rejections.
_NORMALIZE, _GATE = 0, 1
#: A partition row's 1-based row number in the file, while it is read.
_FILE_ROW = "_row_"


@dataclass(frozen=True)
class PartitionTask:
    """Everything one partition needs; picklable, so it travels to any worker."""

    index: int
    ticks_path: str
    rules: tuple[LoadedRule, ...]
    instruments: tuple[Instrument, ...]
    #: Rows of these symbols (after trimming) are this partition's.
    symbols: frozenset[str]
    #: Set on one partition only: it also takes every row whose symbol is in none of
    #: the partitions (blank, undeclared), so such rows are counted and reported once.
    all_symbols: frozenset[str] | None
    batch_size: int
    max_kept_rejections: int = 1000
    #: Fault drills only: (marker, release) paths. The task appends a line to ``marker``
    #: when it starts and waits for ``release`` to exist, so a drill can kill its worker
    #: mid-task and see the task run again.
    hold: tuple[str, str] | None = None


@dataclass(frozen=True)
class PartitionResult:
    index: int
    #: The alerts (ALERT_SCHEMA; ``seq`` = the tick's 0-based data row) as Arrow IPC.
    alerts: bytes
    ticks_read: int = 0
    ticks_accepted: int = 0
    unknown_symbol_ticks: int = 0
    unknown_symbols: tuple[str, ...] = ()
    rejected: int = 0
    #: (chunk, stage, rejection): the single run's report order.
    rejections: tuple[tuple[int, int, Rejection], ...] = ()
    #: (row where first said, note).
    notes: tuple[tuple[int, str], ...] = ()
    #: Why the tick file could not be read (a TickFileError's reason), if it could not.
    error: str | None = None


def plan_partitions(
    loaded: LoadedConfig, ticks_path: Path, partitions: int, batch_size: int, max_kept_rejections: int = 1000
) -> list[PartitionTask]:
    """Whole symbol groups packed into at most ``partitions`` tasks of similar weight.

    Weight is a group's rule count plus one (a tick's cost grows with the rules that read
    it; the tick counts are not known without reading the file). Largest first into the
    lightest partition, ties by group order, so the plan is the same on every run.
    """
    groups = symbol_groups(loaded.rules, loaded.instruments)
    n = max(1, min(partitions, len(groups)))
    group_of = {s: i for i, g in enumerate(groups) for s in g}
    weight = [1] * len(groups)
    for r in loaded.rules:
        weight[group_of[r.rule.instrument]] += 1
    bins: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for gi in sorted(range(len(groups)), key=lambda i: (-weight[i], i)):
        b = min(range(n), key=lambda j: (load[j], j))
        bins[b].append(gi)
        load[b] += weight[gi]
    all_symbols = frozenset(group_of)
    tasks = []
    for b, members in enumerate(bins):
        symbols = frozenset(s for gi in members for s in groups[gi])
        tasks.append(
            PartitionTask(
                index=b,
                ticks_path=str(ticks_path),
                rules=tuple(r for r in loaded.rules if r.rule.instrument in symbols),
                instruments=tuple(i for i in loaded.instruments if i.symbol in symbols),
                symbols=symbols,
                all_symbols=all_symbols if b == 0 else None,
                batch_size=batch_size,
                max_kept_rejections=max_kept_rejections,
            )
        )
    return tasks


def _hold(marker: str, release: str) -> None:
    with Path(marker).open("a") as f:  # one line per attempt
        f.write("started\n")
    while not Path(release).exists():
        time.sleep(0.01)


def run_partition(task: PartitionTask) -> PartitionResult:
    """Read the file, keep this partition's rows, and run the same gate and engine on them."""
    if task.hold is not None:
        _hold(*task.hold)
    try:
        return _run(task)
    except TickFileError as exc:  # carried as text: the exception need not survive pickling
        return PartitionResult(task.index, _ipc(pl.DataFrame(schema=ALERT_SCHEMA)), error=exc.reason)


def _run(task: PartitionTask) -> PartitionResult:
    engine = Engine(compile_plan(task.rules, task.instruments))
    gate = TickGate(i.symbol for i in task.instruments)
    gate_symbols = list(gate.symbols)
    own = list(task.symbols)
    everyone = None if task.all_symbols is None else list(task.all_symbols)
    chunk_rows = max(task.batch_size, min(READ_CHUNK, task.batch_size * 1024))
    stats = BacktestStats(max_kept_rejections=task.max_kept_rejections)
    kept: list[tuple[int, int, Rejection]] = []
    notes: list[tuple[int, str]] = []
    parts: list[pl.DataFrame] = []
    for chunk, numbered in _own_rows(task.ticks_path, own, everyone, chunk_rows):
        rows = numbered[_FILE_ROW]
        part = numbered.drop(_FILE_ROW)
        stats.ticks_read += part.height
        ticks, bad = normalize(part, rows=rows)
        admitted = gate.admit(ticks)
        for stage, found in ((_NORMALIZE, bad), (_GATE, admitted.rejections)):
            stats.rejected += len(found)
            room = task.max_kept_rejections - len(kept)
            kept.extend((chunk, stage, r) for r in found[: max(room, 0)])
        stats.unknown_symbol_ticks += admitted.unknown_symbols
        stats.unknown_symbols.update(admitted.unknown_symbol_names)
        accepted = admitted.accepted
        stats.ticks_accepted += accepted.height
        accepted_rows = _accepted_rows(ticks, accepted.height, admitted.rejections, gate_symbols)
        for start in range(0, accepted.height, task.batch_size):
            seq0 = engine.state.next_seq
            said = len(engine.notes)
            alerts = engine.process(accepted.slice(start, task.batch_size))
            notes.extend((int(accepted_rows[start]), n) for n in engine.notes[said:])
            if alerts.height:
                local = alerts["seq"].to_numpy() - seq0 + start
                parts.append(alerts.with_columns(pl.Series("seq", accepted_rows[local] - 1, dtype=pl.Int64)))
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=ALERT_SCHEMA)
    return PartitionResult(
        index=task.index,
        alerts=_ipc(frame),
        ticks_read=stats.ticks_read,
        ticks_accepted=stats.ticks_accepted,
        unknown_symbol_ticks=stats.unknown_symbol_ticks,
        unknown_symbols=tuple(sorted(stats.unknown_symbols)),
        rejected=stats.rejected,
        rejections=tuple(kept),
        notes=tuple(notes),
    )


def _accepted_rows(
    ticks: pl.DataFrame, accepted: int, late: list[Rejection], gate_symbols: list[str]
) -> np.ndarray:
    """The file rows of the gate's accepted ticks, in their order.

    When the gate took every tick (a clean file: the usual case) they are the chunk's own
    rows, read without the filter that otherwise finds them (a tenth of a partition's CPU
    outside the engine). Otherwise the ticks of watched symbols that were not late.
    """
    if not late and accepted == ticks.height:
        return ticks[ROW].to_numpy()
    return ticks.filter(
        pl.col("symbol").is_in(gate_symbols) & ~pl.col(ROW).is_in([r.row for r in late])
    )[ROW].to_numpy()


def _own_rows(
    path: str, own: list[str], everyone: list[str] | None, chunk_rows: int
) -> Iterator[tuple[int, pl.DataFrame]]:
    """``(chunk index, the partition's rows of that chunk numbered in _FILE_ROW)``, chunks as the
    single run reads them. Parquet selects the rows while reading; CSV must be parsed whole
    (a line's fields are only known once it is split), then filtered."""
    if is_parquet(path):
        return iter_parquet_selection(path, _mine_expr(own, everyone), chunk_rows, _FILE_ROW)
    return _filtered(iter_tick_file(path, chunk_rows), own, everyone)


def _filtered(
    raws: Generator[pl.DataFrame, None, None], own: list[str], everyone: list[str] | None
) -> Generator[tuple[int, pl.DataFrame], None, None]:
    first_row = 1
    try:
        for chunk, raw in enumerate(raws):
            numbered = raw.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).add(first_row).alias(_FILE_ROW))
            first_row += raw.height
            yield chunk, numbered.filter(_mine(raw["symbol"], own, everyone))
    finally:
        raws.close()


def _mine_expr(own: list[str], everyone: list[str] | None) -> pl.Expr:
    """:func:`_mine` as an expression on the ``symbol`` column, for a reader to evaluate."""
    trimmed = pl.col("symbol").cast(pl.String).str.strip_chars()
    keep = trimmed.is_in(own)
    if everyone is not None:
        keep = keep | trimmed.is_null() | (trimmed.str.len_bytes() == 0) | ~trimmed.is_in(everyone)
    return keep.fill_null(False)


def _mine(symbols: pl.Series, own: list[str], everyone: list[str] | None) -> pl.Series:
    """Which rows are the partition's: decided once per distinct raw symbol of the chunk
    (a handful) rather than by trimming and looking up every row's."""
    col = symbols.cast(pl.String)
    values = col.unique()
    trimmed = values.str.strip_chars()
    keep = trimmed.is_in(own)
    if everyone is not None:
        keep = keep | trimmed.is_null() | (trimmed.str.len_bytes() == 0) | ~trimmed.is_in(everyone)
    wanted = values.filter(keep.fill_null(False))
    mask = col.is_in(wanted.drop_nulls().to_list())
    if wanted.null_count():
        mask = mask | col.is_null()
    return mask.fill_null(False)


def _ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf)
    return buf.getvalue()


@dataclass
class Merged:
    #: Every alert in the single run's firing order.
    alerts: pl.DataFrame
    stats: BacktestStats = field(default_factory=BacktestStats)


def merge(ticks_path: Path, results: Sequence[PartitionResult], max_kept_rejections: int = 1000) -> Merged:
    """One run's alerts and report from its partitions' results.

    Raises TickFileError when a partition could not read the file.
    """
    for r in sorted(results, key=lambda r: r.index):
        if r.error is not None:
            raise TickFileError(ticks_path, r.error)
    frames = [pl.read_ipc(io.BytesIO(r.alerts)) for r in sorted(results, key=lambda r: r.index)]
    # A tick belongs to one partition, so equal ``seq`` never crosses partitions and the
    # stable sort keeps each tick's alerts in declaration order.
    alerts = pl.concat(frames).sort("seq", maintain_order=True) if frames else pl.DataFrame(schema=ALERT_SCHEMA)
    stats = BacktestStats(max_kept_rejections=max_kept_rejections)
    for r in results:
        stats.ticks_read += r.ticks_read
        stats.ticks_accepted += r.ticks_accepted
        stats.unknown_symbol_ticks += r.unknown_symbol_ticks
        stats.unknown_symbols.update(r.unknown_symbols)
        stats.rejected += r.rejected
    ordered = sorted((k for r in results for k in r.rejections), key=lambda k: (k[0], k[1], k[2].row))
    stats.rejections = [k[2] for k in ordered[:max_kept_rejections]]
    said = sorted(((row, r.index, i, n) for r in results for i, (row, n) in enumerate(r.notes)))
    stats.notes = list(dict.fromkeys(n for *_, n in said))[:MAX_NOTES]
    stats.alerts = alerts.height
    return Merged(alerts, stats)


def alert_slices(alerts: pl.DataFrame, rows: int = 50_000) -> list[pl.DataFrame]:
    """The merged alerts in slices, so a caller formats them as it would a run's batches."""
    return [alerts.slice(start, rows) for start in range(0, alerts.height, rows)]


__all__ = [
    "Merged",
    "PartitionResult",
    "PartitionTask",
    "alert_slices",
    "merge",
    "plan_partitions",
    "run_partition",
]
