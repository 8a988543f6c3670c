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

Only small faces get windows on every frame (large ones are found every
frame by the cheap whole-frame sweep; they get a window only on a frame where
that sweep ran and lost them), only tracks that were detected
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
windows instead of 2,402 (docs/benchmarks-history.md).

Motion blur is where one model is not enough.  A 48 px face smeared by a
fast pan (the bench's pub04, drawn with seed 2) scored under 0.15 with
CenterFace for 29 frames, 0 for 20 of them, while BlazeFace scored it 0.5-0.9
on most of them; and the faces each model loses to blur differ.  So a window
whose model found nothing where the followed face should be gets a second
look by a ``fallback`` model (BlazeFace's short-range model, ~1.7 ms a
window).  It only says where the face is:
its boxes count only centred close to where the face should be and of a
similar size (anything else would start a track of its own, or lead this
one astray), and are redrawn at the size last seen
(:meth:`TrackRefiner._second_look`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from redact.analyse.detectors.base import Detector, create, drop_huge_unsure, square_window
from redact.analyse.detectors.rotate import rotate_square
from redact.analyse.follow import LookFollower
from redact.analyse.track import LiveTrack, similar_sizes
from redact.config import RefineConfig
from redact.types import PLACED, Detections, larger_sides

_ALIGN = 32
"""Model inputs are rounded up to a multiple of this (CenterFace's stride), so few shapes are compiled."""

FALLBACK_MIN_FACE = 32
"""Smaller expected faces (px, larger side) get no second look.  BlazeFace's short-range model
is made for faces filling much of its 128 px input: on five bench videos it looked at faces
under 32 px 1,245 times and kept 6 boxes, a third of the windows' time on the plaza clip."""


TURN_GAP = 2
"""A window looks for its face at other angles only on the first frames after the face was last seen.
A face that rolled over is found again at once; one that left or went behind something is not found at
any angle, and looking again on every frame of its gap cost up to five windows a frame (pub02's crowd of
small passers-by ran twice as many windows)."""

HUGE_IN_WINDOW = 0.7
"""A box in a window larger than this share of the window's side needs a sure score (``base.SURE``): the
followed face fills a third of it, and around a large face the window shows clutter small enough for the
model to call a face the size of the frame."""


@dataclass(frozen=True)
class Window:
    """A crop of the frame (integer pixels, clipped) around one or more tracked faces."""

    x1: int
    y1: int
    x2: int
    y2: int
    size: int = 0
    """Side (px) of the model input it is resized to; 0 = the configured ``input_size``."""
    face: tuple[float, float, float, float] | None = None
    """Where the followed face should be (xyxy, frame pixels): its last detected size at the predicted centre."""
    angle: float = 0.0
    """Turn (degrees, counter-clockwise) under which the followed face was last found upright."""
    turn: bool = False
    """Whether to look at other angles if the face is not found at ``angle`` (see ``TURN_GAP``)."""
    track: int = -1
    """The id of the track it follows; -1 = none known."""


class TrackRefiner:
    """Builds windows around live tracks and runs its own detector instance in them."""

    def __init__(self, config: RefineConfig, detector: Detector | None = None):
        self.config = config
        low = min(config.threshold, config.follow_threshold)
        self.detector = detector or create(config.detector, threshold=low, scale=1.0)
        self.fallback = (
            None if config.fallback == "none" else create(config.fallback, threshold=config.fallback_threshold, scale=1.0)
        )
        self.follower = LookFollower() if config.follow_look else None
        self.name = self.detector.name
        self.windows_run = 0
        self.fallbacks_run = 0

    def load(self) -> None:
        self.detector.load()
        if self.fallback is not None:
            self.fallback.load()

    def close(self) -> None:
        self.detector.close()
        if self.fallback is not None:
            self.fallback.close()

    def windows(
        self,
        live: list[LiveTrack],
        width: int,
        height: int,
        found: Detections | None = None,
        every_frame: bool = False,
        swept: bool = False,
    ) -> list[Window]:
        """Windows for the live tracks (:meth:`redact.analyse.track.Tracker.live`) that need one.

        A track that one of this frame's whole-frame detections (``found``)
        already continues needs no window: a box of about its size
        (:func:`~redact.analyse.track.similar_sizes`) centred in the prediction.
        A face taller than ``max_face`` gets one only where a whole-frame face
        detector ran on this frame (``swept``) and lost it.
        ``every_frame`` gives slow tracks their window every frame too: when
        people are to be recognised, each sighting is a sample of the face.
        """
        c = self.config
        centres = np.zeros((0, 2), np.float32) if found is None else (found.xyxy[:, :2] + found.xyxy[:, 2:]) / 2
        sides = np.zeros(0, np.float32) if found is None else larger_sides(found.xyxy)
        windows = []
        for track in live:
            box, gap = track.box, track.gap
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            # A turned face is one the upright sweeps see less well: it gets its window up to twice max_face
            # (larger faces the upright model still scored 0.6 or more at any angle).
            turned = bool(track.angle) and h <= 2 * c.max_face
            if gap > c.max_gap or track.best < c.min_score or (h > c.max_face and not swept and not turned):
                continue
            # Continued: a box of about its size centred in it (a small one inside a large face is something else).
            similar = similar_sizes(np.array([max(w, h)], np.float32), sides)[0]
            if len(centres) and np.any(np.all((centres >= box[:2]) & (centres <= box[2:]), axis=1) & similar):
                continue
            if not every_frame and gap == 1 and track.run >= 3 and track.speed < c.slow * max(w, h):
                continue  # steady and slow: found again next frame, this one interpolated between
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            face = max(w, h)
            # Other angles on the first frames after a loss; not again on each frame its look carries it.
            turn = gap <= TURN_GAP and not (self.follower is not None and self.follower.carrying(track.id))
            predicted = _expected(track)
            # The window grows with time unseen, as the prediction gets less certain.
            side = max(face * (c.context + 0.1 * gap), 32.0)
            reach = face * (1 + 2 * c.first_reach)
            if track.run == 1 and gap == 1 and reach > side:
                # Motion unknown: look as far as the face may have gone, at the usual magnification.
                win = _square(cx, cy, reach / 2, width, height)
                size = -(-round(c.input_size * (win.x2 - win.x1) / side) // _ALIGN) * _ALIGN
                windows.append(
                    Window(win.x1, win.y1, win.x2, win.y2, size, predicted, track.angle, turn, track.id)
                )
            else:
                win = _square(cx, cy, side / 2, width, height)
                windows.append(
                    Window(win.x1, win.y1, win.x2, win.y2, face=predicted, angle=track.angle, turn=turn,
                           track=track.id)
                )
        return windows

    def detect(self, image: np.ndarray, windows: list[Window]) -> Detections:
        parts = []
        for win in windows:
            if win.x2 - win.x1 < 4 or win.y2 - win.y1 < 4:
                continue
            d = self._look(image, win, win.angle)
            if win.turn and win.face is not None and not _continues(d, win.face):
                # Lost at its angle: the head may have turned over (rolled onto its side, pushed down).
                for turn in self.config.turns:
                    again = self._look(image, win, win.angle + turn)
                    if _continues(again, win.face):
                        d = Detections.concat([d, again])
                        break
            parts.append(d)
            if self._second_look_due(win.face) and not _continues(d, win.face):
                d = self._second_look(image, win.face, win.angle)
                parts.append(d)
            if self.follower is not None and win.face is not None and not _continues(d, win.face):
                # No model sees it (a smear of motion, the dark): where its look went.
                parts.append(self.follower.find(image, win.track, (win.x1, win.y1, win.x2, win.y2), win.face,
                                                win.angle))
        return Detections.concat(parts)

    def _look(self, image: np.ndarray, win: Window, angle: float) -> Detections:
        """The window's model on the window turned by ``angle``; boxes in frame pixels."""
        w, h = win.x2 - win.x1, win.y2 - win.y1
        size = win.size or self.config.input_size
        crop = cv2.resize(image[win.y1 : win.y2, win.x1 : win.x2], (size, size), interpolation=cv2.INTER_LINEAR)
        turned = rotate_square(crop, angle)
        # The followed face fills a third of the window; a box twice its size is clutter unless sure.
        d = drop_huge_unsure(self.detector.detect(turned.image), HUGE_IN_WINDOW * size)
        self.windows_run += 1
        if len(d):
            d = turned.detections_back(d, size, size)
            d.xyxy *= np.array([w / size, h / size, w / size, h / size], np.float32)
            d.xyxy += np.array([win.x1, win.y1, win.x1, win.y1], np.float32)
            weak = d.score < self.config.threshold
            if weak.any():
                # Under the window's threshold, only where the followed face should be.
                expected = win.face is not None and _centres_in(d, _grown(win.face, 0.25)) & _similar_size(d, win.face)
                d = d.filter(~weak | expected)
        return d

    def _second_look_due(self, face: tuple[float, float, float, float] | None) -> bool:
        return (
            self.fallback is not None
            and face is not None
            and max(face[2] - face[0], face[3] - face[1]) >= FALLBACK_MIN_FACE
        )

    def _second_look(self, image: np.ndarray, face: tuple[float, float, float, float], angle: float = 0.0) -> Detections:
        """The fallback model around where the followed face should be (``face``): where it is.

        The fallback sees a square of twice the face's size (it resizes it to
        its own input): in the window's wider square a face smeared by motion
        is too small for BlazeFace's short-range model, and only a face centred
        inside ``face`` counts anyway.  Of its boxes, only those centred in the
        middle half of ``face``, of a similar size, are kept, each redrawn at
        the size last seen.  Each kept box moves the track, so a loose one leads
        it astray: on a face with a name badge over its eyes (the bench's IR
        clip, seed 1) BlazeFace boxed badge and half the face, the next window
        looked further ahead, and within a few frames the track had left the
        face.  And BlazeFace frames a face differently from CenterFace, so its
        sizes, fed back as the next window's expected face, grew a track by
        half again a few frames running; the place is what it adds, and the
        ``PLACED`` column says so, so recognition does not align on it.
        """
        assert self.fallback is not None
        height, width = image.shape[:2]
        side = max(face[2] - face[0], face[3] - face[1])
        sq = _square((face[0] + face[2]) / 2, (face[1] + face[3]) / 2, side, width, height)
        if sq.x2 - sq.x1 < 4 or sq.y2 - sq.y1 < 4:
            return Detections()
        turned = rotate_square(np.ascontiguousarray(image[sq.y1 : sq.y2, sq.x1 : sq.x2]), angle)
        d = self.fallback.detect(turned.image)
        self.fallbacks_run += 1
        if not len(d):
            return d
        d = turned.detections_back(d, sq.x2 - sq.x1, sq.y2 - sq.y1)
        d.xyxy += np.array([sq.x1, sq.y1, sq.x1, sq.y1], np.float32)
        d = d.filter(_centres_in(d, _grown(face, -0.25)) & _similar_size(d, face))
        half = np.array([face[0] - face[2], face[1] - face[3]], np.float32) / 2
        centres = (d.xyxy[:, :2] + d.xyxy[:, 2:]) / 2
        d.xyxy = np.concatenate([centres + half, centres - half], axis=1)
        d.detector = np.full(len(d), self.fallback.name, object)
        d.data[PLACED] = np.ones(len(d), bool)
        return d


def _expected(track: LiveTrack) -> tuple[float, float, float, float]:
    """The box the followed face should fill: its last detected size at the predicted centre.

    The predicted box's size also follows the velocity of its edges, which one
    bad sighting (a 21 px face matched to a 65 px box) turns into a box that
    keeps growing; the size last seen does not run away.
    """
    box = track.box
    seen = box if track.seen is None else track.seen
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (seen[2] - seen[0]) / 2, (seen[3] - seen[1]) / 2
    return (float(cx - hw), float(cy - hh), float(cx + hw), float(cy + hh))


def _grown(box: tuple[float, float, float, float], share: float) -> np.ndarray:
    """``box`` grown by ``share`` of its larger side on each side."""
    pad = share * max(box[2] - box[0], box[3] - box[1])
    return np.array([box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad], np.float32)


def _centres_in(d: Detections, box: np.ndarray) -> np.ndarray:
    centres = (d.xyxy[:, :2] + d.xyxy[:, 2:]) / 2
    return np.all((centres >= box[:2]) & (centres <= box[2:]), axis=1)


def _similar_size(d: Detections, face: tuple[float, float, float, float]) -> np.ndarray:
    """Boxes whose larger side is 0.4-1.5 times the face's.

    BlazeFace frames a face differently from CenterFace (0.6-1.3 times its
    box on the bench and the test clips); a box much larger than the face
    followed is something else.
    """
    side = max(face[2] - face[0], face[3] - face[1], 1.0)
    sides = larger_sides(d.xyxy)
    return (sides >= 0.4 * side) & (sides <= 1.5 * side)


def _continues(d: Detections, face: tuple[float, float, float, float]) -> bool:
    """Whether a detection in ``d`` could be the followed face (its centre near the prediction)."""
    return bool(len(d)) and bool(_centres_in(d, _grown(face, 0.5)).any())


def _square(cx: float, cy: float, half: float, width: int, height: int) -> Window:
    """A square window centred on (cx, cy), inside the frame where it fits (:func:`square_window`)."""
    return Window(*square_window(cx, cy, 2 * half, width, height))
