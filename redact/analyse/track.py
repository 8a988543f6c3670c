"""Link per-frame detections into tracks without ever losing one.

A greedy IoU tracker with constant-velocity prediction: each live track
predicts where its box will be, detections are matched to predictions by
IoU (highest first), and a track that misses a frame coasts on its velocity
for up to ``max_coast`` frames so a face the detector loses for a moment
keeps its identity (and its gap is filled at render time).

Unlike the trackers built for counting (ByteTrack, SORT, norfair) this one
has no minimum-hits rule and no score cut-off: every detection belongs to
some track from the frame it was seen, because a detection dropped here is a
face left visible in the output.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import numpy as np

from redact.config import TrackConfig
from redact.types import FACE_KINDS, PLACED, Detections, Track, larger_sides

SIZE_RATIO = 3.0
"""A detection matched to a face track by its centre alone is at most this many times larger or smaller than the
track's box.  A 15 px box that lay inside a 110 px face's box (clutter, or another face's window placing its
look there) was matched to it on a random bench video (seed 7), and the track took its size: the next
predicted box was turned inside out, and the face went bare for two frames, 88 px tall."""

SEARCH_GROWTH = 0.05
"""How much a coasting track's search window grows per frame without a detection, per side, as a fraction of its box."""

MAX_SEARCH_GROWTH = 1.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two (n, 4) and (m, 4) xyxy arrays."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    inter = _intersections(a, b)
    return inter / np.maximum(_areas(a)[:, None] + _areas(b)[None, :] - inter, 1e-6)


def inside_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[i, j]: the share of box a[i]'s area that lies inside box b[j]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    return _intersections(a, b) / np.maximum(_areas(a)[:, None], 1e-6)


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def _areas(a: np.ndarray) -> np.ndarray:
    return (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])


class LiveTrack(NamedTuple):
    """What the refiner needs to know of a live track at one frame."""

    box: np.ndarray
    """Predicted box (xyxy) at that frame."""
    gap: int
    """Frames since it was last detected."""
    best: float
    """Its best detection score so far."""
    run: int = 2
    """Detections in its latest unbroken run (each within 2 frames of the one before):
    with one, it was just found or found again after a gap, and its velocity says nothing."""
    speed: float = 0.0
    """How far (px a frame) the fastest of its box's edges moves, by the smoothed velocity."""
    seen: np.ndarray | None = None
    """Its last detected box (xyxy); None = ``box``.  Its size is what was seen, while the
    predicted box also grows or shrinks with the velocity of its edges."""
    angle: float = 0.0
    """The turn (degrees) under which its last detection stood upright (``Detections.angle``)."""
    id: int = -1
    """The track's id (``Track.id``)."""


