"""Video in and out through one real ffmpeg: probe, the one frame visitor (:mod:`.frames`), encode and mux."""

from redact.io.files import ffmpeg_exe
from redact.io.frames import decode
from redact.io.probe import probe
from redact.io.writer import VideoWriter

__all__ = ["VideoWriter", "decode", "ffmpeg_exe", "probe"]
