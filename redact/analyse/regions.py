"""Operator-marked regions: what no detector knows (a tattoo, a name on a wall), and text to protect.

The operator gives a box at one time (``--region "t=12.4,x=100,y=80,w=40,h=60,label=tattoo"``)
or a YAML list of them.  A ``track`` region is followed forwards *and* backwards
from ``t`` with an OpenCV tracker from opencv-contrib (CSRT by default) until it
is lost; a ``static`` region stays where it was drawn over a time span, and a
region without a box blacks out the whole frame over its span.  The result is
ordinary :class:`~redact.types.Track` objects of kind ``region``, so the render
planner interpolates, pads and paints them like any other track.

Following backwards needs the frames before ``t`` in reverse order, while the
reader only decodes forwards.  All regions share one decode pass: the frames
between a region's backward limit and its ``t`` are kept downscaled (long
side at most ~640 px) and JPEG-compressed in memory, about 30-60 KB each, and
are released as soon as no region still needs them.

What "lost" means, and its limits.  CSRT almost never reports a failure by
itself: when the object disappears it settles on whatever is left there.
So a run also stops when

* the tracker says it failed (``update`` returns False);
* the box collapses (under 2 px) or keeps less than ``min_overlap`` of its
  area inside the frame;
* its area falls below ``min_overlap`` of the marked box or grows beyond
  ``1 / min_overlap`` of it (a box that shrinks or balloons like that is
  following something else);
* what it holds no longer looks like the region: the normalised correlation
  of 16x16 grey thumbnails, against both the marked look and a slowly
  updated recent one (so perspective and light may change), best over
  shifts of up to a fifth of the box, stays below ``min_overlap`` for
  0.2 s.  The boxes of those 0.2 s are kept, with their low score: when
  unsure, redact.

Known limits, measured on the bench videos (``shared/bench``; the GT box of
every face, plate and badge marked at the middle of its span, followed both
ways at 640 px): 99.7 % of the frames covered on the street scene with
marks, 91 % on the plaza, 79 % on the motion-and-occlusion video, where
CSRT itself loses fast faces behind poles.  A marked-look-only check (no
recent look) stopped early on plates seen in changing perspective (93 %
instead of 99.7 %).  An object that leaves through the frame edge is *not*
reliably noticed: CSRT keeps its box inside the picture, shrunk against the
edge, and the recent look adapts to what is there, so the box can stay at
the edge until ``max_seconds`` or the span ends (over-redaction, not a
leak).  A box can also drift slowly onto a similar-looking neighbour.
That is why the planner pads region boxes, why ``max_seconds`` and
``start``/``end`` bound each direction, and why the log says where every
region track starts and ends: an operator should check the ends and mark
again where the tracker let go.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from redact.config import MarkedRegion, ProtectedRegion, RegionsConfig
from redact.errors import ConfigError
from redact.io.frames import decode
from redact.types import Detections, Frame, Kind, Track, VideoInfo

log = logging.getLogger(__name__)

TRACK_LONG_SIDE = 640
"""Regions are tracked on frames scaled so the long side is at most this (px)..."""
MIN_TRACKED_SIDE = 24
"""...unless a marked box would then be shorter than this on a side; then less is scaled away."""
JPEG_QUALITY = 90
THUMB = 16
"""Side of the grey thumbnail compared with the marked one to notice a lost object."""
SHIFT = 3
"""Thumbnail pixels the likeness check searches each way (3 of 16: about a fifth of the box)."""
ADAPT = 0.05
"""Share of each accepted frame's thumbnail blended into the recent look (about the last 20 frames count)."""
PATIENCE_S = 0.2
"""How long the appearance may stay unlike the marked one before the run is declared lost."""
FLAT_TEMPLATE = 2.0
"""A marked box whose grey levels vary less than this has no appearance to check against."""

_TRACKERS: dict[str, Callable[[], Any]] = {
    "csrt": cv2.TrackerCSRT_create,
    "kcf": cv2.TrackerKCF_create,
    "mil": cv2.TrackerMIL_create,
}


