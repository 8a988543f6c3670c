"""Detection around tracked faces: whole-frame quality at a fraction of the cost.

Running CenterFace on the whole frame every frame is most of redact's run
time, yet between two frames almost every face is where it was.  So the
whole-frame detectors may run every N-th frame (``every`` in the config) to
*discover* faces, and on the frames between, this module runs a detector on a
small window around each tracked face to *follow* it.  Each window is
resized to one fixed model input (160 px by default), so a 20 px face is seen
as a 50 px one: windows find small faces at least as reliably as the
whole-frame pass, for a few percent of its pixels, and the single input shape
lets onnxruntime reuse its memory plan instead of re-planning per window.

Only small faces get windows (large ones are found every frame by cheap
whole-frame detectors such as BlazeFace), only tracks that were detected
with some confidence (a single low-score hit on a wall would otherwise be
followed for ever), and only tracks seen recently (a face lost for long is
left to the next whole-frame sweep, and covered by gap filling meanwhile).
Everything a window misses is still covered by interpolation and extension
at render time: refinement adds evidence, it never removes any.

A track just found, or found again after a gap, has no usable velocity yet,
and a face dashing across the frame moves more than its own size between two
frames (the bench's pub04: ~2.4 face heights a frame, motion-blurred so that
the cheap sweep misses it while the full-size model scores 0.74).  So on the
frame after such a sighting its window reaches ``first_reach`` face sizes each
way, resized to a larger input in proportion: the face is seen at the same
magnification as in an ordinary window.  One such window each time a track
is (re)found, about four times the cost of an ordinary one.

A face that has been followed for a few frames and moves slowly gets its
window every other frame only (``slow``): the render interpolates its box on
the frame between two sightings, and for a face that moved a fraction of its
size the interpolated box is where the face is.  On the crowd of the bench
(pub02), where windows took a quarter of the CPU time, that ran 1,427
windows instead of 2,402 (BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from redact.config import RefineConfig
from redact.detect.base import Detector, create
from redact.track import LiveTrack
from redact.types import Detections

_ALIGN = 32
"""Model inputs are rounded up to a multiple of this (CenterFace's stride), so few shapes are compiled."""


@dataclass(frozen=True)
class Window:
    """A crop of the frame (integer pixels, clipped) around one or more tracked faces."""

    x1: int
    y1: int
    x2: int
    y2: int
    size: int = 0
    """Side (px) of the model input it is resized to; 0 = the configured ``input_size``."""


class TrackRefiner:
    """Builds windows around live tracks and runs its own detector instance in them."""

    def __init__(self, config: RefineConfig, detector: Detector | None = None):
        self.config = config
        self.detector = detector or create(config.detector, threshold=config.threshold, scale=1.0)
        self.name = self.detector.name
        self.windows_run = 0

    def load(self) -> None:
        self.detector.load()

    def close(self) -> None:
        self.detector.close()

    def windows(
        self,
        live: list[LiveTrack],
        width: int,
        height: int,
        found: Detections | None = None,
        every_frame: bool = False,
    ) -> list[Window]:
        """Windows for the live tracks (:meth:`redact.track.Tracker.live`) that need one.

        A track that one of this frame's whole-frame detections (``found``)
        already continues needs no window: its centre lies in the prediction.
        ``every_frame`` gives slow tracks their window every frame too: when
        people are to be recognised, each sighting is a sample of the face.
        """
        c = self.config
        centres = np.zeros((0, 2), np.float32) if found is None else (found.xyxy[:, :2] + found.xyxy[:, 2:]) / 2
        windows = []
        for track in live:
            box, gap = track.box, track.gap
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            if h > c.max_face or gap > c.max_gap or track.best < c.min_score:
                continue
            if len(centres) and np.any(np.all((centres >= box[:2]) & (centres <= box[2:]), axis=1)):
                continue
            if not every_frame and gap == 1 and track.run >= 3 and track.speed < c.slow * max(w, h):
                continue  # steady and slow: found again next frame, this one interpolated between
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            face = max(w, h)
            # The window grows with time unseen, as the prediction gets less certain.
            side = max(face * (c.context + 0.1 * gap), 32.0)
            reach = face * (1 + 2 * c.first_reach)
            if track.run == 1 and gap == 1 and reach > side:
                # Motion unknown: look as far as the face may have gone, at the usual magnification.
                win = _square(cx, cy, reach / 2, width, height)
                size = -(-round(c.input_size * (win.x2 - win.x1) / side) // _ALIGN) * _ALIGN
                windows.append(Window(win.x1, win.y1, win.x2, win.y2, size))
            else:
                windows.append(_square(cx, cy, side / 2, width, height))
        return windows

    def detect(self, image: np.ndarray, windows: list[Window]) -> Detections:
        parts = []
        for win in windows:
            w, h = win.x2 - win.x1, win.y2 - win.y1
            if w < 4 or h < 4:
                continue
            size = win.size or self.config.input_size
            crop = cv2.resize(image[win.y1 : win.y2, win.x1 : win.x2], (size, size), interpolation=cv2.INTER_LINEAR)
            d = self.detector.detect(crop)
            self.windows_run += 1
            if len(d):
                d.xyxy *= np.array([w / size, h / size, w / size, h / size], np.float32)
                d.xyxy += np.array([win.x1, win.y1, win.x1, win.y1], np.float32)
                parts.append(d)
        return Detections.concat(parts)


def _square(cx: float, cy: float, half: float, width: int, height: int) -> Window:
    """A square window centred on (cx, cy), shifted (not cut) to stay inside the frame where it fits.

    Kept square so resizing to the model input does not distort the face.
    """
    side = min(int(np.ceil(2 * half)), width, height)
    x1 = int(np.clip(round(cx - side / 2), 0, width - side))
    y1 = int(np.clip(round(cy - side / 2), 0, height - side))
    return Window(x1, y1, x1 + side, y1 + side)
