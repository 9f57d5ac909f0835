"""The ``tradeassist`` command: wiring and exit codes only (docs/semantics.md, "Command line").

Exit codes: 0 success, 1 invalid input (config, rules, unreadable tick file),
2 usage error (click's own).  stdout carries only what a pipeline parses.
"""

from __future__ import annotations

import errno
import os
import sys
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import __version__
from .errors import ApiError, ChartError, ConfigError, SinkError, TickFileError

from .commands.common import INVALID, load_or_exit as _load

if TYPE_CHECKING:  # each command imports what it uses, so `--version` and `validate` start fast
    import polars as pl

    from .backtest import BacktestStats
    from .charts.draw import ChartRequest
    from .commands.common import StartUp
    from .engine.pending import PendingAlerts
    from .pipeline import BackgroundWriter
    from .config.loaded import LoadedConfig

#: click's own exit code for a usage error; also an option this install cannot serve.
USAGE = 2


def _silence_stdout() -> None:
    """Point standard output at /dev/null: what is still in its buffer would fail again at
    the interpreter's final flush (a reader gone, a full disk), after the error was said."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (an in-process runner's stream)
        pass


def _quiet_broken_pipe() -> NoReturn:
    """The reader of stdout went away (``| head``): stop without a traceback, as a pipeline expects."""
    _silence_stdout()
    sys.exit(0)


def _fail(lines: list[str] | str) -> NoReturn:
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(line, err=True)
    sys.exit(INVALID)




class _Finished(SystemExit):
    """A command is done and holds nothing the interpreter's orderly shutdown must close
    (no open file of ours, no worker process, no handler left to flush).

    Tearing down the modules a backtest or ``validate`` imported (polars, pydantic, apprise
    and its plugins) takes a quarter of such a run's CPU time. Run as a program, the
    command exits at once instead, after flushing stdout and stderr; called in-process
    (click's ``CliRunner``, which calls :meth:`click.Group.main`), this is a plain exit.
    """


#: Errors of a write that did not fit: a full disk or quota, a file past its size limit, a
#: failing device. Without a file name they come from standard output (``> out.jsonl``).
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _os_error_line(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        return f"error: {exc.filename}: {reason}"
    if exc.errno in _NO_ROOM:
        return f"error: cannot write the output: {reason}; what was written is incomplete"
    return f"error: {reason}"


def _stop_on_os_error(exc: OSError) -> NoReturn:
    """One line on stderr instead of a traceback, and exit 1."""
    _silence_stdout()
    try:
        click.echo(_os_error_line(exc), err=True)
    except OSError:  # stderr is on the full disk too: the exit code says it
        pass
    sys.exit(INVALID)


class _Program(click.Group):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.main(*args, **kwargs)
        except _Finished as done:
            if "coverage" in sys.modules:  # a measured run saves its data at shutdown
                raise
            code = done.code if isinstance(done.code, int) else 0
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (BrokenPipeError, ValueError):  # the reader left (`| head`), or closed
                    pass
                except OSError as exc:  # the last of stdout did not fit
                    _stop_on_os_error(exc)
            os._exit(code)
        except BrokenPipeError:
            raise
        except OSError as exc:  # e.g. stdout redirected to a file on a full disk
            _stop_on_os_error(exc)


@click.group(cls=_Program, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tradeassist")
def main() -> None:
    """Declarative trading alert runner: YAML rules, polars engine, alert log."""


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
def validate(config: str) -> None:
    """Check CONFIG and every rule file; print every problem as PATH:LINE:COLUMN: message."""
    from .commands.common import StartUp

    with StartUp():  # all of validate is start-up
        _validate(config)


def _validate(config: str) -> None:
    from .config.loader import load_config

    try:
        loaded = load_config(config)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        n = len(exc.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} found", err=True)
        raise _Finished(INVALID) from None
    for warning in loaded.warnings:
        click.echo(warning, err=True)
    active = sum(1 for r in loaded.rules if r.rule.active)
    click.echo(
        f"OK: {len(loaded.rules)} rules ({active} active) in {len(loaded.rule_files)} files, "
        f"{len(loaded.instruments)} instruments",
        err=True,
    )
    raise _Finished(0)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--ticks", "ticks_path", required=True, type=click.Path(), help="CSV or Parquet tick file")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Ticks per engine call; alerts do not depend on it  [default: 131072, fewer past 1,000 rules, "
                   "down to 50000]")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="table", show_default=True)
@click.option("--chart", "chart_path", metavar="FILE",
              help="Also draw the run: FILE.html (interactive, one self-contained file) or FILE.png")
@click.option("--symbol", "chart_symbol", help="The symbol --chart draws (default: the one with the most alerts)")
@click.option("--rule", "chart_rules", multiple=True, metavar="ID",
              help="Draw only this rule (repeatable; rules of one symbol)")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (it is only drawn when stderr is a terminal)")
@click.option("--workers", type=click.IntRange(min=1), help="Run on a local Dask cluster of N worker processes")
@click.option("--scheduler", metavar="ADDRESS", help="Run on an existing Dask cluster (tcp://HOST:8786)")
def backtest(
    config: str, ticks_path: str, batch_size: int | None, fmt: str, chart_path: str | None,
    chart_symbol: str | None, chart_rules: tuple[str, ...], quiet: bool, workers: int | None, scheduler: str | None,
) -> None:
    """Evaluate the rules over a tick file, offline; no notification is sent.

    With --chart FILE, also draw the price, each rule's threshold and value, and every
    alert (see the README, "Charts").
    """
    from .commands.common import StartUp

    with StartUp() as start_up:
        _backtest(start_up, config, ticks_path, batch_size, fmt, chart_path, chart_symbol, chart_rules, quiet,
                  workers, scheduler)


def _backtest(
    start_up: StartUp, config: str, ticks_path: str, asked_batch: int | None, fmt: str, chart_path: str | None,
    chart_symbol: str | None, chart_rules: tuple[str, ...], quiet: bool, workers: int | None, scheduler: str | None,
) -> None:
    _chart_options_need_chart(chart_path, chart_symbol, chart_rules)
    on_dask = workers is not None or scheduler is not None
    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers and --scheduler exclude each other")
    if on_dask and chart_path is not None:
        raise click.UsageError("--chart draws from a single-process run: leave out --workers/--scheduler")
    from .memory import bound_arrow_retention, keep_freed_memory

    keep_freed_memory()  # a batch job from here to exit
    bound_arrow_retention()
    reader = None
    if not on_dask:
        # Start reading now, on the other core: importing the rest of the run (pydantic, the
        # rule types, the engine) and loading the config is Python on this one.
        from .tick_reader import TickReader

        reader = TickReader(Path(ticks_path), asked_batch)  # (None: given with the symbols)
    try:
        from .backtest import BacktestStats, backtest_pending, default_batch_size
        from .commands.common import ProgressBar
        from .engine.pending import PendingAlerts
        from .pipeline import BackgroundWriter
        from .engine.alerts import ALERT_SCHEMA
        from .sinks.query import jsonl_columns, write_jsonl
        from .sources.ticks import format_rejections
        from .summary import RuleSummary

        loaded = _load(config)
        batch_size = asked_batch or default_batch_size(len(loaded.rules))
        chart = None
        if chart_path is not None:
            from .charts.draw import BacktestChart

            request = _chart_request([loaded], chart_path, chart_symbol, chart_rules)
            chart = BacktestChart(loaded, request, Path(ticks_path), batch_size)
    except BaseException:  # an invalid config or chart request: nothing is evaluated
        if reader is not None:
            reader.close()
        raise
    start_up.done(collect=on_dask)  # (a Dask client's threads and sockets make cycles)
    stats = BacktestStats()
    summary = RuleSummary(loaded)
    out = sys.stdout
    out.flush()
    raw = out.buffer
    bar = ProgressBar(quiet)
    # A batch's alert text is written, and its JSONL encoded (or its summary counted), on a
    # worker thread while the engine evaluates the next batch on this one.
    if fmt == "jsonl":
        written = jsonl_columns(ALERT_SCHEMA)  # (no inputs: JSONL does not carry them)

        def output(alerts: PendingAlerts) -> None:
            write_jsonl(raw, alerts.select(written))
    else:
        def output(alerts: PendingAlerts) -> None:
            summary.add(alerts.select(RuleSummary.COLUMNS))  # (the table builds no message, no inputs)
    writer: BackgroundWriter[PendingAlerts] = BackgroundWriter(output, name="alerts-out")
    try:
        frames: Iterator[PendingAlerts]
        if on_dask:
            frames = map(PendingAlerts.ready, _on_dask(loaded, Path(ticks_path), batch_size, stats, workers,
                                                       scheduler))
        else:
            frames = backtest_pending(loaded, Path(ticks_path), batch_size, stats,
                                      tap=chart.tap() if chart is not None else None,
                                      progress=bar.start("backtest", Path(ticks_path)), reader=reader)
        for alerts in frames:
            writer.put(alerts)
            del alerts  # (the writer's now: it lets go of the batch, and of its text, once written)
        writer.close()
    except TickFileError as exc:
        bar.close()
        _close_quietly(writer)
        _fail(f"error: {exc}")
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        bar.close()
        _quiet_broken_pipe()
    finally:  # Ctrl-C too: the bar never stays on the screen, and what was evaluated is written
        bar.close()
        _close_quietly(writer)
        if reader is not None:
            reader.close()
    try:
        raw.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    if fmt == "table":
        click.echo(summary.render())
    for line in format_rejections(stats.rejections, total=stats.rejected):
        click.echo(f"{ticks_path}: {line}", err=True)
    for note in stats.notes:
        click.echo(f"warning: {note}", err=True)
    if stats.unknown_symbol_ticks:
        names = ", ".join(sorted(stats.unknown_symbols)[:10])
        click.echo(
            f"{ticks_path}: {stats.unknown_symbol_ticks} ticks of undeclared symbols ignored ({names})",
            err=True,
        )
    click.echo(
        f"{stats.ticks_read} ticks read, {stats.ticks_accepted} evaluated, {stats.rejected} rejected, "
        f"{stats.alerts} alerts",
        err=True,
    )
    if chart is not None:
        try:
            click.echo(chart.write(), err=True)
        except (ChartError, TickFileError) as exc:  # the file may be gone by a second pass
            _fail(f"error: {exc}")
    if not on_dask:  # (a Dask cluster's processes are left to their own shutdown)
        raise _Finished(0)


def _on_dask(
    loaded: LoadedConfig, ticks: Path, batch_size: int, stats: BacktestStats, workers: int | None, scheduler: str | None
) -> Iterator[pl.DataFrame]:
    """The Dask path's frames; its own failures become one line and an exit code here."""
    from .dask_backtest import ClusterUnreachable, DaskMissing, dask_backtest

    try:
        yield from dask_backtest(loaded, ticks, batch_size, stats, workers=workers, scheduler=scheduler)
    except DaskMissing as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(USAGE)
    except ClusterUnreachable as exc:
        _fail(f"error: {exc}")


def _close_quietly(writer: BackgroundWriter[PendingAlerts]) -> None:
    """Let the alerts before a failure reach stdout; an error of the writer's own is moot then."""
    try:
        writer.close()
    except (BrokenPipeError, OSError):
        pass


def _chart_options_need_chart(chart_path: str | None, symbol: str | None, rules: tuple[str, ...]) -> None:
    if chart_path is None and (symbol is not None or rules):
        raise click.UsageError("--symbol and --rule choose what --chart draws: give --chart FILE too")


def _chart_request(configs: list[LoadedConfig], path: str, symbol: str | None, rules: tuple[str, ...]) -> ChartRequest:
    """``--chart``'s options checked before any tick is read: a usage error exits 2,
    a chart that could not be written (no [charts] extra, no such folder) exits 1."""
    from .charts.draw import prepare

    try:
        return prepare(configs, path, symbol, rules)
    except ChartError as exc:
        _fail(f"error: {exc}")
    except ValueError as exc:  # an unknown suffix, symbol or rule: SelectionError is one
        raise click.UsageError(str(exc)) from None


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--fresh", is_flag=True, help="Ignore the last state snapshot: empty cooldowns, replay from the start")
@click.option("--api/--no-api", "api", default=None, help="Serve the HTTP API (overrides api.enabled)")
@click.option("--api-port", type=click.IntRange(0, 65535), help="API port, 0 = any free one (overrides api.port)")
@click.option("--shard", "shard", multiple=True, metavar="I/N",
              help="With source type redis: evaluate shard I of N (repeat, or I,J/N, to serve several)")
def run(config: str, fresh: bool, api: bool | None, api_port: int | None, shard: tuple[str, ...]) -> None:
    """Run the service: stream ticks, evaluate the rules, log every alert (Ctrl-C to stop).

    State (cooldowns, previous values, replay position) is restored from the last
    snapshot; rule files are reloaded on change or on SIGHUP. With the API enabled,
    /healthz, /readyz, /metrics, /api/* and /ws/realtime are served in the same process.
    """
    import asyncio
    import os

    from .logs import setup_logging
    from .service.runner import run_service
    from .settings import load_settings

    # The flags are the TRADEASSIST_API_* variables, so a hot reload applies them the same way.
    if api is not None:
        os.environ["TRADEASSIST_API_ENABLED"] = "true" if api else "false"
    if api_port is not None:
        os.environ["TRADEASSIST_API_PORT"] = str(api_port)
    from .config.loader import RulesFileCache
    from .config.models import RedisSource

    rules_cache = RulesFileCache()  # the runner's reloads reuse the files this load read
    loaded = _load(config, rules_cache)
    source = loaded.config.source
    if isinstance(source, RedisSource) != bool(shard):
        if shard:
            raise click.UsageError(f"--shard needs `source: {{type: redis}}` (this config's source is {source.type})")
        raise click.UsageError(f"the config's source is redis: say which shard(s) to run, e.g. --shard 0/{source.shards}")  # type: ignore[union-attr]
    setup_logging(load_settings().log_level)
    try:
        if isinstance(source, RedisSource):
            try:
                from .service.sharded import parse_shards, run_sharded
            except ImportError as exc:
                _fail(f"error: sharded runners need the redis extra (pip install 'tradeassist-runner[redis]'): {exc}")
            try:
                served = parse_shards(shard, source.shards)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--shard") from None
            if fresh:
                raise click.UsageError("--fresh is for a single runner; move a shard's state file away instead")
            code = asyncio.run(run_sharded(loaded, served, rules_cache=rules_cache))
        else:
            code = asyncio.run(run_service(loaded, fresh=fresh, rules_cache=rules_cache))
    except SinkError as exc:
        _fail(f"error: {exc}")
    except TickFileError as exc:
        _fail(f"error: {exc}")
    except ApiError as exc:
        _fail(f"error: {exc}")
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # the console's last lines did not fit: the log said so
        _silence_stdout()
    sys.exit(code)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--rule", "rule_id", help="Only this rule id")
@click.option("--symbol", help="Only this symbol")
@click.option("--since", help="ISO-8601 time or a duration back from now (15m, 2h, 1d)")
@click.option("--until", help="ISO-8601 time or a duration back from now")
@click.option("--limit", type=click.IntRange(min=0, max=2**63 - 1), help="The latest N alerts")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True)
def alerts(
    config: str,
    rule_id: str | None,
    symbol: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    fmt: str,
) -> None:
    """Query the alert log."""
    from contextlib import closing

    from .sinks.backend import open_store
    from .sinks.query import format_jsonl, format_table, parse_since

    loaded = _load(config)
    now = datetime.now(timezone.utc)

    def when(option: str, text: str | None) -> datetime | None:
        if not text:
            return None
        try:
            return parse_since(text, now)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None
        except OverflowError:  # 99999999999999d reaches before year 1
            raise click.BadParameter(f"{text!r} is out of range", param_hint=option) from None

    t0, t1 = when("--since", since), when("--until", until)
    try:
        with closing(open_store(loaded, create=False)) as log:
            df: pl.DataFrame = log.query(rule_id=rule_id, symbol=symbol, since=t0, until=t1, limit=limit)
    except SinkError as exc:
        _fail(f"error: {exc}")
    if fmt == "jsonl":
        for line in format_jsonl(df):
            click.echo(line)
    else:
        click.echo(format_table(df))
        click.echo(f"{df.height} alerts", err=True)


@main.command()
@click.option("--kind", type=click.Choice(["rules", "config"]), default="rules", show_default=True)
def schema(kind: str) -> None:
    """Print the JSON Schema of rule files (or the config) for editors' YAML language server."""
    from .config.schema import render

    click.echo(render(kind), nl=False)  # type: ignore[arg-type]


def _register_feature_commands() -> None:
    """Feature modules under ``commands/`` each export ``COMMANDS: list[click.Command]``."""
    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            main.add_command(command)


_register_feature_commands()
