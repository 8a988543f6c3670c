"""The three stages, as functions: analyse -> decide -> render, and ``run`` for all three.

Pass 1 (:func:`analyse`) decodes every frame, runs the detector plug-ins and
links detections into tracks.  :func:`redact.policy.decide` looks at whole
tracks.  Pass 2 (:func:`render`) decodes again, paints out the decided,
interpolated and padded regions, encodes, and writes the audit log.  Two
passes let gap filling run backwards in time (a face is covered in the frames
before the detector first saw it) and cost one extra decode, which is cheap
next to detection and encoding.

With reference photos, pass 1 ends with an identity scan (one more decode,
embedding sampled faces), and :func:`analyse_to` / :func:`render_from` split
the job in two around a saved analysis folder, so an operator can review the
decisions and re-render with overrides without detecting again.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from redact import store
from redact.audio import plan as plan_audio
from redact.audit import AuditLog, default_log_path, sha256_file
from redact.config import Config, DetectConfig
from redact.config import load as load_config
from redact.detect.base import SURE, ContrastNormalised, Detector, Rotations, Shared, TiledDetector, create
from redact.detect.engine import Runtime, compile_cache
from redact.detect.refine import TrackRefiner
from redact.errors import DetectorError, InputError, OutputError, RedactError
from redact.identify.gallery import People
from redact.identify.scan import scan
from redact.io import FrameReader, VideoWriter, i420, probe
from redact.io.writer import check_output
from redact.operator import follow_regions, protect_filter
from redact.policy import decide
from redact.render import Painter, RegionPlanner
from redact.render.styles import Solid, redact_frame
from redact.render.yuv import paint_i420
from redact.track import Tracker, inside_matrix, iou_matrix
from redact.types import FACE_KINDS, Action, Analysis, Decision, Detections, Frame, Region, Source, VideoInfo

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    output: Path
    audit_log: Path
    frames: int
    tracks: int
    regions: int
    timings: dict[str, float] = field(default_factory=dict)


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
        det: Detector = create(dc.name, threshold=dc.threshold, scale=dc.scale, **extra)
        _set_runtime(det, config, model_threads)
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


NESTED = 0.9
"""A box with at least this share of its area inside another box of the same kind is part of that object."""


def fuse(dets: Detections, iou: float) -> Detections:
    """Merge boxes of the same object found by several detectors.

    Each cluster keeps its best score and detector name but takes the union
    of the boxes: when two detectors disagree on the extent, cover both.

    A box lying inside another (``NESTED``) joins it whatever their IoU: a
    face detector firing on part of a face (eyes, a half cut by a pole) would
    otherwise start a track of its own, extended for frames around its one
    sighting, and with reference photos that stray track covered the face of
    a person kept visible (about 90 frames of the bench's keep faces).  The
    union is the outer box, so nothing is covered less.  No bench face ever
    lies even half inside another face's box; a visible face inside another
    face would have to be in front of it yet smaller.

    Boxes found at different angles (``Detections.angle``) join when either
    one's centre lies in the other: a face found upright and on a turned
    copy is framed differently, and the stray second box started a track of
    its own that covered a kept face for the frames of its extension.
    """
    if len(dets) <= 1:
        return dets
    dets = dets.filter(~_seen_upright(dets))
    order = np.argsort(-dets.score)
    overlap = iou_matrix(dets.xyxy, dets.xyxy)
    nested = inside_matrix(dets.xyxy, dets.xyxy) >= NESTED
    # The same face seen on the frame and on a turned copy gets boxes of other shapes (a turned box
    # maps back to the bounds of its corners): a centre inside the other's box is enough to join.
    centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    inside = np.all((centres[:, None] >= dets.xyxy[None, :, :2]) & (centres[:, None] <= dets.xyxy[None, :, 2:]), axis=2)
    nested |= (inside | inside.T) & (dets.angle[:, None] != dets.angle[None, :])
    nested |= nested.T
    taken = np.zeros(len(dets), bool)
    rows = []
    for i in order:
        if taken[i]:
            continue
        members = (~taken) & ((overlap[i] > iou) | nested[i]) & (dets.kind == dets.kind[i])
        members[i] = True
        taken |= members
        box = dets.xyxy[members]
        rows.append((np.array([*box[:, :2].min(0), *box[:, 2:].max(0)]), i, _angle_of(dets, members, i)))
    idx = np.array([i for _, i, _ in rows])
    return Detections(np.stack([b for b, _, _ in rows]), dets.score[idx], dets.kind[idx], dets.detector[idx],
                      np.array([a for _, _, a in rows], np.float32))


def _seen_upright(dets: Detections) -> np.ndarray:
    """Boxes from turned copies centred in a box the upright pass is sure of (``SURE``): the same face.

    The upright box frames an upright face; the turned one maps back to the
    bounds of its corners (taller, or wider), and their union made the
    ellipse around a face reach a protected timestamp above it.
    """
    sure = (dets.angle == 0) & (dets.score >= SURE)
    if not sure.any() or not (dets.angle != 0).any():
        return np.zeros(len(dets), bool)
    centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    boxes = dets.xyxy[sure]
    inside = np.all((centres[:, None] >= boxes[None, :, :2]) & (centres[:, None] <= boxes[None, :, 2:]), axis=2)
    inside &= dets.kind[:, None] == dets.kind[sure][None, :]
    return (dets.angle != 0) & inside.any(axis=1)


def _angle_of(dets: Detections, members: np.ndarray, best: int) -> float:
    """The angle a fused face is followed at: upright where the upright pass was sure of it.

    CenterFace scores a clean upright face about as high on a turned copy as
    on the frame itself; following it turned would send its windows to look
    at it sideways for no reason.
    """
    upright = members & (dets.angle == 0) & (dets.score >= SURE)
    return 0.0 if upright.any() else float(dets.angle[best])


ProgressFn = Callable[[str, int, int], None]
"""``(stage, frames done, frames total)``: how a batch worker reports frames to the bars its parent draws."""


def _bar(total: int, desc: str, progress: bool | ProgressFn):
    if callable(progress):
        return _Reported(total, desc, progress)
    return tqdm(total=total or None, desc=desc, unit="frame", disable=not progress, dynamic_ncols=True, leave=False)


class _Reported:
    """A frame counter with tqdm's ``update`` that reports to a callback about 50 times a pass."""

    def __init__(self, total: int, desc: str, report: ProgressFn):
        self.total, self.desc, self.report, self.n = total, desc, report, 0
        self.step = max(1, total // 50)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n % self.step == 0 or self.n == self.total:
            self.report(self.desc, self.n, self.total)

    def __enter__(self) -> _Reported:
        self.report(self.desc, 0, self.total)
        return self

    def __exit__(self, *exc) -> None:
        pass


def build_refiner(config: DetectConfig, model_threads: int | None = None) -> TrackRefiner | None:
    if config.refine.detector == "none":
        return None
    refiner = TrackRefiner(config.refine)
    _set_runtime(refiner.detector, config, model_threads)
    return refiner


def _engine_of(model) -> str:
    """What runs a loaded plug-in's model, looking through wrappers (tiles, CLAHE, the refiner)."""
    while not hasattr(model, "engine") and (inner := getattr(model, "inner", getattr(model, "detector", None))):
        model = inner
    return getattr(model, "engine", "")


def _set_runtime(detector: Detector, config: DetectConfig, threads: int | None) -> None:
    """Tell a plug-in that runs an ONNX model (it has a ``runtime``) which engine and how many threads."""
    if hasattr(detector, "runtime"):
        cache = compile_cache() if config.compile_cache and config.engine == "openvino" else None
        detector.runtime = Runtime(config.engine, config.precision, threads, cache)


def analyse(
    video: VideoInfo | str | Path,
    config: Config,
    progress: bool | ProgressFn = False,
    detectors: list[DetectorSlot] | None = None,
    refiner: TrackRefiner | None = None,
    people: People | None = None,
) -> Analysis:
    """Pass 1: decode, detect with every configured plug-in, track.

    ``detectors`` (and ``refiner``) may be passed in to reuse loaded models
    across files, and by tests to plug in a scripted detector; when
    ``detectors`` is given, it runs on this thread and only the refiner
    passed along is used.  A detector error fails the job, or with
    ``detect.on_error: blackout`` marks the frame to be blacked out: a frame
    is never written with detection silently skipped.

    With ``people`` (reference photos), a third decode scores sampled faces
    of every track against them (:mod:`redact.identify.scan`); only the
    similarity numbers are kept.
    """
    info = video if isinstance(video, VideoInfo) else probe(video)
    owned = detectors is None
    if owned:
        workers = sweep_workers()
        threads = 1 if workers > 1 else None
        frame_bytes = info.width * info.height * 3
        pool = SweepPool(detector_sets(config.detect, workers, model_threads=threads), frame_bytes)
        refiner = build_refiner(config.detect, model_threads=threads)
    else:
        pool = SweepPool([detectors])
    models = pool.models + ([refiner] if refiner else [])
    timings = {"detect": 0.0, "refine": 0.0, "track": 0.0, "load": 0.0}
    tracker = Tracker(config.track)
    failed: list[int] = []

    def sweep(detector, frame: Frame) -> Detections:
        return _detect(detector, frame, info, config, failed)

    def consume(frame: Frame, due: list[DetectorSlot], parts: list[Detections]) -> None:
        t1 = time.perf_counter()
        # Between full-size sweeps of the refiner's model, follow known faces in windows.
        if refiner is not None and not any(s.detector.name == refiner.name and s.full_size for s in due):
            found = Detections.concat(parts)
            live = tracker.live(frame.index, kinds=FACE_KINDS)
            # Recognising people needs every sighting of a face: no window skipped for slow ones.
            swept = any(s.detector.kind in FACE_KINDS for s in due)
            windows = refiner.windows(live, info.width, info.height, found, every_frame=people is not None, swept=swept)
            if windows:
                parts = [*parts, _detect(refiner, frame, info, config, failed, windows)]
        t2 = time.perf_counter()
        if parts:
            found = fuse(Detections.concat(parts), config.detect.fusion_iou)
            if config.regions.protect:
                found = protect_filter(found, frame.time, config.regions.protect)
            tracker.update(frame.index, found)
        timings["refine"] += t2 - t1
        timings["track"] += time.perf_counter() - t2

    t_start = time.perf_counter()
    try:
        t0 = time.perf_counter()
        for m in models:
            try:
                m.load()
            except RedactError:
                raise
            except Exception as e:  # noqa: BLE001 - turned into one actionable line
                raise DetectorError(f"detector {m.name!r} failed to load: {e}") from e
        timings["load"] = time.perf_counter() - t0
        with FrameReader(info, on_damage=config.detect.on_decode_error) as reader, \
                _bar(info.frame_count, "analyse", progress) as bar:
            for frame in reader:
                pool.submit(frame, sweep)
                for ready in pool.ready():
                    consume(*ready)
                    bar.update(1)
            for ready in pool.ready(final=True):
                consume(*ready)
                bar.update(1)
        frames = reader.frames_read
        failed.extend(reader.damaged)  # written black by the reader; blacked out again at render
        # Read while loaded: OpenVINO's precision depends on the CPU, so the audit says which ran.
        engines = {m.name: e for m in models if (e := _engine_of(m))}
    finally:
        pool.close()
        if owned:
            for m in models:
                m.close()
    timings["analyse"] = time.perf_counter() - t_start
    # Summed over workers, so with N workers these may add up to N times the wall time.
    timings["detect"] = sum(pool.seconds.values())
    timings.update({f"detect.{label}": t for label, t in sorted(pool.seconds.items())})
    if refiner is not None:
        timings["refine_windows"] = refiner.windows_run
        timings["refine_fallbacks"] = refiner.fallbacks_run
    if frames != info.frame_count:
        log.info("%s: decoded %d frames (container said %d)", info.path.name, frames, info.frame_count)
        info = _with_frame_count(info, frames)
    tracks = tracker.tracks
    if config.regions.redact:
        t0 = time.perf_counter()
        tracks = tracks + follow_regions(info, config.regions, first_id=len(tracks), progress=progress is True,
                                        on_damage=config.detect.on_decode_error)
        timings["regions"] = time.perf_counter() - t0
    analysis = Analysis(
        video=info, tracks=tracks, failed_frames=sorted(set(failed)), timings=timings, engines=engines
    )
    if people is not None:
        analysis.identities, identify_timings = scan(info, analysis.tracks, people.gallery, config.identity,
                                                     progress=progress is True,
                                                     on_damage=config.detect.on_decode_error)
        analysis.timings.update(identify_timings)
        analysis.people = people.to_json()
    return analysis


def _detect(detector, frame: Frame, info: VideoInfo, config: Config, failed: list[int], *args) -> Detections:
    """One detector call on one frame, failing closed (see :func:`analyse`)."""
    try:
        return detector.detect(frame.image, *args)
    except Exception as e:  # noqa: BLE001 - fail closed, see analyse()
        if config.detect.on_error == "fail":
            raise DetectorError(f"{info.path}: detector {detector.name!r} failed on frame {frame.index}: {e}") from e
        log.warning("frame %d: detector %s failed (%s); frame will be blacked out", frame.index, detector.name, e)
        failed.append(frame.index)
        return Detections()


def _with_frame_count(info: VideoInfo, n: int) -> VideoInfo:
    return dataclasses.replace(info, frame_count=n)


def render(
    analysis: Analysis,
    decisions: dict[int, Decision],
    config: Config,
    output: str | Path,
    audit_log: str | Path | None = None,
    progress: bool | ProgressFn = False,
    input_sha256: str | None = None,
) -> RunResult:
    """Pass 2: decode again, redact, encode; write the video and its audit log atomically.

    Frames of even size travel as I420 from decoder to encoder and are
    painted only around their regions (:mod:`redact.render.yuv`); odd sizes
    take the BGR path.
    """
    info = analysis.video
    output = Path(output)
    log_path = Path(audit_log) if audit_log else default_log_path(output)
    if log_path.resolve() == output.resolve():
        raise OutputError(f"{log_path}: the audit log cannot be written over the output video")
    check_output(output, info.path)
    check_output(log_path, info.path)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if input_sha256 is None:
        input_sha256 = sha256_file(info.path)
    timings["hash_input"] = time.perf_counter() - t0
    planner = RegionPlanner(analysis.tracks, decisions, config.render, info.width, info.height, info.frame_count)
    painter = Painter(config.render)
    styles = {k: (painter.style_of(k)[0].style, painter.style_of(k)[0].shape) for k in {t.kind for t in analysis.tracks}}
    styles["frame"] = ("solid", "box")
    blackout = Solid([0, 0, 0])
    pix_fmt = "yuv420p" if i420.supported(info.width, info.height) else "bgr24"
    if pix_fmt == "yuv420p":
        def paint(image, regions):
            return paint_i420(painter, image, regions)

        def black(image):
            return i420.black(info.width, info.height)
    else:
        paint = painter.paint

        def black(image):
            return redact_frame(image, [(0, 0, info.width, info.height)], blackout, ellipse=False)
    failed = set(analysis.failed_frames)
    by_id = {t.id: t for t in analysis.tracks}
    t_start = time.perf_counter()
    t_paint = 0.0
    writer = VideoWriter(info, output, config.encode, config.audio, pix_fmt=pix_fmt)
    with AuditLog(log_path) as audit:
        audit.header(info, config, input_sha256, (writer.out_width, writer.out_height), analysis.people)
        for tid, d in sorted(decisions.items()):
            t = by_id[tid]
            audit.decision(d, t.first, t.last, len(t.frames), t.kind, t.label)
        if writer.audio_mode == "processed":
            audit.audio(plan_audio(info.duration, config.audio))
        with writer, FrameReader(info, on_damage=config.detect.on_decode_error, pix_fmt=pix_fmt) as reader, \
                _bar(info.frame_count, "render", progress) as bar:
            for frame in reader:
                tp = time.perf_counter()
                if frame.index in failed or frame.index in reader.damaged:
                    failed.add(frame.index)
                    why = "decode-error" if frame.index in reader.damaged else "detector-error"
                    full = Region((0, 0, info.width, info.height), "frame", None, Source.FAILSAFE, None, None, why)
                    regions = [full]
                    image = black(frame.image)
                else:
                    regions = planner.regions_at(frame.index)
                    image = paint(frame.image, regions)
                audit.frame(frame.index, frame.time, regions, styles)
                t_paint += time.perf_counter() - tp
                writer.write(image)
                bar.update(1)
            if reader.frames_read != info.frame_count:
                raise RedactError(
                    f"{info.path}: second pass decoded {reader.frames_read} frames, first pass {info.frame_count}; "
                    "refusing to write an output whose redactions may be misaligned"
                )
        # The video is now at its final name; from here a failure must remove it again.
        try:
            timings["render"] = time.perf_counter() - t_start
            timings["paint"] = t_paint
            t1 = time.perf_counter()
            output_sha = sha256_file(output)
            timings["hash_output"] = time.perf_counter() - t1
            all_timings = {k: round(v, 3) for k, v in {**analysis.timings, **timings}.items()}
            audit.summary(
                frames=writer.frames_written,
                tracks=len(analysis.tracks),
                tracks_redacted=sum(1 for d in decisions.values() if d.action is Action.REDACT),
                tracks_kept=sum(1 for d in decisions.values() if d.action is Action.KEEP),
                failed_frames=len(failed),
                audio=writer.audio_mode,
                engines=analysis.engines,
                timings=all_timings,
                output={"file": output.name, "sha256": output_sha},
            )
            audit.commit()
        except BaseException:
            output.unlink(missing_ok=True)
            raise
    return RunResult(output, log_path, writer.frames_written, len(analysis.tracks), audit.regions, all_timings)


def run(
    input: str | Path,
    output: str | Path,
    config: Config | None = None,
    audit_log: str | Path | None = None,
    progress: bool | ProgressFn = False,
    people: People | None = None,
    input_sha256: str | None = None,
) -> RunResult:
    """Redact one video: probe, analyse, decide, render.  The library entry point behind ``redact run``.

    ``people`` (from :func:`redact.identify.load_people`) keeps the listed
    people visible, or redacts only them; without it everyone is redacted.
    ``progress`` draws tqdm bars, or reports frames to a callback (batch
    workers); ``input_sha256`` saves hashing the input again when the caller
    already has.
    """
    config = config or load_config()
    t0 = time.perf_counter()
    info = probe(input)
    # Refuse an unwritable destination now, not after minutes of detection.
    check_output(Path(output), info.path)
    if audit_log is not None:
        check_output(Path(audit_log), info.path)
    t_probe = time.perf_counter() - t0
    with logging_redirect_tqdm():
        analysis = analyse(info, config, progress=progress, people=people)
        analysis.timings["probe"] = t_probe
        decisions = decide(analysis.tracks, config, analysis.identities, analysis.mode)
        result = render(analysis, decisions, config, output, audit_log, progress=progress, input_sha256=input_sha256)
    result.timings["total"] = round(time.perf_counter() - t0, 3)
    return result


def analyse_to(
    input: str | Path,
    folder: str | Path,
    config: Config | None = None,
    progress: bool = False,
    people: People | None = None,
) -> tuple[Path, Analysis, dict[int, Decision]]:
    """Pass 1 and the automatic decisions, saved to ``folder`` for review (``redact analyse``)."""
    config = config or load_config()
    t0 = time.perf_counter()
    info = probe(input)
    with logging_redirect_tqdm():
        analysis = analyse(info, config, progress=progress, people=people)
    analysis.timings["probe+analyse"] = time.perf_counter() - t0
    decisions = decide(analysis.tracks, config, analysis.identities, analysis.mode)
    path = store.save(folder, analysis, config, sha256_file(info.path), decisions)
    return path, analysis, decisions


def render_from(
    input: str | Path,
    folder: str | Path,
    output: str | Path,
    decisions_file: str | Path | None = None,
    config: Config | None = None,
    audit_log: str | Path | None = None,
    progress: bool = False,
) -> RunResult:
    """Pass 2 from a saved analysis, with the operator's overrides; no detector runs (``redact render``).

    ``config`` may change how regions are drawn and encoded, and the identity
    thresholds, but not detection, tracking or marked regions: those produced the saved
    tracks, and rendering them under other settings would misreport them.
    """
    t0 = time.perf_counter()
    saved = store.load(folder)
    config = config or saved.config
    for section in ("detect", "track", "regions"):
        if getattr(config, section) != getattr(saved.config, section):
            raise OutputError(
                f"{folder}: the {section} settings differ from those of the analysis; "
                "run `redact analyse` again with them"
            )
    info = probe(input)
    check_output(Path(output), info.path)
    sha = sha256_file(info.path)
    if sha != saved.input_sha256:
        raise InputError(
            f"{info.path}: this is not the video that was analysed in {folder} "
            f"({saved.record['input']['file']}, SHA-256 {saved.input_sha256[:12]}...)"
        )
    analysis = saved.analysis(info)
    overrides = store.load_decisions(decisions_file, {t.id for t in analysis.tracks}) if decisions_file else None
    decisions = decide(analysis.tracks, config, analysis.identities, analysis.mode, overrides)
    with logging_redirect_tqdm():
        result = render(analysis, decisions, config, output, audit_log, progress=progress, input_sha256=sha)
    result.timings["total"] = round(time.perf_counter() - t0, 3)
    return result
