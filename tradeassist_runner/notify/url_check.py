"""Whether apprise accepts a channel URL, without loading all of apprise's plugins when it can.

apprise finds the plugin of a scheme by importing every one of its ~190 plugin modules
(with requests, oauthlib and the rest) on first use, which is most of the CPU time of
``tradeassist validate``.  Yet the plugin of most schemes lives in the module of the same
name (``dbus://`` in ``apprise.plugins.dbus``), and ours (``sound://``, ``logfile://``)
are apprise's decorator plugins.  :func:`accepted` runs apprise's own checks (parse the
URL, is the plugin enabled, build the service) against that one plugin class, as
``Apprise.instantiate`` would, and never asks apprise's plugin registry.

It only ever says "valid": a URL it cannot vouch for (a problem, an unknown scheme, a
plugin in a module of another name) is checked by :func:`.channels.check_url`, the full
check with every plugin loaded, so every verdict and every message is that check's.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from typing import Any

from apprise import AppriseAsset, common
from apprise.decorators.base import CustomNotifyPlugin
from apprise.manager_plugins import NotificationManager
from apprise.utils.logic import dict_full_update
from apprise.utils.parse import GET_SCHEMA_RE, parse_list, parse_url, url_assembly

from .apprise_log import captured_apprise_log
from .urls import scheme_of

#: The schemes :mod:`.plugins` registers with apprise's ``@notify`` decorator.
OUR_SCHEMES = ("logfile", "sound")

#: apprise's rule for the names of the modules it loads plugins from (``PluginManager.load_modules``).
_MODULE_NAME = re.compile(r"(?!base|_)[a-z0-9_]+")


def check_url(url: str) -> str | None:
    """Why apprise cannot use ``url``, or None: :func:`.channels.check_url`'s answer, cheaper."""
    if accepted(url):
        return None
    from .channels import check_url as full_check  # loads every apprise plugin

    return full_check(url)


def accepted(url: str) -> bool:
    """True if the full check would accept ``url``; False if it cannot tell without it."""
    schema = scheme_of(url)
    url_ = url.replace("/#", "/%23")  # as apprise's url_to_dict reads it
    m = GET_SCHEMA_RE.match(url_)
    if schema is None or m is None or m.group("schema").lower() != schema:
        return False
    with captured_apprise_log():
        try:
            plugin = _native_plugin(schema)
            if plugin is not None:
                return _instantiates(plugin, url_, schema)
            if schema in OUR_SCHEMES:
                return _our_plugin_instantiates(url_, schema)
        except Exception:  # a plugin module that cannot be imported here, a parser that raises:
            return False  # the full check says what it makes of it
    return False


def _native_plugin(schema: str) -> Any:
    """The plugin class of ``apprise.plugins.<schema>`` if that module serves ``schema``, else None.

    Picked as ``load_modules`` picks a module's plugin: the first name (in ``dir`` order)
    that fits the manager's pattern and has an ``app_id``.
    """
    if not _MODULE_NAME.fullmatch(schema) or importlib.util.find_spec(f"apprise.plugins.{schema}") is None:
        return None
    module = importlib.import_module(f"apprise.plugins.{schema}")
    for name in dir(module):
        if not NotificationManager.module_filter_re.match(name):
            continue
        plugin = getattr(module, name)
        if not hasattr(plugin, "app_id"):
            continue
        fn = getattr(plugin, "schemas", None)
        return plugin if callable(fn) and schema in fn(plugin) else None
    return None


def _instantiates(plugin: Any, url_: str, schema: str) -> bool:
    """``check_url``'s steps for a plugin class: ``url_to_dict``, the enabled check, ``instantiate``."""
    parsed = plugin.parse_url(url_)
    if not parsed or parsed.get("schema") != schema:
        return False
    if not plugin.enabled:
        return True  # a plugin this machine lacks: the URL is still fine (see channels.check_url)
    results = plugin.parse_url(url_)  # instantiate parses the URL again, into a dict of its own
    if not results:
        return False
    results["tag"] = set(parse_list(None))
    results["asset"] = AppriseAsset()
    service = plugin(**results)
    return bool(service.enabled)


def _our_plugin_instantiates(url_: str, schema: str) -> bool:
    """The same steps for one of our ``@notify`` schemes, with the class the decorator would make.

    ``CustomNotifyPlugin.instantiate_plugin`` builds its wrapper class inside the call that
    registers it, so the wrapper is rebuilt here: the same attributes, and its ``__init__``
    (the base's, then the merge of the decorator's default arguments into the URL's).
    """
    parsed = CustomNotifyPlugin.parse_url(url_)
    if not parsed or parsed.get("schema") != schema:
        return False

    wrapper: Any = type("_Wrapper", (CustomNotifyPlugin,), {
        "service_name": f"Custom - {schema}",
        "secure_protocol": schema,
        "notify_format": (common.NotifyFormat.TEXT, common.NotifyFormat.HTML, common.NotifyFormat.MARKDOWN),
    })
    if not wrapper.enabled:
        return False
    results = CustomNotifyPlugin.parse_url(url_)
    if not results:
        return False
    results["tag"] = set(parse_list(None))
    results["asset"] = AppriseAsset()
    service = wrapper(**results)
    default_args: dict[str, Any] = {}
    kwargs = dict(results)
    kwargs.pop("secure", None)
    dict_full_update(default_args, parse_url(f"{schema}://", default_schema=schema, verify_host=False, simple=True))
    dict_full_update(default_args, kwargs)
    url_assembly(**default_args)
    return bool(service.enabled)
