"""Redaction styles: how a region is painted out.

All regions of a frame are drawn into one mask first and the style is
applied through it, so overlapping regions are painted once and the result
does not depend on their order.  The mask is hard-edged (no anti-aliasing):
a soft edge would mix original pixels into the output.

``fill`` (the default) is irreversible by construction: the colour of each
region is computed only from pixels *outside* every region, so no value from
inside reaches the output.  ``solid`` is too.  ``pixelate`` and ``blur`` keep
some information from inside; published attacks restore Gaussian blur and
recognise people through pixelation, so they are offered for non-sensitive
uses only, and made as strong as practical (blocks of at least 1/6 of the
region, added noise; blur sigma scaled to the region).
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from redact.config import RenderConfig

Box = tuple[int, int, int, int]

ELLIPSE_SCALE = float(np.sqrt(2.0))
"""An ellipse through the corners of a box has half-axes sqrt(2) times the half-sides."""


class Style(Protocol):
    def apply(self, image: np.ndarray, mask: np.ndarray, windows: list[Box]) -> None:
        """Paint out ``mask`` (uint8, 255 = redact) in ``image`` in place.

        ``windows`` bound each region's shape: styles work inside them
        rather than on the whole frame, which is most of the cost saved.
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


def region_mask(shape: tuple[int, int], boxes: list[Box], ellipse: bool) -> np.ndarray:
    """One hard-edged mask for all regions; an ellipse circumscribes its box so the box stays covered."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in boxes:
        if x2 <= x1 or y2 <= y1:
            continue
        if ellipse:
            centre, axes = _ellipse((x1, y1, x2, y2))
            cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, thickness=-1, lineType=cv2.LINE_8)
        else:
            mask[y1:y2, x1:x2] = 255
    return mask


class Fill:
    """A flat colour per region, taken from a ring of pixels just outside all regions."""

    RING = 0.35

    def apply(self, image: np.ndarray, mask: np.ndarray, windows: list[Box]) -> None:
        h, w = mask.shape
        colours = []
        # All colours are measured before any painting, from unmasked pixels only.
        for x1, y1, x2, y2 in windows:
            r = max(4, int(self.RING * max(x2 - x1, y2 - y1)))
            rx1, ry1, rx2, ry2 = max(0, x1 - r), max(0, y1 - r), min(w, x2 + r), min(h, y2 + r)
            ring = cv2.bitwise_not(mask[ry1:ry2, rx1:rx2])
            mean = cv2.mean(image[ry1:ry2, rx1:rx2], mask=ring) if ring.any() else (0, 0, 0)
            colours.append(np.array(mean[:3]).round().astype(np.uint8))
        # Overlaps take the later region's colour: both are outside-derived.
        for (x1, y1, x2, y2), colour in zip(windows, colours):
            _paint(image[y1:y2, x1:x2], colour, mask[y1:y2, x1:x2])


class Solid:
    def __init__(self, color: list[int]):
        self.color = np.array(color, np.uint8)

    def apply(self, image: np.ndarray, mask: np.ndarray, windows: list[Box]) -> None:
        for x1, y1, x2, y2 in windows:
            _paint(image[y1:y2, x1:x2], self.color, mask[y1:y2, x1:x2])


class Pixelate:
    """Very coarse blocks plus noise; not irreversible, see the module docstring."""

    BLOCKS = 6

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def apply(self, image: np.ndarray, mask: np.ndarray, windows: list[Box]) -> None:
        # Compute every window from the untouched picture first, then paint.
        painted = []
        for x1, y1, x2, y2 in windows:
            bw, bh = x2 - x1, y2 - y1
            if bw <= 0 or bh <= 0:
                continue
            block = max(2, max(bw, bh) // self.BLOCKS)
            roi = image[y1:y2, x1:x2]
            small = cv2.resize(roi, (max(1, bw // block), max(1, bh // block)), interpolation=cv2.INTER_AREA)
            big = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_NEAREST).astype(np.int16)
            big += self.rng.integers(-12, 13, big.shape, dtype=np.int16)
            painted.append(((x1, y1, x2, y2), np.clip(big, 0, 255).astype(np.uint8)))
        for (x1, y1, x2, y2), patch in painted:
            _paint(image[y1:y2, x1:x2], patch, mask[y1:y2, x1:x2])


class Blur:
    """Gaussian blur with sigma scaled to the region; not irreversible, see the module docstring."""

    def apply(self, image: np.ndarray, mask: np.ndarray, windows: list[Box]) -> None:
        blurred = []
        for x1, y1, x2, y2 in windows:
            roi = image[y1:y2, x1:x2]
            if roi.size == 0:
                continue
            sigma = max(4.0, max(x2 - x1, y2 - y1) / 4)
            # Downscale-blur-upscale: the same strength at a fraction of the cost for big faces.
            f = min(1.0, 8.0 / sigma)
            size = (max(1, round(roi.shape[1] * f)), max(1, round(roi.shape[0] * f)))
            small = cv2.GaussianBlur(cv2.resize(roi, size, interpolation=cv2.INTER_AREA), (0, 0), sigma * f)
            blurred.append(((x1, y1, x2, y2), cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)))
        for (x1, y1, x2, y2), patch in blurred:
            _paint(image[y1:y2, x1:x2], patch, mask[y1:y2, x1:x2])


def make_style(config: RenderConfig) -> Style:
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
    boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
    if boxes:
        shape = out.shape[:2]
        style.apply(out, region_mask(shape, boxes, ellipse), [shape_window(b, ellipse, shape) for b in boxes])
    return out
