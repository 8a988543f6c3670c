"""The installed environment: one OpenCV with the contrib modules, offline models, no hub downloads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import cv2
import pytest

PUBLISH = Path(__file__).resolve().parent.parent / "configs" / "publish.yaml"


def test_opencv_contrib_modules_present():
    # Several packages pull different cv2 distributions that share one folder;
    # if a non-contrib one was installed last, these disappear.
    assert hasattr(cv2, "TrackerCSRT_create") or hasattr(cv2, "legacy"), "opencv-contrib-python was overwritten"
    tracker = cv2.TrackerCSRT_create()
    assert tracker is not None
    assert hasattr(cv2, "ximgproc")


def test_every_cv2_distribution_has_one_version():
    versions = {}
    for dist in ("opencv-contrib-python", "opencv-python", "opencv-python-headless", "opencv-contrib-python-headless"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    assert "opencv-contrib-python" in versions
    assert len(set(versions.values())) == 1, versions
    assert cv2.__version__ == versions["opencv-contrib-python"].rsplit(".", 1)[0]


def test_legacy_mediapipe_solutions_available():
    import mediapipe as mp

    assert mp.__version__ == "0.10.21"
    assert hasattr(mp.solutions, "face_detection")


@pytest.mark.models
@pytest.mark.slow
def test_blazeface_loads_without_matplotlib_and_leaves_mediapipe_whole():
    # A fresh interpreter: in this one mediapipe may already be imported.
    script = textwrap.dedent(
        """
        import sys
        from redact.analyse.detectors.base import create
        detector = create("blazeface_short")
        detector.load()
        assert "matplotlib" not in sys.modules, "mediapipe's drawing helpers were imported"
        import mediapipe as mp
        from mediapipe.python.solutions import drawing_utils
        assert hasattr(drawing_utils, "draw_landmarks"), "a placeholder was left in place of the real module"
        assert hasattr(mp.solutions, "pose")
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok"


@pytest.mark.slow
@pytest.mark.models
def test_a_run_connects_nowhere_and_leaves_no_telemetry(tmp_path):
    """Every model comes from an installed package, so a run needs no network, and it phones home to no one.

    A run with every detector of configs/publish.yaml, in a fresh interpreter
    whose sockets refuse to connect, must succeed.  Importing openvino would
    send a usage event to Google Analytics (its telemetry package, installed
    with it, leaves a client id and counters in ``~/intel``) unless a CI
    variable is set, so the run gets a fresh home and no CI variables: redact
    must block that telemetry itself.
    """
    from redact.sample import make_sample

    sample, out, home = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "home"
    home.mkdir()
    make_sample(sample, seconds=1.0)
    script = textwrap.dedent(
        """
        import socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network use during a run")

        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.create_connection = socket.getaddrinfo = refuse
        from redact.cli import main

        code = main(["run", sys.argv[1], "-o", sys.argv[2], "--config", sys.argv[3], "--quiet"])
        if "openvino" not in sys.modules or sys.modules.get("openvino_telemetry") is not None:
            sys.exit("openvino was not used, or its telemetry was loaded")
        sys.exit(code)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    r = subprocess.run(
        [sys.executable, "-c", script, str(sample), str(out), str(PUBLISH)],
        check=False, capture_output=True, text=True, timeout=600, env={**env, "HOME": str(home)},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert out.stat().st_size > 0
    assert not (home / "intel").exists(), list((home / "intel").iterdir())
