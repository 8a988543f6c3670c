"""Configuration: YAML presets -> validated, typed dataclasses.

Precedence is flag > ``--set`` > ``--config`` file > defaults.  A file holds
only the keys it changes: it is merged over the defaults section by section,
and a list it gives replaces the default list whole.  Every key is checked:
an unknown key, a value of the wrong type or one outside the range declared
beside its field (``Annotated[float, Range(0.0, 1.0)]``) is a ``ConfigError``
naming the full key path (``render.padding``), because a typo that silently
falls back to a default could mean a face left visible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from redact.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a number field, declared in its annotation: ``Annotated[int, Range(0, 51)]``."""

    lo: float
    hi: float

    def error(self, value: Any) -> str | None:
        # Written so that NaN, which compares false with everything, is outside.
        return None if self.lo <= value <= self.hi else f"{value} is outside [{self.lo}, {self.hi}]"


@dataclass(frozen=True)
class Rule:
    """A condition on a field that is not a plain range (a list's length, angles), and what it expects."""

    ok: Callable[[Any], bool]
    expected: str

    def error(self, value: Any) -> str | None:
        return None if self.ok(value) else self.expected


BGR = Rule(lambda c: len(c) == 3 and all(0 <= v <= 255 for v in c), "expected three values 0-255 (B, G, R)")
ANGLES = Rule(
    lambda a: bool(a) and all(0 <= v < 360 for v in a),
    "expected one or more angles in [0, 360) degrees, e.g. [0, 90, 180, 270]",
)
TURNS = Rule(lambda a: all(0 < v < 360 for v in a), "expected angles in (0, 360) degrees, e.g. [90, 270, 180], or []")
AT_LEAST_ONE_DETECTOR = Rule(bool, "at least one detector is required")


@dataclass
class DetectorConfig:
    name: str = "blazeface_full"
    """Registered plug-in name (see ``redact detectors``)."""
    threshold: Annotated[float, Range(0.0, 1.0)] = 0.5
    """Minimum detector score kept; low, because a missed face costs more than a redacted wall."""
    scale: Annotated[float, Range(0.05, 4.0)] = 1.0
    """Resize factor applied to the frame (or tile) before the model."""
    tiles: Annotated[int, Range(1, 8)] = 1
    """Also run on an N x N grid of overlapping tiles (1 = whole frame only); finds small faces."""
    tile_overlap: Annotated[float, Range(0.0, 0.5)] = 0.25
    """Overlap between neighbouring tiles, as a fraction of a tile."""
    every: Annotated[int, Range(1, 1000)] = 1
    """Run on every N-th frame; the tracker and gap filling cover the frames between."""
    preprocess: Literal["none", "clahe"] = "none"
    """``clahe`` equalises contrast locally before the model (night, infrared, underexposed footage)."""
    classes: list[str] = field(default_factory=list)
    """Only for plug-ins that find several classes (``nudenet``): the ones to redact; empty = its default set."""
    rotations: Annotated[list[float], ANGLES] = field(default_factory=lambda: [0.0])
    """Angles (degrees, counter-clockwise) the frame is turned by before the model, one pass each; 0 = as it
    is.  Upright-trained models lose faces turned past about 45 degrees (people lying or upside down)."""
    candidates: Annotated[float, Range(0.0, 1.0)] = 0.0
    """Boxes scoring from this up to ``threshold`` get a second look, enlarged, and are kept if found again
    there (``detectors/confirm.py``): small faces blurred by shake or sunk in the dark; 0 = off."""


def _default_detectors() -> list[DetectorConfig]:
    # A full-size sweep every 6th frame discovers faces; a 0.4-scale sweep on
    # every frame follows them; the full-size frame turned a quarter, a half
    # and three quarters every 12th frame discovers faces lying on their side
    # or upside down (see configs/default.yaml and BENCHMARKS.md).
    return [
        DetectorConfig(name="centerface", threshold=0.15, scale=1.0, every=6, candidates=0.05),
        DetectorConfig(name="centerface", threshold=0.2, scale=0.4),
        DetectorConfig(name="centerface", threshold=0.15, scale=1.0, every=12, rotations=[90.0, 180.0, 270.0],
                       candidates=0.05),
    ]