class _Live:
    """Motion state of a track that may still receive detections."""

    __slots__ = ("track", "box", "velocity", "last_frame", "run", "angle")

    def __init__(self, track: Track, box: np.ndarray, frame: int, angle: float = 0.0):
        self.track = track
        self.box = box
        self.velocity = np.zeros(4, np.float32)
        self.last_frame = frame
        self.run = 1
        self.angle = angle

    def predict(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * (frame - self.last_frame)

    def update(self, box: np.ndarray, frame: int) -> None:
        dt = max(1, frame - self.last_frame)
        # Smoothed velocity: a single jittery box should not throw the prediction off.
        self.velocity = 0.5 * self.velocity + 0.5 * (box - self.box) / dt
        self.box = box
        self.run = self.run + 1 if dt <= 2 else 1
        self.last_frame = frame


class Tracker:
    """Feed it one frame's detections at a time; ``tracks`` holds every track ever made."""

    def __init__(self, config: TrackConfig):
        self.config = config
        self.tracks: list[Track] = []
        self._live: list[_Live] = []
        self._next_id = 0

    def live(self, frame: int, kinds: Collection[str] | None = None) -> list[LiveTrack]:
        """Each live track's predicted box at ``frame``, frames since it was seen, best score, run and speed.

        ``kinds`` keeps only tracks of those kinds: the refiner's face model has
        nothing to find in a window around a line of text.
        """
        return [
            LiveTrack(
                lv.predict(frame),
                frame - lv.last_frame,
                max(lv.track.scores),
                lv.run,
                float(np.abs(lv.velocity).max()),
                lv.box,
                lv.angle,
                lv.track.id,
            )
            for lv in self._live
            if frame - lv.last_frame <= self.config.max_coast + 1 and (kinds is None or lv.track.kind in kinds)
        ]

    def update(self, frame: int, dets: Detections) -> Detections:
        """Assign ``dets`` (from frame ``frame``) to tracks; call only on frames that were detected.

        Returns every row of ``dets`` with its ``track_id``: none is dropped,
        so a caller (the identity sampler) can join a row to its track.
        """
        dets = dets[np.arange(len(dets))]  # a copy: the caller's rows keep their labels
        self._live = [lv for lv in self._live if frame - lv.last_frame <= self.config.max_coast + 1]
        unmatched = set(range(len(dets)))
        if self._live and len(dets):
            predicted = np.stack([lv.predict(frame) for lv in self._live])
            iou = iou_matrix(predicted, dets.xyxy)
            # Also accept a detection whose centre lies inside the predicted box,
            # grown with the time since the track was last seen: small, fast faces
            # often have IoU near 0 with the prediction, and after a gap of many
            # frames (a face the detector finds only now and then, or a detector
            # that runs every N-th frame) the prediction is only a rough guess.
            gap = np.array([frame - lv.last_frame for lv in self._live], np.float32)
            grow = np.minimum(SEARCH_GROWTH * np.maximum(gap - 1, 0), MAX_SEARCH_GROWTH)[:, None]
            size = predicted[:, 2:] - predicted[:, :2]
            window = np.concatenate([predicted[:, :2] - size * grow, predicted[:, 2:] + size * grow], axis=1)
            centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
            inside = (
                (centres[None, :, 0] >= window[:, None, 0])
                & (centres[None, :, 0] <= window[:, None, 2])
                & (centres[None, :, 1] >= window[:, None, 1])
                & (centres[None, :, 1] <= window[:, None, 3])
            )
            inside &= _similar_sizes(self._live, predicted, dets)
            affinity = np.where(inside, np.maximum(iou, self.config.match_iou), iou)
            same_kind = np.array([[lv.track.kind == k for k in dets.kind] for lv in self._live])
            affinity = np.where(same_kind, affinity, 0.0)
            used_tracks: set[int] = set()
            for flat in np.argsort(-affinity, axis=None):
                t, d = divmod(int(flat), len(dets))
                if affinity[t, d] < self.config.match_iou or affinity[t, d] <= 0:
                    break
                if t in used_tracks or d not in unmatched:
                    continue
                used_tracks.add(t)
                unmatched.discard(d)
                self._add(self._live[t], frame, dets, d)
        for d in sorted(unmatched):
            track = Track(id=self._next_id, kind=dets.kind[d])
            self._next_id += 1
            self.tracks.append(track)
            live = _Live(track, dets.xyxy[d].copy(), frame, float(dets.angle[d]))
            self._live.append(live)
            self._record(track, frame, dets, d, dets.xyxy[d])
        return dets

    @staticmethod
    def _add(live: _Live, frame: int, dets: Detections, d: int) -> None:
        box = dets.xyxy[d].copy()
        live.update(box, frame)
        live.angle = float(dets.angle[d])
        Tracker._record(live.track, frame, dets, d, box)

    @staticmethod
    def _record(track: Track, frame: int, dets: Detections, d: int, box: np.ndarray) -> None:
        track.add(frame, box, float(dets.score[d]), str(dets.detector[d]), bool(dets.column(PLACED)[d]))
        dets.track_id[d] = track.id


def similar_sizes(track_sides: np.ndarray, found_sides: np.ndarray) -> np.ndarray:
    """[t, d]: whether a box of larger side ``found_sides[d]`` is within ``SIZE_RATIO`` of ``track_sides[t]``."""
    ratio = found_sides[None, :] / np.maximum(track_sides[:, None], 1e-6)
    return (ratio >= 1 / SIZE_RATIO) & (ratio <= SIZE_RATIO)


def _similar_sizes(live: list[_Live], predicted: np.ndarray, dets: Detections) -> np.ndarray:
    """[t, d]: whether detection d is of a size face track t may take; always for marks,
    whose boxes a reader may cut into words or join into lines."""
    faces = np.array([lv.track.kind in FACE_KINDS for lv in live])[:, None]
    return ~faces | similar_sizes(larger_sides(predicted), larger_sides(dets.xyxy))
