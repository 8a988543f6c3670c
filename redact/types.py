"""Data that flows between the stages: plain dataclasses, no behaviour beyond shape checks.

Boxes are always ``float32`` arrays of ``[x1, y1, x2, y2]`` in pixels of the
*upright* frame (after rotation metadata has been applied), so every stage
speaks the same geometry as the audit log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np


class Kind(str, enum.Enum):
    """What a detection or track is; decides its style (``render.<kind>``) and how it is followed.

    A ``str`` enum, so kinds compare equal to their names in configs, saved
    analyses and audit logs.
    """

    FACE = "face"
    HEAD = "head"
    """A head placed by pose landmarks, as analyses saved by earlier versions name it (``pose_head``
    now reports faces, so that its boxes fuse and track with the face detectors')."""
    TEXT = "text"
    PLATE = "plate"
    BODY = "body"
    REGION = "region"
    """Marked by the operator."""
    FRAME = "frame"
    """The whole frame, blacked out because detection or decoding failed on it."""

    def __str__(self) -> str:
        return self.value


PLACED = "placed"
"""The ``Detections.data`` column marking a box that says where a face is but not its outline (a second
model's find, redrawn at the size last seen): it covers the face, but recognition must not align a face
on it.  Tracks keep it per detection (``Track.placed``)."""

FACE_KINDS = (Kind.FACE, Kind.HEAD)
"""Kinds that are a person's face or head: followed by the face model's windows, padded by their own size."""


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class Colour:
    """How the input's YUV values are to be read, as ffmpeg's codes (ITU-T H.273; 2 = unspecified).

    The render pass hands x264 the decoded YUV planes unconverted, so the
    output must say which matrix they use, or a player would show BT.709
    footage with BT.601's colours.  Only what the input specifies is carried.
    """

    matrix: int = 2
    primaries: int = 2
    transfer: int = 2


@dataclass(frozen=True)
class VideoInfo:
    """What the prober learnt about an input, in display orientation.

    ``width``/``height`` are the upright frame size (rotation already applied),
    ``fps`` is exact (29.97 is ``Fraction(30000, 1001)``), and ``frame_count``
    is the number of frames the reader will deliver for this ``fps``.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    duration: float
    rotation: int = 0
    variable_frame_rate: bool = False
    codec: str = ""
    start_offset: float = 0.0
    audio: AudioInfo | None = None
    dropped_streams: tuple[str, ...] = ()
    stream_index: int = 0
    """Index of the chosen video stream in the container (cover art is skipped)."""
    colour: Colour = Colour()

    def to_json(self) -> dict:
        return {
            "file": self.path.name,
            "width": self.width,
            "height": self.height,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "frame_count": self.frame_count,
            "duration": round(self.duration, 6),
            "rotation": self.rotation,
            "variable_frame_rate": self.variable_frame_rate,
            "codec": self.codec,
            "audio": None
            if self.audio is None
            else {"codec": self.audio.codec, "sample_rate": self.audio.sample_rate, "channels": self.audio.channels},
            "dropped_streams": list(self.dropped_streams),
        }


@dataclass
class Frame:
    """One decoded frame: BGR ``uint8`` (H, W, 3), index from 0, presentation time in seconds."""

    index: int
    image: np.ndarray
    time: float


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


def larger_sides(xyxy: np.ndarray) -> np.ndarray:
    """The larger side of each box (n, 4): what the size rules compare, since a face's box may be cut on one side."""
    return np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])


