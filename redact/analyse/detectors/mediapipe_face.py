"""MediaPipe BlazeFace through the legacy ``mediapipe.solutions.face_detection`` API.

Two plug-ins share one class: ``blazeface_short`` (model 0, 128 px input, for
faces within about 2 m of the camera) and ``blazeface_full`` (model 1, 192 px
input, faces up to about 5 m).  Both squeeze the whole frame into that small
input, so small faces in a 720p frame are lost unless the frame is tiled
(``TiledDetector``); the models ship inside the mediapipe wheel, nothing is
downloaded.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import types
from typing import Any

import cv2
import numpy as np

from redact.analyse.detectors.base import check_image, check_options, register, resize_for
from redact.errors import DetectorError
from redact.types import Detections, Kind

log = logging.getLogger(__name__)

_DRAWING = ("mediapipe.python.solutions.drawing_utils", "mediapipe.python.solutions.drawing_styles")
_import_lock = threading.Lock()


def import_solution(name: str) -> types.ModuleType:
    """``mediapipe.python.solutions.<name>``, imported without mediapipe's drawing helpers.

    Importing any part of mediapipe runs its package ``__init__``, which
    imports every solution, and the drawing helpers among them import
    ``matplotlib.pyplot``: 0.27 of the 0.49 s that importing mediapipe takes
    on the 2-core bench machine, paid by every video (each ``redact run`` is
    a process of its own; where matplotlib never ran, more while it builds
    its font cache).  A run of pub08 or pub01 took ~0.6 s less with them
    held out, ~6 % of its wall time.  redact draws nothing, so placeholders
    stand in for the two helper modules while mediapipe is first imported
    and are removed afterwards: code that imports the helpers later gets the
    real ones.  If mediapipe is already imported, it is used as it is.
    """
    with _import_lock:
        held_out = []
        if "mediapipe" not in sys.modules:
            for module in _DRAWING:
                if module not in sys.modules:
                    sys.modules[module] = types.ModuleType(module)
                    held_out.append(module)
        try:
            return importlib.import_module(f"mediapipe.python.solutions.{name}")
        finally:
            for module in held_out:
                sys.modules.pop(module, None)


def process_bgr(graph, name: str, image: np.ndarray, scale: float):
    """Run a legacy ``mp.solutions`` graph on a BGR frame resized by ``scale``; errors become DetectorError."""
    if graph is None:
        raise DetectorError(f"{name}: detect() called before load()")
    check_image(name, image)
    h, w = image.shape[:2]
    # cvtColor writes a new contiguous array, which MediaPipe's ImageFrame requires;
    # a strided input (e.g. a tile view) is made contiguous first for OpenCV's sake.
    small, _ = resize_for(np.ascontiguousarray(image), scale)
    try:
        return graph.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    except Exception as e:
        raise DetectorError(f"{name}: inference failed on a {w}x{h} image ({e})") from e


@contextlib.contextmanager
def _native_stderr_silenced():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class MediaPipeGraph:
    """What the MediaPipe plug-ins share: one graph per instance, built in ``load()`` with its banners silenced.

    A subclass names its ``solution`` module and builds its graph from it in ``_build``.
    """

    name: str
    solution: str
    _graph: Any = None

    def _build(self, module):
        raise NotImplementedError

    def load(self) -> None:
        """Build the graph; mediapipe is imported here, not at start-up: it takes ~0.2 s."""
        if self._graph is not None:
            return
        try:
            module = import_solution(self.solution)
        except ImportError as e:
            raise DetectorError(f"{self.name} needs mediapipe: pip install mediapipe==0.10.21") from e
        try:
            # MediaPipe's C++ core prints start-up banners (TFLite delegate, glog
            # warnings) straight to file descriptor 2; building the graph and one
            # warm-up inference happen with it silenced, errors still raise.
            with _native_stderr_silenced():
                self._graph = self._build(module)
                self._graph.process(np.zeros((64, 64, 3), np.uint8))
        except Exception as e:  # mediapipe raises RuntimeError/ValueError from its C++ core
            raise DetectorError(f"{self.name}: cannot build the MediaPipe {self.solution} graph ({e})") from e

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None


class BlazeFaceDetector(MediaPipeGraph):
    """One MediaPipe FaceDetection graph; never share an instance between threads or processes.

    The legacy solution keeps a running graph with monotonically increasing
    timestamps, so each detector instance owns its graph (created in
    ``load()``) and images are processed one at a time.
    """

    kind = Kind.FACE
    solution = "face_detection"

    def __init__(self, name: str, model_selection: int, threshold: float = 0.5, scale: float = 1.0) -> None:
        self.name = name
        self.model_selection = model_selection
        self.threshold, self.scale = check_options(name, threshold, scale)
        self._graph: Any = None

    def _build(self, face_detection):
        # The graph filters by score itself, so the threshold is passed rather than
        # applied afterwards: the same boxes, less work in the graph's NMS.
        return face_detection.FaceDetection(model_selection=self.model_selection,
                                            min_detection_confidence=self.threshold)

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        result = process_bgr(self._graph, self.name, image, self.scale)
        found = result.detections or []
        if not found:
            return Detections()
        rel = np.array(
            [
                (b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height)
                for b in (d.location_data.relative_bounding_box for d in found)
            ],
            np.float32,
        ).reshape(-1, 4)
        score = np.array([d.score[0] if d.score else 0.0 for d in found], np.float32)
        # Relative coordinates are resolution-free, so multiplying by the *original*
        # size undoes the resize exactly; boxes may reach past the frame edge.
        xyxy = rel * np.array([w, h, w, h], np.float32)
        np.clip(xyxy, 0, [w, h, w, h], out=xyxy)
        keep = (xyxy[:, 2] - xyxy[:, 0] >= 1) & (xyxy[:, 3] - xyxy[:, 1] >= 1)
        return Detections.of(xyxy[keep], score[keep], self.kind, self.name)


@register("blazeface_short")
def blazeface_short(threshold: float = 0.5, scale: float = 1.0) -> BlazeFaceDetector:
    """Short-range model (faces within ~2 m, large in the frame)."""
    return BlazeFaceDetector("blazeface_short", 0, threshold=threshold, scale=scale)


@register("blazeface_full")
def blazeface_full(threshold: float = 0.5, scale: float = 1.0) -> BlazeFaceDetector:
    """Full-range model (faces up to ~5 m); the better default for general video."""
    return BlazeFaceDetector("blazeface_full", 1, threshold=threshold, scale=scale)
