"""The URL check that loads one apprise plugin agrees with the check that loads them all.

:func:`url_check.accepted` may only say "valid" where :func:`channels.check_url` (every
plugin loaded, apprise's own ``url_to_dict`` and ``instantiate``) says so too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import apprise.plugins

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.notify import channels, url_check
from tradeassist_runner.notify.url_check import OUR_SCHEMES, accepted

ROOT = Path(__file__).resolve().parents[2]
_N_MGR = channels._N_MGR  # loaded, with our schemes registered, by importing channels

#: Schemes whose plugin module has their name (the shortcut's cases), then the rest.
ALL_SCHEMES = sorted(_N_MGR.schemas())
SHORTCUT = sorted(s for s in ALL_SCHEMES if s in OUR_SCHEMES or url_check._native_plugin(s) is not None)
SHIPPED_URLS = ["dbus://", "glib://", "macosx://", "windows://", "sound://", "logfile://?path=/tmp/n.log"]

_PIECES = st.sampled_from([
    "", "/", "host", "127.0.0.1", ":8080", ":0", "user:pw@", "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F",
    "/#chan", "%20", " ", "\n", "@", "..", "-", "/tmp/x.log", "a@b.c",
])
_OPTIONS = st.lists(st.tuples(
    st.sampled_from(["format", "overflow", "retry", "wait", "tz", "emojis", "verify", "severity", "volume", "path",
                     "to", "store"]),
    st.sampled_from(["", "html", "markdown", "text", "bogus", "split", "-1", "2", "0.3", "inf", "UTC",
                     "Nowhere/Zone", "yes", "no", "critical", "/tmp/x.log"]),
), max_size=3)
_TAILS = st.builds(
    lambda path, options: "".join(path) + ("?" + "&".join(f"{k}={v}" for k, v in options) if options else ""),
    st.lists(_PIECES, max_size=6), _OPTIONS,
)
#: Names of apprise plugin modules that are no scheme (``email``: ``mailto://``), and odd schemes.
_OTHER = sorted({f.split(".")[0] for f in os.listdir(os.path.dirname(apprise.plugins.__file__))} - set(ALL_SCHEMES))


@given(
    scheme=st.one_of(
        st.sampled_from(SHORTCUT), st.sampled_from(OUR_SCHEMES), st.sampled_from(ALL_SCHEMES),
        st.sampled_from([*_OTHER, "http", "nosuch", ""]),
    ),
    tail=_TAILS,
    case=st.sampled_from([str.lower, str.upper]),
    pad=st.sampled_from(["", " "]),
)
@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
def test_a_url_the_shortcut_accepts_passes_the_full_check(scheme: str, tail: str, case: object, pad: str) -> None:
    url = f"{pad}{case(scheme)}://{tail}"  # type: ignore[operator]
    if accepted(url):
        assert channels.check_url(url) is None, url


def test_the_shortcut_finds_the_plugin_the_full_load_maps_each_scheme_to() -> None:
    for schema in ALL_SCHEMES:
        plugin = url_check._native_plugin(schema)
        assert plugin is None or plugin is _N_MGR[schema], schema
    for schema in OUR_SCHEMES:  # ours, from the decorator: no apprise module of that name
        assert url_check._native_plugin(schema) is None
        assert _N_MGR[schema].__module__ == "apprise.decorators.base", schema
    ours = {s for s, p in _N_MGR._schema_map.items() if p.__module__ == "apprise.decorators.base"}
    assert ours == set(OUR_SCHEMES)


def test_the_shortcut_accepts_the_shipped_configs_urls() -> None:
    for url in SHIPPED_URLS:
        assert accepted(url), url
        assert channels.check_url(url) is None, url
    assert len(SHORTCUT) > 100  # most schemes: a plugin module of their own name


def test_validating_the_shipped_config_leaves_apprise_s_plugins_unloaded() -> None:
    code = (
        "from tradeassist_runner.config.loader import load_config\n"
        "load_config('config/config.yaml')\n"
        "from apprise.manager_plugins import NotificationManager\n"
        "import sys\n"
        "print(bool(NotificationManager()), 'apprise.plugins.slack' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"], done.stderr
