"""Video in and out through one real ffmpeg: probe, stream frames, encode and mux."""

from redact.io.probe import probe
from redact.io.reader import FrameReader
from redact.io.writer import VideoWriter, ffmpeg_exe

__all__ = ["FrameReader", "VideoWriter", "ffmpeg_exe", "probe"]
