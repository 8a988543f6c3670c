"""The whole-frame sweep: detector plug-ins built from the config, run on worker threads in frame order.

Every configured detector becomes a :class:`DetectorSlot` (the plug-in,
wrapped for CLAHE, tiles and turns, and how often it runs).  The
:class:`SweepPool` runs the slots due on each frame on one thread per core
and hands the results back in frame order.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from redact.analyse.detectors.base import ContrastNormalised, Detector, Rotations, Shared, TiledDetector, create
from redact.analyse.detectors.confirm import CONFIRM, Confirmed, HugeChecked
from redact.analyse.detectors.engine import Runtime, compile_cache
from redact.analyse.refine import TrackRefiner
from redact.config import DetectConfig
from redact.types import FACE_KINDS, Frame


@dataclass
class DetectorSlot:
    """A detector and how often it runs (every N-th frame)."""

    detector: Detector
    every: int
    full_size: bool = True
    """Whether it sees the frame at full resolution or finer (scale >= 1 or tiles): small faces included."""
    label: str = ""
    """Names the slot in stage timings, e.g. ``0.centerface``."""


def build_detectors(config: DetectConfig, model_threads: int | None = None) -> list[DetectorSlot]:
    """One set of loaded-on-demand detector plug-ins, as the config lists them."""
    slots = []
    for i, dc in enumerate(config.detectors):
        extra = {"classes": dc.classes} if dc.classes else {}
        model: Detector = create(dc.name, threshold=dc.candidates or dc.threshold, scale=dc.scale, **extra)
        set_runtime(model, config, model_threads)
        det = Confirmed(model, dc.threshold, CONFIRM) if dc.candidates else model
        if dc.name == "centerface":  # measured on it (confirm.HugeChecked); BlazeFace was not
            det = HugeChecked(det, model)
        if dc.preprocess == "clahe":
            det = ContrastNormalised(det)
        if dc.tiles > 1:
            det = TiledDetector(det, dc.tiles, dc.tile_overlap)
        if dc.rotations != [0]:
            det = Rotations(det, dc.rotations)
        # Only an upright pass sees what an upright window would: a turned-only sweep leaves windows due.
        full_size = (dc.scale >= 1.0 or dc.tiles > 1) and 0 in dc.rotations
        slots.append(DetectorSlot(det, dc.every, full_size, f"{i}.{dc.name}"))
    return slots


def detector_sets(config: DetectConfig, workers: int, model_threads: int | None = None) -> list[list[DetectorSlot]]:
    """One detector set per sweep worker, in which the detectors that skip frames (marks, turned faces) are one copy.

    Face detectors are the throughput: every worker needs its own copy to
    detect its frame while the other detects the next.  Text, plate and body
    detectors run on every N-th frame (every 6th in the presets) and have
    the largest activations, so copies of them mostly cost memory: sharing
    them lowered the redact process's peak with ``publish.yaml`` on the
    1080p bench video from 1,428-1,475 to 1,275-1,297 MiB, with the
    detection pass as fast as before.  One that runs on every frame keeps a
    copy per worker.  The turned face sweep is shared too: it runs on every
    12th frame, and a copy per worker held the full-size model compiled for
    two more 1080p shapes (the peak on the 1080p bench video went to
    1,971 MiB with a copy each).
    """
    sets = [build_detectors(config, model_threads) for _ in range(workers)]
    for i, slot in enumerate(sets[0]):
        sparse = slot.detector.kind not in FACE_KINDS or isinstance(slot.detector, Rotations)
        if workers > 1 and slot.every > 1 and sparse:
            shared = Shared(slot.detector)
            for slots in sets:
                slots[i] = dataclasses.replace(slots[i], detector=shared)
    return sets


LOOK_AHEAD = 8
"""At most this many decoded frames queued per sweep worker."""
LOOK_AHEAD_BYTES = 64 << 20
"""...and at most this many bytes of them (a 1080p BGR frame is 6 MB)."""


def sweep_workers() -> int:
    """Frames detected at once: one per core (REDACT_THREADS caps it; batch jobs set 1)."""
    env = os.environ.get("REDACT_THREADS", "")
    cores = int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)
    return max(1, min(4, cores))


class SweepPool:
    """Runs the whole-frame detectors on upcoming frames on worker threads; results come back in frame order.

    The whole-frame sweep of a frame does not depend on any other frame, so
    with N cores N frames are detected at once, each by its own copy of the
    face detectors (a model is not safe to call from two threads at once:
    onnxruntime's buffers and MediaPipe's graphs hold per-call state; the
    sparse mark detectors are one copy behind a lock, see
    :func:`detector_sets`) running single-threaded.  That
    uses the cores better than one copy with N model threads (see
    ``centerface.py``).  Tracking and refinement stay in the calling thread,
    in frame order, so results do not depend on thread timing.
    """

    def __init__(self, sets: list[list[DetectorSlot]], frame_bytes: int = 0):
        self.sets = sets
        # Frames a worker may run ahead of the consumer.  Every 6th frame carries a
        # full-size sweep (~6x a 0.4-scale one): with only 2 frames a worker, the other
        # worker ran out of frames behind it and idled (pub01's pass took 10 % longer,
        # pub05's 1080p 11 %).  Capped in bytes so 4K frames do not pile up.
        self.ahead = max(2, min(LOOK_AHEAD, LOOK_AHEAD_BYTES // max(1, frame_bytes)))
        self._free: queue.SimpleQueue[list[DetectorSlot]] = queue.SimpleQueue()
        for s in sets:
            self._free.put(s)
        self._executor = ThreadPoolExecutor(len(sets), thread_name_prefix="detect") if len(sets) > 1 else None
        self._pending: collections.deque = collections.deque()
        self.seconds: collections.Counter[str] = collections.Counter()

    @property
    def models(self) -> list[Detector]:
        """Every detector once (a shared one sits in several sets)."""
        unique = {id(slot.detector): slot.detector for slots in self.sets for slot in slots}
        return list(unique.values())

    @property
    def depth(self) -> int:
        return self.ahead * len(self.sets)

    def submit(self, frame: Frame, sweep) -> None:
        if self._executor is None:
            self._pending.append((frame, _Done(self._run(frame, sweep))))
        else:
            self._pending.append((frame, self._executor.submit(self._run, frame, sweep)))

    def ready(self, final: bool = False):
        """Yield (frame, due slots, detections) for frames whose sweep must now be consumed, oldest first."""
        while self._pending and (final or len(self._pending) > self.depth):
            frame, future = self._pending.popleft()
            due, parts = future.result()
            yield frame, due, parts

    def _run(self, frame: Frame, sweep):
        slots = self._free.get()
        try:
            due = [s for s in slots if frame.index % s.every == 0]
            parts = []
            for s in due:
                t0 = time.perf_counter()
                parts.append(sweep(s.detector, frame))
                self.seconds[s.label] += time.perf_counter() - t0
            return due, parts
        finally:
            self._free.put(slots)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


class _Done:
    """A finished result with the Future interface, for the single-worker path."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value


def build_refiner(config: DetectConfig, model_threads: int | None = None) -> TrackRefiner | None:
    if config.refine.detector == "none":
        return None
    refiner = TrackRefiner(config.refine)
    set_runtime(refiner.detector, config, model_threads)
    return refiner


def engine_of(model) -> str:
    """What runs a loaded plug-in's model, looking through wrappers (tiles, CLAHE, the refiner)."""
    while not hasattr(model, "engine") and (inner := getattr(model, "inner", getattr(model, "detector", None))):
        model = inner
    return getattr(model, "engine", "")


def set_runtime(detector: Detector, config: DetectConfig, threads: int | None) -> None:
    """Tell a plug-in that runs an ONNX model (it has a ``runtime``) which engine and how many threads."""
    if hasattr(detector, "runtime"):
        cache = compile_cache() if config.compile_cache and config.engine == "openvino" else None
        detector.runtime = Runtime(config.engine, config.precision, threads, cache)
