"""A tone per severity, played through the system's audio player.

No audio library is needed: the tone is a WAV written with the stdlib ``wave`` module and
played by the first player found on PATH (``paplay``/``pw-play``/``aplay`` on Linux,
``afplay`` on macOS). Apprise runs custom notifications in a worker thread, so waiting
for the player never blocks the event loop. Without a player or an audio device the
failure is a clear message for the delivery log, never a crash.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import wave
from pathlib import Path

#: Tried in this order; the first on PATH plays.
PLAYERS: tuple[str, ...] = ("afplay",) if sys.platform == "darwin" else ("paplay", "pw-play", "aplay")

#: severity -> (frequency Hz, beep count): higher and more insistent as it gets worse.
TONES: dict[str, tuple[float, int]] = {"info": (660.0, 1), "warning": (880.0, 2), "critical": (1320.0, 3)}

#: apprise notify_type -> our severity (see ``notify.channels.NOTIFY_TYPE``).
SEVERITY_OF_TYPE = {"info": "info", "success": "info", "warning": "warning", "failure": "critical"}

_RATE = 22_050
_cache_lock = threading.Lock()


class SoundError(RuntimeError):
    """Why a tone could not be played, worded for the delivery log."""


def find_player(env_path: str | None = None) -> str | None:
    for name in PLAYERS:
        found = shutil.which(name, path=env_path)
        if found:
            return found
    return None


def unavailable_reason() -> str | None:
    """None when a tone can probably be played here; else why not (for 'skipped'/'failed')."""
    if find_player() is None:
        return f"no audio player found on PATH (looked for {', '.join(PLAYERS)})"
    if sys.platform.startswith("linux") and not (
        Path("/dev/snd").exists() or os.environ.get("PULSE_SERVER") or os.environ.get("XDG_RUNTIME_DIR")
    ):
        return "no audio device (no /dev/snd and no PulseAudio/PipeWire session)"
    return None


def tone_wav(severity: str, volume: float = 0.6) -> bytes:
    """A short WAV: ``count`` beeps of 150 ms at the severity's frequency, 80 ms apart."""
    freq, count = TONES.get(severity, TONES["warning"])
    amp = int(32767 * max(0.0, min(volume, 1.0)))
    beep = [
        int(amp * math.sin(2 * math.pi * freq * i / _RATE) * min(1.0, i / 200, (int(_RATE * 0.15) - i) / 200))
        for i in range(int(_RATE * 0.15))
    ]
    gap = [0] * int(_RATE * 0.08)
    samples: list[int] = []
    for n in range(count):
        samples += beep + (gap if n < count - 1 else [])
    frames = struct.pack(f"<{len(samples)}h", *samples)
    path = Path(tempfile.mkstemp(suffix=".wav")[1])
    try:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(_RATE)
            w.writeframes(frames)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


def _wav_file(severity: str, volume: float) -> Path:
    folder = Path(tempfile.gettempdir()) / "tradeassist-sounds"
    path = folder / f"{severity}-{int(volume * 100)}.wav"
    with _cache_lock:
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(tone_wav(severity, volume))
            tmp.replace(path)
    return path


def play(severity: str, volume: float = 0.6, timeout: float = 10.0) -> None:
    """Play the severity's tone; blocks the calling (worker) thread; ``SoundError`` on failure."""
    player = find_player()
    if player is None:
        raise SoundError(f"no audio player found on PATH (looked for {', '.join(PLAYERS)})")
    path = _wav_file(severity, volume)
    try:
        done = subprocess.run([player, str(path)], capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SoundError(f"{Path(player).name} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise SoundError(f"cannot run {player}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
        why = detail[-1] if detail else f"exit code {done.returncode}"
        raise SoundError(f"{Path(player).name} could not play (no audio device?): {why}")
