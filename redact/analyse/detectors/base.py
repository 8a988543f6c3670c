"""The detector plug-in protocol, its registry, and the helpers every detector shares.

A detector is anything with ``load()``, ``detect(image) -> Detections`` and
``close()``.  Plug-ins register a factory under a name; a plug-in whose
optional dependency is missing is still listed, and asking for it raises a
``DetectorError`` that says what to install (the PySceneDetect pattern), so a
config that names it fails loudly instead of silently detecting less.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from redact.analyse.detectors.rotate import rotate
from redact.errors import DetectorError
from redact.types import Detections, larger_sides


@runtime_checkable
class Detector(Protocol):
    name: str
    kind: str

    def load(self) -> None:
        """Load models; heavy imports belong here, never at import time."""

    def detect(self, image: np.ndarray) -> Detections:
        """Return detections on one BGR uint8 frame, boxes in that frame's pixels."""

    def close(self) -> None: ...


Factory = Callable[..., Detector]
_REGISTRY: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Class decorator: make a detector available to configs under ``name``."""

    def wrap(factory: Factory) -> Factory:
        _REGISTRY[name] = factory
        return factory

    return wrap


BUILTIN = {
    "centerface": "centerface",
    "blazeface_short": "mediapipe_face",
    "blazeface_full": "mediapipe_face",
    "pose_head": "pose_head",
    "text": "text",
    "plate_haar": "plate",
    "nudenet": "nudity",
}
"""Plug-in name -> the module of this package that registers it, imported only when the name is asked for
(so ``import redact`` stays cheap, and a run that uses two plug-ins loads only their dependencies)."""


def available() -> list[str]:
    return sorted(set(BUILTIN) | set(_REGISTRY))


def create(name: str, **options) -> Detector:
    """Instantiate a registered detector; unknown names list the valid ones."""
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(f"{__package__}.{BUILTIN[name]}")
    if name not in _REGISTRY:
        raise DetectorError(f"unknown detector {name!r}; available: {', '.join(available())}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as e:
        raise DetectorError(f"detector {name!r}: {e}") from e


def check_options(name: str, threshold: float, scale: float) -> tuple[float, float]:
    """The options every plug-in takes, validated the same way; returned as floats."""
    if not 0.0 <= threshold <= 1.0:
        raise DetectorError(f"{name}: threshold {threshold} is outside [0, 1]")
    if scale <= 0:
        raise DetectorError(f"{name}: scale must be positive, got {scale}")
    return float(threshold), float(scale)


def shipped_file(package: str, relative: str, install: str) -> Path:
    """A model file inside an installed package, found without importing the package (no download).

    Importing is avoided because some of these packages import heavy or
    fragile things at import time (pkg_resources, their own sessions).
    ``install`` is the pip command that provides it, quoted in the error.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DetectorError(f"{relative} is shipped by the {package} package, which is not installed: {install}")
    path = Path(locations[0]) / relative
    if not path.is_file():
        raise DetectorError(f"{path}: model file missing from the {package} package; reinstall it: {install}")
    return path


def check_image(name: str, image: np.ndarray) -> None:
    """Every plug-in takes one BGR uint8 (H, W, 3) frame; anything else is a caller's bug, said plainly."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DetectorError(f"{name}: expected a BGR uint8 (H, W, 3) image, got {image.dtype} {image.shape}")


def resize_for(image: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """Resize by ``scale`` (1.0 = unchanged) and return the image and the factor used."""
    if scale == 1.0:
        return image, 1.0
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (nw, nh), interpolation=interp), nw / w


def tile_grid(width: int, height: int, tiles: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Cut a frame into ``tiles`` x ``tiles`` overlapping windows (x1, y1, x2, y2).

    Overlap is a fraction of the tile size, so a face cut by one tile border
    lies whole inside a neighbouring tile as long as it is smaller than the
    overlap.
    """
    if tiles <= 1:
        return [(0, 0, width, height)]
    tw = width / (tiles - (tiles - 1) * overlap)
    th = height / (tiles - (tiles - 1) * overlap)
    out = []
    for r in range(tiles):
        for c in range(tiles):
            x1 = round(c * tw * (1 - overlap))
            y1 = round(r * th * (1 - overlap))
            out.append((x1, y1, min(width, round(x1 + tw)), min(height, round(y1 + th))))
    return out


def square_window(cx: float, cy: float, side: float, width: int, height: int) -> tuple[int, int, int, int]:
    """A square (x1, y1, x2, y2) of ``side`` px centred on (cx, cy), shifted (not cut) to stay inside the frame.

    Kept square so that resizing it to a model input does not distort the face.
    """
    side = min(int(np.ceil(side)), width, height)
    x1 = int(np.clip(round(cx - side / 2), 0, width - side))
    y1 = int(np.clip(round(cy - side / 2), 0, height - side))
    return x1, y1, x1 + side, y1 + side


def nms(dets: Detections, iou: float = 0.4) -> Detections:
    """Greedy non-maximum suppression across all rows, highest score first."""
    if len(dets) <= 1:
        return dets
    keep = cv2.dnn.NMSBoxes(
        [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in dets.xyxy],
        dets.score.tolist(),
        0.0,
        iou,
    )
    idx = np.asarray(keep, int).reshape(-1)
    mask = np.zeros(len(dets), bool)
    mask[idx] = True
    return dets.filter(mask)