@dataclass
class RefineConfig:
    """Detection in small windows around the faces already being tracked.

    A strided whole-frame sweep finds new faces; between sweeps, each small,
    recently seen, confidently detected track gets the detector on a window
    around its predicted position, enlarged by ``upscale``.  That keeps small
    faces detected every frame for a fraction of a whole-frame pass.
    """

    detector: str = "centerface"
    """Registered plug-in run in the windows; ``none`` turns refinement off."""
    threshold: Annotated[float, Range(0.0, 1.0)] = 0.2
    """Minimum score kept in a window."""
    follow_threshold: Annotated[float, Range(0.0, 1.0)] = 0.1
    """Minimum score of a box where the followed face should be (its centre near the prediction, a similar
    size): the track already says a face is there, so weaker evidence keeps it, at less over-redaction
    than a lower ``threshold`` everywhere.  Equal to ``threshold`` = no difference."""
    follow_look: bool = True
    """Where no model finds a small followed face any more (smeared by motion, sunk in the dark), place it
    where the patch most like its last detected look is (``analyse/follow.py``), for up to 12 frames."""
    input_size: Annotated[int, Range(32, 1024)] = 128
    """Side (px) every window is resized to before the model: a small face gets enlarged to
    about ``input_size / context`` px, and one fixed shape keeps the model's memory plan reused."""
    context: Annotated[float, Range(1.5, 10.0)] = 3.0
    """Window side, as a multiple of the track's box size (grows with frames unseen)."""
    max_face: Annotated[int, Range(0, 100_000)] = 64
    """Tracks shorter than this (px) get windows; taller ones, which the whole-frame detectors follow,
    only on a frame where one of those ran and lost them."""
    min_score: Annotated[float, Range(0.0, 1.0)] = 0.35
    """Only tracks whose best detection scored at least this (one low-score hit on a wall is not followed)."""
    max_gap: Annotated[int, Range(0, 100_000)] = 8
    """Only tracks seen within this many frames; older ones wait for the next whole-frame sweep."""
    first_reach: Annotated[float, Range(0.0, 10.0)] = 2.5
    """On the frame after a track is found, or found again after a gap, its motion is unknown: its window
    reaches this many face sizes each way (at the same magnification, so a larger model input).
    0 gives it an ordinary window."""
    slow: Annotated[float, Range(0.0, 0.5)] = 0.25
    """A track detected 3+ times in a row whose box edges move less than this share of its size a frame
    gets a window every other frame; the render interpolates the frame between.  0 = every frame.
    Runs that recognise people from photos ignore it: each sighting is a sample of the face."""
    fallback: str = "blazeface_short"
    """Second plug-in run in a window where the first found nothing near the followed face (a face
    smeared by motion that CenterFace no longer scores); ``none`` turns it off."""
    fallback_threshold: Annotated[float, Range(0.0, 1.0)] = 0.5
    """Minimum score the fallback's boxes need; only boxes near the followed face are kept."""
    turns: Annotated[list[float], TURNS] = field(default_factory=lambda: [45.0, 315.0, 90.0, 270.0, 180.0])
    """A window whose model finds nothing at the followed face's own angle tries it turned by these
    further angles (degrees, in order, until one finds it): a head that rolls over keeps its track."""


@dataclass
class DetectConfig:
    detectors: Annotated[list[DetectorConfig], AT_LEAST_ONE_DETECTOR] = field(default_factory=_default_detectors)
    refine: RefineConfig = field(default_factory=RefineConfig)
    """Windows around tracked faces on the frames a whole-frame detector skips."""
    fusion_iou: Annotated[float, Range(0.0, 1.0)] = 0.4
    """Boxes of different detectors overlapping more than this are merged before tracking."""
    on_error: Literal["fail", "blackout"] = "fail"
    """A detector error fails the job, or blacks out the whole frame; never passes it unredacted."""
    on_decode_error: Literal["fail", "blackout"] = "fail"
    """A frame the decoder reports damaged (or a missing one) fails the job, or is written black
    with frame count and timing kept; a concealed, half-decoded frame is never passed on."""
    engine: Literal["openvino", "onnxruntime"] = "openvino"
    """What runs the ONNX models (CenterFace, text, NudeNet): OpenVINO is 2-5x faster on
    the CPUs measured (:mod:`redact.analyse.detectors.engine`); onnxruntime is the fallback."""
    precision: Literal["auto", "f32"] = "auto"
    """auto: OpenVINO computes in bfloat16 where the CPU does so natively, float32 elsewhere;
    f32: always float32, so results do not depend on the CPU's instruction set."""
    compile_cache: bool = True
    """Keep OpenVINO's compiled models between runs (``~/.cache/redact/openvino``;
    ``REDACT_CACHE_DIR`` moves it): saves ~0.6 s a video; only public model weights in it."""


