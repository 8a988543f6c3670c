"""Second looks: at the boxes a whole-frame pass scores just under its threshold, and at its huge unsure ones.

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

from redact.analyse.detectors.base import HUGE, HUGE_SURE, Detector, Wrapper, square_window
from redact.analyse.detectors.rotate import rotate_square
from redact.types import Detections, larger_sides

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
        side = larger_sides(d.xyxy)
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
        sizes = larger_sides(found.xyxy)
        found = found.filter(near & (sizes <= 2.0 * face) & (sizes >= 0.5 * face))
        return found[np.argsort(-found.score)[:1]] if len(found) else found


HUGE_INPUT = 192
"""Side (px) of the model input a checked box is looked at in: the box fills two thirds of it (``HUGE_CONTEXT``),
about the size at which the model scores faces best.  Each model that checks a box compiles this one more shape:
the peak on a 1080p bench video with many such boxes rose from 1,436 to 1,527 MiB (BENCHMARKS.md)."""
HUGE_CONTEXT = 1.5
"""The look's side, in box sizes."""
HUGE_TURNS = (0.0, 90.0, 180.0, 270.0)
"""A face filling the frame may be lying or upside down: the look tries each quarter turn."""


class HugeChecked(Wrapper):
    """Keeps a face box over ``HUGE`` of the frame's shorter side, scored under ``HUGE_SURE``, only if the model,
    shown that box alone and enlarged or shrunk to the size it sees faces best at, finds a face there again.

    At a coarse scale CenterFace now and then calls a whole group of people, or
    noise, one face: on the bench's overhead crowd in infrared it answered the
    0.4-scale sweep with boxes 600-1,000 px tall at 0.15-0.38 on frame after
    frame, which tracking and extension turned into a third of the frame
    blanked for seconds (most of the over-redaction of that background).
    Looked at again in a crop of 1.5 times the box, at 192 px, the same model
    scored every such box 0.05 or less at all four quarter turns, while every
    real face over the bound scored 0.81-0.95 at its best turn, including ones
    the whole frame scored only 0.19-0.27 (a face lying on its side in
    infrared; BENCHMARKS.md).  The look costs one to four small model calls, only for boxes
    that large and that unsure, which few frames have.

    ``model`` is the plug-in itself, which the look runs on the crop
    (``inner`` by default; pass it when ``inner`` is :class:`Confirmed`,
    whose own looks a crop does not need).
    """

    def __init__(self, inner: Detector, model: Detector | None = None, confirm: float = CONFIRM):
        super().__init__(inner)
        self.model = model or inner
        self.confirm = confirm
        # The model sees each look at HUGE_INPUT px whatever its own ``scale`` does to its input.
        self.size = round(HUGE_INPUT / getattr(self.model, "scale", 1.0))
        self.checked = self.dropped = 0

    def detect(self, image: np.ndarray) -> Detections:
        d = self.inner.detect(image)
        if not len(d):
            return d
        side = larger_sides(d.xyxy)
        doubt = np.flatnonzero((side > HUGE * min(image.shape[:2])) & (d.score < HUGE_SURE))
        if not len(doubt):
            return d
        keep = np.ones(len(d), bool)
        for i in doubt:
            keep[i] = self._found_again(image, d.xyxy[i])
        self.checked += len(doubt)
        self.dropped += int((~keep).sum())
        return d.filter(keep)

    def _found_again(self, image: np.ndarray, box: np.ndarray) -> bool:
        """Whether the model finds a face of about this box's size and place in a crop of it, at some quarter turn."""
        height, width = image.shape[:2]
        face = float(max(box[2] - box[0], box[3] - box[1]))
        cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
        x1, y1, x2, y2 = square_window(cx, cy, HUGE_CONTEXT * face, width, height)
        crop = cv2.resize(image[y1:y2, x1:x2], (self.size, self.size), interpolation=cv2.INTER_AREA)
        k = (x2 - x1) / self.size
        for angle in HUGE_TURNS:
            turned = rotate_square(crop, angle)
            found = turned.detections_back(self.model.detect(turned.image), self.size, self.size)
            found = found.filter(found.score >= self.confirm)
            if not len(found):
                continue
            centres = (found.xyxy[:, :2] + found.xyxy[:, 2:]) / 2 * k + [x1, y1]
            sizes = larger_sides(found.xyxy) * k
            near = np.all(np.abs(centres - [cx, cy]) <= 0.5 * face, axis=1)
            if np.any(near & (sizes >= 0.4 * face) & (sizes <= 2.0 * face)):
                return True
        return False
