"""Channels: apprise's checks of a URL and of a config file, and the apprise object per channel.

The same functions serve load-time validation (``tradeassist validate`` must point at a
bad URL before it is deployed) and start-up, so what validates is what runs. Resolved
URLs hold secrets (``${ENV}`` substitution, :mod:`.urls`): they never appear in a
message of ours; apprise's own messages use its privacy mode.  Importing this module
loads every apprise plugin; :func:`.url_check.check_url` answers most URLs without that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import apprise
from apprise import plugins as apprise_plugins
from apprise.manager_plugins import NotificationManager

from ..config.explain import did_you_mean
from ..config.notify_models import Channel, DeliverySettings, Notifications, RateLimit
from ..logs import redact
from . import desktop, plugins, sound
from .apprise_log import captured_apprise_log as _captured_apprise_log
from .urls import resolve_logfile, scheme_of, substitute

plugins.ensure_registered()

_N_MGR = NotificationManager()  # apprise leaves it untyped

#: rule severity -> apprise notify_type (drives icons/colours, and the sound's tone).
NOTIFY_TYPE = {"info": "info", "warning": "warning", "critical": "failure"}


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


@dataclass(frozen=True)
class FileIssue:
    """A problem with an apprise config file: at a line of that file, or about the whole file."""

    message: str
    line: int | None = None  # 1-based, in the apprise config file; None: the file itself
    column: int = 1


#: One entry of an apprise TEXT config: ``URL``, ``TAGS=URL`` (tags may carry an ``N:`` priority).
_TEXT_URL = re.compile(r"^(?:[a-z0-9,_: \t-]*=)?\s*(?P<url>[a-z0-9]{1,32}://.*)$", re.IGNORECASE)
#: ``GROUP=TAG,TAG`` (tag groups) and ``include URL``: valid TEXT lines without a service URL.
_TEXT_OTHER = re.compile(r"^([a-z0-9,_: \t-]*=[a-z0-9, \t_-]+|include\s+.+)$", re.IGNORECASE)


def _is_yaml_config(path: Path) -> bool:
    """apprise reads ``*.yaml``/``*.yml`` as YAML and anything else as TEXT (``ConfigFile.read``)."""
    return path.suffix.lower() in (".yaml", ".yml")


def _text_urls(text: str) -> tuple[list[tuple[str, int, int]], list[FileIssue]]:
    """(URL, line, column) of each service line of an apprise TEXT config, and its bad lines."""
    urls: list[tuple[str, int, int]] = []
    issues: list[FileIssue] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        m = _TEXT_URL.match(stripped)
        if m is not None:
            urls.append((m.group("url").strip(), number, line.index(stripped) + m.start("url") + 1))
        elif not _TEXT_OTHER.match(stripped):
            # apprise refuses the whole file on such a line, so nothing in it would be sent
            issues.append(FileIssue(
                "not an apprise TEXT line (expected URL, TAGS=URL, GROUP=TAGS or include URL); "
                "apprise ignores the whole file because of it", number, line.index(stripped) + 1,
            ))
    return urls, issues


def _yaml_urls(text: str) -> tuple[list[tuple[str, int, int]], list[FileIssue]]:
    """(URL, line, column) of each ``urls:`` entry of an apprise YAML config, and shape problems."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return [], [FileIssue(f"not valid YAML: {exc.problem or exc.context}", line, column)]
    except YAMLError as exc:
        return [], [FileIssue(f"not valid YAML: {exc}", 1, 1)]
    if not isinstance(data, CommentedMap):
        return [], [FileIssue("an apprise YAML config is a mapping with a 'urls:' list", 1, 1)]
    entries = data.get("urls")
    if not isinstance(entries, CommentedSeq):
        line, column = data.lc.key("urls") if "urls" in data else (0, 0)
        return [], [FileIssue("'urls:' must be a list of apprise URLs", line + 1, column + 1)]
    urls: list[tuple[str, int, int]] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            line, column = entries.lc.item(i)
            urls.append((str(entry), line + 1, column + 1))
        elif isinstance(entry, CommentedMap):  # {URL: options}
            for key in entry:
                line, column = entry.lc.key(key)
                urls.append((str(key), line + 1, column + 1))
    return urls, []


def check_config_file(path: Path) -> list[FileIssue]:
    """Why an apprise config file (TEXT or YAML) is unusable, each URL problem at its line; [] if fine.

    Every service URL is checked like a ``urls:`` entry, so a typo in the file is shown
    where it is; apprise itself would only skip the entry and log it when sending.
    Entries using apprise's own ``{{template}}`` placeholders are left to apprise.
    """
    if not path.is_file():
        return [FileIssue(f"apprise config file {path} does not exist")]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [FileIssue(f"cannot read apprise config file {path}: {getattr(exc, 'strerror', None) or exc}")]
    urls, issues = (_yaml_urls if _is_yaml_config(path) else _text_urls)(text)
    for url, line, column in urls:
        if "{{" in url:
            continue
        why = check_url(url)
        if why:
            issues.append(FileIssue(why, line, column))
    if issues:
        return issues
    with _captured_apprise_log() as said:
        cfg = apprise.AppriseConfig(asset=apprise.AppriseAsset(secure_logging=True))
        if not cfg.add(str(path)) or not cfg.services():
            return [FileIssue(f"apprise config file {path} holds no usable URL" + (f": {_reason(said)}" if said else ""))]
    return []


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
        if schema in desktop.DESKTOP_SCHEMES and (why := desktop.missing(schema, env)):
            notes.append(why)  # what to install, instead of apprise's "libdbus-1.so.x must be installed"
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
