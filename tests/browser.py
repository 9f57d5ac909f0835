"""A real headless Chromium for the tests, driven by Playwright, that cannot reach the network.

Debian's ``chromium`` is used (``.ci/run`` installs it when it is missing); Playwright's own
browser download is never needed. Every request the page makes goes through ``route``: one to
anything but 127.0.0.1/localhost is aborted and recorded in ``Browser.outside``, so a test can
assert that a page loads with no request leaving the machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_path() -> str:
    """The system Chromium; a test that needs it fails (never skips) when it is missing."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no chromium on PATH: install Debian's chromium (apt-get install -y chromium)")


@dataclass
class Browser:
    """One page in a fresh browser context, and what it tried to fetch from outside."""

    page: object  # playwright.sync_api.Page (typed loosely: tests are not type-checked)
    outside: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def browser_page(viewport: tuple[int, int] = (1280, 800)) -> Iterator[Browser]:
    """A page in headless Chromium whose non-local requests are aborted and recorded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            context = chrome.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            result = Browser(page=page)

            def guard(route, request):  # type: ignore[no-untyped-def]
                url = request.url
                scheme = urlsplit(url).scheme
                host = urlsplit(url).hostname or ""
                if scheme in ("data", "blob", "about") or (scheme == "file") or host in LOCAL_HOSTS:
                    route.continue_()
                else:
                    result.outside.append(url)
                    route.abort()

            context.route("**/*", guard)
            page.on("console", lambda msg: result.console_errors.append(msg.text) if msg.type == "error" else None)
            yield result
            context.close()
        finally:
            chrome.close()


def artifact_dir() -> Path:
    """Where screenshots of browser tests go (git-ignored; CI can keep it as an artifact)."""
    out = Path(__file__).resolve().parent.parent / "tests" / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    return out
