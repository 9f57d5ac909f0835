"""Backtests on a Dask cluster: one task per partition, merged into the single run's output.

Dask distributed does the placing, the retrying of a task whose worker died, and the
moving of results; the partitions and the merge (backtest_partitions) make the result
independent of all of that. Imported only when ``--workers`` or ``--scheduler`` is
given: the ``[dask]`` extra is optional.

The tick file is read by every task from its path, so a large file is never shipped
through the scheduler or between workers; with ``--scheduler`` the path must therefore
be readable at the same place on every worker (a shared volume). From Parquet a task
decodes only its own rows (the reader selects them by symbol); a CSV file is parsed
whole by every task, which then keeps its own rows.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from .backtest import BacktestStats
from .backtest_partitions import PartitionTask, alert_slices, merge, plan_partitions, run_partition
from .config.loaded import LoadedConfig
from .errors import TradeAssistError
from .memory import MMAP_THRESHOLD, TRIM_THRESHOLD
from .sources.replay import iter_tick_file

#: How long a scheduler may take to answer before it is called unreachable.
CONNECT_TIMEOUT_S = 10
_FORKSERVER = "forkserver" in multiprocessing.get_all_start_methods()


class DaskMissing(TradeAssistError):
    """``--workers``/``--scheduler`` without the ``[dask]`` extra installed."""


class ClusterUnreachable(TradeAssistError):
    """The scheduler at the given address did not answer."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DaskMissing(
            "--workers and --scheduler need Dask: pip install 'tradeassist-runner[dask]'"
        ) from None
    # The client's own INFO/WARNING lines (a worker lost and replaced) would land in the
    # report on stderr; what matters to the user is said by the command itself.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    return distributed


