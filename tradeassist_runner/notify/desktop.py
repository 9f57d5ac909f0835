"""What a desktop pop-up scheme lacks on this machine, and the command that installs it.

apprise disables ``dbus://``, ``glib://``, ``gnome://``, ``macosx://`` and ``windows://``
silently when their bindings or tools are missing, and says only "libdbus-1.so.x must
be installed". The runner and ``tradeassist notify-test`` show these sentences instead,
so a user knows which package to install for their system.

What each apprise plugin needs (from its source, apprise 2.x):

- ``dbus://`` (also ``kde://``, ``qt://``): the ``dbus`` module (dbus-python) with its GLib
  main loop (``dbus.mainloop.glib``, built into dbus-python); icons need PyGObject too.
  dbus-python has no wheels: pip builds it, which needs libdbus-1-dev and libglib2.0-dev.
- ``glib://``: PyGObject (``gi``) with Gio and GLib; ``gnome://``: PyGObject and the
  libnotify typelib (``gi.require_version("Notify", "0.7")``).
- ``macosx://``: macOS and terminal-notifier (``brew install terminal-notifier``).
- ``windows://``: Windows and pywin32.
- All D-Bus based ones also need a desktop session bus to talk to.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path

_DBUS_SCHEMES = ("dbus", "kde", "qt")
_GI_SCHEMES = ("glib", "gnome")
DESKTOP_SCHEMES = (*_DBUS_SCHEMES, *_GI_SCHEMES, "macosx", "windows")

#: The pip side of the D-Bus install (the extra builds dbus-python from source).
PIP_DESKTOP = "pip install 'tradeassist-runner[desktop]'"
APT_DBUS_BUILD = "sudo apt install libdbus-1-dev libglib2.0-dev pkg-config"
#: A virtualenv does not see apt's Python packages unless it was made to.
VENV_NOTE = "(a virtualenv sees apt's Python packages only if created with --system-site-packages)"
_MAC_PATHS = (
    "/opt/homebrew/bin/terminal-notifier",
    "/usr/local/bin/terminal-notifier",
    "/usr/bin/terminal-notifier",
    "/bin/terminal-notifier",
)


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _has_session_bus(env: Mapping[str, str]) -> bool:
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR") or (f"/run/user/{os.getuid()}" if hasattr(os, "getuid") else "")
    return bool(runtime) and Path(runtime, "bus").exists()


def missing(schema: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why ``schema://`` cannot pop up here and how to fix it; None when nothing is known missing."""
    env = os.environ if env is None else env
    system = platform.system()
    if schema == "macosx":
        if system != "Darwin":
            return "macosx:// works on macOS only (there it needs: brew install terminal-notifier)"
        if not any(Path(p).exists() for p in _MAC_PATHS) and shutil.which("terminal-notifier") is None:
            return "macosx:// needs terminal-notifier: brew install terminal-notifier"
        return None
    if schema == "windows":
        if system != "Windows":
            return "windows:// works on Windows only (there it needs: pip install pywin32)"
        return None if _has_module("win32api") else "windows:// needs pywin32: pip install pywin32"
    if schema in _DBUS_SCHEMES:
        if not _has_module("dbus"):
            return (
                f"{schema}:// needs the D-Bus bindings (Python module 'dbus', package dbus-python), not "
                f"installed for this Python. Debian/Ubuntu: {APT_DBUS_BUILD} && {PIP_DESKTOP}; or, for the "
                f"system Python, sudo apt install python3-dbus {VENV_NOTE}"
            )
        if not _has_module("dbus.mainloop.glib"):
            return (
                f"{schema}:// needs dbus-python's GLib main loop (dbus.mainloop.glib), missing from this "
                f"build. Debian/Ubuntu: {APT_DBUS_BUILD} && pip install --force-reinstall dbus-python"
            )
    if schema in _GI_SCHEMES and not _has_module("gi"):
        typelib = " gir1.2-notify-0.7" if schema == "gnome" else ""
        return (
            f"{schema}:// needs PyGObject (Python module 'gi'), not installed for this Python. Debian/Ubuntu: "
            f"sudo apt install python3-gi gir1.2-glib-2.0{typelib} {VENV_NOTE}; or "
            "sudo apt install libgirepository-2.0-dev libcairo2-dev && pip install PyGObject"
        )
    if schema in (*_DBUS_SCHEMES, *_GI_SCHEMES) and not _has_session_bus(env):
        return (
            f"{schema}:// has no desktop session to show pop-ups in (DBUS_SESSION_BUS_ADDRESS is not set): "
            "run the runner inside a logged-in desktop session"
        )
    return None
