"""From whole tracks to the exact regions of each frame.

Boxes between two detections of a track are interpolated linearly; before a
track's first and after its last detection the edge box is carried for
``extend_before`` / ``extend_after`` frames, because the face may be moving in
from outside the detector's reach.  Every inferred box grows with its distance
in frames from the nearest detection: the further from evidence, the less we
know where the face is (a small face that accelerates during a 20-frame gap
is 10 px off its interpolated path; see docs/benchmarks-history.md).  An extended box also
covers where the track's recent motion would carry it, as well as where it was
last seen, so a face walking out of view is followed rather than left behind.
An established face lost slowly in view is held for ``hold_after`` frames
instead (or until another face shows where it was lost), its box no longer
growing after ``extend_after``.
Between a face track that ends and one that starts nearby soon after, a
bridge slides a growing box from the one to the other
(:mod:`redact.render.bridges`).
Every box is then padded, by its kind's padding (``render.text.padding``
for text, ``render.padding`` for faces).  A region the operator fixed in
place (``static``) is exactly its box over exactly its span: nothing is
inferred about it, so it neither grows nor extends.  A kept track is skipped only on the frames its
decision shows (see :class:`redact.types.Decision`); on the rest of its span
it is redacted like any other; bridges always are.  Each region records
whether it was seen, interpolated, extended or bridged, so the audit log
separates evidence from inference.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass

import numpy as np

from redact.config import RenderConfig
from redact.render.bridges import find_bridges
from redact.types import FACE_KINDS, Action, Decision, Kind, Reason, Region, Source, Track

GROWTH = 0.04
"""Extra padding per frame of distance from the nearest detection, as a fraction of the box."""

MAX_GROWTH = 1.0
"""Cap on that extra padding (a box at most triples in width), so a long gap cannot swallow the frame."""

STATIC = "static"
"""Detector name of an operator region fixed in place."""

HOLD_SPEED = 0.25
"""A face lost while moving slower than this (face sizes a frame, fastest box edge) may be held
(``render.hold_after``); a faster one was more likely leaving, and its extension carries it out."""

VELOCITY_SPAN = 5
"""Detections at a track's end used to estimate how it was moving there."""


