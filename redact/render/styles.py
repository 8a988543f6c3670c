"""Redaction styles: how a region is painted out.

Every style computes its patches from the untouched frame and only then
paints each region through its own shape, so the painted pixels are exactly
the union of the regions and no region's patch is computed from another's
paint.  Shapes are hard-edged (no anti-aliasing): a soft edge would mix
original pixels into the output.

``fill`` (the default) is irreversible by construction: the colour of each
region is computed only from pixels *outside* every region, so no value from
inside reaches the output.  ``solid`` is too.  ``pixelate`` and ``blur`` keep
some information from inside; published attacks restore Gaussian blur and
recognise people through pixelation, so they are offered for non-sensitive
uses only, and made as strong as practical (blocks of at least 1/6 of the
region, added noise; blur sigma scaled to the region).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import NamedTuple, Protocol

import cv2
import numpy as np

from redact.config import KindStyle, RenderConfig
from redact.types import FACE_KINDS

Box = tuple[int, int, int, int]

ELLIPSE_SCALE = float(np.sqrt(2.0))
"""An ellipse through the corners of a box has half-axes sqrt(2) times the half-sides."""


class Part(NamedTuple):
    """One region: the window its shape can touch, its own shape mask inside that window, and its box."""

    window: Box
    own: np.ndarray
    box: Box
    ellipse: bool

    def fill(self, image: np.ndarray, colour: np.ndarray) -> None:
        """Paint this region's shape in one flat colour, drawn straight into ``image``.

        The same OpenCV call with the same parameters as the mask, so exactly
        the mask's pixels, at a thirtieth of the cost of copying through it.
        """
        _draw(image, self.box, self.ellipse, value=tuple(int(c) for c in colour))


class Shapes:
    """One kind's regions on one frame, with their masks built on first use.

    ``solid`` needs no masks (it draws straight into the frame); building a
    frame-sized mask and one mask per region for every kind on every frame was
    most of the paint time on footage with many lines of text.
    """

    def __init__(self, frame_shape: tuple[int, int], boxes: list[Box], ellipse: bool):
        self.frame_shape = frame_shape
        self.boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
        self.ellipse = ellipse

    @cached_property
    def parts(self) -> list[Part]:
        return region_parts(self.frame_shape, self.boxes, self.ellipse)

    @cached_property
    def mask(self) -> np.ndarray:
        """All regions in one frame-sized mask (uint8, 255 = redact): exactly the pixels painted."""
        return region_mask(self.frame_shape, self.boxes, self.ellipse)


class Style(Protocol):
    def apply(self, image: np.ndarray, shapes: Shapes) -> None:
        """Paint out every region of ``shapes`` in ``image``, in place.

        Each region is painted through its own shape, so overlapping regions
        stay ellipses rather than showing their windows' corners; styles work
        inside the regions' windows rather than on the whole frame, which is
        most of the cost saved.
        """


def _paint(dst: np.ndarray, src, where: np.ndarray) -> None:
    np.copyto(dst, src, where=where[..., None] > 0)


def _ellipse(box: Box) -> tuple[tuple[int, int], tuple[int, int]]:
    x1, y1, x2, y2 = box
    centre = (round((x1 + x2) / 2), round((y1 + y2) / 2))
    axes = (int(np.ceil((x2 - x1) / 2 * ELLIPSE_SCALE)) + 1, int(np.ceil((y2 - y1) / 2 * ELLIPSE_SCALE)) + 1)
    return centre, axes


def shape_window(box: Box, ellipse: bool, shape: tuple[int, int]) -> Box:
    """The frame area a region's shape can touch: its box, or its circumscribing ellipse's bounds."""
    if not ellipse:
        return box
    (cx, cy), (ax, ay) = _ellipse(box)
    h, w = shape
    return max(0, cx - ax - 1), max(0, cy - ay - 1), min(w, cx + ax + 2), min(h, cy + ay + 2)


def _draw(dst: np.ndarray, box: Box, ellipse: bool, origin: tuple[int, int] = (0, 0), value=255) -> None:
    x1, y1, x2, y2 = box
    ox, oy = origin
    if ellipse:
        (cx, cy), axes = _ellipse(box)
        cv2.ellipse(dst, (cx - ox, cy - oy), axes, 0, 0, 360, value, thickness=-1, lineType=cv2.LINE_8)
    else:
        # The pixels of dst[y1:y2, x1:x2] (pt2 is inclusive), clipped by OpenCV; ~20x faster
        # than a numpy slice assignment of a colour tuple.
        cv2.rectangle(dst, (x1 - ox, y1 - oy), (x2 - ox - 1, y2 - oy - 1), value, thickness=-1)


def region_mask(shape: tuple[int, int], boxes: list[Box], ellipse: bool) -> np.ndarray:
    """One hard-edged mask for all regions; an ellipse circumscribes its box so the box stays covered."""
    mask = np.zeros(shape, np.uint8)
    for box in boxes:
        if box[2] > box[0] and box[3] > box[1]:
            _draw(mask, box, ellipse)
    return mask


def region_parts(shape: tuple[int, int], boxes: list[Box], ellipse: bool) -> list[Part]:
    """Each region's window and its own shape inside it (the same pixels ``region_mask`` sets)."""
    parts = []
    for box in boxes:
        x1, y1, x2, y2 = window = shape_window(box, ellipse, shape)
        own = np.zeros((y2 - y1, x2 - x1), np.uint8)
        _draw(own, box, ellipse, origin=(x1, y1))
        parts.append(Part(window, own, box, ellipse))
    return parts


