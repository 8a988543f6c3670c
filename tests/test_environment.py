"""The installed environment: one OpenCV with the contrib modules, offline models, no hub downloads."""

from __future__ import annotations

from importlib import metadata

import cv2


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
