"""``tradeassist schwab login|status CONFIG`` and ``tradeassist record CONFIG --out DIR``.

Wiring and exit codes only; the work is in :mod:`tradeassist_runner.sources.schwab`.
Every failure a user can fix (no credentials, no token, expired token) is one line on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from ..errors import SourceError

if TYPE_CHECKING:
    import polars as pl

    from ..config.models import SchwabSource

from .common import INVALID, load_or_exit as _load


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(INVALID)




def _schwab_source(loaded) -> SchwabSource:  # type: ignore[no-untyped-def]
    """The config's schwab source, or its defaults (so login works before switching the source)."""
    from ..config.models import SchwabSource

    source = loaded.config.source
    return source if isinstance(source, SchwabSource) else SchwabSource(type="schwab")


@click.group()
def schwab() -> None:
    """Connect a Charles Schwab account (token file for the `schwab` source)."""


@schwab.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--manual/--browser", default=None,
    help="Copy-paste flow (no browser, e.g. a container or SSH) or browser flow; default: browser if one is available",
)
def login(config: str, manual: bool | None) -> None:
    """Log in to Schwab and write the token file (valid 7 days; run again before it expires)."""
    from ..sources.schwab.auth import TokenStore, format_span, login as do_login
    from ..sources.schwab.credentials import load_credentials

    loaded = _load(config)
    path = loaded.resolve(_schwab_source(loaded).token_path)
    try:
        info = do_login(load_credentials(), TokenStore(path), manual=manual)
    except SourceError as exc:
        _fail(str(exc))
    now = datetime.now(timezone.utc)
    click.echo(
        f"token written to {path} (mode 0600); refresh token valid for {format_span(info.remaining(now))}, "
        f"until {info.refresh_expires:%Y-%m-%d %H:%M} UTC",
        err=True,
    )


@schwab.command()
@click.argument("config", type=click.Path(dir_okay=False))
def status(config: str) -> None:
    """Show the token's age and when its 7-day refresh token expires (exit 1 if unusable)."""
    from ..sources.schwab.auth import TokenStore, format_span, login_hint

    loaded = _load(config)
    source = _schwab_source(loaded)
    path = loaded.resolve(source.token_path)
    try:
        info = TokenStore(path).info()
    except SourceError as exc:
        _fail(str(exc))
    now = datetime.now(timezone.utc)
    remaining = info.remaining(now)
    click.echo(f"token file:       {path}")
    click.echo(f"logged in:        {info.created:%Y-%m-%d %H:%M:%S} UTC ({format_span(info.age(now))} ago)")
    if info.access_expires is not None:
        state = "valid" if info.access_expires > now else "expired, refreshed automatically on next use"
        click.echo(f"access token:     {state} (until {info.access_expires:%Y-%m-%d %H:%M:%S} UTC)")
    click.echo(f"refresh expires:  {info.refresh_expires:%Y-%m-%d %H:%M:%S} UTC")
    if info.expired(now):
        _fail(f"refresh token expired {format_span(-remaining)} ago: {login_hint(config)}")
    if remaining <= source.refresh_warning:
        click.echo(f"warning: refresh token expires in {format_span(remaining)}: {login_hint(config)}", err=True)
    else:
        click.echo(f"status:           OK, {format_span(remaining)} left")


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Dataset folder")
@click.option("--duration", help="Stop after this long (30s, 5m, 1h); default: until Ctrl-C")
@click.option("--flush-every", default="30s", show_default=True, help="Write a file at least this often")
def record(config: str, out_dir: str, duration: str | None, flush_every: str) -> None:
    """Record live ticks to a Parquet dataset (canonical tick columns) for `tradeassist backtest --ticks OUT`."""
    import asyncio
    import signal

    from ..config.durations import parse_duration
    from ..config.models import SchwabSource, SyntheticSource
    from ..logs import setup_logging
    from ..settings import load_settings
    from ..sources.schwab.record import TickRecorder, record as run_record

    loaded = _load(config)
    setup_logging(load_settings().log_level)
    try:
        limit = parse_duration(duration).total_seconds() if duration else None
        flush = parse_duration(flush_every).total_seconds()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    source = loaded.config.source
    if not isinstance(source, (SchwabSource, SyntheticSource)):
        raise click.UsageError(f"record needs a live source (schwab or synthetic), not {source.type!r}")

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        ticks: AsyncIterator[pl.DataFrame]
        if isinstance(source, SchwabSource):
            from ..sources.schwab.stream import SchwabFeed

            ticks = SchwabFeed.from_config(loaded, source).stream()
        else:
            from ..sources.synthetic import SyntheticFeed

            ticks = SyntheticFeed(loaded.instruments, source).stream()
        recorder = TickRecorder(Path(out_dir), flush_seconds=flush)
        try:
            stats = await run_record(ticks, recorder, stop, duration=limit)
        except SourceError as exc:
            click.echo(f"error: {exc}", err=True)
            click.echo(f"{recorder.stats.ticks} ticks recorded before the error", err=True)
            return INVALID
        click.echo(
            f"{stats.ticks} ticks of {len(stats.symbols)} symbols in {len(stats.files)} files under {out_dir}",
            err=True,
        )
        return 0

    sys.exit(asyncio.run(main()))


COMMANDS: list[click.Command] = [schwab, record]