# --- protected areas ---------------------------------------------------------------------------------------

PROTECT_INSIDE = 0.8
"""Share of a text box's area that must lie in a protected area for the text to stay."""


def protect_filter(dets: Detections, frame_time: float, protect: list[ProtectedRegion]) -> Detections:
    """``dets`` without the *text* detections lying (almost) wholly in a protected area active at ``frame_time``.

    Only kind ``text`` is ever exempted: a face inside a timestamp overlay is
    still a face.  "Almost wholly" is ``PROTECT_INSIDE`` of the box's area:
    a line that runs on past the overlay (a name written next to it, merged
    into one box by the detector) is not evidence, so it is redacted.  Span
    ends are inclusive; an open end reaches the video's end.
    """
    active = [p for p in protect if _active(p, frame_time)]
    if not active or not len(dets):
        return dets
    x1, y1, x2, y2 = dets.xyxy.T
    area = np.maximum((x2 - x1) * (y2 - y1), 1e-6)
    inside = np.zeros(len(dets), bool)
    for p in active:
        w = np.clip(np.minimum(x2, p.x + p.w) - np.maximum(x1, p.x), 0, None)
        h = np.clip(np.minimum(y2, p.y + p.h) - np.maximum(y1, p.y), 0, None)
        inside |= w * h >= PROTECT_INSIDE * area
    return dets.filter(~(inside & (dets.kind == Kind.TEXT)))


def _active(p: ProtectedRegion, t: float) -> bool:
    return (p.start is None or t >= p.start) and (p.end is None or t <= p.end)


# --- following ---------------------------------------------------------------------------------------------


class RegionFollower:
    """One track of kind ``region`` per marked region, in the order given.

    Static regions cost nothing (a box at the first and last frame of their
    span; the planner fills the frames between).  Tracked regions ride on
    the analysis pass's decode: :meth:`visit` sees every frame up to the
    furthest one any of them may reach.  A mark outside the video is a
    :class:`ConfigError`: silently dropping a region the operator asked for
    would leave it visible.
    """

    def __init__(self, info: VideoInfo, cfg: RegionsConfig):
        self.info, self.cfg = info, cfg
        self.tracks = [Track(id=i, kind=Kind.REGION, label=r.label) for i, r in enumerate(cfg.redact)]
        self.runs = [
            _plan(info, cfg, r, t, _describe(i, r))
            for i, (r, t) in enumerate(zip(cfg.redact, self.tracks))
            if r.mode != "static"
        ]
        self._stepper = _Stepper(info, cfg, self.runs) if self.runs else None

    @property
    def done(self) -> bool:
        """Whether no tracked region needs another frame."""
        return self._stepper is None or self._stepper.done

    def visit(self, frame: Frame) -> None:
        if self._stepper is not None and not self._stepper.done:
            self._stepper.step(frame)

    def finish(self, info: VideoInfo, first_id: int) -> list[Track]:
        """The region tracks, ids from ``first_id``, once the pass is over; ``info`` has the frames decoded."""
        if self._stepper is not None and self._stepper.pending:
            last = info.frame_count - 1
            raise ConfigError(f"{self._stepper.pending[0].name}: t is after the last decoded frame ({last})")
        for run in self.runs:
            _fill(run)
        for i, (region, track) in enumerate(zip(self.cfg.redact, self.tracks)):
            if region.mode == "static":
                _static(info, region, track, _describe(i, region))
        for i, track in enumerate(self.tracks):
            track.id = first_id + i
        return self.tracks


def follow_regions(info: VideoInfo, cfg: RegionsConfig, first_id: int, on_damage: str = "fail") -> list[Track]:
    """:class:`RegionFollower` on a decode of its own, for callers without an analysis pass (tests, tools)."""
    follower = RegionFollower(info, cfg)
    if not follower.done:
        with decode(info, on_damage=on_damage) as frames:  # type: ignore[arg-type]
            for frame in frames:
                follower.visit(frame)
                if follower.done:
                    break
        info = dataclasses.replace(info, frame_count=frames.frames_read) if follower.runs else info
    return follower.finish(info, first_id)