@dataclass
class _Span:
    track: Track
    decision: Decision
    start: int
    end: int  # inclusive
    frames: np.ndarray
    boxes: np.ndarray
    bridge_to: int | None = None
    """For a bridge (frames between two tracks), the id of the track it leads to."""


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
        # Face detections by frame, for ending a hold where another face shows (_found_again).
        self._faces_at: dict[int, list[tuple[Track, np.ndarray]]] = collections.defaultdict(list)
        for t in tracks:
            if t.kind in FACE_KINDS:
                for f, b in zip(t.frames, t.boxes):
                    self._faces_at[f].append((t, b))
        self._established = self._established_tracks(tracks)
        spans = []
        for t in tracks:
            decision = decisions[t.id]
            if not t.frames:
                continue
            before, after = (0, 0) if is_static(t) else (config.extend_before, self._after(t))
            end = t.last + after
            if last is not None:
                end = min(end, max(last, t.last))
            spans.append(_Span(t, decision, max(0, t.first - before), end, np.asarray(t.frames), np.stack(t.boxes)))
        for b in find_bridges(tracks, config.bridge_gap, config.bridge_speed):
            # Always redacted, whatever was decided for either track: no sample vouched for these frames.
            ends = Track(b.source.id, b.source.kind, [b.start, b.end], list(b.boxes),
                         [b.source.scores[-1], b.target.scores[0]], [b.source.detectors[-1], b.target.detectors[0]])
            redact = Decision(b.source.id, Action.REDACT, Reason.BRIDGE)
            spans.append(_Span(ends, redact, b.start + 1, b.end - 1, np.asarray(ends.frames), np.stack(ends.boxes),
                               bridge_to=b.target.id))
        spans.sort(key=lambda s: s.start)
        self._pending = spans
        self._next = 0
        self._active: list[_Span] = []

    def _after(self, track: Track) -> int:
        """Frames covered after the track's last detection: longer for an established face lost in view.

        A face followed for many detections that stops being detected while
        slow and clear of the frame's edges has rarely left: it turned away,
        looked down, passed behind something or sank into noise and darkness,
        and it is usually still there.  On bench videos made with other seeds
        than the public set, a 22 px face in low light was lost for the last
        19 frames of its video, and a face whose eyes a badge covered for the
        last 41 (docs/benchmarks-history.md).  Applied to every track, a longer extension
        more than doubled over-redaction; held this way it cost 0.1-0.2
        points.  In keep mode it first cost 3 points of kept faces visible, until
        a hold ended where another face shows (:meth:`_found_again`).
        """
        c = self.config
        if c.hold_after > c.extend_after and track.id in self._established:
            x1, y1, x2, y2 = (float(v) for v in track.boxes[-1])
            frames, boxes = np.asarray(track.frames[-VELOCITY_SPAN:]), np.stack(track.boxes[-VELOCITY_SPAN:])
            slow = float(np.abs(_velocity(frames, boxes)).max()) < HOLD_SPEED * max(x2 - x1, y2 - y1)
            if slow and x1 > 0 and y1 > 0 and x2 < self.width and y2 < self.height:
                return max(c.extend_after, self._found_again(track, c.hold_after))
        return c.extend_after

    def _established_tracks(self, tracks: list[Track]) -> set[int]:
        """Ids of the face tracks a hold applies to: ``hold_detections`` detections or more, or found again.

        A hold ends where a new track starts at the spot the face was lost
        (:meth:`_found_again`), trusting the new track to cover the face.  A
        track that young is often lost again within a few frames (a 22 px face
        in low light found once at 0.22, on the bench's seed 2), so a track
        that picks up where an established face was lost, within its hold, is
        established too.
        """
        c = self.config
        established: set[int] = set()
        ended: dict[int, list[Track]] = collections.defaultdict(list)  # established tracks by last frame
        for t in sorted((t for t in tracks if t.kind in FACE_KINDS and t.frames), key=lambda t: t.first):
            picks_up = any(
                _near(lost.boxes[-1], t.boxes[0])
                for f in range(max(0, t.first - c.hold_after), t.first)
                for lost in ended.get(f, ())
            )
            if len(t.frames) >= c.hold_detections or picks_up:
                established.add(t.id)
                ended[t.last].append(t)
        return established

    def _found_again(self, track: Track, hold: int) -> int:
        """Frames from the track's end until another face shows where it was lost (``hold`` if none).

        Either a face track starts within a face size of where it was lost, or
        of where its motion was carrying it (:func:`_on_its_way`): the face has
        been found again as a new track, which covers it from there.  Or
        another face is detected over the spot where it was lost: it is
        behind that face (a victim passing behind a kept person, say).
        Holding the old box on would only hide the scene around it, and in
        keep mode the kept person.
        """
        last = track.boxes[-1]
        x1, y1, x2, y2 = (float(v) for v in last)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        velocity = _velocity(np.asarray(track.frames[-VELOCITY_SPAN:]), np.stack(track.boxes[-VELOCITY_SPAN:]))
        reach = self.config.extend_after
        for frame in range(track.last + 1, track.last + hold + 1):
            for other, b in self._faces_at.get(frame, ()):
                again = other.first == frame and _on_its_way(last, velocity, frame - track.last, b, reach)
                if again or (b[0] <= cx <= b[2] and b[1] <= cy <= b[3]):
                    return frame - track.last
        return hold

    def rewind(self) -> None:
        """Answer from frame 0 again (a reviewer seeking backwards): the spans are kept, so this is cheap."""
        self._next = 0
        self._active = []

    def redecide(self, decisions: dict[int, Decision]) -> None:
        """The same tracks under other decisions (a reviewer's click): no span's geometry depends on them,
        so only their decisions change, and bridges stay redacted."""
        for span in self._pending:
            if span.bridge_to is None:
                span.decision = decisions[span.track.id]
        self.rewind()

    def regions_at(self, frame: int) -> list[Region]:
        while self._next < len(self._pending) and self._pending[self._next].start <= frame:
            self._active.append(self._pending[self._next])
            self._next += 1
        self._active = [s for s in self._active if s.end >= frame]
        return [self._region(s, frame) for s in self._active if s.start <= frame and not s.decision.shown_at(frame)]

    def _region(self, span: _Span, frame: int) -> Region:
        frames, boxes = span.frames, span.boxes
        i = bisect.bisect_left(frames, frame)
        track = span.track
        extra = 0.0
        nearest = boxes[min(i, len(frames) - 1)]
        size = nearest[2:] - nearest[:2]
        if i < len(frames) and frames[i] == frame:
            box, source = boxes[i], Source.DETECTED
            score, detector = track.scores[i], track.detectors[i]
        elif i == 0:
            source = Source.EXTENDED
            velocity = _velocity(frames[:VELOCITY_SPAN], boxes[:VELOCITY_SPAN])
            box = _carried(boxes[0], velocity, frame - frames[0], self.config.extend_before)
            extra = GROWTH * (frames[0] - frame)
            score, detector = track.scores[0], track.detectors[0]
        elif i == len(frames):
            source = Source.EXTENDED
            velocity = _velocity(frames[-VELOCITY_SPAN:], boxes[-VELOCITY_SPAN:])
            box = _carried(boxes[-1], velocity, frame - frames[-1], self.config.extend_after)
            # Past extend_after (a held face, see _after) the box stops growing: the face is
            # most likely about where it was lost, and a box tripled for seconds hides the scene.
            extra = GROWTH * min(frame - frames[-1], max(self.config.extend_after, 1))
            score, detector = track.scores[-1], track.detectors[-1]
        else:
            f0, f1 = frames[i - 1], frames[i]
            a = (frame - f0) / (f1 - f0)
            box = boxes[i - 1] * (1 - a) + boxes[i] * a
            extra = GROWTH * min(frame - f0, f1 - frame)
            source = Source.INTERPOLATED if span.bridge_to is None else Source.BRIDGED
            score = min(track.scores[i - 1], track.scores[i])
            detector = track.detectors[i - 1]
        if is_static(track):
            extra = 0.0
        padding = self.config.kind_style(track.kind).padding
        if track.kind not in FACE_KINDS:
            # A line of text is many times wider than tall; padding by its width
            # would blank a band across the frame, so marks pad by their short side.
            size = np.full(2, size.min(), np.float32)
        return Region(
            box=pad_box(box, padding + min(extra, MAX_GROWTH), self.width, self.height, size=size),
            kind=track.kind,
            track_id=track.id,
            source=source,
            detector=detector,
            score=score,
            reason=Reason.UNCONFIRMED if span.decision.action is Action.KEEP else span.decision.reason,
        )