@dataclass
class TrackConfig:
    match_iou: Annotated[float, Range(0.0, 1.0)] = 0.15
    """Minimum IoU between a track's predicted box and a detection to continue the track."""
    max_coast: Annotated[int, Range(0, 100_000)] = 30
    """Frames a track is kept alive without a detection (motion-predicted meanwhile)."""


@dataclass
class KindStyle:
    """How one kind of identifying mark other than a face is painted out."""

    style: Literal["fill", "solid", "pixelate", "blur"] = "solid"
    """solid by default: pixelated or blurred text can be read back (Depix; Hill et al. 2016)."""
    shape: Literal["ellipse", "box"] = "box"
    """Text, plates and bodies are boxes; an ellipse would leave their corners."""
    padding: Annotated[float, Range(0.0, 5.0)] = 0.5
    """Grow every box on each side by this fraction of its *shorter* side (a text line's height)."""
    color: Annotated[list[int], BGR] = field(default_factory=lambda: [0, 0, 0])
    """BGR colour of the ``solid`` style."""


@dataclass
class RenderConfig:
    style: Literal["fill", "solid", "pixelate", "blur"] = "fill"
    """fill: flat colour from pixels around the region (irreversible, default);
    solid: ``color``; pixelate and blur: weaker, a model can partly undo them."""
    shape: Literal["ellipse", "box"] = "ellipse"
    """An ellipse is drawn around the padded box, never inside it, so the box stays covered."""
    padding: Annotated[float, Range(0.0, 5.0)] = 0.2
    """Grow every box by this fraction of its width/height on each side."""
    extend_before: Annotated[int, Range(0, 100_000)] = 12
    """Frames to cover before a track's first detection (faces enter before they are detected)."""
    extend_after: Annotated[int, Range(0, 100_000)] = 8
    """Frames to cover after a track's last detection."""
    hold_after: Annotated[int, Range(0, 100_000)] = 50
    """Frames to cover after the last detection of an established face track (``hold_detections``)
    that was lost slowly inside the frame, instead of ``extend_after`` (until another face shows
    where it was lost); 0 = as any other track."""
    hold_detections: Annotated[int, Range(1, 100_000)] = 10
    """Detections that make a face track established for ``hold_after``; a track that picks up where an
    established one was lost, within its hold, is established too."""
    bridge_gap: Annotated[int, Range(0, 100_000)] = 12
    """Cover the path between a face track that ends and one that starts within this many
    frames nearby (:mod:`redact.render.bridges`); 0 = never."""
    bridge_speed: Annotated[float, Range(0.0, 100.0)] = 1.0
    """Fastest a bridged face may move, in face sizes a frame beyond the first."""
    color: Annotated[list[int], BGR] = field(default_factory=lambda: [0, 0, 0])
    """BGR colour of the ``solid`` style."""
    text: KindStyle = field(default_factory=lambda: KindStyle(padding=0.4))
    """Text, badges and ID numbers (``text`` detections)."""
    plate: KindStyle = field(default_factory=lambda: KindStyle(padding=0.3))
    """Licence plates (``plate`` detections)."""
    body: KindStyle = field(default_factory=lambda: KindStyle(padding=0.15))
    """Exposed bodies (``body`` detections)."""
    region: KindStyle = field(default_factory=lambda: KindStyle(padding=0.15))
    """Operator-marked regions (``regions.redact``); whole-frame spans ignore padding."""

    def kind_style(self, kind: str) -> KindStyle:
        """The style of a kind: faces and heads use the top-level keys, marks their own section."""
        if kind in ("text", "plate", "body", "region"):
            return getattr(self, kind)
        return KindStyle(self.style, self.shape, self.padding, self.color)


@dataclass
class MarkedRegion:
    """An area the operator marks: followed by a tracker from time ``t``, or fixed over a time span.

    Coordinates are pixels of the upright frame.  Omit the box (x, y, w, h)
    to black out the whole frame over ``start``-``end``.
    """

    label: str = "region"
    """Free text recorded in the audit log (``tattoo``, ``scar``, ``name on wall``)."""
    mode: Literal["track", "static"] = "track"
    """track: follow the box forwards and backwards from ``t`` until lost; static: keep it in place."""
    t: float | None = None
    """Seconds into the video where the box is given (``track`` mode)."""
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    start: float | None = None
    """Start of the span in seconds (``static``: where it applies; ``track``: how far back to follow).
    Empty = the beginning."""
    end: float | None = None
    """End of the span in seconds, inclusive; empty = the end of the video."""

    @property
    def whole_frame(self) -> bool:
        return self.x is None and self.y is None and self.w is None and self.h is None