def _describe(i: int, r: MarkedRegion) -> str:
    return f"region {i} ({r.label}" + (f", t={r.t:g}" if r.t is not None else "") + ")"


def _frame_at(seconds: float, info: VideoInfo) -> int:
    """The frame on screen at ``seconds`` (frame i shows from i/fps until (i+1)/fps)."""
    return math.floor(seconds * info.fps + 1e-6)


def _span(info: VideoInfo, region: MarkedRegion, name: str) -> tuple[int, int]:
    """First and last frame (inclusive) of the region's time span, clipped to the video."""
    last_frame = info.frame_count - 1
    lo = 0 if region.start is None else _frame_at(region.start, info)
    hi = last_frame if region.end is None else min(last_frame, _frame_at(region.end, info))
    if lo > last_frame:
        raise ConfigError(f"{name}: starts at {region.start:g} s, after the video ends ({info.duration:.2f} s)")
    return lo, hi


def _box(info: VideoInfo, region: MarkedRegion, name: str) -> np.ndarray:
    """The marked box as xyxy clipped to the frame (the whole frame when no box was given)."""
    if region.whole_frame:
        return np.array([0, 0, info.width, info.height], np.float32)
    x, y, w, h = region.x, region.y, region.w, region.h
    box = _clip(np.array([x, y, x + w, y + h], np.float32), info.width, info.height)  # type: ignore[operator]
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        raise ConfigError(f"{name}: the box {x:g},{y:g} {w:g}x{h:g} lies outside the {info.width}x{info.height} frame")
    return box