@dataclass
class Detections:
    """A struct of arrays for the detections of one frame.

    Kept as arrays rather than a list of objects so that fusion, filtering and
    matching are vectorised; ``filter`` takes a boolean mask like supervision.
    """

    xyxy: np.ndarray = field(default_factory=_empty_boxes)
    score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    detector: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    angle: np.ndarray | None = None
    """Degrees (counter-clockwise) the frame was turned for the detector to find each face upright;
    0 = found in the frame as it is (:mod:`redact.analyse.detectors.rotate`).  None fills in zeros."""
    track_id: np.ndarray | None = None
    """The track each row joined (:meth:`redact.analyse.track.Tracker.update`); -1 = not tracked yet."""
    data: dict[str, np.ndarray] = field(default_factory=dict)
    """Further per-row columns, e.g. ``placed`` (see ``PLACED``)."""

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.score = np.asarray(self.score, np.float32).reshape(-1)
        self.kind = np.asarray(self.kind, object).reshape(-1)
        self.detector = np.asarray(self.detector, object).reshape(-1)
        self.angle = np.zeros(n, np.float32) if self.angle is None else np.asarray(self.angle, np.float32).reshape(-1)
        self.track_id = (
            np.full(n, -1, np.int64) if self.track_id is None else np.asarray(self.track_id, np.int64).reshape(-1)
        )
        self.data = {k: np.asarray(v).reshape(-1) for k, v in self.data.items()}
        columns = {"score": self.score, "kind": self.kind, "detector": self.detector, "angle": self.angle,
                   "track_id": self.track_id, **{f"data[{k!r}]": v for k, v in self.data.items()}}
        for name, column in columns.items():
            if len(column) != n:
                raise ValueError(f"Detections.{name} has {len(column)} rows, xyxy has {n}")

    @classmethod
    def of(cls, xyxy, score, kind: str, detector: str) -> Detections:
        """Build detections that all share one kind and detector name."""
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        n = len(xyxy)
        return cls(xyxy, score, np.full(n, kind, object), np.full(n, detector, object))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> Detections:
        """Rows by boolean mask, index array or slice, every column alike (as supervision's ``Detections``)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(self.xyxy[index], self.score[index], self.kind[index], self.detector[index],
                          self.angle[index], self.track_id[index], {k: v[index] for k, v in self.data.items()})

    def filter(self, mask: np.ndarray) -> Detections:
        return self[mask]

    def column(self, name: str, default=False) -> np.ndarray:
        """A ``data`` column, or ``default`` on every row where it was never set."""
        return self.data[name] if name in self.data else np.full(len(self), default)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections()
        keys = sorted({k for p in parts for k in p.data})
        return Detections(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.kind for p in parts]),
            np.concatenate([p.detector for p in parts]),
            np.concatenate([p.angle for p in parts]),
            np.concatenate([p.track_id for p in parts]),
            {k: np.concatenate([p.column(k) for p in parts]) for k in keys},
        )


@dataclass
class Track:
    """Every observation of one object, in frame order.

    A track only ever holds real detections; the boxes for frames between and
    around them are derived at render time (interpolation and extension), so
    the audit can tell a seen box from an inferred one.
    """

    id: int
    kind: str
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    detectors: list[str] = field(default_factory=list)
    label: str = ""
    """What the operator called a marked region (``tattoo``); empty for detected objects."""
    placed: list[bool] = field(default_factory=list)
    """Per detection: only placed where a face is, not outlined (see ``PLACED``)."""

    def add(self, frame: int, box: np.ndarray, score: float, detector: str, placed: bool = False) -> None:
        self.frames.append(frame)
        self.boxes.append(np.asarray(box, np.float32))
        self.scores.append(float(score))
        self.detectors.append(detector)
        self.placed.append(bool(placed))

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            **({"label": self.label} if self.label else {}),
            "frames": self.frames,
            "boxes": [[round(float(v), 2) for v in b] for b in self.boxes],
            "scores": [round(s, 4) for s in self.scores],
            "detectors": self.detectors,
            **({"placed": [i for i, p in enumerate(self.placed) if p]} if any(self.placed) else {}),
        }

    @classmethod
    def from_json(cls, d: dict) -> Track:
        # Analyses saved before the ``placed`` list flagged such boxes with a suffix on the detector name.
        legacy = "@placed"
        detectors = [x.removesuffix(legacy) for x in d["detectors"]]
        placed = set(d.get("placed", ())) | {i for i, x in enumerate(d["detectors"]) if x.endswith(legacy)}
        return cls(
            id=int(d["id"]),
            kind=d["kind"],
            frames=list(d["frames"]),
            boxes=[np.asarray(b, np.float32) for b in d["boxes"]],
            scores=list(d["scores"]),
            detectors=detectors,
            label=d.get("label", ""),
            placed=[i in placed for i in range(len(detectors))],
        )


class Reason(str, enum.Enum):
    """Why a track is redacted or kept, or why a region was painted: what the audit log records."""

    DEFAULT = "redact-all"
    """No reference photos were given: every detected object is redacted."""
    MATCHED = "matched"
    """Keep mode: matched ``label`` at ``score``.  Only-redact mode: matched a listed person, so redacted."""
    NOT_LISTED = "not-listed"
    """Only-redact mode: confidently none of the listed people."""
    UNKNOWN = "unknown"
    """Scored, but matched no reference person well enough."""
    BELOW_SIZE = "below-size"
    """Never large enough to score (``identity.min_face``)."""
    UNSCORABLE = "unscorable"
    """Large enough, but every sample was blurred or turned away."""
    FEW = "too-few-samples"
    INCONSISTENT = "inconsistent"
    """The samples disagree (for example two people in one track)."""
    AMBIGUOUS = "ambiguous"
    """Two reference people score too close to tell apart."""
    OPERATOR = "operator"
    """An operator override from a decisions file."""
    NOT_FACE = "not-a-face"
    """Identity applies to faces only; other kinds are always redacted."""
    UNCONFIRMED = "unconfirmed"
    """A frame of a kept track that no matching sample vouched for: redacted there."""
    BRIDGE = "bridge"
    """A box carried across a gap between two tracks of one face (``render.bridge_gap``)."""
    DECODE_ERROR = "decode-error"
    """The whole frame, blacked out: it could not be decoded."""
    DETECTOR_ERROR = "detector-error"
    """The whole frame, blacked out: a detector failed on it."""

    def __str__(self) -> str:
        return self.value


class Action(str, enum.Enum):
    REDACT = "redact"
    KEEP = "keep"


@dataclass(frozen=True)
class Decision:
    """What to do with one whole track, and why (the why goes to the audit log).

    A ``KEEP`` track is shown only on the frames inside ``visible`` (inclusive
    ``(first, last)`` frame ranges, each bracketed by samples that confirmed
    the identity); on every other frame of the track it is redacted.
    """

    track_id: int
    action: Action
    reason: Reason
    label: str | None = None
    score: float | None = None
    visible: tuple[tuple[int, int], ...] = ()

    def shown_at(self, frame: int) -> bool:
        return self.action is Action.KEEP and any(a <= frame <= b for a, b in self.visible)

    def to_json(self) -> dict:
        return {
            "track": self.track_id,
            "action": self.action.value,
            "reason": self.reason,
            "label": self.label,
            "score": None if self.score is None else round(self.score, 4),
            "visible": [list(r) for r in self.visible],
        }


@dataclass(frozen=True)
class IdentitySample:
    """One scored look at a track's face: quality facts and a similarity per reference person.

    Holds numbers only: no pixels and no descriptor, so it may be saved with
    the analysis and shown in the review without carrying biometric data.
    """

    frame: int
    height: float
    sharpness: float
    yaw: float
    usable: bool
    """Large, sharp and frontal enough to be scored; unusable samples never keep a face visible."""
    scores: dict[str, float] = field(default_factory=dict)
    """Reference label -> cosine similarity (best over that person's photos)."""
    pooled: dict[str, float] = field(default_factory=dict)
    """Similarity of the mean descriptor of this sample and its usable neighbours in the track
    (:mod:`redact.analyse.identity.pool`): sensor noise averages out, the person does not."""
    sided: dict[str, float] = field(default_factory=dict)
    """The lower of two one-sided pools (this sample with its neighbours before it; with those
    after it), so that a pool straddling a swap to another person cannot confirm the newcomer."""

    @property
    def track_scores(self) -> dict[str, float]:
        """What the track-level decision reads: the pooled similarities, or the sample's own without a pool."""
        return self.pooled or self.scores

    @property
    def confirm_scores(self) -> dict[str, float]:
        """What confirms a sample inside a kept track: the one-sided pools, or the sample's own without a pool."""
        return self.sided or self.scores

    def to_json(self) -> dict:
        out = {
            "frame": self.frame,
            "height": round(self.height, 1),
            "sharpness": round(self.sharpness, 1),
            "yaw": round(self.yaw, 3) if self.yaw != float("inf") else None,
            "usable": self.usable,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
        }
        if self.pooled:
            out["pooled"] = {k: round(v, 4) for k, v in self.pooled.items()}
            out["sided"] = {k: round(v, 4) for k, v in self.sided.items()}
        return out

    @classmethod
    def from_json(cls, d: dict) -> IdentitySample:
        yaw = d["yaw"]
        return cls(
            frame=int(d["frame"]),
            height=float(d["height"]),
            sharpness=float(d["sharpness"]),
            yaw=float("inf") if yaw is None else float(yaw),
            usable=bool(d["usable"]),
            scores={k: float(v) for k, v in d["scores"].items()},
            pooled={k: float(v) for k, v in d.get("pooled", {}).items()},
            sided={k: float(v) for k, v in d.get("sided", {}).items()},
        )


class Source(str, enum.Enum):
    """Where a rendered box came from, so the audit separates seen from inferred."""

    DETECTED = "detected"
    INTERPOLATED = "interpolated"
    EXTENDED = "extended"
    BRIDGED = "bridged"
    FAILSAFE = "failsafe"


@dataclass(frozen=True)
class Region:
    """One area of one output frame to redact (integer pixel box, clipped to the frame)."""

    box: tuple[int, int, int, int]
    kind: str
    track_id: int | None
    source: Source
    detector: str | None
    score: float | None
    reason: Reason

    def to_json(self) -> dict:
        return {
            "box": list(self.box),
            "kind": self.kind,
            "track": self.track_id,
            "source": self.source.value,
            "detector": self.detector,
            "score": None if self.score is None else round(self.score, 4),
            "reason": self.reason,
        }


@dataclass
class Analysis:
    """The result of pass 1: enough to decide and render without detecting again."""

    video: VideoInfo
    tracks: list[Track]
    failed_frames: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    identities: dict[int, list[IdentitySample]] = field(default_factory=dict)
    """Track id -> its scored samples; empty when no reference photos were given."""
    people: dict | None = None
    """The reference people as recorded (mode, labels, photo names and hashes; never descriptors)."""
    engines: dict[str, str] = field(default_factory=dict)
    """Detector plug-in -> what ran its model (``openvino bf16``); recorded, since precision
    depends on the CPU."""

    @property
    def mode(self) -> str | None:
        """``keep``, ``only-redact``, or None when no reference photos were given."""
        return None if self.people is None else self.people["mode"]


@dataclass
class RunResult:
    """What one redacted video came to: where it and its audit log are, and what it took."""

    output: Path
    audit_log: Path
    frames: int
    tracks: int
    regions: int
    timings: dict[str, float] = field(default_factory=dict)
