"""Regenerate the README's pictures: ``python docs/screenshots.py <what>`` (``all`` for every one).

Each target makes its picture from the real thing, the way a user would see it, and writes it
under ``docs/images/``; commit the result. Targets:

    charts      docs/images/chart.png: `tradeassist backtest --chart` over a seeded
                synthetic /ES session, opened in headless Chromium with no network
    dashboard   docs/images/dashboard.png: the dashboard of ``tradeassist run config/config.yaml``
                (the shipped config, its synthetic feed and rules) after a minute or so of alerts

Needs the ``[all]`` extras and Debian's chromium (``apt-get install -y chromium``), driven headless
by Playwright; every request leaving 127.0.0.1 is aborted, and a page that tried one fails the
target, so a screenshot also proves the page works offline.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
sys.path.insert(0, str(ROOT))

#: What the dashboard must show before it is photographed (the synthetic feed needs about a minute).
DASHBOARD_READY = """() => document.querySelectorAll('#alerts li .chip[data-status]').length >= 6
  && Number(document.querySelector('#instruments svg.spark')?.dataset.points) >= 30"""


@contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A headless Chromium page whose requests off this machine are aborted (and fail the target)."""
    from tests.browser import browser_page

    with browser_page(viewport=(width, height)) as b:
        yield b.page
        if b.outside:
            raise SystemExit(f"the page tried to reach outside 127.0.0.1: {b.outside[:3]}")


def _tradeassist(*args: str | Path) -> None:
    exe = Path(sys.executable).parent / "tradeassist"
    subprocess.run([str(exe), *map(str, args)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def charts() -> Path:
    """A backtest chart of four shipped /ES rules: a level, a tick RSI with re-arm, VWAP, 5m bars."""
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


def _listening(proc: subprocess.Popen[str]) -> int:
    """The port from the runner's ``api listening`` log line."""
    assert proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    while True:
        try:
            seen.append(lines.get(timeout=60))
        except queue.Empty:
            raise SystemExit("tradeassist run did not start listening within 60 s:\n" + "".join(seen)) from None
        if "api listening" in seen[-1]:
            return int(seen[-1].split(" port=")[1].split()[0])


def dashboard() -> Path:
    """The shipped config in a scratch copy (its alert log and state go there, not into data/)."""
    out = IMAGES / "dashboard.png"
    with tempfile.TemporaryDirectory(prefix="tradeassist-screenshot-") as scratch:
        work = Path(scratch)
        shutil.copytree(ROOT / "config", work / "config")
        shutil.copytree(ROOT / "rules.d", work / "rules.d")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradeassist_runner", "run", str(work / "config" / "config.yaml"),
             "--fresh", "--api-port", "0"],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            port = _listening(proc)
            with chromium_page(1400, 900) as page:
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_function(DASHBOARD_READY, timeout=180_000)
                page.wait_for_timeout(1500)  # let the last delivery chips settle
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return out


#: target name -> function writing that screenshot (and returning its path)
TARGETS: dict[str, Callable[[], Path]] = {"charts": charts, "dashboard": dashboard}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=[*TARGETS, "all"])
    args = ap.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name in TARGETS if args.what == "all" else [args.what]:
        print(f"{name}: {TARGETS[name]().relative_to(ROOT)}")


if __name__ == "__main__":
    main()
