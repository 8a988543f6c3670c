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
    def apply(self, image: np.ndarray, mask: np.ndarray, boxes: list[Box]) -> None:
        """Paint out ``mask`` (uint8, 255 = redact) in ``image`` in place; ``boxes`` are the regions."""


def region_mask(shape: tuple[int, int], boxes: list[Box], ellipse: bool) -> np.ndarray:
    """One hard-edged mask for all regions; an ellipse circumscribes its box so the box stays covered."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in boxes:
        if x2 <= x1 or y2 <= y1:
            continue
        if ellipse:
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            ax = int(np.ceil((x2 - x1) / 2 * ELLIPSE_SCALE)) + 1
            ay = int(np.ceil((y2 - y1) / 2 * ELLIPSE_SCALE)) + 1
            cv2.ellipse(mask, (round(cx), round(cy)), (ax, ay), 0, 0, 360, 255, thickness=-1, lineType=cv2.LINE_8)
        else:
            mask[y1:y2, x1:x2] = 255
    return mask


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    if len(ys) == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


class Fill:
    """A flat colour per region, taken from a ring of pixels just outside all regions."""

    RING = 0.35

    def apply(self, image: np.ndarray, mask: np.ndarray, boxes: list[Box]) -> None:
        h, w = mask.shape
        outside = mask == 0
        for x1, y1, x2, y2 in boxes:
            r = max(4, int(self.RING * max(x2 - x1, y2 - y1)))
            rx1, ry1, rx2, ry2 = max(0, x1 - r), max(0, y1 - r), min(w, x2 + r), min(h, y2 + r)
            ring = outside[ry1:ry2, rx1:rx2]
            patch = image[ry1:ry2, rx1:rx2]
            colour = patch[ring].mean(axis=0) if ring.any() else np.zeros(3)
            # Only the part of this region's window that the mask covers is painted;
            # later regions overwrite the overlap, which is fine: both are outside-derived.
            inner = mask[ry1:ry2, rx1:rx2] > 0
            patch[inner] = colour.astype(np.uint8)


class Solid:
    def __init__(self, color: list[int]):
        self.color = np.array(color, np.uint8)

    def apply(self, image: np.ndarray, mask: np.ndarray, boxes: list[Box]) -> None:
        image[mask > 0] = self.color


class Pixelate:
    """Very coarse blocks plus noise; not irreversible, see the module docstring."""

    BLOCKS = 6

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def apply(self, image: np.ndarray, mask: np.ndarray, boxes: list[Box]) -> None:
        out = image.copy()
        for x1, y1, x2, y2 in boxes:
            bw, bh = x2 - x1, y2 - y1
            if bw <= 0 or bh <= 0:
                continue
            block = max(2, max(bw, bh) // self.BLOCKS)
            roi = image[y1:y2, x1:x2]
            small = cv2.resize(roi, (max(1, bw // block), max(1, bh // block)), interpolation=cv2.INTER_AREA)
            big = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_NEAREST).astype(np.int16)
            big += self.rng.integers(-12, 13, big.shape, dtype=np.int16)
            out[y1:y2, x1:x2] = np.clip(big, 0, 255).astype(np.uint8)
        sel = mask > 0
        image[sel] = out[sel]


class Blur:
    """Gaussian blur with sigma scaled to the region; not irreversible, see the module docstring."""

    def apply(self, image: np.ndarray, mask: np.ndarray, boxes: list[Box]) -> None:
        b = _bounds(mask)
        if b is None:
            return
        x1, y1, x2, y2 = b
        size = max((bx2 - bx1) for bx1, _, bx2, _ in boxes) if boxes else 16
        sigma = max(4.0, size / 3)
        roi = image[y1:y2, x1:x2]
        # Downscale-blur-upscale: the same strength at a fraction of the cost for big faces.
        f = min(1.0, 16.0 / sigma)
        small = cv2.resize(roi, (max(1, round(roi.shape[1] * f)), max(1, round(roi.shape[0] * f))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma * f)
        blurred = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)
        sel = mask[y1:y2, x1:x2] > 0
        roi[sel] = blurred[sel]


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
    if boxes:
        style.apply(out, region_mask(out.shape[:2], boxes, ellipse), boxes)
    return out
