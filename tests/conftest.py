"""Shared fixtures: small real videos made at test time with the real ffmpeg.

Each clip is generated once per session (module-scoped caches would
regenerate per file); they are a few hundred KB and take well under a second.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from redact.io import ffmpeg_exe, probe
from redact.io.frames import decode
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
    with decode(probe(path)) as reader:
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


# --- No unexpected ERROR logs ------------------------------------------------------------------------
#
# A test fails if anything logged at ERROR or above while it ran, as PySceneDetect's tests do: an error
# that the code logs and then survives (a worker that crashed, a frame that could not be decoded, a
# detector that was skipped) is exactly what an end-to-end assertion on the output can miss.
#
# Opting out is explicit: a test that exercises a failure path, and so expects ERROR records, carries
# ``@pytest.mark.allow_error_log`` (registered in pyproject.toml).  Such a test can still assert on
# the records it expects with ``caplog``; the mark only stops this guard from failing it.
#
# One handler on the root logger collects for the whole session.  Records logged between two tests
# (the setup of a module- or session-scoped fixture such as a shared real run, which pytest sets up
# before any function fixture) are charged to the next test, the one that asked for that fixture,
# so a fixture cannot hide an error either.  Loggers that do not propagate to the root are not seen.


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _fail_if_any(records: list[logging.LogRecord], where: str) -> None:
    lines = "\n".join(f"  {r.levelname} {r.name}: {r.getMessage()}" for r in records)
    pytest.fail(
        f"{len(records)} record(s) logged at ERROR or above {where}:\n{lines}\n"
        "If this test expects them, mark it @pytest.mark.allow_error_log.",
        pytrace=False,
    )


@pytest.fixture(scope="session", autouse=True)
def _error_records():
    # Autouse, so it is set up before any other session fixture and sees their errors too.
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    if handler.records:  # from the teardown of the last module's or the session's fixtures
        _fail_if_any(handler.records, "while the session's fixtures were torn down")


@pytest.fixture(autouse=True)
def fail_on_error_log(request, _error_records):
    """Fail the test if an ERROR (or worse) was logged during it; see the comment above for the opt-out."""
    yield
    records, _error_records.records = _error_records.records, []
    if records and request.node.get_closest_marker("allow_error_log") is None:
        _fail_if_any(records, "during this test or the fixtures set up for it")