class Wrapper:
    """A detector that runs another one (``inner``) its own way: same name and kind, same model to load."""

    def __init__(self, inner: Detector):
        self.inner = inner
        self.name = inner.name
        self.kind = inner.kind

    def load(self) -> None:
        self.inner.load()

    def close(self) -> None:
        self.inner.close()


class TiledDetector(Wrapper):
    """Runs a detector on the whole frame and on overlapping tiles, then merges.

    Small faces vanish when a 720p frame is squeezed into a 128-192 px model
    input; running the same model on tiles gives each face more input pixels.
    """

    def __init__(self, inner: Detector, tiles: int, overlap: float = 0.25, full_frame: bool = True):
        super().__init__(inner)
        self.tiles = tiles
        self.overlap = overlap
        self.full_frame = full_frame

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        parts = [self.inner.detect(image)] if self.full_frame else []
        for x1, y1, x2, y2 in tile_grid(w, h, self.tiles, self.overlap):
            d = self.inner.detect(np.ascontiguousarray(image[y1:y2, x1:x2]))
            if len(d):
                d.xyxy += np.array([x1, y1, x1, y1], np.float32)
                parts.append(d)
        return nms(Detections.concat(parts))


HUGE = 0.35
"""A face box whose larger side exceeds this share of the frame's shorter side is believed only from ``HUGE_SURE``
(turned copies, :class:`Rotations`) or once a second look finds it again (upright passes,
``confirm.HugeChecked``)."""
HUGE_SURE = 0.8
"""...the score from which such a box is believed as it is: real faces that large mostly reach it, clutter seldom."""


class Rotations(Wrapper):
    """Runs a detector on the frame turned by each of ``angles`` and maps the boxes back.

    The face models are trained on upright faces; a face on the floor or
    upside down is upright in one of the turned copies
    (:mod:`redact.analyse.detectors.rotate`).  Each box carries the angle it was found
    at (``Detections.angle``), so the refiner follows that face in windows
    turned the same way.  Boxes of one face from several angles are left
    for the pipeline's fusion (``redact.analyse.fuse``).

    A turned copy gives the model more chances to see a face in clutter,
    and CenterFace sometimes answers with a box half the frame wide at a low
    score (0.1-0.45 on the bench's any-angle videos at 90 and 270 degrees,
    median 400-600 px, and up to 0.61 in infrared noise); fused with a real
    face inside it, that box covered 10-18 % of the frame.  A face that large
    needs no turned copy: the upright model still scored 160 px faces 0.59 or
    more at every angle (scikit-image's astronaut, turned in 15 degree steps),
    and the windows follow it at its angle.  So on turned copies a box over
    ``HUGE`` of the frame's shorter side needs ``HUGE_SURE`` (on upright
    passes such a box is looked at again: ``confirm.HugeChecked``).
    """

    def __init__(self, inner: Detector, angles: list[float]):
        super().__init__(inner)
        self.angles = [float(a) % 360 for a in angles]

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        parts = []
        for angle in self.angles:
            turned = rotate(image, angle)
            d = turned.detections_back(self.inner.detect(turned.image), w, h)
            parts.append(drop_huge_unsure(d, HUGE * min(w, h), HUGE_SURE) if angle else d)
        return Detections.concat(parts)


SURE = 0.5
"""A box far larger than it should be is believed only from this score up (see :func:`drop_huge_unsure`)."""


def drop_huge_unsure(dets: Detections, limit: float, sure: float = SURE) -> Detections:
    """Drop boxes whose larger side exceeds ``limit`` px and that scored under ``sure``.

    CenterFace answers clutter seen at a low magnification (a turned copy, a
    window around a large face) now and then with a box the size of the
    picture at a score of 0.1-0.45; real faces that large score 0.5 or more.
    Fused with a real face inside it, such a box covers the whole frame.
    """
    if not len(dets):
        return dets
    side = larger_sides(dets.xyxy)
    return dets.filter((side <= limit) | (dets.score >= sure))


class Shared(Wrapper):
    """One detector serving several sweep workers, one frame at a time.

    Each worker normally gets its own copy of every detector, so that frames
    are detected in parallel; but a copy costs memory for the model's
    activations (PP-OCR's text model on a 1080p frame at 0.75 scale holds
    about 120 MB, NudeNet about 30 MB).  Detectors that run on every N-th
    frame only are seldom wanted by two workers at once, so one copy behind
    a lock serves them all at almost no cost in speed.
    """

    def __init__(self, inner: Detector):
        super().__init__(inner)
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> Detections:
        with self._lock:
            return self.inner.detect(image)


class ContrastNormalised(Wrapper):
    """Runs a detector on a contrast-equalised copy of the frame (CLAHE on luma).

    Night, infrared-style and underexposed footage squeezes a face into a few
    grey levels, where detectors trained on daylight photos lose it; local
    histogram equalisation spreads them out again.  Boxes are unaffected: the
    geometry of the copy is the frame's.
    """

    def __init__(self, inner: Detector, clip_limit: float = 2.0, grid: int = 8):
        super().__init__(inner)
        self._clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(grid, grid))

    def detect(self, image: np.ndarray) -> Detections:
        return self.inner.detect(equalise(image, self._clahe))


def equalise(image: np.ndarray, clahe) -> np.ndarray:
    """CLAHE on the Y channel of YCrCb, so colours keep their hue."""
    ycc = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    ycc[:, :, 0] = clahe.apply(np.ascontiguousarray(ycc[:, :, 0]))
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)
