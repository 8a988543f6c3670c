"""A second, enlarged look at the boxes a whole-frame pass scores just under its threshold.

A face of 12-30 px smeared by camera shake, or sunk in the dark, is a few
blurred pixels to a model fed the whole frame: CenterFace scores it 0.03-0.1
there, as it scores hundreds of patches of clutter, and the sweep's threshold
(0.15) drops it.  Cut out with some context and enlarged to the window size
the refiner uses, the same model scores the same face 0.3-0.5 on many frames
(a 15 px face under shake in a tuning video, ``pipelines/specs/tune_small.py``:
0.37, 0.33, 0.52 where the whole frame gave 0.06, 0.08, 0.06), while most
clutter stays low.  So the weak small boxes, best-scored first, get that
look; a face found there joins the sweep's boxes, and from then on the
refiner's windows follow it.  A look costs one small model call (~2.5 ms),
on the sweep's own worker thread, only on the frames the sweep runs on.
"""

from __future__ import annotations

import cv2
import numpy as np

from redact.analyse.detectors.base import Detector, Wrapper, square_window
from redact.types import Detections

CONTEXT = 3.0
"""The window's side, in face sizes: the face and the head and shoulders around it, as in the refiner's windows."""
INPUT = 128
"""Side (px) each window is resized to, as the refiner's windows.  Each sweep worker's model compiles this one
more shape (50-90 MiB more at the peak on 1080p, BENCHMARKS.md)."""
MAX_FACE = 32
"""Candidates larger than this (px) get no look: larger faces score high enough whole.  Looks at boxes up to
48 px, 24 a frame, found a few more faces on the tuning videos but confirmed so much clutter on the plaza
video (pub01) that its windows doubled (BENCHMARKS.md)."""
CONFIRM = 0.35
"""The score a candidate's enlarged look must reach: the score from which a track is followed in windows
(``refine.min_score``), so a confirmed face is followed."""
MAX_LOOKS = 16
"""At most this many looks a frame, the best-scored candidates first: clutter may hold hundreds."""


class Confirmed(Wrapper):
    """Runs ``inner`` (made with the low threshold ``candidates``) and keeps its boxes from ``threshold`` up,
    plus each weaker one that an enlarged look finds again from ``confirm`` up."""

    def __init__(self, inner: Detector, threshold: float, confirm: float):
        super().__init__(inner)
        self.threshold, self.confirm = threshold, confirm
        # The model sees each window at INPUT px whatever its own ``scale`` does to its input.
        self.size = round(INPUT / getattr(inner, "scale", 1.0))
        self.looks = 0

    def detect(self, image: np.ndarray) -> Detections:
        d = self.inner.detect(image)
        if not len(d):
            return d
        sure = d.score >= self.threshold
        side = np.maximum(d.xyxy[:, 2] - d.xyxy[:, 0], d.xyxy[:, 3] - d.xyxy[:, 1])
        weak = np.flatnonzero(~sure & (side <= MAX_FACE))
        weak = weak[np.argsort(-d.score[weak], kind="stable")][:MAX_LOOKS]
        parts = [d.filter(sure)] + [self._look(image, d.xyxy[i]) for i in weak]
        return Detections.concat(parts)

    def _look(self, image: np.ndarray, box: np.ndarray) -> Detections:
        """The model on an enlarged window around ``box``: its best box centred near it, if sure enough."""
        height, width = image.shape[:2]
        face = float(max(box[2] - box[0], box[3] - box[1]))
        cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
        x1, y1, x2, y2 = square_window(cx, cy, max(CONTEXT * face, 32.0), width, height)
        if x2 - x1 < 8:
            return Detections()
        k = self.size / (x2 - x1)
        window = cv2.resize(image[y1:y2, x1:x2], (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        found = self.inner.detect(window)
        self.looks += 1
        found = found.filter(found.score >= self.confirm)
        if not len(found):
            return found
        found.xyxy /= k
        found.xyxy += np.array([x1, y1, x1, y1], np.float32)
        centres = (found.xyxy[:, :2] + found.xyxy[:, 2:]) / 2
        near = np.all(np.abs(centres - [cx, cy]) <= 0.75 * face, axis=1)
        sizes = np.maximum(found.xyxy[:, 2] - found.xyxy[:, 0], found.xyxy[:, 3] - found.xyxy[:, 1])
        found = found.filter(near & (sizes <= 2.0 * face) & (sizes >= 0.5 * face))
        return found[np.argsort(-found.score)[:1]] if len(found) else found
