"""Exposed bodies: NudeNet's 320n detector (a YOLOv8n), through OpenVINO or onnxruntime.

The weights are the ``320n.onnx`` that the ``nudenet`` wheel ships; we read
that file and decode the YOLO output ourselves rather than calling
``NudeDetector``, which takes one image at a time through its own session
with default threading and reports only its own classes' names.  Which
classes are redacted is the config's choice (``classes``); by default the
exposed intimate ones.  Faces are *not* taken from this model: the face
detectors are far more sensitive.

The model sees the frame letterboxed to 320 x 320, so at 720p a body part
must be about 40 px across to be found; footage where that matters should
run it with ``tiles: 2``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from redact.analyse.detectors.base import check_image, check_options, nms, register, shipped_file
from redact.analyse.detectors.engine import OnnxPlugin
from redact.errors import DetectorError
from redact.types import Detections, Kind

LABELS = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
"""The model's output classes, in its output order (as the nudenet package lists them)."""

DEFAULT_CLASSES = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)
SIZE = 320
NMS_IOU = 0.45


@register("nudenet")
class NudityDetector(OnnxPlugin):
    """Exposed body parts of the configured ``classes``; every box is ``kind = "body"``."""

    kind = Kind.BODY

    def __init__(self, threshold: float = 0.25, scale: float = 1.0, classes: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.name = "nudenet"
        self.threshold, self.scale = check_options("nudenet", threshold, scale)
        unknown = sorted(set(classes) - set(LABELS))
        if unknown:
            raise DetectorError(f"nudenet: unknown classes {', '.join(unknown)}; valid: {', '.join(LABELS)}")
        self.classes = tuple(classes) or DEFAULT_CLASSES
        self._wanted = np.array([label in self.classes for label in LABELS])

    def model(self) -> Path:
        return shipped_file("nudenet", "320n.onnx", "pip install nudenet")

    def detect(self, image: np.ndarray) -> Detections:
        check_image(self.name, image)
        h, w = image.shape[:2]
        side = max(h, w)
        # Letterbox (pad bottom/right to a square) so the aspect ratio survives the resize.
        square = cv2.copyMakeBorder(image, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        blob = cv2.dnn.blobFromImage(square, 1 / 255.0, (SIZE, SIZE), (0, 0, 0), swapRB=True, crop=False)
        (out,) = self.infer(blob)
        xyxy, score = decode(out[0], self._wanted, self.threshold, side / SIZE)
        np.clip(xyxy, 0, [w, h, w, h], out=xyxy)
        return nms(Detections.of(xyxy, score, self.kind, self.name), NMS_IOU)


def decode(out: np.ndarray, wanted: np.ndarray, threshold: float, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """YOLOv8 head (4 + classes, anchors) -> boxes (xyxy, frame pixels) and scores of the wanted classes."""
    rows = out.T  # (anchors, 4 + classes)
    cls = rows[:, 4:]
    best = np.where(wanted[None, :], cls, 0.0).max(1)
    keep = best >= threshold
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    cx, cy, bw, bh = rows[keep, :4].T
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1) * factor
    return xyxy.astype(np.float32), best[keep].astype(np.float32)
