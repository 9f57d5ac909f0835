"""``test``, ``diff`` and ``explain``: reviewing rule changes like code (GitOps).

Wiring and exit codes only; the logic lives in :mod:`tradeassist_runner.gitops`.
Exit codes as everywhere: 0 success, 1 invalid input or a failed test, 2 usage error.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ChartError, ConfigError, SinkError, TickFileError

from .common import INVALID, ProgressBar, load_or_exit

if TYPE_CHECKING:
    from ..config.loaded import LoadedConfig
    from ..gitops.diff import DiffReport


@click.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-v", "--verbose", is_flag=True, help="Show the alert list of passing tests too")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar over tick files (drawn only when stderr is a terminal)")
def test_command(files: tuple[str, ...], verbose: bool, quiet: bool) -> None:
    """Run rule unit tests (YAML FILES, or folders of them) through the real engine.

    Each failing test prints a diff: '-' an expected alert that did not fire, '+' an
    alert that fired but was not expected, '~' a fired alert with another value.
    Mistakes in a test file are printed as PATH:LINE:COLUMN: message.
    """
    from ..gitops.ruletest import expand_paths, render, run_file, summary

    paths = expand_paths(list(files))
    if not paths:
        click.echo(f"error: no test files in {', '.join(files)}", err=True)
        sys.exit(INVALID)
    bar = ProgressBar(quiet)
    try:
        results = [run_file(p, bar.start) for p in paths]
    finally:
        bar.close()
    for line in render(results, verbose=verbose):
        click.echo(line)
    click.echo(summary(results), err=True)
    sys.exit(0 if all(r.passed for r in results) else INVALID)


def _diff_on_dask(
    stack: ExitStack, before: LoadedConfig, after: LoadedConfig, old_name: str, new_name: str, ticks: Path,
    workers: int | None, scheduler: str | None,
) -> DiffReport:
    """Both versions backtested on one cluster (one start-up); its failures as one line."""
    from functools import partial

    from ..dask_backtest import ClusterUnreachable, DaskMissing, connect, dask_backtest
    from ..gitops.diff import build_report

    try:
        client = stack.enter_context(connect(workers, scheduler))
    except DaskMissing as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ClusterUnreachable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(INVALID)
    return build_report(before, after, old_name, new_name, ticks, run=partial(dask_backtest, client=client))


@click.command("diff")
@click.argument("old", type=click.Path())
@click.argument("new", required=False, type=click.Path())
@click.option("--ticks", "ticks_path", type=click.Path(), help="Backtest both versions over this CSV/Parquet tick file")
@click.option(
    "--git-ref",
    help="Take OLD from this Git ref (a temporary worktree); with one path, NEW is that path as it is now",
)
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table", show_default=True)
@click.option("--chart", "chart_path", metavar="FILE",
              help="With --ticks: draw OLD's and NEW's alerts in two colours on one chart (FILE.html or FILE.png)")
@click.option("--symbol", "chart_symbol", help="The symbol --chart draws (default: the one with the most alerts)")
@click.option("--rule", "chart_rules", multiple=True, metavar="ID",
              help="Draw only this rule (repeatable; rules of one symbol)")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar with --ticks (drawn only when stderr is a terminal)")
@click.option("--workers", type=click.IntRange(min=1), help="Backtest on a local Dask cluster of N worker processes")
@click.option("--scheduler", metavar="ADDRESS", help="Backtest on an existing Dask cluster (tcp://HOST:8786)")
def diff_command(
    old: str, new: str | None, ticks_path: str | None, git_ref: str | None, fmt: str, chart_path: str | None,
    chart_symbol: str | None, chart_rules: tuple[str, ...], quiet: bool, workers: int | None, scheduler: str | None,
) -> None:
    """Show what changes between two versions of the rules: OLD and NEW are configs or rules folders.

    Rules added, removed and changed (field by field); with --ticks, per rule, how many
    alerts each version fires over the same ticks and the first alerts that differ;
    with --chart too, a chart of both versions' alerts.

    \b
    tradeassist diff old/config/config.yaml config/config.yaml --ticks session.csv
    tradeassist diff config/config.yaml --git-ref origin/main --ticks session.csv --format markdown
    tradeassist diff old/config/config.yaml config/config.yaml --ticks session.csv --chart diff.html
    """
    from ..gitops.diff import build_report, render_json, render_markdown, render_table
    from ..gitops.gitref import GitError, at_ref
    from ..gitops.sources import load_source

    if new is None and git_ref is None:
        raise click.UsageError("give OLD and NEW, or one path with --git-ref REF")
    if chart_path is None and (chart_symbol is not None or chart_rules):
        raise click.UsageError("--symbol and --rule choose what --chart draws: give --chart FILE too")
    if chart_path is not None and ticks_path is None:
        raise click.UsageError("--chart draws the alerts of a backtest: give --ticks FILE too")
    on_dask = workers is not None or scheduler is not None
    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers and --scheduler exclude each other")
    if on_dask and chart_path is not None:
        raise click.UsageError("--chart draws from single-process runs: leave out --workers/--scheduler")
    new_text = new if new is not None else old
    with ExitStack() as stack:
        old_path = Path(old)
        old_name = old
        if git_ref is not None:
            try:
                old_path = stack.enter_context(at_ref(Path(old), git_ref))
            except GitError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(INVALID)
            old_name = f"{old}@{git_ref}"
        try:
            before = load_source(old_path, declare_used=True)
            after = load_source(Path(new_text), declare_used=True)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem))
            sys.exit(INVALID)
        chart = None
        if chart_path is not None and ticks_path is not None:
            from ..charts.draw import DiffChart, prepare

            try:
                request = prepare([before, after], chart_path, chart_symbol, chart_rules)
            except ChartError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(INVALID)
            except ValueError as exc:  # an unknown suffix, symbol or rule
                raise click.UsageError(str(exc)) from None
            chart = DiffChart(before, after, request, Path(ticks_path))
        bar = ProgressBar(quiet)
        try:
            ticks = Path(ticks_path) if ticks_path else None
            if ticks is not None and on_dask:
                report = _diff_on_dask(stack, before, after, old_name, new_text, ticks, workers, scheduler)
            else:
                report = build_report(before, after, old_name, new_text, ticks,
                                      taps=chart.taps() if chart is not None else (None, None), progress=bar.start)
            bar.close()
            said = chart.write() if chart is not None else None
        except (TickFileError, ChartError) as exc:
            bar.close()
            click.echo(f"error: {exc}", err=True)
            sys.exit(INVALID)
        bar.close()
    render = {"table": render_table, "markdown": render_markdown, "json": render_json}[fmt]
    click.echo(render(report))
    if said:
        click.echo(said, err=True)


@click.command("explain")
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("alert_id")
def explain_command(config: str, alert_id: str) -> None:
    """Explain why one logged alert fired, re-running its value from the recorded inputs.

    ALERT_ID is the alert_id column of `tradeassist alerts --format jsonl`.
    Exits 1 when the alert is not in the log or its value cannot be reproduced.
    """
    from ..gitops.explain import ExplainError, explain_alert

    loaded = load_or_exit(config)
    try:
        explanation = explain_alert(loaded, alert_id)
    except (ExplainError, SinkError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(INVALID)
    click.echo(explanation.render())
    sys.exit(INVALID if explanation.reproduced is False else 0)


COMMANDS: list[click.Command] = [test_command, diff_command, explain_command]