class Fill:
    """A flat colour per blob of overlapping regions, taken from a ring of pixels just outside them.

    Overlapping regions share one colour, so two faces side by side become
    one flat blob rather than two patches whose boundary traces them.
    """

    RING = 0.35

    def apply(self, image: np.ndarray, shapes: Shapes) -> None:
        for members, (rx1, ry1, rx2, ry2), ring in fill_groups(shapes):
            mean = cv2.mean(image[ry1:ry2, rx1:rx2], mask=ring) if ring.any() else (0, 0, 0)
            colour = np.array(mean[:3]).round().astype(np.uint8)
            for part in members:
                part.fill(image, colour)


def fill_groups(shapes: Shapes) -> Iterator[tuple[list[Part], Box, np.ndarray]]:
    """Each blob of overlapping regions, the window of the ring around it, and the ring (255 = sampled).

    The ring is measured from unmasked pixels only: no region of the kind
    lends its pixels to any blob's colour.  Yielded one blob at a time, so a
    caller that paints each blob before taking the next measures the next
    ring around what it has painted, as :class:`Fill` does; other blobs never
    overlap this one's painted pixels.
    """
    h, w = shapes.frame_shape
    parts = shapes.parts
    for group in _overlapping_groups(parts):
        x1 = min(parts[i][0][0] for i in group)
        y1 = min(parts[i][0][1] for i in group)
        x2 = max(parts[i][0][2] for i in group)
        y2 = max(parts[i][0][3] for i in group)
        r = max(4, int(Fill.RING * max(x2 - x1, y2 - y1)))
        rx1, ry1, rx2, ry2 = max(0, x1 - r), max(0, y1 - r), min(w, x2 + r), min(h, y2 + r)
        yield [parts[i] for i in group], (rx1, ry1, rx2, ry2), cv2.bitwise_not(shapes.mask[ry1:ry2, rx1:rx2])