@dataclass
class ProtectedRegion:
    """An area whose *text* is evidence and must stay (a body-camera timestamp overlay).

    Text detections lying at least 80 % inside are not redacted; faces,
    plates, bodies and operator regions always are.
    """

    label: str = "protected"
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    start: float | None = None
    end: float | None = None


@dataclass
class RegionsConfig:
    redact: list[MarkedRegion] = field(default_factory=list)
    """Operator-marked regions to redact (``--region``); tracked or static."""
    protect: list[ProtectedRegion] = field(default_factory=list)
    """Areas whose text stays (``--protect``); never exempts a face."""
    tracker: Literal["csrt", "kcf", "mil"] = "csrt"
    """OpenCV tracker that follows a ``track`` region (csrt: slowest, most faithful)."""
    max_seconds: Annotated[float, Range(0.0, 1e6)] = 60.0
    """Follow a tracked region at most this far each way from ``t``."""
    min_overlap: Annotated[float, Range(0.0, 1.0)] = 0.3
    """Stop following when the tracker's box keeps less than this share of its size or confidence."""


@dataclass
class AudioRange:
    start: float = 0.0
    """Seconds, inclusive."""
    end: float = 0.0
    """Seconds, exclusive."""
    action: Literal["mute", "bleep", "disguise"] = "bleep"
    label: str = ""
    """Free text for the audit log (``name spoken``)."""


@dataclass
class AudioConfig:
    """What happens to the soundtrack: voices and spoken names identify people too."""

    action: Literal["keep", "mute", "bleep", "disguise"] = "keep"
    """Applied to the whole track; ``ranges`` add to it."""
    ranges: list[AudioRange] = field(default_factory=list)
    """Time ranges with their own action (``--audio-range 01:12.5-01:13.4=bleep``)."""
    bleep_hz: Annotated[float, Range(50.0, 20000.0)] = 1000.0
    """Frequency of the bleep tone."""
    bleep_level: Annotated[float, Range(0.0, 1.0)] = 0.25
    """Amplitude of the bleep tone, as a fraction of full scale."""
    pitch: Annotated[float, Range(0.5, 2.0)] = 0.75
    """Voice disguise: pitch factor (below 1 lowers the voice); duration is kept exactly."""


@dataclass
class IdentityConfig:
    """When a track may be kept visible (``--keep``) or left alone (``--only-redact``).

    Used only when reference photos are given.  Similarities are cosines of
    L2-normalised dlib face descriptors; the threshold comes from impostor
    pairs on the bench photos (``pipelines/calibrate_identity.py``), with a
    margin above the most similar impostor pair.
    """

    threshold: Annotated[float, Range(0.5, 1.0)] = 0.945
    """A sample matches a person at this cosine similarity or more."""
    confirm: Annotated[float, Range(0.5, 1.0)] = 0.92
    """Inside a kept track, a sample at this similarity or more confirms it is still that person."""
    distinct: Annotated[float, Range(0.5, 1.0)] = 0.90
    """``--only-redact``: a face counts as none of the listed people only below this similarity."""
    margin: Annotated[float, Range(0.0, 0.5)] = 0.02
    """The best person's median must beat the runner-up's by this much (keep mode)."""
    min_samples: Annotated[int, Range(1, 10_000)] = 3
    """Usable samples a track needs before any decision other than redact."""
    agree: Annotated[float, Range(0.5, 1.0)] = 0.6
    """Share of a track's usable samples that must match the same person."""
    min_face: Annotated[int, Range(24, 100_000)] = 48
    """Faces shorter than this (px) are not scored, and stay redacted even inside a kept track."""
    min_sharpness: Annotated[float, Range(0.0, 100_000.0)] = 10.0
    """Samples whose aligned chip is blurrier than this (variance of the Laplacian) are not scored."""
    max_yaw: Annotated[float, Range(0.0, 10.0)] = 0.35
    """Samples turned further than this (nose offset in eye distances) are not scored."""
    sample_every: Annotated[int, Range(1, 100_000)] = 5
    """Score every N-th detection of a track (more often catches an identity change sooner)."""
    max_samples: Annotated[int, Range(1, 100_000)] = 60
    """Cap on the samples scored per track (the stride grows for long tracks)."""
    max_bridge: Annotated[int, Range(1, 100_000)] = 50
    """A kept face is shown only between two matching samples at most this many frames apart (unscorable samples
    in between are passed over; a scored sample that fails breaks the stretch)."""
    pool: Annotated[int, Range(0, 50)] = 2
    """Usable neighbours on each side whose descriptors are averaged with a sample's (0: each sample alone)."""
    stack: Annotated[int, Range(0, 10)] = 2
    """Neighbouring detections on each side whose aligned chips are median-stacked with a sample's (0: its own)."""