def _clip(box: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.clip(box, 0, [width, height, width, height]).astype(np.float32)


def _static(info: VideoInfo, region: MarkedRegion, track: Track, name: str) -> None:
    """Detections at both ends of the span only: the planner interpolates a static box between them."""
    box = _box(info, region, name)
    lo, hi = _span(info, region, name)
    for frame in sorted({lo, hi}):
        track.add(frame, box, 1.0, "static")


@dataclass
class _Run:
    """One tracked region: where it starts, how far it may go each way, and the track it fills."""

    region: MarkedRegion
    track: Track
    name: str
    box: np.ndarray
    start: int
    """The frame nearest ``t``, where the marked box is given."""
    back_to: int
    forward_to: int
    ahead: _Follower | None = None
    behind: list[tuple[int, np.ndarray, float]] = field(default_factory=list)


def _plan(info: VideoInfo, cfg: RegionsConfig, region: MarkedRegion, track: Track, name: str) -> _Run:
    assert region.t is not None  # checked by config: a tracked region has t
    last_frame = info.frame_count - 1
    start = math.floor(region.t * info.fps + 0.5)
    if start > last_frame:
        if region.t > info.duration:
            raise ConfigError(f"{name}: t is after the video ends ({info.duration:.2f} s)")
        start = last_frame
    lo, hi = _span(info, region, name)
    if not lo <= start <= hi:
        raise ConfigError(f"{name}: t lies outside the region's start-end span")
    reach = math.floor(cfg.max_seconds * info.fps + 1e-6)
    return _Run(region, track, name, _box(info, region, name), start, max(lo, start - reach), min(hi, start + reach))


def _tracking_scale(info: VideoInfo, runs: list[_Run]) -> float:
    """Down to a 640 px long side, but never so far that the smallest marked box goes under 24 px."""
    scale = TRACK_LONG_SIDE / max(info.width, info.height)
    smallest = min(float(min(r.box[2] - r.box[0], r.box[3] - r.box[1])) for r in runs)
    scale = max(scale, MIN_TRACKED_SIDE / max(smallest, 1.0))
    return min(1.0, scale)


class _Stepper:
    """The frame-by-frame work of following: buffer what backward runs need, start runs at their frame,
    step forward runs."""

    def __init__(self, info: VideoInfo, cfg: RegionsConfig, runs: list[_Run]):
        self.info, self.cfg = info, cfg
        self.scale = _tracking_scale(info, runs)
        self.size = (max(1, round(info.width * self.scale)), max(1, round(info.height * self.scale)))
        self.patience = max(1, math.ceil(PATIENCE_S * info.fps))
        self.pending = sorted(runs, key=lambda r: r.start)
        self.active: list[_Run] = []
        self.buffer: dict[int, bytes] = {}

    @property
    def done(self) -> bool:
        return not self.pending and not self.active

    def follower(self, run: _Run, image: np.ndarray) -> _Follower:
        info, cfg = self.info, self.cfg
        return _Follower(_TRACKERS[cfg.tracker], image, run.box * self.scale, self.scale, (info.width, info.height),
                         cfg.min_overlap, self.patience, cfg.tracker, run.name)

    def step(self, frame: Frame) -> None:
        i, pending = frame.index, self.pending
        if not self.active and not any(r.back_to <= i <= r.start for r in pending):
            return  # before every span: decoded only to get further
        scale = self.scale
        small = cv2.resize(frame.image, self.size, interpolation=cv2.INTER_AREA) if scale < 1 else frame.image
        if any(r.back_to <= i < r.start for r in pending):
            self.buffer[i] = _encode(small)
        for run in self.active:
            assert run.ahead is not None
            run.ahead.step(i, small)
        for run in [r for r in pending if r.start == i]:
            pending.remove(run)
            run.ahead = self.follower(run, small)
            run.behind = _backwards(self.follower(run, small), self.buffer, run)
            self.active.append(run)
        keep_from = min((r.back_to for r in pending), default=i + 1)
        for k in [k for k in self.buffer if k < keep_from]:
            del self.buffer[k]
        self.active = [r for r in self.active if r.ahead is not None and not r.ahead.lost and i < r.forward_to]


def _backwards(back: _Follower, buffer: dict[int, bytes], run: _Run) -> list[tuple[int, np.ndarray, float]]:
    """Run a fresh tracker from the marked frame back over the buffered frames; boxes in frame order."""
    for k in range(run.start - 1, run.back_to - 1, -1):
        if not back.step(k, _decode(buffer[k])):
            break
    return back.kept[::-1]


def _fill(run: _Run) -> None:
    """The track in frame order: backward boxes, the marked box, forward boxes."""
    assert run.ahead is not None
    detector = run.ahead.detector
    for frame, box, score in run.behind:
        run.track.add(frame, box, score, detector)
    run.track.add(run.start, run.box, 1.0, detector)
    for frame, box, score in run.ahead.kept:
        run.track.add(frame, box, score, detector)
    log.info(
        "%s: %s followed it over frames %d-%d (marked at %d)",
        run.name,
        detector,
        run.track.first,
        run.track.last,
        run.start,
    )


class _Follower:
    """One tracker run in one direction, and the rules that say when it has lost the region.

    Steps in tracking-scale pixels; ``kept`` holds (frame, full-size box,
    score), the score being the likeness to the region's look (1.0 when the
    marked box is flat and cannot be compared).
    """

    def __init__(
        self,
        make: Callable[[], Any],
        image: np.ndarray,
        box: np.ndarray,
        scale: float,
        frame_size: tuple[int, int],
        min_overlap: float,
        patience: int,
        detector: str,
        name: str,
    ):
        self.scale, self.frame_size, self.min_overlap, self.patience = scale, frame_size, min_overlap, patience
        self.image_size = (image.shape[1], image.shape[0])
        self.detector = detector
        x1, y1, x2, y2 = (float(v) for v in box)
        self.area = max((x2 - x1) * (y2 - y1), 1.0)
        self.tracker = make()
        rect = (round(x1), round(y1), max(1, round(x2 - x1)), max(1, round(y2 - y1)))
        try:
            self.tracker.init(image, rect)
        except cv2.error as e:
            reason = str(e).strip().splitlines()[-1]
            raise ConfigError(f"{name}: the {detector} tracker cannot start on this box ({reason})") from e
        template = _thumb(image, box)
        self.template = template if float(template.std()) >= FLAT_TEMPLATE else None
        self.recent = template
        """The look of the region lately: follows slow changes (perspective, light) that the marked one cannot."""
        self.kept: list[tuple[int, np.ndarray, float]] = []
        self.unlike = 0
        """Frames in a row, up to now, that did not look like the marked box."""
        self.lost = False

    def step(self, frame: int, image: np.ndarray) -> bool:
        """Track into ``frame`` and keep its box; False (and nothing kept) once the region is lost.

        Boxes from the short stretch before an appearance loss is declared
        are kept, with their low score: when unsure, redact.
        """
        if self.lost:
            return False
        ok, rect = self.tracker.update(image)
        x, y, w, h = (float(v) for v in rect)
        box = np.array([x, y, x + w, y + h], np.float32)
        if not ok or not self._plausible(box):
            self.lost = True
            return False
        score, thumb = self._likeness(image, box)
        self.unlike = 0 if score >= self.min_overlap else self.unlike + 1
        if self.unlike >= self.patience:
            self.lost = True
            return False
        if thumb is not None and not self.unlike:
            self.recent = (1 - ADAPT) * self.recent + ADAPT * thumb
        self.kept.append((frame, _clip(box / self.scale, *self.frame_size), max(0.0, score)))
        return True

    def _plausible(self, box: np.ndarray) -> bool:
        """Not collapsed, mostly inside the picture, and not shrunk or grown beyond ``min_overlap``."""
        w, h = box[2] - box[0], box[3] - box[1]
        if w < 2 or h < 2:
            return False
        area = float(w * h)
        inside = _clip(box, *self.image_size)
        visible = float((inside[2] - inside[0]) * (inside[3] - inside[1])) / area
        growth = area / self.area
        return visible >= self.min_overlap and self.min_overlap <= growth <= 1 / max(self.min_overlap, 1e-6)

    def _likeness(self, image: np.ndarray, box: np.ndarray) -> tuple[float, np.ndarray | None]:
        """How much ``box`` still looks like the region, and its thumbnail (None when there is nothing to compare).

        The best normalised correlation with the marked thumbnail or the
        recent one, over shifts of up to ``SHIFT`` thumbnail pixels each way:
        the shift forgives a tracker box that sits a little off-centre, which a
        plain correlation punishes hard on fine texture.  A flat cut scores 0.
        """
        if self.template is None:
            return 1.0, None
        cut = _thumb(image, box, border=SHIFT)
        score = max(float(cv2.matchTemplate(cut, t, cv2.TM_CCOEFF_NORMED).max()) for t in (self.template, self.recent))
        return score, cut[SHIFT:-SHIFT, SHIFT:-SHIFT]


def _thumb(image: np.ndarray, box: np.ndarray, border: int = 0) -> np.ndarray:
    """The box's grey content at 16x16 thumbnail pixels, with ``border`` more of them around it.

    Cut with sub-pixel placement and border replication, so a box partly off
    the frame still gives a thumbnail of the same geometry.  The small size
    forgives a pixel of tracker jitter and the codec's noise.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    x1, y1, x2, y2 = (float(v) for v in box)
    grow = (THUMB + 2 * border) / THUMB
    w, h = max(2, round((x2 - x1) * grow)), max(2, round((y2 - y1) * grow))
    patch = cv2.getRectSubPix(grey, (w, h), ((x1 + x2) / 2, (y1 + y2) / 2))
    side = THUMB + 2 * border
    return cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)


def _encode(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - imencode fails only on invalid input
        raise RuntimeError("JPEG encoding of a buffered frame failed")
    return buf.tobytes()


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
