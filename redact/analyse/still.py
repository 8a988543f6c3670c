"""Stage 1 for one still picture: every sweep on the one picture, fused, one track per object.

A video gets a full-size sweep every few frames and a tracker that fills
the frames between; a picture has no frames between, so it gets every sweep
at once (``image.detectors``: full size, an upscaled copy for the smallest
faces, turned copies for faces lying down) plus the mark detectors the
config runs on video (text, plates, bodies).  Their boxes are fused as a
video frame's are (:func:`redact.analyse.fuse.fuse`) and each fused box becomes
a one-detection track, so decide and the region planner treat it like a
track of a video.

Where a sweep's model would see more than ``image.tile_pixels`` (the
picture's pixels times the sweep's ``scale`` squared), the picture is
searched at that scale in overlapping tiles, plus once shrunk to that size
for faces larger than a tile: a detector's memory then depends on the tile,
not on the picture (a 12 MP photo enlarged twice would be a 48 MP input).

Fail closed: a detector error raises :class:`DetectorError` and the picture
is not written (``detect.on_error`` has no blackout for pictures: a black
picture is of no use to anyone).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from redact.analyse.detectors.base import tile_grid
from redact.analyse.fuse import fuse
from redact.analyse.identity.embed import FaceEmbedder
from redact.analyse.identity.gallery import People
from redact.analyse.identity.scan import IdentitySampler
from redact.analyse.regions import protect_filter
from redact.analyse.sweep import DetectorSlot, build_detectors, engine_of
from redact.analyse.track import Tracker
from redact.config import Config, TrackConfig
from redact.errors import ConfigError, DetectorError, RedactError
from redact.types import FACE_KINDS, Detections, Frame, IdentitySample, Kind, Track

TILE_OVERLAP = 0.15
"""Overlap of neighbouring tiles of a large picture, as a fraction of a tile (a 4,000 px tile shares 600 px)."""


@dataclass
class StillAnalysis:
    """What one picture holds: one track per object found, identity samples when photos were given."""

    width: int
    height: int
    tracks: list[Track]
    identities: dict[int, list[IdentitySample]] = field(default_factory=dict)
    people: dict | None = None
    engines: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mode(self) -> str | None:
        return None if self.people is None else self.people["mode"]


def still_config(config: Config) -> Config:
    """The config decide() reads for a picture: a picture has one sample of each face, so one is enough.

    The similarity thresholds stay those of video; with no neighbours to pool
    with, a single sample must clear them on its own.
    """
    identity = dataclasses.replace(config.identity, min_samples=1, pool=0, stack=0)
    return dataclasses.replace(config, identity=identity)


def image_slots(config: Config, model_threads: int | None = 1) -> list[DetectorSlot]:
    """``image.detectors``, then the mark detectors (not face or head) of ``detect.detectors``."""
    faces = build_detectors(dataclasses.replace(config.detect, detectors=config.image.detectors), model_threads)
    marks = [s for s in build_detectors(config.detect, model_threads) if s.detector.kind not in FACE_KINDS]
    return faces + marks


class StillAnalyser:
    """Loaded detectors (and face embedder) for pictures, reused from one picture to the next.

    A batch worker keeps one for all its pictures, so models are loaded and
    compiled once, not once a picture.
    """

    def __init__(self, config: Config, model_threads: int | None = 1, slots: list[DetectorSlot] | None = None):
        self.config = config
        self.slots = slots if slots is not None else image_slots(config, model_threads)
        self.embedder: FaceEmbedder | None = None
        self.loaded = False

    def load(self) -> None:
        if self.loaded:
            return
        for slot in self.slots:
            try:
                slot.detector.load()
            except RedactError:
                raise
            except Exception as e:
                raise DetectorError(f"detector {slot.detector.name!r} failed to load: {e}") from e
        self.loaded = True

    def close(self) -> None:
        for slot in self.slots:
            slot.detector.close()
        self.loaded = False

    def analyse(self, image: np.ndarray, name: str = "picture", people: People | None = None) -> StillAnalysis:
        """Find everything to redact in one BGR ``uint8`` picture; ``name`` is for error messages."""
        t0 = time.perf_counter()
        self.load()
        h, w = image.shape[:2]
        timings: dict[str, float] = {"load": time.perf_counter() - t0}
        found = self.detect(image, name, timings)
        t1 = time.perf_counter()
        found = fuse(found, self.config.detect.fusion_iou)
        if self.config.regions.protect:
            found = protect_filter(found, 0.0, self.config.regions.protect)
        tracker = Tracker(TrackConfig())
        rows = tracker.update(0, found)
        tracks = tracker.tracks + marked_regions(self.config, w, h, first_id=len(tracker.tracks))
        timings["fuse"] = time.perf_counter() - t1
        engines = {s.detector.name: e for s in self.slots if (e := engine_of(s.detector))}
        analysis = StillAnalysis(w, h, tracks, engines=engines, timings=timings)
        if people is not None:
            self._identify(analysis, image, rows, people)
        return analysis

    def detect(self, image: np.ndarray, name: str, timings: dict[str, float]) -> Detections:
        """Every slot on the picture (tiled when it is large); any detector error fails the picture."""
        parts = []
        for slot in self.slots:
            t0 = time.perf_counter()
            try:
                parts += [piece for piece in _tiled(slot, image, self.config.image.tile_pixels)]
            except Exception as e:
                raise DetectorError(f"{name}: detector {slot.detector.name!r} failed: {e}") from e
            timings[f"detect.{slot.label}"] = time.perf_counter() - t0
        return Detections.concat(parts)

    def _identify(self, analysis: StillAnalysis, image: np.ndarray, rows: Detections, people: People) -> None:
        t0 = time.perf_counter()
        if self.embedder is None:
            self.embedder = FaceEmbedder()
        identity = still_config(self.config).identity
        sampler = IdentitySampler(people.gallery, identity, dead_after=1, embedder=self.embedder)
        sampler.load()
        sampler.visit(Frame(0, image, 0.0), rows)
        analysis.identities, _ = sampler.finish(analysis.tracks)
        analysis.people = people.to_json()
        analysis.timings["identify"] = time.perf_counter() - t0


def _tiled(slot: DetectorSlot, image: np.ndarray, tile_pixels: int):
    """The slot's detections on the picture; where its model would see more than ``tile_pixels`` (after the
    detector's own ``scale``), on full-size tiles and on a shrunk copy of the whole picture."""
    h, w = image.shape[:2]
    limit = tile_pixels / _scale_of(slot.detector) ** 2  # picture pixels per model input
    if w * h <= limit:
        yield slot.detector.detect(image)
        return
    factor = math.sqrt(limit / (w * h))
    small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    whole = slot.detector.detect(small)
    if len(whole):
        whole.xyxy /= np.array([small.shape[1] / w, small.shape[0] / h] * 2, np.float32)
        yield whole
    n = math.ceil(math.sqrt(w * h / limit) / (1 - TILE_OVERLAP))
    for x1, y1, x2, y2 in tile_grid(w, h, max(2, n), TILE_OVERLAP):
        d = slot.detector.detect(np.ascontiguousarray(image[y1:y2, x1:x2]))
        if len(d):
            d.xyxy += np.array([x1, y1, x1, y1], np.float32)
            yield d


def _scale_of(detector) -> float:
    """The resize factor a plug-in applies before its model, looking through wrappers (turns, tiles)."""
    while not hasattr(detector, "scale") and hasattr(detector, "inner"):
        detector = detector.inner
    return float(getattr(detector, "scale", 1.0) or 1.0)


def marked_regions(config: Config, width: int, height: int, first_id: int) -> list[Track]:
    """The operator's regions (``--region``) as one-box tracks: on a picture their times do not apply."""
    tracks = []
    for i, r in enumerate(config.regions.redact):
        if r.whole_frame:
            box = np.array([0, 0, width, height], np.float32)
        else:
            box = np.array([r.x, r.y, r.x + r.w, r.y + r.h], np.float32)  # type: ignore[operator]
            box = np.clip(box, 0, [width, height, width, height]).astype(np.float32)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ConfigError(f"region {i} ({r.label}): its box lies outside the {width} x {height} picture")
        track = Track(id=first_id + i, kind=Kind.REGION, label=r.label)
        track.add(0, box, 1.0, "static")
        tracks.append(track)
    return tracks
