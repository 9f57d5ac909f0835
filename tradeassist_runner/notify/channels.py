"""Channels: ``${ENV}`` substitution, apprise URL checks, and the apprise object per channel.

The same functions serve load-time validation (``tradeassist validate`` must point at a
bad URL before it is deployed) and start-up, so what validates is what runs. Resolved
URLs hold secrets: they are registered with :func:`..logs.register_secret` and never
appear in a message of ours; apprise's own messages use its privacy mode.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import apprise
from apprise import plugins as apprise_plugins
from apprise.manager_plugins import NotificationManager

from ..config.explain import did_you_mean
from ..config.notify_models import Channel, DeliverySettings, Notifications, RateLimit
from ..logs import redact, register_secret
from . import plugins, sound

plugins.ensure_registered()

ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_N_MGR = NotificationManager()

#: rule severity -> apprise notify_type (drives icons/colours, and the sound's tone).
NOTIFY_TYPE = {"info": "info", "warning": "warning", "critical": "failure"}


def substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with every ``${NAME}`` replaced from ``env``; and the names that were missing."""
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        value = env.get(m.group(1))
        if value is None or value == "":
            missing.append(m.group(1))
            return ""
        register_secret(value)
        return value

    return ENV_VAR.sub(one, text), missing


@contextmanager
def _captured_apprise_log() -> Iterator[list[str]]:
    """apprise explains a rejected URL on its logger; keep those lines for our message."""
    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("apprise")
    handler = _Keep(logging.WARNING)
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


def scheme_of(url: str) -> str | None:
    m = _SCHEME.match(url.strip())
    return m.group(1).lower() if m else None


def resolve_logfile(url: str, base_dir: Path) -> str:
    """``logfile://rel/path`` -> ``logfile://?path=/abs/path`` (apprise drops a leading '/' otherwise)."""
    if scheme_of(url) != "logfile" or url.startswith("logfile://?"):
        return url
    rest = url.split("://", 1)[1]
    path = Path(rest).expanduser()
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    return "logfile://?path=" + quote(str(path), safe="/")


def check_url(url: str) -> str | None:
    """Why apprise cannot use ``url`` (worded without the URL's secrets), or None.

    A plugin that exists but is disabled on this machine (a desktop plugin on a
    headless CI runner) is fine here: the file is valid, the machine just cannot show
    desktop notifications, which is reported when the runner starts.
    """
    schema = scheme_of(url)
    if schema is None:
        return "not an apprise URL: expected SCHEME://..., e.g. json://host/path or slack://T/B/C"
    if schema not in _N_MGR and schema not in ("http", "https"):
        return f"unknown notification scheme '{schema}://'{did_you_mean(schema, list(_N_MGR.schemas()))}"
    with _captured_apprise_log() as said:
        parsed = apprise_plugins.url_to_dict(url, secure_logging=True)
        if parsed is None:
            return f"malformed {schema}:// URL" + (f": {_reason(said)}" if said else "")
        plugin_cls = _N_MGR[parsed["schema"]]
        if not plugin_cls.enabled:
            return None
        if apprise.Apprise.instantiate(url) is None:
            why = _reason(said)
            return f"invalid {plugin_cls.service_name} URL ({parsed['schema']}://)" + (f": {why}" if why else "")
    return None


def _reason(messages: list[str]) -> str:
    useful = [m for m in messages if not m.startswith("Could not load")] or messages
    return redact("; ".join(dict.fromkeys(useful)))


def check_config_file(path: Path) -> str | None:
    """Why an apprise config file is unusable, or None."""
    if not path.is_file():
        return f"apprise config file {path} does not exist"
    with _captured_apprise_log() as said:
        cfg = apprise.AppriseConfig()
        if not cfg.add(str(path)) or not cfg.servers():  # type: ignore[attr-defined]
            return f"apprise config file {path} holds no usable URL" + (f": {_reason(said)}" if said else "")
    return None


@dataclass
class ChannelRuntime:
    """One channel ready to send: its apprise object, or why it cannot work on this machine."""

    name: str
    apprise: apprise.Apprise | None
    optional: bool
    tags: tuple[str, ...]
    rate_limit: RateLimit
    concurrency: int
    unavailable: str | None = None
    notes: list[str] = field(default_factory=list)  # URLs dropped on this machine, and why

    @property
    def skip_status(self) -> str:
        return "skipped" if self.optional else "failed"


def build_channel(
    name: str, channel: Channel, delivery: DeliverySettings, base_dir: Path, env: Mapping[str, str] | None = None
) -> ChannelRuntime:
    env = os.environ if env is None else env
    asset = apprise.AppriseAsset(app_id="TradeAssist", app_desc="TradeAssist alert runner", secure_logging=True)
    ap = apprise.Apprise(asset=asset)
    notes: list[str] = []
    for i, raw in enumerate(channel.urls):
        url, missing = substitute(raw, env)
        if missing:
            notes.append(f"url {i + 1}: environment variable {', '.join(missing)} is not set")
            continue
        url = resolve_logfile(url, base_dir)
        schema = scheme_of(url) or ""
        if schema == "sound" and channel.optional and (why := sound.unavailable_reason()):
            notes.append(f"sound: {why}")
            continue
        plugin = _N_MGR[schema] if schema in _N_MGR else None  # noqa: SIM401  (NotificationManager has no .get)
        if plugin is not None and not plugin.enabled:  # asked first: apprise would log an error
            notes.append(f"{schema}:// is not available on this machine ({_requirements(plugin)})")
            continue
        with _captured_apprise_log() as said:
            service = apprise.Apprise.instantiate(url, asset=asset)
        if service is None:
            notes.append(f"url {i + 1} ({schema}://) cannot be used: {_reason(said) or 'invalid URL'}")
            continue
        ap.add(service)
    if channel.config is not None:
        cfg = apprise.AppriseConfig(asset=asset)
        path = Path(channel.config).expanduser()
        cfg.add(str(path if path.is_absolute() else (base_dir / path).resolve()))
        ap.add(cfg)
    unavailable = None if len(ap) else ("; ".join(notes) or "no usable URL")
    return ChannelRuntime(
        name=name,
        apprise=ap if len(ap) else None,
        optional=channel.optional,
        tags=tuple(channel.tags),
        rate_limit=channel.rate_limit or delivery.rate_limit,
        concurrency=channel.concurrency or delivery.concurrency,
        unavailable=unavailable,
        notes=notes,
    )


def _requirements(plugin: type) -> str:
    details = (getattr(plugin, "requirements", None) or {}).get("details")
    return str(details) if details else "its system requirements are missing"


def build_channels(
    notifications: Notifications, base_dir: Path, env: Mapping[str, str] | None = None
) -> dict[str, ChannelRuntime]:
    return {
        name: build_channel(name, ch, notifications.delivery, base_dir, env)
        for name, ch in notifications.channels.items()
    }


def expand(names: list[str], channels: Mapping[str, Channel]) -> list[str]:
    """Channel names for a rule's ``notify:``/route list: each entry a channel name or a tag."""
    out: list[str] = []
    for n in names:
        picked = [n] if n in channels else [c for c, ch in channels.items() if n in ch.tags]
        out += [c for c in picked if c not in out]
    return out
