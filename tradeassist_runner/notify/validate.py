"""Load-time checks of the ``notifications:`` section and of the rules' ``notify:``/``message:``.

Run on the raw YAML data (like the loader's cross-file checks), so a file with one
pydantic error still gets its other notification mistakes reported, each located.
Checked: ``${ENV}`` variables exist, every URL is one apprise accepts, apprise config
files load, routes and rules name existing channels (or tags), templates use known
placeholders only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..config.explain import did_you_mean
from ..config.yaml_source import YamlDocument
from ..errors import Problem
from .templates import FIELDS, check_template, rule_message_fields

RuleItems = Iterable[tuple[dict[str, Any], YamlDocument, int]]


def check_notifications(
    data: Mapping[str, Any],
    doc: YamlDocument,
    rule_items: RuleItems,
    config_dir: Path,
    env: Mapping[str, str] | None = None,
) -> list[Problem]:
    env = os.environ if env is None else env
    problems: list[Problem] = []
    raw_section = data.get("notifications")
    section: dict[str, Any] = raw_section if isinstance(raw_section, dict) else {}
    channels: dict[str, Any] = section["channels"] if isinstance(section.get("channels"), dict) else {}
    if channels:  # apprise takes a while to import: only when there is a channel
        from .url_check import check_url  # all of apprise's plugins only for a URL it cannot vouch for
        from .urls import ENV_VAR, resolve_logfile, substitute
    where = ["notifications", "channels"]
    tags: set[str] = set()
    for name, channel in channels.items():
        if not isinstance(channel, dict):
            continue
        if isinstance(channel.get("tags"), list):
            tags.update(t for t in channel["tags"] if isinstance(t, str))
        urls = channel.get("urls")
        url_list = [urls] if isinstance(urls, str) else urls if isinstance(urls, list) else []
        for i, raw in enumerate(url_list):
            if not isinstance(raw, str):
                continue
            loc = [*where, name, "urls"] + ([i] if isinstance(urls, list) else [])
            url, missing = substitute(raw, env)
            if missing:
                names = ", ".join(f"${{{m}}}" for m in missing)
                problems.append(
                    doc.problem(loc, f"environment variable {names} is not set (channel '{name}' needs it)")
                )
                continue
            why = check_url(resolve_logfile(url, config_dir))
            if why:
                shown = raw if ENV_VAR.search(raw) else url.split("://", 1)[0] + "://..."
                problems.append(doc.problem(loc, f"channel '{name}': {why} (in {shown})"))
        cfg = channel.get("config")
        if isinstance(cfg, str):
            path = Path(cfg).expanduser()
            # problems inside the apprise file are shown at its own PATH:LINE:COLUMN
            shown_cfg = str(path) if path.is_absolute() else os.path.normpath(
                os.path.join(os.path.dirname(doc.path), path)
            )
            from .channels import check_config_file  # an apprise config file takes all of apprise

            for issue in check_config_file(path if path.is_absolute() else config_dir / path):
                said = f"channel '{name}': {issue.message}"
                if issue.line is None:
                    problems.append(doc.problem([*where, name, "config"], said))
                else:
                    problems.append(Problem(shown_cfg, issue.line, issue.column, said))

    known = set(channels)

    def unknown(entry: str) -> str:
        if not known:
            return f"unknown channel '{entry}': no channels are configured under notifications.channels"
        return (
            f"unknown channel '{entry}'{did_you_mean(entry, known | tags)} "
            f"(channels: {', '.join(sorted(known))}{'; tags: ' + ', '.join(sorted(tags)) if tags else ''})"
        )

    routes: dict[str, Any] = section["routes"] if isinstance(section.get("routes"), dict) else {}
    for severity, names in routes.items():
        if isinstance(names, list):
            for j, entry in enumerate(names):
                if isinstance(entry, str) and entry not in known and entry not in tags:
                    problems.append(doc.problem(["notifications", "routes", severity, j], unknown(entry)))

    templates: dict[str, Any] = section["templates"] if isinstance(section.get("templates"), dict) else {}
    for key in ("title", "body"):
        if isinstance(templates.get(key), str) and (why := check_template(templates[key], FIELDS)):
            problems.append(doc.problem(["notifications", "templates", key], f"{key}: {why}"))
    by_type: dict[str, Any] = templates["by_type"] if isinstance(templates.get("by_type"), dict) else {}
    for rule_type, pair in by_type.items():
        if not isinstance(pair, dict):
            continue
        for key in ("title", "body"):
            if isinstance(pair.get(key), str) and (why := check_template(pair[key], FIELDS)):
                problems.append(doc.problem(["notifications", "templates", "by_type", rule_type, key], f"{key}: {why}"))

    for item, rdoc, i in rule_items:
        notify = item.get("notify")
        if isinstance(notify, list):
            for j, entry in enumerate(notify):
                if isinstance(entry, str) and entry not in known and entry not in tags:
                    problems.append(rdoc.problem(["rules", i, "notify", j], unknown(entry)))
        message = item.get("message")
        if isinstance(message, str):
            conds = item.get("conditions")
            first = conds[0] if item.get("type") == "all" and isinstance(conds, list) and conds else item
            allowed = set(rule_message_fields(first.get("type") if isinstance(first, dict) else None))
            if item.get("type") == "rate_of_change":
                allowed.add("window")
            if item.get("type") == "volume_spike":
                allowed.add("period")
            if why := check_template(message, allowed):
                problems.append(rdoc.problem(["rules", i, "message"], f"message: {why}"))
    return problems