def _overlapping_groups(parts: list[Part]) -> list[list[int]]:
    """Indices of parts grouped by shared painted pixels (union-find over pairs)."""
    parent = list(range(len(parts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, ((ax1, ay1, ax2, ay2), a, *_) in enumerate(parts):
        for j in range(i + 1, len(parts)):
            (bx1, by1, bx2, by2), b, *_ = parts[j]
            ix1, iy1, ix2, iy2 = max(ax1, bx1), max(ay1, by1), min(ax2, bx2), min(ay2, by2)
            if ix1 >= ix2 or iy1 >= iy2:
                continue
            sa = a[iy1 - ay1 : iy2 - ay1, ix1 - ax1 : ix2 - ax1]
            sb = b[iy1 - by1 : iy2 - by1, ix1 - bx1 : ix2 - bx1]
            if np.any(sa & sb):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(parts)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


class Solid:
    def __init__(self, color: list[int]):
        self.color = np.array(color, np.uint8)

    def apply(self, image: np.ndarray, shapes: Shapes) -> None:
        value = tuple(int(c) for c in self.color)
        for box in shapes.boxes:
            _draw(image, box, shapes.ellipse, value=value)


class Pixelate:
    """Very coarse blocks plus noise; not irreversible, see the module docstring."""

    BLOCKS = 6

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def apply(self, image: np.ndarray, shapes: Shapes) -> None:
        # Compute every window from the untouched picture first, then paint.
        painted = []
        for (x1, y1, x2, y2), own, *_ in shapes.parts:
            bw, bh = x2 - x1, y2 - y1
            if bw <= 0 or bh <= 0:
                continue
            block = max(2, max(bw, bh) // self.BLOCKS)
            roi = image[y1:y2, x1:x2]
            small = cv2.resize(roi, (max(1, bw // block), max(1, bh // block)), interpolation=cv2.INTER_AREA)
            big = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_NEAREST).astype(np.int16)
            big += self.rng.integers(-12, 13, big.shape, dtype=np.int16)
            painted.append(((x1, y1, x2, y2), own, np.clip(big, 0, 255).astype(np.uint8)))
        for (x1, y1, x2, y2), own, patch in painted:
            _paint(image[y1:y2, x1:x2], patch, own)


class Blur:
    """Gaussian blur with sigma scaled to the region; not irreversible, see the module docstring."""

    def apply(self, image: np.ndarray, shapes: Shapes) -> None:
        blurred = []
        for (x1, y1, x2, y2), own, *_ in shapes.parts:
            roi = image[y1:y2, x1:x2]
            if roi.size == 0:
                continue
            sigma = max(4.0, max(x2 - x1, y2 - y1) / 4)
            # Downscale-blur-upscale: the same strength at a fraction of the cost for big faces.
            f = min(1.0, 8.0 / sigma)
            size = (max(1, round(roi.shape[1] * f)), max(1, round(roi.shape[0] * f)))
            small = cv2.GaussianBlur(cv2.resize(roi, size, interpolation=cv2.INTER_AREA), (0, 0), sigma * f)
            patch = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)
            blurred.append(((x1, y1, x2, y2), own, patch))
        for (x1, y1, x2, y2), own, patch in blurred:
            _paint(image[y1:y2, x1:x2], patch, own)


def make_style(config: RenderConfig | KindStyle) -> Style:
    if config.style == "fill":
        return Fill()
    if config.style == "solid":
        return Solid(config.color)
    if config.style == "pixelate":
        return Pixelate()
    return Blur()


def redact_frame(image: np.ndarray, boxes: list[Box], style: Style, ellipse: bool) -> np.ndarray:
    """Return a redacted copy of ``image`` (the decoded frame itself is read-only)."""
    out = image.copy()
    style.apply(out, Shapes(out.shape[:2], boxes, ellipse))
    return out


class Painter:
    """Paints a frame's regions, each kind in its own style (faces in ``render``, text in ``render.text``...).

    Marks are painted before faces so that ``fill``, which takes a face's
    colour from the pixels around it, never samples an unpainted badge or
    plate next to the face.
    """

    def __init__(self, config: RenderConfig):
        self.config = config
        self._styles: dict[str, tuple[KindStyle, Style]] = {}

    def style_of(self, kind: str) -> tuple[KindStyle, Style]:
        if kind not in self._styles:
            ks = self.config.kind_style(kind)
            self._styles[kind] = (ks, make_style(ks))
        return self._styles[kind]

    def paint(self, image: np.ndarray, regions, mask: np.ndarray | None = None) -> np.ndarray:
        """A redacted copy of ``image``; ``regions`` are :class:`redact.types.Region`.

        With ``mask`` (uint8, the image's size), every painted pixel is also
        set to 255 there, from the same shapes the styles drew through.
        """
        out = image.copy()
        for kind in paint_order({r.kind for r in regions}):
            ks, style = self.style_of(kind)
            shapes = Shapes(out.shape[:2], [r.box for r in regions if r.kind == kind], ks.shape == "ellipse")
            style.apply(out, shapes)
            if mask is not None:
                cv2.bitwise_or(mask, shapes.mask, dst=mask)
        return out


def paint_order(kinds) -> list[str]:
    """Marks first, faces last: ``fill`` then takes a face's colour around painted marks, never unpainted ones."""
    return sorted(kinds, key=lambda k: (k in FACE_KINDS, k))
