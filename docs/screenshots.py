"""Regenerate the README's screenshots: ``python docs/screenshots.py <what>`` (``all`` for every one).

Each target is one function in ``TARGETS`` that writes its PNG under ``docs/images/``:

    charts     docs/images/chart.png: `tradeassist backtest --chart` over a seeded
               synthetic /ES session, opened in headless Chromium with no network

Screenshots are taken by Debian's ``chromium`` driven by Playwright (the ``[test]``
extra); every request leaving 127.0.0.1 is aborted, and a page that tried one fails the
target, so a screenshot also proves the page works offline.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}


@contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A headless Chromium page whose requests off this machine are aborted (and fail the target)."""
    import shutil

    from playwright.sync_api import sync_playwright

    exe = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if exe is None:
        sys.exit("no chromium on PATH: apt-get install -y chromium")
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)

            def guard(route: Any, request: Any) -> None:
                parts = urlsplit(request.url)
                if parts.scheme in ("data", "blob", "about", "file") or (parts.hostname or "") in LOCAL:
                    route.continue_()
                else:
                    outside.append(request.url)
                    route.abort()

            context.route("**/*", guard)
            yield context.new_page()
        finally:
            browser.close()
    if outside:
        sys.exit(f"the page tried to reach the network: {outside[:3]}")


def _tradeassist(*args: str | Path) -> None:
    exe = Path(sys.executable).parent / "tradeassist"
    subprocess.run([str(exe), *map(str, args)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def charts() -> Path:
    """A backtest chart of four shipped /ES rules: a level, a tick RSI with re-arm, VWAP, 5m bars."""
    sys.path.insert(0, str(ROOT))
    from tradeassist_runner.config.loader import load_config
    from tradeassist_runner.config.models import SyntheticSource
    from tradeassist_runner.sources.synthetic import SyntheticFeed

    out = IMAGES / "chart.png"
    with tempfile.TemporaryDirectory(prefix="tradeassist-shot-") as tmp:
        shipped = load_config(ROOT / "config" / "config.yaml")
        feed = SyntheticFeed([i for i in shipped.instruments if i.symbol in ("/ES", "$SPX")],
                             SyntheticSource(type="synthetic", seed=11, ticks_per_second=5, volatility_bps=2),
                             start=datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc))
        ticks = Path(tmp) / "es-session.parquet"
        feed.generate(60_000).write_parquet(ticks)
        html = Path(tmp) / "chart.html"
        _tradeassist("backtest", "config/config.yaml", "--ticks", ticks, "--chart", html,
                     "--rule", "es.breakout.6010", "--rule", "es.rsi.ticks.overbought",
                     "--rule", "es.vwap.reclaim", "--rule", "es.rsi.5m.oversold")
        with chromium_page(1400, 900) as page:
            page.goto(html.as_uri())
            page.wait_for_selector("#tradeassist-chart .main-svg")
            page.screenshot(path=str(out), full_page=True)
    return out


#: target name -> function writing that screenshot (and returning its path)
TARGETS: dict[str, Callable[[], Path]] = {"charts": charts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=[*TARGETS, "all"])
    args = ap.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name in TARGETS if args.what == "all" else [args.what]:
        print(f"{name}: {TARGETS[name]().relative_to(ROOT)}")


if __name__ == "__main__":
    main()
