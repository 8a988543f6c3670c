"""Scripted detectors: stand-ins for the real models in unit and invariant tests.

Each answers from a script (ground-truth boxes, a colour rule, a fixed reply)
instead of from pixels, so a test can say exactly what the detector saw and
check what the pipeline made of it: gaps, crashes, huge unsure boxes, a face
that is only a face upright.  They follow the detector protocol in
``redact/analyse/detectors/base.py`` (``name``, ``kind``, ``load``,
``detect``, ``close``) and load nothing.  Import them from here
(``from tests.doubles import ScriptedDetector``) rather than defining another.
The Ray tests' one-node cluster (:func:`ray_head_cluster`) is shared here too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from redact.types import Detections


class ScriptedDetector:
    """Returns the ground truth boxes, except on every third frame: a detector with gaps."""

    kind = "face"

    def __init__(self, boxes, skip=lambda i: i % 3 == 2, fail_on=()):
        self.name = "scripted"
        self.boxes = boxes
        self.skip = skip
        self.fail_on = set(fail_on)
        self.calls = 0

    def load(self):
        pass

    def close(self):
        pass

    def detect(self, image):
        i = self.calls
        self.calls += 1
        if i in self.fail_on:
            raise RuntimeError("model crashed")
        if self.skip(i) or not self.boxes[i]:
            return Detections()
        return Detections.of(self.boxes[i], [0.9] * len(self.boxes[i]), "face", self.name)


class HugeUnsure:
    """A scripted model that answers a turned copy with one low-score box over most of it."""

    name, kind = "scripted", "face"

    def load(self) -> None: ...

    def close(self) -> None: ...

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        return Detections.of([[0, 0, w * 0.8, h * 0.8], [10, 10, 30, 30]], [0.3, 0.3], "face", self.name)


class RedAboveGreen:
    """A scripted model that sees a "face" only upright: a red disc straight above a green one."""

    name, kind = "scripted", "face"

    def load(self) -> None: ...

    def close(self) -> None: ...

    def detect(self, image: np.ndarray) -> Detections:
        g, r = (image[..., i].astype(int) for i in (1, 2))
        red, green = np.argwhere((r > 150) & (g < 80)), np.argwhere((g > 150) & (r < 80))
        if not len(red) or not len(green):
            return Detections()
        (ry, rx), (gy, gx) = red.mean(0), green.mean(0)
        if gy - ry <= 2 * abs(gx - rx):
            return Detections()
        pts = np.concatenate([red, green])
        (y1, x1), (y2, x2) = pts.min(0), pts.max(0) + 1
        return Detections.of([[x1, y1, x2, y2]], [0.9], "face", self.name)


@contextmanager
def ray_head_cluster():
    """A one-node Ray cluster of our own, two CPUs, on a free port; its address, and stopped afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = [exe, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
             "--disable-usage-stats"]
    proc = subprocess.run(start, env=env, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        pytest.fail(f"ray start failed: {proc.stderr[-2000:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([exe, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)
