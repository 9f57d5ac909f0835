"""``tradeassist ingest CONFIG``: the one process that reads the feed for sharded runners.

It needs ``source: {type: redis, shards: N, feed: {...}}`` in CONFIG (the same file the
runners use) and the ``[redis]`` extra; ``/metrics`` (Prometheus) needs ``[server]``.
"""

from __future__ import annotations

import sys

import click

from .common import INVALID, load_or_exit


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Interface of the /metrics endpoint")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=9108, show_default=True,
              help="Port of /metrics; 0 = any free one (the log line 'metrics listening' shows which)")
@click.option("--metrics/--no-metrics", "metrics", default=True, help="Serve /metrics")
@click.option("--wait-for-runners/--no-wait-for-runners", default=True, show_default=True,
              help="When the feed ends (a replay), exit only once every runner has committed everything "
              "(--no-wait-for-runners: exit at once; the streams keep what is not committed)")
def ingest(config: str, metrics_host: str, metrics_port: int, metrics: bool, wait_for_runners: bool) -> None:
    """Run the configured feed once and publish its ticks to one Redis stream per shard."""
    import asyncio

    from ..config.models import RedisSource
    from ..errors import TickFileError
    from ..logs import setup_logging
    from ..settings import load_settings

    loaded = load_or_exit(config)
    if not isinstance(loaded.config.source, RedisSource):
        click.echo(f"error: {config}: ingest needs `source: {{type: redis, shards: N, feed: ...}}` "
                   f"(this config's source is {loaded.config.source.type})", err=True)
        sys.exit(INVALID)
    try:
        from ..service.ingest import run_ingest
    except ImportError as exc:
        click.echo(f"error: ingest needs the redis extra (pip install 'tradeassist-runner[redis]'): {exc}", err=True)
        sys.exit(INVALID)
    setup_logging(load_settings().log_level)
    try:
        code = asyncio.run(run_ingest(
            loaded, metrics=(metrics_host, metrics_port) if metrics else None, wait_for_runners=wait_for_runners,
        ))
    except TickFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(INVALID)
    except OSError as exc:  # the metrics port is taken
        click.echo(f"error: cannot serve /metrics on {metrics_host}:{metrics_port}: {exc.strerror or exc}", err=True)
        sys.exit(INVALID)
    sys.exit(code)


COMMANDS = [ingest]
