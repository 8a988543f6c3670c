"""``redact verify``: re-scan a finished output for faces that are still visible.

A check to run before publishing, by a person or a batch: it must not share
the blind spots of the run it checks, so it uses a different detector setup
from ``redact run``'s defaults (CenterFace at full size every 6th frame and at
0.4 scale on every frame, windows around small faces), and it must not cry
wolf, or people stop reading it.  Both kinds of model are trained on upright
faces, so CenterFace also scans the frame turned 90, 180 and 270 degrees, for
people lying on the floor or filmed upside down.

**With the input** (``against``), input and output are decoded in lockstep and
both are scanned.  A box counts only where the output still looks like the
input; a face found in the *input* whose centre is unchanged in the output is
the strongest leak signal, and it does not depend on the output-side detector
seeing a face next to the redaction shapes.  **Without it**, the output
alone is scanned and only confident detections count.

Why these choices (measured on the 8 public bench videos, 720p/1080p, their
``redact run`` outputs from the earlier default config (full-size CenterFace
plus tiled BlazeFace on every frame) and ground truth; face-frames = every
ground-truth face in every frame):

- *CenterFace on the frame upscaled 1.5x*: small faces get 2.25x the
  pixels (on pub01, upscaled CenterFace found 100 % of face-frames at score
  0.3, the 1.0x run's model 95 %).  The whole frame rather than 2 x 2 tiles
  at 1.5x: the same pixels per face, 13 % less time (tiles overlap), no
  face cut by a tile edge, and about as many faces found.  Scale 2.0 took 1.4x
  longer; on a low-light sample it found more faces at score 0.5 (74 % vs
  64 % of face-frames) but not at 0.3-0.4: not adopted without a full
  calibration.
- *Turned copies* (:class:`~redact.analyse.detectors.base.Rotations`; boxes mapped back
  to the upright frame, the angle kept in the report): the models lose faces
  turned past about 45 degrees.  CenterFace only, at 1.0x: on pub09-pub11's
  face-frames tilted 45 degrees or more (every 5th frame, 149), 1.5x found
  46 % at score 0.65 and 1.0x 44 %, for 2.3x the time.  Thresholds are set
  above the upright ones (0.65 / 0.7 / 0.75): a turned copy makes faces of
  heads seen from above, 0.51-0.57 in pub02's overhead crowd, the nearest
  false alarms on all 11 bench videos (each input against a fill of every
  ground-truth face and mark, every 5th frame; none on the fill shapes).
  With them verify finds 46 % of the face-frames tilted 45-135 degrees in
  the input (24 % upright only) and 33 % of those past 135 (none); the
  faces lying in pub11's low light stay unfound (5 %).  ``--no-rotations``
  (:meth:`VerifySettings.upright`) leaves them out.
- *BlazeFace full-range on the frame and 3 x 3 tiles*: a second model family
  (CenterFace also does the production run), for under 10 % of CenterFace's
  time.  It needs a high score: at 0.6-0.8 it fires on heads seen from
  behind or above in crowds.  Rejected: BlazeFace short-range (finds 45 % of
  face-frames, false alarms on road textures up to 0.74); a CLAHE-equalised
  copy (+0.5 points of face-frames for twice the CenterFace cost).
- *Similarity* is the normalised correlation of the grey box centres at
  32 x 32 (:func:`similarity`).  Over 6,773 redacted face-frames it never
  exceeded 0.61 (99th percentile 0.17); faces pasted back unredacted scored
  0.96 or more.  SSIM was rejected: up to 0.67 on large smooth faces painted
  flat, because SSIM is high wherever both crops are smooth.
- *Thresholds* (:data:`DEFAULT_PROBES`) are the lowest with zero suspects on
  all 8 correct outputs, rounded up for margin: input-side CenterFace
  boxes at 0.35-0.46 on low-texture background (walls, pavement) were the
  nearest false alarms.  The output side needs more (0.65): a grey fill disc
  above a body reads as a head, and CenterFace scored 0.60 on the unchanged
  patch under it.  At these thresholds verify finds 93 % of the bench's
  face-frames in the input (72 % on the low-light clip, 79 % on noisy IR,
  94-100 % elsewhere); a face left visible for a stretch of frames is
  flagged if any one of them is found.  Boxes under 14 px are ignored: the
  background footage's pedestrians (7-13 px) are not identifiable.

Limits: a face about half covered (by a neighbour's redaction, or a box
that lags behind) scores 0.3-0.7 and is not flagged; a face no detector here
finds is not flagged either.  A clean report is evidence, not proof.

Calibration, ``verify OUTPUT --against INPUT`` on each bench video's
``redact run`` output (correct) and on a copy with one victim pasted back
from the input (its box plus 25 %) for frames 50-89 (under-redacted),
before the turned copies were added (calibrated on their own, above).
Seconds on 2 cores shared with other jobs (load 2-12: times vary 2-3x):

    video              frames | correct: suspects   s | under-redacted: leak frames flagged, others   s
    pub01 plaza           250 |                 0 307 |                             40/40       0 256
    pub02 crowd           300 |                 0 306 |                             40/40       0 373
    pub03 ir night        200 |                 0 217 |                             40/40       0 220
    pub04 occlusion       300 |                 0 120 |                             40/40       0 119
    pub05 group 1080p     200 |                 0 205 |                             40/40       0 166
    pub06 low light       240 |                 0  96 |                             19/40       0   -
    pub07 street          270 |                 0 271 |                             40/40       0 259
    pub08 ir noise        200 |                 0 190 |                             37/40       0  96

Without the input, the same 8 correct outputs gave 0 suspects and every
under-redacted one was flagged (2 to 40 of its 40 leak frames; low light and
crowds lowest), in half the time.

Cost: with the input both pictures are scanned, each by CenterFace at 2.25x
the pixels of a full-size pass: about 0.4 s per 720p frame (0.8 s at
1080p) on two lightly loaded cores, 0.2 s without the input; several times
a ``redact run``.  The turned copies about double that: on pub09 (720p,
every 5th frame, with the input, 2 cores under load 9) 1.06 s a frame
against 0.55 s with ``--no-rotations``; three 1.0x copies cost about what
the upright probes do (0.20-0.23 s against 0.21-0.25 s a 720p picture).
``every`` trades frames for time.  The report is JSON (geometry, scores,
similarity, the angle; never pixels); the contact sheet PNG holds
crops of the output, that is of the faces it shows, and is written only
when there are suspects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from tqdm.contrib.logging import logging_redirect_tqdm

from redact.analyse.detectors.base import Detector, Rotations, TiledDetector, create
from redact.errors import ConfigError, DetectorError, InputError, RedactError
from redact.io import probe
from redact.io.files import check_output, sha256_file, write_atomic
from redact.io.frames import Decoding, decode
from redact.types import Detections, Kind, VideoInfo
from redact.version import __version__

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Probe:
    """One detector of the verify ensemble and the score it needs to raise a suspect.

    Three thresholds, because the evidence differs: with an input to compare
    with, a face found in the *input* whose centre is unchanged in the output
    (``on_input``) or a face found in the *output* that still looks like the
    input (``on_output``; set higher, because the output detector also reacts
    to the redaction shapes themselves); without one, the score is the only
    evidence (``alone``).

    ``angles`` are the turns (degrees counter-clockwise) of the picture the
    probe scans, boxes mapped back to the upright picture
    (:class:`~redact.analyse.detectors.base.Rotations`); ``(0,)`` is the picture as it is.
    """

    label: str
    plugin: str
    on_input: float
    on_output: float
    alone: float
    scale: float = 1.0
    tiles: int = 1
    overlap: float = 0.25
    full_frame: bool = True
    angles: tuple[float, ...] = (0.0,)

    @property
    def turned(self) -> bool:
        """Whether this probe scans turned copies (any angle but 0)."""
        return any(a % 360 for a in self.angles)


DEFAULT_PROBES: tuple[Probe, ...] = (
    Probe("centerface@1.5x", "centerface", on_input=0.5, on_output=0.65, alone=0.7, scale=1.5),
    Probe("blazeface_full@3x3", "blazeface_full", on_input=0.85, on_output=0.9, alone=0.9, tiles=3),
    Probe(
        "centerface@1.0x/turned", "centerface", on_input=0.65, on_output=0.7, alone=0.75, angles=(90.0, 180.0, 270.0)
    ),
)


@dataclass(frozen=True)
class VerifySettings:
    """Everything that decides what counts as a suspect; recorded in the report."""

    probes: tuple[Probe, ...] = DEFAULT_PROBES
    similarity: float = 0.8
    """:func:`similarity` at or above which the output still shows the input there."""
    core: float = 0.6
    """Fraction of a box's width and height, centred, that is compared (the face without hair and background)."""
    min_size: int = 14
    """Boxes whose shorter side is below this many pixels are ignored (not identifiable; background noise)."""

    def upright(self) -> VerifySettings:
        """These settings without the probes that scan turned copies (``redact verify --no-rotations``)."""
        return dataclasses.replace(self, probes=tuple(p for p in self.probes if not p.turned))

    def to_json(self) -> dict:
        return {
            "probes": [dataclasses.asdict(p) for p in self.probes],
            "similarity": self.similarity,
            "core": self.core,
            "min_size": self.min_size,
        }


