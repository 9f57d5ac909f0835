"""Our own apprise schemes, registered with apprise's ``@notify`` decorator on import.

- ``sound://`` plays a tone per severity (``sound://?volume=0.3``); see :mod:`.sound`.
- ``logfile://PATH`` appends one line per notification to a local file: a channel that
  works on any machine without secrets. ``PATH`` is relative to the config file's folder
  (``logfile://../data/notifications.log``) or absolute (``logfile:///var/log/ta.log``);
  :mod:`.channels` rewrites it to ``logfile://?path=ABSOLUTE`` before apprise sees it.

A failure is logged on the ``apprise`` logger, which apprise captures per call, so the
reason ends up in the delivery log instead of a bare "failed".
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from apprise.decorators import notify

from . import sound

_apprise_log = logging.getLogger("apprise")
_file_lock = threading.Lock()


@notify(on="sound", name="Sound")
def _sound(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
    qsd = meta.get("qsd") or {}
    severity = qsd.get("severity") or sound.SEVERITY_OF_TYPE.get(str(notify_type), "warning")
    try:
        volume = float(qsd.get("volume", 0.6))
    except ValueError:
        volume = 0.6
    try:
        sound.play(severity, volume)
    except sound.SoundError as exc:
        _apprise_log.warning("sound: %s", exc)
        return False
    return True


@notify(on="logfile", name="Log file")
def _logfile(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
    path_text = (meta.get("qsd") or {}).get("path")
    if not path_text:
        _apprise_log.warning("logfile: no path given (write logfile://PATH)")
        return False
    path = Path(path_text)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    text = " | ".join(line for line in [title, *str(body).splitlines()] if line)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock, path.open("a", encoding="utf-8") as f:
            f.write(f"{stamp} {text}\n")
    except OSError as exc:
        _apprise_log.warning("logfile: cannot write %s: %s", path, exc.strerror or exc)
        return False
    return True


def ensure_registered() -> None:
    """Importing this module registers the schemes; callers call this to make the import explicit."""