@dataclass
class EncodeConfig:
    crf: Annotated[int, Range(0, 51)] = 20
    """x264 constant rate factor: lower is better quality and bigger files."""
    preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "veryfast"
    """x264 speed/size trade-off."""
    audio: Literal["copy", "aac", "drop"] = "copy"
    """copy keeps the audio bit-exact (re-encoding to AAC when MP4 cannot hold the codec)."""
    audio_bitrate: str = "160k"
    """AAC bitrate used whenever audio is re-encoded."""


def _default_image_detectors() -> list[DetectorConfig]:
    # A picture is seen once, with no tracker to cover a miss: every sweep runs on it, at full size, on an
    # upscaled copy for the smallest faces, and turned for faces lying down (see configs/default.yaml).
    return [
        DetectorConfig(name="centerface", threshold=0.1, scale=1.0),
        DetectorConfig(name="centerface", threshold=0.12, scale=2.0),
        DetectorConfig(name="centerface", threshold=0.1, scale=1.0, rotations=[90.0, 180.0, 270.0]),
    ]


@dataclass
class ImageConfig:
    """Still pictures (JPEG, PNG, WebP, TIFF, HEIF): how they are searched and written.

    A picture has no neighbouring frames to fill a miss from, so it gets every
    sweep a video spreads over its frames, on the same picture.  Face
    detectors come from here; the mark detectors of ``detect.detectors``
    (text, plates, bodies: every plug-in that is not a face or head
    detector) run on pictures too, once each, whatever their ``every``.
    """

    detectors: Annotated[list[DetectorConfig], AT_LEAST_ONE_DETECTOR] = field(
        default_factory=_default_image_detectors
    )
    """Face sweeps run on every picture (``every`` is ignored: each runs once)."""
    tile_pixels: Annotated[int, Range(1_000_000, 100_000_000)] = 8_500_000
    """The most pixels one model input may have (picture pixels x the sweep's scale squared); a sweep
    over it runs on overlapping tiles plus the whole picture shrunk to it, so its memory stays bounded.
    8.5 MP: a 1080p picture enlarged twice runs whole (1.3 GB of activations for CenterFace)."""
    max_pixels: Annotated[int, Range(1, 178_956_970)] = 120_000_000
    """Pictures with more pixels are refused before decoding (a decompression bomb promises
    30,000 x 30,000 in a few bytes); 120 MP holds a 108 MP phone photo.  Pillow refuses over 178.9 MP."""
    jpeg_quality: Annotated[int, Range(1, 100)] = 92
    """Quality of re-encoded JPEG, lossy WebP and HEIF pictures (each is encoded once)."""
    icc: Literal["keep", "drop"] = "keep"
    """keep: a colour profile other than sRGB is written back (wide-gamut colours stay right);
    drop: never.  An sRGB profile is always dropped (see :mod:`redact.io.images`)."""