@dataclass(frozen=True)
class Suspect:
    """A place in the output where a face seems visible.

    ``box`` is ``(x1, y1, x2, y2)`` in upright output pixels.  ``side`` says
    which picture the detector found it in: ``output``, or ``input`` (a face
    of the original whose centre is unchanged in the output).  ``similarity``
    is :func:`similarity` of the box's centre between output and input,
    ``None`` without an input to compare with.  ``angle`` is the turn of the
    picture (degrees counter-clockwise) in which ``detector`` found the face,
    0 for the picture as it is.
    """

    frame: int
    time: float
    box: tuple[int, int, int, int]
    score: float
    detector: str
    side: str
    similarity: float | None
    angle: float = 0.0

    def to_json(self) -> dict:
        return {
            "frame": self.frame,
            "t": round(self.time, 3),
            "box": list(self.box),
            "score": round(self.score, 4),
            "detector": self.detector,
            "side": self.side,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "angle": self.angle,
        }


@dataclass
class VerifyResult:
    output: Path
    against: Path | None
    frames: int
    """Frames decoded."""
    frames_scanned: int
    """Frames the detectors ran on (every ``every``-th)."""
    suspects: list[Suspect]
    report: Path
    sheet: Path | None
    """The contact sheet, written only when there are suspects."""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.suspects

    @property
    def suspect_frames(self) -> list[int]:
        return sorted({s.frame for s in self.suspects})


