"""Licence plates with OpenCV's bundled Haar cascade (``haarcascade_russian_plate_number.xml``).

Not in any preset: on the bench's plates (Russian and EU, 12-40 px
characters, perspective and blur) the text detector already covers the
characters of 97-98 % of plate instances, while this cascade found the
centre of 81-90 % and added one to three false boxes a frame, at a similar
cost (docs/benchmarks-history.md).  It is here for footage where plates are the main
concern and an independent second opinion is worth its cost: its boxes are
``kind = "plate"`` and painted in ``render.plate``'s style.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from redact.analyse.detectors.base import check_image, check_options, register, resize_for
from redact.errors import DetectorError
from redact.types import Detections, Kind

CASCADE = "haarcascade_russian_plate_number.xml"
MIN_SIZE = (24, 8)
"""Smallest plate searched (px, after ``scale``): about 6 px characters."""


@register("plate_haar")
class HaarPlateDetector:
    """Plates; the cascade gives no score, so ``threshold`` is unused and every box scores 1."""

    kind = Kind.PLATE

    def __init__(self, threshold: float = 0.5, scale: float = 1.0) -> None:
        self.name = "plate_haar"
        self.threshold, self.scale = check_options("plate_haar", threshold, scale)
        self._cascade: cv2.CascadeClassifier | None = None

    def load(self) -> None:
        path = Path(cv2.data.haarcascades) / CASCADE
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise DetectorError(f"plate_haar: cannot load OpenCV's {CASCADE} ({path})")
        self._cascade = cascade

    def close(self) -> None:
        self._cascade = None

    def detect(self, image: np.ndarray) -> Detections:
        if self._cascade is None:
            raise DetectorError("plate_haar: detect() called before load()")
        check_image(self.name, image)
        small, f = resize_for(image, self.scale)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        found = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=3, minSize=MIN_SIZE)
        if not len(found):
            return Detections()
        xywh = np.asarray(found, np.float32) / f
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        return Detections.of(xyxy, np.ones(len(xyxy), np.float32), self.kind, self.name)
