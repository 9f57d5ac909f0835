"""``tradeassist notify-test CONFIG [--channel NAME]``: is my Slack (e-mail, ...) wired up?

Sends one test message through each configured channel (or the one named) with the
same apprise objects the runner uses, and prints one line per channel: ``sent``,
``failed: why`` or ``skipped: why``, then, indented, each URL this machine cannot use and
what to install for it (a desktop pop-up without its D-Bus bindings says which ``apt``
or ``pip`` command). Exit 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..config.loaded import LoadedConfig
from .common import INVALID, load_or_exit

Result = tuple[str, str, str, list[str]]  # channel, status, detail, URLs not usable here and why


async def _test(loaded: LoadedConfig, names: list[str]) -> list[Result]:
    import asyncio

    from ..logs import redact
    from ..notify.channels import build_channel

    notifications = loaded.config.notifications

    async def one(name: str) -> Result:
        rt = await asyncio.to_thread(
            build_channel, name, notifications.channels[name], notifications.delivery, loaded.path.parent
        )
        if rt.apprise is None:
            if rt.notes:
                return name, rt.skip_status, "cannot work on this machine:", rt.notes
            return name, rt.skip_status, rt.unavailable or "no usable URL", []
        timeout = notifications.delivery.retry.timeout.total_seconds()
        t0 = time.monotonic()
        result = await rt.apprise.async_notify(
            title="TradeAssist test notification",
            body=f"If you can read this, channel '{name}' works. Sent by `tradeassist notify-test`.",
            notify_type="info",
            timeout=timeout,
        )
        try:
            if result.status.name == "SUCCESS":
                return name, "sent", f"in {time.monotonic() - t0:.1f}s", rt.notes
            said = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
            return name, "failed", redact("; ".join(dict.fromkeys(said)) or result.status.name), rt.notes
        finally:
            result.close()

    return list(await asyncio.gather(*(one(n) for n in names)))


@click.command("notify-test")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--channel", "channels", multiple=True, help="Only this channel (repeatable); default: all")
def notify_test(config: str, channels: tuple[str, ...]) -> None:
    """Send a test message through each notification channel and print the outcome."""
    loaded = load_or_exit(config)
    configured = loaded.config.notifications.channels
    if not configured:
        click.echo(f"error: {config} configures no channels under notifications.channels", err=True)
        sys.exit(INVALID)
    unknown = [c for c in channels if c not in configured]
    if unknown:
        raise click.BadParameter(
            f"unknown channel {', '.join(unknown)} (configured: {', '.join(configured)})", param_hint="--channel"
        )
    names = list(channels) or list(configured)
    import asyncio

    results = asyncio.run(_test(loaded, names))
    width = max(len(n) for n, _, _, _ in results)
    for name, status, detail, notes in results:
        click.echo(f"{name:<{width}}  {status:<7}  {detail}")
        for note in notes:  # indented: one line per URL this machine cannot use, and the fix
            click.echo(f"    - {note}")
    if any(status == "failed" for _, status, _, _ in results):
        sys.exit(INVALID)


COMMANDS: list[click.Command] = [notify_test]