def is_static(track: Track) -> bool:
    """An operator region fixed in place (see :mod:`redact.analyse.regions`): its boxes are exact."""
    return track.kind == Kind.REGION and bool(track.detectors) and track.detectors[0] == STATIC


def _on_its_way(last: np.ndarray, velocity: np.ndarray, dt: int, found: np.ndarray, reach: float) -> bool:
    """Whether a face first seen at ``found``, ``dt`` frames after a face was lost at ``last``
    moving at ``velocity``, is that face come out again: its centre lies within one face size of
    where the lost face was last seen or of where its motion would have carried it by then (the
    path its extended box covers, at most ``reach`` face sizes on: see :func:`_carried`).

    The path matters for a face that walks on behind something: on the bench's infrared clip a
    victim lost from view at frame 68 came out 19 frames later 2.5 face sizes further on, and
    measured from where it was lost its hold went on 31 frames more, over the kept person's chin.
    Only ending a hold looks along the path; a young track found there is not held in turn
    (:meth:`RegionPlanner._established_tracks`), as that raised over-redaction on the bench's
    pub04 from 3.0 to 3.4 % and changed no leak.
    """
    return _near(_carried(last, velocity, dt, reach), found, size=last[2:] - last[:2])


def _near(lost: np.ndarray, found: np.ndarray, size: np.ndarray | None = None) -> bool:
    """Whether ``found``'s centre lies within one face size (``lost``'s own, or ``size``) of the box ``lost``."""
    x1, y1, x2, y2 = (float(v) for v in lost)
    w, h = (x2 - x1, y2 - y1) if size is None else (float(size[0]), float(size[1]))
    bx, by = (float(found[0]) + float(found[2])) / 2, (float(found[1]) + float(found[3])) / 2
    return x1 - w <= bx <= x2 + w and y1 - h <= by <= y2 + h