def default_report_path(output: Path) -> Path:
    """``clip.redacted.mp4`` -> ``clip.redacted.verify.json``."""
    return Path(output).with_suffix(".verify.json")


def default_sheet_path(output: Path) -> Path:
    """``clip.redacted.mp4`` -> ``clip.redacted.verify.png``."""
    return Path(output).with_suffix(".verify.png")


# --- detection ----------------------------------------------------------------------------


class Ensemble:
    """The verify detectors, run on one picture; boxes carry their probe's label.

    Each model runs once per picture at the lowest score any of its
    thresholds needs; :meth:`threshold` then says what a box must reach on
    a given side.
    """

    def __init__(self, probes: tuple[Probe, ...], against: bool):
        self.probes = probes
        self.against = against
        self._detectors: list[Detector] = []

    def threshold(self, p: Probe, side: str) -> float:
        if not self.against:
            return p.alone
        return p.on_input if side == "input" else p.on_output

    def load(self) -> None:
        for p in self.probes:
            floor = min(p.on_input, p.on_output) if self.against else p.alone
            det: Detector = create(p.plugin, threshold=floor, scale=p.scale)
            if p.tiles > 1:
                det = TiledDetector(det, p.tiles, p.overlap, full_frame=p.full_frame)
            if p.turned:
                det = Rotations(det, list(p.angles))
            try:
                det.load()
            except RedactError:
                raise
            except Exception as e:  # one actionable line, whatever the plug-in raised
                raise DetectorError(f"verify: detector {p.plugin!r} failed to load: {e}") from e
            self._detectors.append(det)

    def close(self) -> None:
        for d in self._detectors:
            d.close()
        self._detectors = []

    def detect(self, image: np.ndarray) -> Detections:
        parts = []
        for p, det in zip(self.probes, self._detectors):
            d = det.detect(image)
            if len(d):
                n = len(d)
                parts.append(
                    Detections(d.xyxy, d.score, np.full(n, Kind.FACE, object), np.full(n, p.label, object), d.angle)
                )
        return Detections.concat(parts)


