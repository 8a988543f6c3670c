"""Bridges: cover the path between a track that ends and one that starts nearby soon after.

A small face that the detectors see only now and then (an 18 px head scored
just over threshold on the full-size sweep every 6th frame) is seen too
rarely for the tracker to learn its motion.  If it walks a few face widths
between two sightings, the tracker's gate misses it and starts a new track:
the first track's box is carried past its end, the second's before its
start, and the face crosses the gap between them unredacted (pub01 on a CPU
without AMX, frame 21: docs/benchmarks-history.md).

After tracking, when every track's ends are known, each track that ends is
paired with at most one face track that starts within ``max_gap`` frames,
close enough for a face moving at most ``speed`` face sizes a frame, and of
a similar size; the nearest pairs in speed are taken first.  Over the frames
between the two sightings a box slides from one to the other, growing away
from both like any interpolated box.  A bridge only ever adds redaction:
both tracks keep their own boxes and extensions, so a wrong pair costs a
face-sized patch of background for a few frames, never a face.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from redact.types import FACE_KINDS, Track


@dataclass(frozen=True)
class Bridge:
    """The frames strictly between ``start`` (``source``'s last detection) and ``end`` (``target``'s first)."""

    source: Track
    target: Track
    start: int
    end: int

    @property
    def boxes(self) -> tuple[np.ndarray, np.ndarray]:
        return self.source.boxes[-1], self.target.boxes[0]


def find_bridges(tracks: list[Track], max_gap: int, speed: float, max_size_ratio: float = 2.0) -> list[Bridge]:
    """Pair track ends with track starts that one face could link (see the module docstring).

    ``max_gap`` 0 (or below 2, as consecutive frames have nothing between
    them) finds none.  Each track ends in at most one bridge and starts at
    most one.
    """
    if max_gap < 2:
        return []
    faces = [t for t in tracks if t.kind in FACE_KINDS and t.frames]
    starts = sorted(faces, key=lambda t: t.first)
    firsts = [t.first for t in starts]
    pairs = []
    for a in faces:
        box_a = a.boxes[-1]
        lo = bisect.bisect_left(firsts, a.last + 2)  # at least one frame between them
        for b in starts[lo:]:
            gap = b.first - a.last
            if gap > max_gap:
                break
            box_b = b.boxes[0]
            size_a, size_b = _size(box_a), _size(box_b)
            if max(size_a, size_b) > max_size_ratio * min(size_a, size_b):
                continue
            size = (size_a + size_b) / 2
            dist = float(np.hypot(*(_centre(box_b) - _centre(box_a))))
            # Face sizes a frame beyond the first one of overlap, so a face that stood still scores 0.
            pace = max(0.0, dist - size) / (size * gap)
            if pace <= speed:
                pairs.append((pace, gap, a.id, b.id, a, b))
    pairs.sort(key=lambda p: p[:4])
    ended, started, bridges = set(), set(), []
    for _, _, ida, idb, a, b in pairs:
        if ida in ended or idb in started:
            continue
        ended.add(ida)
        started.add(idb)
        bridges.append(Bridge(a, b, a.last, b.first))
    return bridges


def _size(box: np.ndarray) -> float:
    return max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float64)
