"""Stage 1, analyse: one decode that finds everything to redact and follows it through time.

Per frame, in this order: the whole-frame sweep of every detector plug-in
(:mod:`.sweep`, on worker threads), windows around known faces between full
sweeps (:mod:`.refine`), fusion of what several detectors found
(:mod:`.fuse`), tracking (:mod:`.track`), and, riding on the same decode,
the operator's marked regions (:mod:`.regions`) and the identity samples
of each face track (:mod:`.identity`).  The result is an
:class:`~redact.types.Analysis` that :mod:`redact.decide` turns into
decisions, and that can be saved and reloaded for review.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from redact.analyse.fuse import fuse
from redact.analyse.identity.gallery import People
from redact.analyse.identity.scan import IdentitySampler
from redact.analyse.refine import TrackRefiner
from redact.analyse.regions import RegionFollower, protect_filter
from redact.analyse.sweep import DetectorSlot, SweepPool, build_refiner, detector_sets, engine_of, sweep_workers
from redact.analyse.track import Tracker
from redact.config import Config
from redact.errors import DetectorError, RedactError
from redact.io import probe
from redact.io.frames import Progress, decode
from redact.types import FACE_KINDS, Analysis, Detections, Frame, VideoInfo

log = logging.getLogger(__name__)

__all__ = ["analyse"]


def analyse(
    video: VideoInfo | str | Path,
    config: Config,
    progress: Progress = False,
    detectors: list[DetectorSlot] | None = None,
    refiner: TrackRefiner | None = None,
    people: People | None = None,
) -> Analysis:
    """Pass 1: decode, detect with every configured plug-in, track; follow marks and sample identities.

    ``detectors`` (and ``refiner``) may be passed in to reuse loaded models
    across files, and by tests to plug in a scripted detector; when
    ``detectors`` is given, it runs on this thread and only the refiner
    passed along is used.  A detector error fails the job, or with
    ``detect.on_error: blackout`` marks the frame to be blacked out: a frame
    is never written with detection silently skipped.

    With ``people`` (reference photos), sampled faces of every track are
    scored against them on the same decode (:mod:`redact.analyse.identity.scan`);
    only the similarity numbers are kept.
    """
    info = video if isinstance(video, VideoInfo) else probe(video)
    owned = detectors is None
    if detectors is None:
        workers = sweep_workers()
        threads = 1 if workers > 1 else None
        pool = SweepPool(detector_sets(config.detect, workers, model_threads=threads), info.width * info.height * 3)
        refiner = build_refiner(config.detect, model_threads=threads)
    else:
        pool = SweepPool([detectors])
    sampler = None
    if people is not None:
        sampler = IdentitySampler(people.gallery, config.identity, dead_after=config.track.max_coast + 2)
    pass1 = _Pass(info, config, pool, refiner, sampler)
    models = pass1.models
    t_start = time.perf_counter()
    try:
        pass1.load()
        frames = pass1.run(progress)
        # Read while loaded: OpenVINO's precision depends on the CPU, so the audit says which ran.
        engines = {m.name: e for m in models if (e := engine_of(m))}
    finally:
        pool.close()
        if owned:
            for m in models:
                m.close()
    pass1.timings["analyse"] = time.perf_counter() - t_start
    return pass1.result(frames, engines, people)


class _Pass:
    """The state of one analysis pass: the tracker, the frames that failed, and what rides along."""

    def __init__(self, info: VideoInfo, config: Config, pool: SweepPool, refiner: TrackRefiner | None,
                 sampler: IdentitySampler | None):
        self.info, self.config, self.pool, self.refiner, self.sampler = info, config, pool, refiner, sampler
        self.tracker = Tracker(config.track)
        self.regions = RegionFollower(info, config.regions) if config.regions.redact else None
        self.failed: list[int] = []
        self.timings = {"detect": 0.0, "refine": 0.0, "track": 0.0, "load": 0.0}

    @property
    def models(self) -> list:
        return self.pool.models + ([self.refiner] if self.refiner else [])

    def load(self) -> None:
        t0 = time.perf_counter()
        for m in self.models:
            try:
                m.load()
            except RedactError:
                raise
            except Exception as e:  # noqa: BLE001 - turned into one actionable line
                raise DetectorError(f"detector {m.name!r} failed to load: {e}") from e
        if self.sampler is not None:
            self.sampler.load()
        self.timings["load"] = time.perf_counter() - t0

    def run(self, progress: Progress) -> int:
        """Decode every frame once; returns how many were decoded."""
        t_regions = 0.0
        with decode(self.info, "analyse", progress, on_damage=self.config.detect.on_decode_error) as frames:
            for frame in frames:
                if self.regions is not None and not self.regions.done:
                    t0 = time.perf_counter()
                    self.regions.visit(frame)
                    t_regions += time.perf_counter() - t0
                self.pool.submit(frame, self.sweep)
                for ready in self.pool.ready():
                    self.consume(*ready)
            for ready in self.pool.ready(final=True):
                self.consume(*ready)
        self.failed.extend(frames.damaged)  # written black by the reader; blacked out again at render
        if self.regions is not None:
            self.timings["regions"] = t_regions
        return frames.frames_read

    def sweep(self, detector, frame: Frame) -> Detections:
        return self.detect(detector, frame)

    def detect(self, detector, frame: Frame, *args) -> Detections:
        """One detector call on one frame, failing closed (see :func:`analyse`)."""
        try:
            return detector.detect(frame.image, *args)
        except Exception as e:  # noqa: BLE001 - fail closed, see analyse()
            if self.config.detect.on_error == "fail":
                raise DetectorError(
                    f"{self.info.path}: detector {detector.name!r} failed on frame {frame.index}: {e}"
                ) from e
            log.warning("frame %d: detector %s failed (%s); frame will be blacked out", frame.index, detector.name, e)
            self.failed.append(frame.index)
            return Detections()

    def consume(self, frame: Frame, due: list[DetectorSlot], parts: list[Detections]) -> None:
        """Refine, fuse and track one frame's sweep, in frame order; hand the labelled rows to the sampler."""
        t1 = time.perf_counter()
        refiner, tracker = self.refiner, self.tracker
        # Between full-size sweeps of the refiner's model, follow known faces in windows.
        if refiner is not None and not any(s.detector.name == refiner.name and s.full_size for s in due):
            found = Detections.concat(parts)
            live = tracker.live(frame.index, kinds=FACE_KINDS)
            # Recognising people needs every sighting of a face: no window skipped for slow ones.
            swept = any(s.detector.kind in FACE_KINDS for s in due)
            windows = refiner.windows(live, self.info.width, self.info.height, found,
                                      every_frame=self.sampler is not None, swept=swept)
            if windows:
                parts = [*parts, self.detect(refiner, frame, windows)]
        t2 = time.perf_counter()
        rows = Detections()
        if parts:
            found = fuse(Detections.concat(parts), self.config.detect.fusion_iou)
            if self.config.regions.protect:
                found = protect_filter(found, frame.time, self.config.regions.protect)
            rows = tracker.update(frame.index, found)
            if refiner is not None and refiner.follower is not None:
                refiner.follower.remember(frame.image, rows)
        self.timings["refine"] += t2 - t1
        self.timings["track"] += time.perf_counter() - t2
        if self.sampler is not None:
            self.sampler.visit(frame, rows)

    def result(self, frames: int, engines: dict[str, str], people: People | None) -> Analysis:
        info, timings, pool, refiner = self.info, self.timings, self.pool, self.refiner
        # Summed over workers, so with N workers these may add up to N times the wall time.
        timings["detect"] = sum(pool.seconds.values())
        timings.update({f"detect.{label}": t for label, t in sorted(pool.seconds.items())})
        if refiner is not None:
            timings["refine_windows"] = refiner.windows_run
            timings["refine_fallbacks"] = refiner.fallbacks_run
            if refiner.follower is not None:
                timings["refine_looks"] = refiner.follower.looks_run
        if frames != info.frame_count:
            log.info("%s: decoded %d frames (container said %d)", info.path.name, frames, info.frame_count)
            info = dataclasses.replace(info, frame_count=frames)
        tracks = self.tracker.tracks
        if self.regions is not None:
            tracks = tracks + self.regions.finish(info, first_id=len(tracks))
        analysis = Analysis(video=info, tracks=tracks, failed_frames=sorted(set(self.failed)), timings=timings,
                            engines=engines)
        if self.sampler is not None and people is not None:
            analysis.identities, identify_timings = self.sampler.finish(tracks)
            analysis.timings.update(identify_timings)
            analysis.people = people.to_json()
        return analysis