def core_box(box, core: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The centred ``core`` fraction of ``box``, in integer pixels clipped to the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * (1 - core) / 2, (y2 - y1) * (1 - core) / 2
    return (
        max(0, int(x1 + dx)),
        max(0, int(y1 + dy)),
        min(width, int(np.ceil(x2 - dx))),
        min(height, int(np.ceil(y2 - dy))),
    )


_SIDE = 32  # crops are compared at this size, whatever the face size


def similarity(grey_out: np.ndarray, grey_in: np.ndarray, box, core: float) -> float:
    """How much the output still looks like the input in the centre of ``box``, in [-1, 1].

    Normalised correlation of the two grey crops after area-resizing both to
    32 x 32: the resize averages away codec noise and makes small and large
    faces comparable; correlation ignores the brightness shift of a re-encode
    and is near 0 for a flat fill (nothing to correlate) and for a flat,
    unchanged background (only noise correlates), where SSIM scored up to
    0.7 on large smooth faces painted flat.
    """
    h, w = grey_in.shape
    x1, y1, x2, y2 = core_box(box, core, w, h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return 0.0
    a = cv2.resize(grey_out[y1:y2, x1:x2], (_SIDE, _SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    b = cv2.resize(grey_in[y1:y2, x1:x2], (_SIDE, _SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    a -= a.mean()
    b -= b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 0.0


# --- the scan -----------------------------------------------------------------------------


def _check_pair(out: VideoInfo, inp: VideoInfo) -> None:
    """Refuse an input that cannot be the source of this output, before any detection."""
    sizes = {(inp.width, inp.height), (inp.width + inp.width % 2, inp.height + inp.height % 2)}
    if (out.width, out.height) not in sizes:
        raise InputError(
            f"{out.path}: output is {out.width}x{out.height} but {inp.path} is {inp.width}x{inp.height}; "
            "is --against the video this output was made from?"
        )
    if out.frame_count != inp.frame_count:
        raise InputError(
            f"{out.path}: output has {out.frame_count} frames but {inp.path} has {inp.frame_count}; "
            "verify compares them frame by frame and needs the same count"
        )


def _lockstep(out_reader: Decoding, in_reader: Decoding | None):
    """Yield (output frame, input frame or None); a different length is an error, not a silent stop."""
    if in_reader is None:
        for fo in out_reader:
            yield fo, None
        return
    outs, ins = iter(out_reader), iter(in_reader)
    while True:
        fo, fi = next(outs, None), next(ins, None)
        if fo is None and fi is None:
            return
        if fo is None or fi is None:
            raise InputError(
                f"{out_reader.info.path}: output and input ran out of frames at different points "
                f"(output {out_reader.frames_read}, input {in_reader.frames_read} frames decoded)"
            )
        yield fo, fi


class _Sheet:
    """Keeps the crops of the most confident suspects, bounded in memory, for the contact sheet."""

    def __init__(self, cap: int, context: float = 0.5):
        self.cap = cap
        self.context = context
        self._heap: list[tuple[float, int, Suspect, np.ndarray]] = []
        self._seq = 0

    def offer(self, s: Suspect, image: np.ndarray) -> None:
        self._seq += 1
        if len(self._heap) >= self.cap and s.score <= self._heap[0][0]:
            return
        x1, y1, x2, y2 = s.box
        h, w = image.shape[:2]
        mx, my = round((x2 - x1) * self.context), round((y2 - y1) * self.context)
        cx1, cy1, cx2, cy2 = max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)
        crop = image[cy1:cy2, cx1:cx2].copy()
        cv2.rectangle(crop, (x1 - cx1, y1 - cy1), (x2 - cx1 - 1, y2 - cy1 - 1), (0, 0, 255), 1)
        item = (s.score, self._seq, s, crop)
        if len(self._heap) < self.cap:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)

    def render(self, title: str, total: int, cell: int = 160, columns: int = 8) -> np.ndarray:
        items = sorted(self._heap, key=lambda t: (-t[0], t[2].frame))
        label_h, head_h = 34, 44
        rows = -(-len(items) // columns)
        sheet = np.full((head_h + rows * (cell + label_h), columns * cell, 3), 32, np.uint8)
        font = cv2.FONT_HERSHEY_SIMPLEX
        more = total - len(items)
        cv2.putText(sheet, title, (6, 18), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        note = f"{total} suspect(s); showing the {len(items)} most confident" + (
            f", {more} more not shown" if more else ""
        )
        cv2.putText(sheet, note, (6, 36), font, 0.45, (200, 200, 255), 1, cv2.LINE_AA)
        for k, (_, _, s, crop) in enumerate(items):
            r, c = divmod(k, columns)
            x0, y0 = c * cell, head_h + r * (cell + label_h)
            ch, cw = crop.shape[:2]
            f = min((cell - 4) / cw, (cell - 4) / ch)
            tile = cv2.resize(
                crop,
                (max(1, round(cw * f)), max(1, round(ch * f))),
                interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR,
            )
            th, tw = tile.shape[:2]
            oy, ox = y0 + (cell - th) // 2, x0 + (cell - tw) // 2
            sheet[oy : oy + th, ox : ox + tw] = tile
            sim = "" if s.similarity is None else f" sim {s.similarity:.2f}"
            turn = f" r{s.angle:g}" if s.angle else ""
            lines = (
                f"f{s.frame} {s.time:.2f}s score {s.score:.2f}",
                f"{s.detector.split('@')[0]}{turn} {'in' if s.side == 'input' else 'out'}{sim}",
            )
            for j, (text, size, colour) in enumerate(zip(lines, (0.4, 0.35), ((255, 255, 255), (190, 190, 190)))):
                cv2.putText(sheet, text, (x0 + 4, y0 + cell + 13 + 15 * j), font, size, colour, 1, cv2.LINE_AA)
        return sheet




def verify(
    output: str | Path,
    against: str | Path | None = None,
    *,
    every: int = 1,
    report: str | Path | None = None,
    sheet: str | Path | None = None,
    progress: bool = False,
    settings: VerifySettings | None = None,
    sheet_cap: int = 48,
    on_decode_error: Literal["fail", "blackout"] = "fail",
) -> VerifyResult:
    """Scan ``output`` for faces that are still visible; write a JSON report and, if any, a contact sheet.

    With ``against`` (the video ``output`` was made from) both are decoded in
    lockstep and a box is a suspect only where the output still looks like
    the input; faces found in the input whose centre is unchanged in the
    output are suspects too.  Raises ``InputError`` when either file cannot
    be read or the two do not match frame for frame, ``ConfigError`` for bad
    arguments.  ``on_decode_error`` is how the *input* is read, as the run
    that made ``output`` read it (``detect.on_decode_error``): with
    ``blackout`` its damaged frames come through black, as they were written,
    instead of stopping the check.
    """
    if every < 1:
        raise ConfigError(f"every must be at least 1, got {every}")
    settings = settings or VerifySettings()
    t_start = time.perf_counter()
    out_info = probe(output)
    in_info = probe(against) if against is not None else None
    if in_info is not None:
        _check_pair(out_info, in_info)
    report, sheet = _outputs(out_info, in_info, report, sheet)
    width, height = (in_info.width, in_info.height) if in_info is not None else (out_info.width, out_info.height)

    timings = {"load": 0.0, "detect_output": 0.0, "detect_input": 0.0, "compare": 0.0}
    ensemble = Ensemble(settings.probes, against=in_info is not None)
    suspects: list[Suspect] = []
    crops = _Sheet(sheet_cap)
    frames = scanned = 0
    try:
        t0 = time.perf_counter()
        ensemble.load()
        timings["load"] = time.perf_counter() - t0
        with (
            logging_redirect_tqdm(),
            decode(out_info, "verify", progress) as out_reader,
            (
                decode(in_info, on_damage=on_decode_error) if in_info is not None else contextlib.nullcontext()
            ) as in_reader,
        ):
            for fo, fi in _lockstep(out_reader, in_reader):
                frames += 1
                if fo.index % every:
                    continue
                scanned += 1
                found = _scan_frame(fo, fi, width, height, ensemble, settings, timings)
                suspects += found
                for s in found:
                    crops.offer(s, fo.image)
    finally:
        ensemble.close()
    if frames != out_info.frame_count:
        log.info("%s: decoded %d frames (container said %d)", out_info.path.name, frames, out_info.frame_count)

    suspects.sort(key=lambda s: (s.frame, -s.score))
    t0 = time.perf_counter()
    sheet_written = _write_sheet(sheet, crops, suspects, out_info.path.name)
    timings["sheet"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hashes = [sha256_file(out_info.path), sha256_file(in_info.path) if in_info is not None else None]
    timings["hash"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    timings = {k: round(v, 3) for k, v in timings.items()}
    result = VerifyResult(
        out_info.path, in_info.path if in_info else None, frames, scanned, suspects, report, sheet_written, timings
    )
    write_atomic(report, _report_json(result, out_info, in_info, settings, every, *hashes).encode("utf-8"))
    return result


def _outputs(out_info: VideoInfo, in_info: VideoInfo | None, report, sheet) -> tuple[Path, Path]:
    """Where the report and the sheet go, checked writable and clear of both videos before any work."""
    report = Path(report) if report is not None else default_report_path(out_info.path)
    sheet = Path(sheet) if sheet is not None else default_sheet_path(out_info.path)
    if report.resolve() == sheet.resolve():
        raise ConfigError(f"{report}: the report and the contact sheet need different paths")
    for path in (report, sheet):
        check_output(path, out_info.path)
        if in_info is not None:
            check_output(path, in_info.path)
    return report, sheet


def _write_sheet(sheet: Path, crops: _Sheet, suspects: list[Suspect], name: str) -> Path | None:
    """The contact sheet of the suspects, or none (and an old one removed: it would contradict a clean report)."""
    if not suspects:
        if sheet.is_file():
            sheet.unlink()
        return None
    title = f"redact verify: {name} - VISIBLE FACES, do not publish or share this sheet"
    ok, png = cv2.imencode(".png", crops.render(title, len(suspects)))
    if not ok:
        raise RedactError(f"{sheet}: could not encode the contact sheet")
    write_atomic(sheet, png.tobytes())
    return sheet


def _scan_frame(fo, fi, width, height, ensemble: Ensemble, settings: VerifySettings, timings) -> list[Suspect]:
    """Detect in the output (and the input), keep what passes the thresholds and the similarity test."""
    out_img = fo.image[:height, :width]
    t0 = time.perf_counter()
    sides = [("output", ensemble.detect(np.ascontiguousarray(out_img)))]
    t1 = time.perf_counter()
    timings["detect_output"] += t1 - t0
    if fi is not None:
        sides.append(("input", ensemble.detect(fi.image)))
        timings["detect_input"] += time.perf_counter() - t1
    t2 = time.perf_counter()
    grey_out = grey_in = None
    if fi is not None:
        grey_out = cv2.cvtColor(out_img, cv2.COLOR_BGR2GRAY)
        grey_in = cv2.cvtColor(fi.image, cv2.COLOR_BGR2GRAY)
    keep: list[tuple[Detections, str, np.ndarray]] = []
    for side, dets in sides:
        if not len(dets):
            continue
        wh = dets.xyxy[:, 2:] - dets.xyxy[:, :2]
        need = {p.label: ensemble.threshold(p, side) for p in settings.probes}
        mask = (wh.min(axis=1) >= settings.min_size) & (
            dets.score >= np.array([need[d] for d in dets.detector], np.float32)
        )
        dets = dets.filter(mask)
        if not len(dets):
            continue
        if grey_in is not None:
            sim = np.array([similarity(grey_out, grey_in, b, settings.core) for b in dets.xyxy], np.float32)
            ok = sim >= settings.similarity
            dets, sim = dets.filter(ok), sim[ok]
        else:
            sim = np.full(len(dets), np.nan, np.float32)
        keep.append((dets, side, sim))
    timings["compare"] += time.perf_counter() - t2
    if not keep:
        return []
    # One suspect per place: the same face found by several detectors, or in both pictures, is
    # reported once, by its most confident finding.
    merged = Detections.concat([d for d, _, _ in keep])
    sides = np.concatenate([np.full(len(d), s, object) for d, s, _ in keep])
    sim = np.concatenate([v for _, _, v in keep])
    out = []
    for i in _greedy_nms(merged.xyxy, merged.score, 0.3):
        b = merged.xyxy[i]
        x1, y1 = int(np.floor(b[0])), int(np.floor(b[1]))
        x2, y2 = min(width, int(np.ceil(b[2]))), min(height, int(np.ceil(b[3])))
        s = None if np.isnan(sim[i]) else float(sim[i])
        out.append(
            Suspect(
                fo.index,
                fo.time,
                (x1, y1, x2, y2),
                float(merged.score[i]),
                str(merged.detector[i]),
                str(sides[i]),
                s,
                float(merged.angle[i]),
            )
        )
    return out


def _greedy_nms(xyxy: np.ndarray, score: np.ndarray, iou: float) -> list[int]:
    """Indices kept by non-maximum suppression, most confident first."""
    boxes = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in xyxy]
    return np.asarray(cv2.dnn.NMSBoxes(boxes, score.tolist(), 0.0, iou), int).reshape(-1).tolist()


def _report_json(
    result: VerifyResult,
    out_info: VideoInfo,
    in_info: VideoInfo | None,
    settings: VerifySettings,
    every: int,
    out_sha: str,
    in_sha: str | None,
) -> str:
    counts: dict[str, int] = {}
    for s in result.suspects:
        counts[str(s.frame)] = counts.get(str(s.frame), 0) + 1
    doc = {
        "type": "verify",
        "format": FORMAT_VERSION,
        "tool": "redact",
        "version": __version__,
        "verdict": "clean" if result.clean else "suspects",
        "output": {"file": out_info.path.name, "sha256": out_sha, "width": out_info.width, "height": out_info.height},
        "against": None if in_info is None else {"file": in_info.path.name, "sha256": in_sha},
        "settings": {**settings.to_json(), "every": every},
        "frames": result.frames,
        "frames_scanned": result.frames_scanned,
        "suspect_count": len(result.suspects),
        "frames_with_suspects": len(counts),
        "counts_per_frame": counts,
        "suspects": [s.to_json() for s in result.suspects],
        "sheet": None if result.sheet is None else result.sheet.name,
        "timings": result.timings,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