@dataclass
class Config:
    detect: DetectConfig = field(default_factory=DetectConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    regions: RegionsConfig = field(default_factory=RegionsConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    image: ImageConfig = field(default_factory=ImageConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form; identical settings hash identically."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def load(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), base: Config | None = None
) -> Config:
    """Defaults (or ``base``), then the YAML file, then ``key.path=value`` overrides; validated at each step.

    Overrides are applied to the complete resolved tree (file merged over
    defaults), so ``--set detect.detectors.2.tiles=3`` addresses the third
    detector of *this* config, and a path that does not exist is an error.
    """
    tree = base.to_dict() if base is not None else {}
    if path is not None:
        tree = _merge(tree, _read_yaml(Path(path)))
    config = from_dict(tree)
    if not overrides:
        return config
    tree = config.to_dict()
    for item in overrides:
        _apply_override(tree, item)
    return from_dict(tree)


def _merge(base: dict, top: dict) -> dict:
    """``top`` over ``base``, section by section (lists are replaced whole)."""
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def from_dict(data: dict) -> Config:
    return _build(Config, data, "")


def read_yaml(path: Path, what: str = "config") -> Any:
    """A YAML file's content (None for an empty file); every failure is one ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: {what} is not UTF-8 text") from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e


def _read_yaml(path: Path) -> dict:
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _apply_override(tree: dict, item: str) -> None:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    parts = key.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if part not in node:
                raise ConfigError(f"{where}: unknown key (valid: {', '.join(sorted(node))})")
        elif isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(f"{where}: expected a list index, got {part!r}")
            if int(part) >= len(node):
                raise ConfigError(f"{where}: index {part} out of range (list has {len(node)} items)")
            part = int(part)
        else:
            raise ConfigError(f"{where}: {'.'.join(parts[:i])} is a single value, it has no keys")
        if last:
            node[part] = value
        else:
            node = node[part]


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"{where}: unknown key (valid: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(hints[k], v, f"{path}.{k}" if path else k) for k, v in data.items()}
    obj = cls(**kwargs)
    _validate(obj, path)
    return obj


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        return [_coerce(item_tp, v, f"{path}.{i}") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported type {tp}")  # pragma: no cover - schema bug


@cache
def _marks(cls: type) -> dict[str, tuple[Range | Rule, ...]]:
    """Each field's ``Range`` and ``Rule`` markers, read from its ``Annotated`` declaration."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {
        f.name: marks
        for f in dataclasses.fields(cls)
        if (marks := tuple(m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, (Range, Rule))))
    }


def _validate(obj: Any, path: str) -> None:
    """The markers declared beside each field, then the rules that tie several fields together."""
    for name, marks in _marks(type(obj)).items():
        for mark in marks:
            if (error := mark.error(getattr(obj, name))) is not None:
                raise ConfigError(f"{path}.{name}: {error}" if path else f"{name}: {error}")
    if isinstance(obj, MarkedRegion):
        _check_marked(obj, path)
    if isinstance(obj, ProtectedRegion) and (obj.w <= 0 or obj.h <= 0 or obj.x < 0 or obj.y < 0):
        raise ConfigError(f"{path}: a protected region needs x, y >= 0 and w, h > 0")
    if isinstance(obj, (ProtectedRegion, AudioRange, MarkedRegion)):
        _check_span(obj.start, obj.end, path, exclusive=isinstance(obj, AudioRange))
    if isinstance(obj, DetectorConfig) and obj.candidates >= obj.threshold > 0:
        raise ConfigError(f"{path}.candidates: {obj.candidates} must be below threshold ({obj.threshold})")
    if isinstance(obj, RefineConfig) and obj.follow_threshold > obj.threshold:
        raise ConfigError(f"{path}.follow_threshold: {obj.follow_threshold} must not exceed threshold ({obj.threshold})")
    if isinstance(obj, IdentityConfig) and not obj.distinct <= obj.confirm <= obj.threshold:
        raise ConfigError(f"{path}: expected distinct <= confirm <= threshold (a looser rule would keep more than it should)")
    if isinstance(obj, Config):
        # A face that appears on a frame a strided detector skips is first seen up to
        # every-1 frames later; backward extension must reach back that far.
        every = max(d.every for d in obj.detect.detectors)
        if every - 1 > obj.render.extend_before:
            raise ConfigError(
                f"render.extend_before: {obj.render.extend_before} frames cannot cover a face first seen by a "
                f"detector that runs every {every} frames; set it to at least {every - 1}"
            )


def _check_marked(r: MarkedRegion, path: str) -> None:
    box = (r.x, r.y, r.w, r.h)
    where = path or "region"
    if r.whole_frame:
        if r.mode != "static" or r.start is None or r.end is None:
            raise ConfigError(f"{where}: a region without a box blacks out the whole frame; "
                              "it needs mode static, start and end")
        return
    if any(v is None for v in box):
        raise ConfigError(f"{where}: give all of x, y, w, h (or none, for the whole frame)")
    if r.x < 0 or r.y < 0 or r.w <= 0 or r.h <= 0:  # type: ignore[operator]
        raise ConfigError(f"{where}: expected x, y >= 0 and w, h > 0")
    if r.mode == "track" and (r.t is None or r.t < 0):
        raise ConfigError(f"{where}: a tracked region needs t, the time (s) where its box is given")


def _check_span(start: float | None, end: float | None, path: str, exclusive: bool) -> None:
    for name, v in (("start", start), ("end", end)):
        if v is not None and v < 0:
            raise ConfigError(f"{path}.{name}: {v} is negative")
    if start is not None and end is not None and (end <= start if exclusive else end < start):
        raise ConfigError(f"{path}: end {end} is before start {start}")