def _velocity(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean per-frame change of the box over these detections (zero if they span one frame)."""
    span = frames[-1] - frames[0]
    if span <= 0:
        return np.zeros(4, np.float32)
    return (boxes[-1] - boxes[0]) / span


def _carried(box: np.ndarray, velocity: np.ndarray, dt: int, reach: float) -> np.ndarray:
    """The union of ``box`` and ``box`` moved ``dt`` frames along ``velocity``, at most ``reach`` box sizes.

    Both, not just the extrapolation: a face that stopped, or turned back,
    must still be covered where it was last seen.  ``reach`` is the length of
    the extension in frames (``extend_before`` or ``extend_after``; a hold's
    box goes no further than at ``extend_after``): a face moving up to one box
    size a frame is followed to the end of its extension, a faster one is out
    of view within a few frames anyway, and a streak across the whole frame
    would hide the scene for nothing.  A fixed cap of 3 box sizes left a 26 px
    face dashing on from behind a passer-by (held-out seed 2 of pub04) bare
    on frames 236-242; at 8 (the default ``extend_after``) its centre is
    covered on 236-240 (its edge lags: the track's last boxes grew slower
    than it moved), 241-242 stay bare after the extension ends; +0.03 points
    of over-redaction on the bench's mean (docs/benchmarks-history.md).
    """
    # Plain floats: numpy's per-call overhead on 4-element arrays made this the
    # render's costliest Python function (0.12 ms a call, ~3,000 calls a video).
    x1, y1, x2, y2 = (float(v) for v in box)
    vx1, vy1, vx2, vy2 = (float(v) * dt for v in velocity)
    cw, ch = reach * max(x2 - x1, 1.0), reach * max(y2 - y1, 1.0)
    mx1, mx2 = x1 + min(max(vx1, -cw), cw), x2 + min(max(vx2, -cw), cw)
    my1, my2 = y1 + min(max(vy1, -ch), ch), y2 + min(max(vy2, -ch), ch)
    return np.array([min(x1, mx1), min(y1, my1), max(x2, mx2), max(y2, my2)], box.dtype)


def pad_box(
    box: np.ndarray, padding: float, width: int, height: int, size: np.ndarray | None = None
) -> tuple[int, int, int, int]:
    """Grow by ``padding`` of the box size (or of ``size``, the face's own (w, h), when ``box`` is
    a union along a motion path) on every side, round outwards, clip to the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = (x2 - x1, y2 - y1) if size is None else (float(size[0]), float(size[1]))
    dx, dy = w * padding, h * padding
    return (
        max(0, int(np.floor(x1 - dx))),
        max(0, int(np.floor(y1 - dy))),
        min(width, int(np.ceil(x2 + dx))),
        min(height, int(np.ceil(y2 + dy))),
    )
