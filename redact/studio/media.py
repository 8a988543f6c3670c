"""What the studio's player plays: the input or a proxy of it, the render, and the sound's waveform.

A browser plays H.264, VP8/9 or AV1 in MP4 or WebM; anything else (ProRes,
MPEG-2, HEVC on most systems, AVI...) gets a proxy made once with the bundled
ffmpeg: H.264 at most 720 px high, on the same frame grid as the reader
(every frame kept, constant rate for variable-rate input), stored in the
review folder.  It is only for watching: previews and renders read the
original.  The waveform is the peak level per 20 ms, computed once from
the first audio stream and cached beside it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from redact.errors import EncodeError
from redact.io.files import atomic, ffmpeg_exe, write_atomic

if TYPE_CHECKING:
    from redact.studio.session import Session

log = logging.getLogger(__name__)

PLAYABLE_VIDEO = {"h264", "vp8", "vp9", "av1"}
PLAYABLE_AUDIO = {"aac", "mp3", "opus", "vorbis", "flac"}
PLAYABLE_FILES = {".mp4", ".m4v", ".mov", ".webm"}
PROXY, WAVEFORM = "proxy.mp4", "waveform.json"
PEAKS_PER_SECOND = 50
WAVE_RATE = 8000
"""Samples a second the waveform is computed from: enough for peaks at 50 a second, 6x less data than 48 kHz."""

_proxy_lock = threading.Lock()


def playable(s: Session) -> bool:
    info = s.info
    audio_ok = info.audio is None or info.audio.codec in PLAYABLE_AUDIO
    return info.codec in PLAYABLE_VIDEO and s.input.suffix.lower() in PLAYABLE_FILES and audio_ok


def status(s: Session) -> dict:
    proxy = not playable(s)
    return {"proxy": proxy, "proxy_ready": (s.where / PROXY).is_file() if proxy else None,
            "output": bool(s.job.get("output")) and Path(s.job["output"]).is_file()}


def path(s: Session, which: str) -> Path | None:
    if which == "original":
        return s.input if playable(s) else make_proxy(s)
    if which == "output":
        out = s.job.get("output")
        return Path(out) if out and Path(out).is_file() else None
    return None


def make_proxy(s: Session) -> Path:
    """The proxy, made on first use (one at a time), then reused from the review folder."""
    dest = s.where / PROXY
    with _proxy_lock:
        if dest.is_file():
            return dest
        dest.parent.mkdir(exist_ok=True)
        info = s.info
        # A constant rate and the reader's frame count: AVI's or MPEG-TS's timestamps would give a variable
        # rate or a frame more, and the player's frame numbers must be the analysis'.
        rate = ["-fps_mode", "cfr", "-r", f"{info.fps.numerator}/{info.fps.denominator}"]
        gop = max(1, round(float(info.fps)))
        with atomic(dest) as temp:
            cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(s.input), "-map", f"0:{info.stream_index}",
                   "-map", "0:a:0?", *rate, "-frames:v", str(info.frame_count), "-vf", "scale=-2:'min(720,ih)'",
                   "-c:v", "libx264", "-preset", "veryfast",
                   "-crf", "23", "-pix_fmt", "yuv420p", "-g", str(gop), "-c:a", "aac", "-b:a", "128k",
                   "-movflags", "+faststart", "-f", "mp4", str(temp)]
            done = subprocess.run(cmd, capture_output=True)
            if done.returncode:
                why = done.stderr.decode(errors="replace")[-300:]
                raise EncodeError(f"{s.input}: the proxy could not be made ({why})")
        log.info("made a proxy of %s for the browser: %s", s.input.name, dest)
        return dest


def waveform(s: Session) -> dict:
    """``{"rate": peaks a second, "peaks": [0-255, ...]}``, empty without audio; cached in the review folder."""
    cache = s.where / WAVEFORM
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    if s.info.audio is None:
        return {"rate": PEAKS_PER_SECOND, "peaks": []}
    step = WAVE_RATE // PEAKS_PER_SECOND
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(s.input), "-map", "0:a:0", "-ac", "1", "-ar",
           str(WAVE_RATE), "-f", "s16le", "pipe:1"]
    peaks: list[int] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        while block := proc.stdout.read(step * 2 * 1000):
            samples = np.frombuffer(block[: len(block) // 2 * 2], np.int16).astype(np.int32)
            n = -(-len(samples) // step)
            padded = np.zeros(n * step, np.int32)
            padded[: len(samples)] = np.abs(samples)
            peaks.extend((padded.reshape(n, step).max(axis=1) * 255 // 32768).tolist())
    result = {"rate": PEAKS_PER_SECOND, "peaks": peaks}
    s.where.mkdir(exist_ok=True)
    write_atomic(cache, json.dumps(result, separators=(",", ":")))
    return result
