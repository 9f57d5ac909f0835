"""The codes ``exchange_calendars`` accepts, as of the version named below.

Validation of ``calendar:`` reads this list instead of importing exchange_calendars,
which pulls in pandas (about a second of start-up) just to list its names.  It is used
only when the installed exchange_calendars is this version (``rules.modifiers``);
tests check it against the installed package, and `python -m
tradeassist_runner.rules.calendar_codes` prints a fresh copy after an upgrade.
"""

from __future__ import annotations

VERSION = "4.13.2"

CODES: tuple[str, ...] = (
    "24/5",
    "24/7",
    "AIXK",
    "ARCX",
    "ASEX",
    "ASX",
    "BATS",
    "BMF",
    "BSE",
    "BVB",
    "BVMF",
    "CBOT",
    "CFE",
    "CME",
    "CMES",
    "COMEX",
    "FWB",
    "HKEX",
    "ICE",
    "ICEUS",
    "IEPA",
    "JKT",
    "JPX",
    "LSE",
    "LUXSE",
    "NASDAQ",
    "NYFE",
    "NYMEX",
    "NYSE",
    "OOTC",
    "OSE",
    "SIX",
    "SSE",
    "TASE",
    "TSX",
    "XAMS",
    "XASE",
    "XASX",
    "XBDA",
    "XBEL",
    "XBKK",
    "XBOG",
    "XBOM",
    "XBRA",
    "XBRU",
    "XBSE",
    "XBUD",
    "XBUE",
    "XCBF",
    "XCSE",
    "XCYS",
    "XDUB",
    "XDUS",
    "XEEE",
    "XETR",
    "XEUR",
    "XFRA",
    "XHAM",
    "XHEL",
    "XHKG",
    "XICE",
    "XIDX",
    "XIST",
    "XJSE",
    "XKAR",
    "XKLS",
    "XKRX",
    "XLIM",
    "XLIS",
    "XLIT",
    "XLJU",
    "XLON",
    "XLUX",
    "XMAD",
    "XMEX",
    "XMIL",
    "XMOS",
    "XNAS",
    "XNYS",
    "XNZE",
    "XOSL",
    "XPAR",
    "XPHS",
    "XPRA",
    "XRIS",
    "XSAU",
    "XSES",
    "XSGO",
    "XSHG",
    "XSTO",
    "XSTU",
    "XSWX",
    "XTAE",
    "XTAI",
    "XTAL",
    "XTKS",
    "XTSE",
    "XTSX",
    "XWAR",
    "XWBO",
    "XZAG",
    "us_futures",
)


def _render() -> str:  # pragma: no cover - maintenance helper
    import exchange_calendars  # type: ignore[import-untyped]

    from importlib.metadata import version

    names = exchange_calendars.get_calendar_names(include_aliases=True)
    body = "".join(f'    "{n}",\n' for n in names)
    return f'VERSION = "{version("exchange_calendars")}"\n\nCODES: tuple[str, ...] = (\n{body})\n'


if __name__ == "__main__":  # pragma: no cover
    print(_render(), end="")
