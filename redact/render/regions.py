"""From whole tracks to the exact regions of each frame.

Boxes between two detections of a track are interpolated linearly; before a
track's first and after its last detection the edge box is held for
``extend_before`` / ``extend_after`` frames, growing a little each frame
because the face may be moving in from outside the detector's reach.  Every
box is then padded.  Each region records whether it was seen, interpolated or
extended, so the audit log separates evidence from inference.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from redact.config import RenderConfig
from redact.types import Action, Decision, Region, Source, Track

EXTENSION_GROWTH = 0.04
"""Extra padding per frame of distance from the nearest detection, as a fraction of the box."""


@dataclass
class _Span:
    track: Track
    decision: Decision
    start: int
    end: int  # inclusive
    frames: np.ndarray
    boxes: np.ndarray


class RegionPlanner:
    """Answers "what must be redacted in frame i" for frames asked in increasing order.

    Tracks are swept by their (extended) span, so the cost per frame depends
    on the number of tracks alive then, and nothing per frame is stored.
    """

    def __init__(
        self,
        tracks: list[Track],
        decisions: dict[int, Decision],
        config: RenderConfig,
        width: int,
        height: int,
        frame_count: int | None = None,
    ):
        self.config = config
        self.width = width
        self.height = height
        last = (frame_count - 1) if frame_count else None
        spans = []
        for t in tracks:
            decision = decisions[t.id]
            if decision.action is not Action.REDACT or not t.frames:
                continue
            end = t.last + config.extend_after
            if last is not None:
                end = min(end, max(last, t.last))
            spans.append(
                _Span(t, decision, max(0, t.first - config.extend_before), end, np.asarray(t.frames), np.stack(t.boxes))
            )
        spans.sort(key=lambda s: s.start)
        self._pending = spans
        self._next = 0
        self._active: list[_Span] = []

    def regions_at(self, frame: int) -> list[Region]:
        while self._next < len(self._pending) and self._pending[self._next].start <= frame:
            self._active.append(self._pending[self._next])
            self._next += 1
        self._active = [s for s in self._active if s.end >= frame]
        return [r for s in self._active if s.start <= frame for r in [self._region(s, frame)]]

    def _region(self, span: _Span, frame: int) -> Region:
        frames, boxes = span.frames, span.boxes
        i = bisect.bisect_left(frames, frame)
        track = span.track
        extra = 0.0
        if i < len(frames) and frames[i] == frame:
            box, source = boxes[i], Source.DETECTED
            score, detector = track.scores[i], track.detectors[i]
        elif i == 0:
            box, source = boxes[0], Source.EXTENDED
            extra = EXTENSION_GROWTH * (frames[0] - frame)
            score, detector = track.scores[0], track.detectors[0]
        elif i == len(frames):
            box, source = boxes[-1], Source.EXTENDED
            extra = EXTENSION_GROWTH * (frame - frames[-1])
            score, detector = track.scores[-1], track.detectors[-1]
        else:
            f0, f1 = frames[i - 1], frames[i]
            a = (frame - f0) / (f1 - f0)
            box = boxes[i - 1] * (1 - a) + boxes[i] * a
            source = Source.INTERPOLATED
            score = min(track.scores[i - 1], track.scores[i])
            detector = track.detectors[i - 1]
        return Region(
            box=pad_box(box, self.config.padding + min(extra, 1.0), self.width, self.height),
            kind=track.kind,
            track_id=track.id,
            source=source,
            detector=detector,
            score=score,
            reason=span.decision.reason,
        )


def pad_box(box: np.ndarray, padding: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Grow by ``padding`` of the box size on every side, round outwards, clip to the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * padding, (y2 - y1) * padding
    return (
        max(0, int(np.floor(x1 - dx))),
        max(0, int(np.floor(y1 - dy))),
        min(width, int(np.ceil(x2 + dx))),
        min(height, int(np.ceil(y2 + dy))),
    )
