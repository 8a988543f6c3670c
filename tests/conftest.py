"""Shared fixtures: small real videos made at test time with the real ffmpeg.

Each clip is generated once per session (module-scoped caches would
regenerate per file); they are a few hundred KB and take well under a second.
"""

from __future__ import annotations

import hashlib
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from redact.io import FrameReader, ffmpeg_exe, probe
from redact.sample import Sample, make_sample


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Sample]:
    """A family of sample clips keyed by what they test; built lazily on first use."""
    root = tmp_path_factory.mktemp("clips")
    specs = {
        "basic": dict(seconds=2.0, fps=25),
        "ntsc": dict(seconds=2.0, fps=Fraction(30000, 1001), extra_streams=True),
        "odd": dict(seconds=1.0, fps=25, size=(321, 241)),
        "rot90": dict(seconds=1.0, fps=25, rotation=90),
        "silent": dict(seconds=1.0, fps=25, audio=False),
    }

    class Lazy(dict):
        def __missing__(self, key):
            self[key] = make_sample(root / f"{key}.mp4", **specs[key])
            return self[key]

    return Lazy()


def decode_all(path: Path) -> np.ndarray:
    """Every frame of ``path`` as one (n, h, w, 3) array, upright."""
    with FrameReader(probe(path)) as reader:
        return np.stack([f.image for f in reader])


def stream_summary(path: Path) -> dict:
    """Streams and metadata as the container holds them, read with PyAV."""
    with av.open(str(path)) as c:
        return {
            "format_tags": dict(c.metadata),
            "streams": [(s.type, dict(s.metadata)) for s in c.streams],
            "chapters": len(c.chapters()) if hasattr(c, "chapters") else 0,
        }


def audio_md5(path: Path) -> str:
    """MD5 of the first audio stream's packets (stream copy), to prove audio is untouched."""
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-c", "copy", "-f", "md5", "-"],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.strip()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_audit(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def encode_frames(path: Path, frames, width: int, height: int, fps: int = 25) -> None:
    """Encode BGR frames (any iterable) to an H.264 MP4 with the real ffmpeg, for clips a test draws itself."""
    cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast",
           "-crf", "18", "-pix_fmt", "yuv420p", str(path)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as proc:
        for image in frames:
            proc.stdin.write(np.ascontiguousarray(image).tobytes())
        proc.stdin.close()
    assert proc.returncode == 0, f"ffmpeg could not encode {path}"


def bare_frames(output: Path, cores: list[tuple[int, int, int, int]]) -> list[int]:
    """Frames of ``output`` where the box ``cores[i]`` is not painted black (``render.style=solid``)."""
    out = decode_all(output)
    return [i for i, (x1, y1, x2, y2) in enumerate(cores) if out[i, y1:y2, x1:x2].mean() > 30]