@contextmanager
def connect(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A client of an existing cluster (``scheduler``) or of a local one started for it.

    The local cluster has ``workers`` single-threaded processes and lives as long as the
    ``with`` block, so several backtests (``diff`` runs two) share one start-up.
    """
    dd = _distributed()
    with ExitStack() as stack:
        if scheduler is not None:
            _refused(scheduler)
            try:
                client = stack.enter_context(dd.Client(scheduler, timeout=CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterUnreachable(f"cannot connect to the Dask scheduler at {scheduler}: {_first_line(exc)}") from None
        else:
            n = workers or 1
            # Each worker's polars would start a thread per core of the machine: N of them
            # oversubscribe the cores the workers already split, and idle pool threads spin.
            # Its share of the cores, at least one; set before the worker process starts,
            # since polars sizes its pool when it is imported.
            import dask

            environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
            environ.setdefault("POLARS_MAX_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
            # These workers run one backtest and exit, like the single process: keep the
            # memory they free for the next batch (see memory.py) instead of Dask's default
            # of trimming it back to the kernel, which refaults the pages of every batch (on
            # 10M ticks, 1M page faults and 1.5 s of CPU per worker). glibc reads these when
            # a process starts.
            environ["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
            environ["MALLOC_TRIM_THRESHOLD_"] = str(TRIM_THRESHOLD)
            stack.enter_context(dask.config.set({
                "distributed.nanny.pre-spawn-environ": environ,
                # The worker's statistical profiler (a stack sample every 10 ms, for a
                # dashboard this cluster does not have) is CPU taken from the partitions.
                "distributed.worker.profile.enabled": False,
                # So are the event-loop watchdog (every 20 ms in each server), the memory
                # monitor (100 ms) and the system monitor (500 ms): each wakes a process
                # whose other thread is evaluating, to take the GIL from it. At these
                # rates the cluster's idle CPU falls from 7 % of a core to 1.2 %, and the
                # GIL handovers around a busy task by two thirds (measured, 2 workers).
                "distributed.admin.tick.interval": "1s",
                "distributed.worker.memory.monitor-interval": "1s",
                "distributed.admin.system-monitor.interval": "2s",
                # Workers forked from one server process that imported Dask once, instead of
                # each a fresh interpreter importing it again: a worker's start-up CPU falls
                # from 1.0 s to 0.45 s, the server's 0.4 s is paid once (measured). Where
                # there is no fork (Windows), Dask's default stands.
                **({"distributed.worker.multiprocessing-method": "forkserver"} if _FORKSERVER else {}),
            }))
            if _FORKSERVER:
                _lean_forkserver()
            cluster = stack.enter_context(
                dd.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.CRITICAL,
                    # The scheduler serves HTTP (health, metrics) even without a dashboard,
                    # by default on 8787; any free port, so two runs never collide or warn.
                    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                )
            )
            client = stack.enter_context(dd.Client(cluster))
        yield client


def _lean_forkserver() -> None:
    """Have the forkserver preload Dask only.

    Dask's own choice adds every optional package it knows that is installed (pandas among
    them), importing each in this process and in the server: 0.35 s of CPU per run that
    a backtest, which never touches pandas, does not need. Dask records that the choice was
    made in a module flag; where that flag is gone (another Dask version) its default
    stands. Polars and this package are left out on purpose: they start threads on import,
    and a process forked from one with threads may inherit a lock held by none of them.
    """
    import distributed.utils

    if getattr(distributed.utils, "_forkserver_preload_set", True):
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(["distributed"])
    distributed.utils._forkserver_preload_set = True


def dask_backtest(
    loaded: LoadedConfig,
    ticks_path: Path,
    batch_size: int,
    stats: BacktestStats,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    prepare: Callable[[list[PartitionTask]], list[PartitionTask]] | None = None,
    on_submitted: Callable[[Any, list[Any]], None] | None = None,
) -> Iterator[pl.DataFrame]:
    """Alert frames in firing order, like :func:`backtest.backtest`, computed on a cluster.

    On ``client`` (from :func:`connect`) if given, else on a cluster connected for this run
    (see :func:`connect` for ``workers`` and ``scheduler``). ``prepare`` and
    ``on_submitted`` let a fault drill hold a task and reach the client while it runs.

    Raises TickFileError before anything is submitted when the file cannot be opened.
    """
    iter_tick_file(ticks_path, 1).close()  # same early, located error as the single run
    with ExitStack() as stack:
        if client is None:
            client = stack.enter_context(connect(workers, scheduler))
        slots = sum(client.nthreads().values()) or 1
        tasks = plan_partitions(loaded, ticks_path.resolve(), slots, batch_size, stats.max_kept_rejections)
        if prepare is not None:
            tasks = prepare(tasks)
        # pure=False: a task's key must not come from hashing its inputs (rule models do
        # not tokenize deterministically), and two runs must never share a result.
        futures = [client.submit(run_partition, t, pure=False) for t in tasks]
        if on_submitted is not None:
            on_submitted(client, futures)
        results = client.gather(futures)
        del futures  # the cluster may let go of the results it holds
        merged = merge(ticks_path, results, stats.max_kept_rejections)
        del results
        for name in ("ticks_read", "ticks_accepted", "unknown_symbol_ticks", "rejected", "alerts"):
            setattr(stats, name, getattr(merged.stats, name))
        stats.unknown_symbols.update(merged.stats.unknown_symbols)
        stats.rejections[:] = merged.stats.rejections
        stats.notes[:] = merged.stats.notes
        # Inside the cluster's block: a local cluster's shutdown (the workers' exit) then
        # comes after the last slice was handed over, while the caller's writer thread
        # still encodes the JSON lines, instead of before the merge.
        yield from alert_slices(merged.alerts)


def _refused(address: str) -> None:
    """Fail at once when nothing listens at a ``tcp://`` address.

    The client would retry for its whole timeout; a refused connection will not change
    its mind, and saying so in a second matters to someone who mistyped a port.
    """
    if "://" in address and not address.startswith("tcp://"):
        return  # another transport (tls://, ucx://): the client says what is wrong
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise ClusterUnreachable(f"cannot connect to the Dask scheduler at {address}: not HOST:PORT")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterUnreachable(f"cannot connect to the Dask scheduler at {address}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


__all__ = ["ClusterUnreachable", "DaskMissing", "connect", "dask_backtest"]
