"""Where a chart goes: its format from the file name, the extra it needs, the write itself.

Everything that can make ``--chart FILE`` fail is checked before the backtest starts
(an unknown suffix, a missing ``[charts]`` extra, a folder that does not exist or cannot
be written), so a long run never ends in "could not save".  The file is written whole
or not at all (a temporary file beside it, then renamed).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..errors import ChartError
from .model import Figure

#: Suffix -> format.
FORMATS = {".html": "html", ".htm": "html", ".png": "png"}
#: The package each format is drawn with (both come with the ``[charts]`` extra).
NEEDS = {"html": "plotly", "png": "matplotlib"}


def chart_format(path: str) -> str:
    """``html`` or ``png``; ValueError (a usage error) for any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path!r}: a chart file ends in .html (interactive) or .png (static), not {suffix or 'nothing'!r}")
    return FORMATS[suffix]


def check_ready(path: str, fmt: str) -> None:
    """Raise ChartError when the chart could not be written at the end of the run."""
    if importlib.util.find_spec(NEEDS[fmt]) is None:
        raise ChartError(
            f"--chart {path}: drawing {fmt.upper()} needs {NEEDS[fmt]}, which is not installed: "
            "pip install 'tradeassist-runner[charts]'"
        )
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ChartError(f"--chart {path}: is a folder, not a file")
    if not folder.is_dir():
        raise ChartError(f"--chart {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ChartError(f"--chart {path}: cannot write there (permission denied)")


def render(figure: Figure, fmt: str) -> bytes:
    """The file's bytes.  Prices near the float64 limit (1e308) overflow in axis arithmetic;
    that is drawn as well as it can be, never printed as numpy or matplotlib warnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if fmt == "html":
            from .html import render_html

            return render_html(figure).encode("utf-8")
        from .png import render_png

        return render_png(figure)


def write_chart(figure: Figure, path: str, fmt: str) -> int:
    """Draw and write ``figure``; returns the file's size.  Raises ChartError on any OS error."""
    data = render(figure, fmt)
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent if str(target.parent) else ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)  # as open() would have made it
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise ChartError(f"--chart {path}: cannot write: {exc.strerror or exc}") from None
    return len(data)
