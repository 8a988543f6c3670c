"""Face descriptors: dlib's ResNet model, weights from the ``face_recognition_models`` package.

Only two of that package's files are used: the 5-point landmark predictor (for
alignment) and ``dlib_face_recognition_resnet_model_v1.dat`` (public-domain
weights).  The 68-point predictor is not: its training data restricts
commercial use.  Nothing is downloaded; a missing package is a clear error.

Boxes come from our own face detectors, which frame a face from forehead to
chin; the landmark predictor was trained on dlib's own detector boxes, which
start at the brows.  :func:`dlib_box` maps one onto the other (measured on the
bench's 33 reference photos: dlib's box spans 18-96 % of a CenterFace box's
height and all of its width).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from redact.analyse.detectors.base import shipped_file
from redact.errors import DetectorError

CHIP_SIZE = 150
"""Side of the aligned face chip the ResNet model expects."""

_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
_RESNET = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class FaceSample:
    """One face crop's descriptor and the quality facts that decide whether it may be scored."""

    vector: np.ndarray
    """128 floats, L2-normalised, so a dot product is the cosine similarity."""
    height: float
    """Box height in pixels of the frame it came from."""
    sharpness: float
    """Variance of the Laplacian of the grey aligned chip: motion blur and defocus push it down."""
    yaw: float
    """Nose offset from the eyes' midpoint, in inter-eye distances: 0 frontal, about 0.5 and up strongly turned."""


def model_paths() -> tuple[Path, Path]:
    """The two weight files, found without importing ``face_recognition_models`` (it needs pkg_resources)."""
    install = "pip install dlib-bin face_recognition_models"
    package = "face_recognition_models"
    return shipped_file(package, f"models/{_PREDICTOR}", install), shipped_file(package, f"models/{_RESNET}", install)


def dlib_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """A forehead-to-chin detector box -> the brows-to-chin box dlib's landmark predictor expects."""
    x1, y1, x2, y2 = (float(v) for v in box)
    h = y2 - y1
    return round(x1), round(y1 + 0.18 * h), round(x2), round(y1 + 0.96 * h)


class FaceEmbedder:
    """Aligns each face with 5 landmarks and describes it with dlib's ResNet (65-75 ms a face on one core here)."""

    def __init__(self) -> None:
        self._predictor = None
        self._model = None

    def load(self) -> None:
        if self._model is not None:
            return
        try:
            import dlib
        except ImportError as e:
            raise DetectorError("identity matching needs dlib: pip install dlib-bin face_recognition_models") from e
        predictor, resnet = model_paths()
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(predictor))
        self._model = dlib.face_recognition_model_v1(str(resnet))

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> list[FaceSample]:
        """One sample per box (``[x1, y1, x2, y2]`` in ``image``'s pixels) of a BGR frame."""
        aligned = self.align(image, boxes)
        vectors = self.describe([chip for chip, _ in aligned])
        return [
            FaceSample(v, float(b[3] - b[1]), _sharpness(chip), _yaw(shape))
            for v, b, (chip, shape) in zip(vectors, np.asarray(boxes, np.float32).reshape(-1, 4), aligned)
        ]

    def align(self, image: np.ndarray, boxes: np.ndarray) -> list[tuple[np.ndarray, object]]:
        """(aligned RGB chip, dlib's 5 landmarks) per box of a BGR frame: cheap next to :meth:`describe`."""
        self.load()
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(boxes):
            return []
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        dlib = self._dlib
        out = []
        for box in boxes:
            shape = self._predictor(rgb, dlib.rectangle(*dlib_box(box)))
            out.append((np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=0.25)), shape))
        return out

    def describe(self, chips: list[np.ndarray]) -> np.ndarray:
        """L2-normalised descriptors, one row per aligned chip (the 65-75 ms a face)."""
        self.load()
        if not chips:
            return np.zeros((0, 128), np.float32)
        vectors = np.asarray(self._model.compute_face_descriptor(list(chips)), np.float32).reshape(len(chips), -1)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        return vectors

    @staticmethod
    def quality(chip: np.ndarray, shape) -> tuple[float, float]:
        """(sharpness, yaw) of one aligned chip and its landmarks: what decides whether it may be scored."""
        return _sharpness(chip), _yaw(shape)

    def close(self) -> None:
        self._predictor = self._model = None


def _sharpness(chip: np.ndarray) -> float:
    grey = cv2.cvtColor(np.asarray(chip), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def _yaw(shape) -> float:
    """dlib's 5 points: 0-1 one eye's corners, 2-3 the other's, 4 below the nose."""
    p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
    eye_a, eye_b = p[0:2].mean(0), p[2:4].mean(0)
    span = float(np.linalg.norm(eye_a - eye_b))
    if span < 1e-3:
        return float("inf")
    return float(abs(p[4, 0] - (eye_a[0] + eye_b[0]) / 2) / span)
