"""The redrawn line never wraps (a wrapped line's first rows cannot be erased) and every
other line is written below an erase, never onto its end."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import termios

from tradeassist_runner.terminal import ERASE, Progress, TerminalLine


def narrow_terminal(columns: int) -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return master, slave


def test_a_long_status_is_cut_to_the_terminal_width_and_lines_go_above_it() -> None:
    master, slave = narrow_terminal(40)
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as stream:
            line = TerminalLine(stream, enabled=True)
            line.show("up 0m05s  12,345 ticks/s  ticks 1,234,567  alerts 12  rejected 0  notify log ok")
            with line.above():
                stream.write("2026-01-05T14:30:00.125Z  WARNING  es.any  ES is up\n")
            line.clear()
        os.close(slave)
        data = b""
        while True:  # all of it: a pty hands it over in pieces, then EIO once the slave is closed
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        written = data.decode().replace("\r\n", "\n")
    finally:
        os.close(master)
    shows = written.split(ERASE)
    assert shows[0] == "" and len(shows[1]) == 39 and shows[1].endswith("…")  # one column to spare
    assert shows[2] == "2026-01-05T14:30:00.125Z  WARNING  es.any  ES is up\n" + shows[1]
    assert shows[3] == ""  # cleared: the cursor is at the start of a blank line


def test_progress_text_says_rows_rate_alerts_and_time_left() -> None:
    with open(os.devnull, "w") as devnull:
        text = Progress(devnull, enabled=False, total=1_000_000, label="old").text(250_000, 1_234, 2.0)
        assert text.startswith("old: [#####...............]  25%  250,000/1,000,000 rows  125,000 ticks/s")
        assert "alerts 1,234" in text and text.endswith("0:06 left")
        assert Progress(devnull, enabled=False, total=None).text(10, 0, 1.0) == "10 rows  10 ticks/s  alerts 0"
