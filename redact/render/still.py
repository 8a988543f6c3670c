"""Stage 3 for one still picture: the decided tracks to padded regions, painted out at the picture's own depth.

Regions come from the video's :class:`~redact.render.regions.RegionPlanner`
asked for frame 0, so a picture's boxes are padded exactly as a video frame's
detected boxes are (faces by their size, marks by their short side), and a
kept face is skipped the same way.  The styles (:class:`Painter`) work on
8-bit BGR; the painted pixels are then written into the picture's own layout
and depth through the painter's mask, so nothing outside a region changes at
all, and inside one no value of the original survives:

* 16-bit pictures get the painted 8-bit value scaled to 16 bits (x 257);
* grey pictures get the grey of the painted colour;
* alpha inside a region is made opaque, so a cut-out's outline (the shape of
  a head in a transparent PNG) does not survive either.
"""

from __future__ import annotations

import cv2
import numpy as np

from redact.config import RenderConfig
from redact.render.regions import RegionPlanner
from redact.render.styles import Painter
from redact.types import Decision, Region, Track


def still_regions(tracks: list[Track], decisions: dict[int, Decision], config: RenderConfig, width: int,
                  height: int) -> list[Region]:
    """The regions to paint on a picture whose tracks all sit on frame 0."""
    return RegionPlanner(tracks, decisions, config, width, height, frame_count=1).regions_at(0)


def paint_still(pixels: np.ndarray, bgr: np.ndarray, regions: list[Region], painter: Painter) -> np.ndarray:
    """A redacted copy of ``pixels`` (the picture's layout: grey, grey + alpha, RGB, RGBA; 8 or 16-bit).

    ``bgr`` is the same picture as BGR ``uint8`` (what the detectors saw).
    """
    if not regions:
        return pixels.copy()
    mask = np.zeros(bgr.shape[:2], np.uint8)
    painted = painter.paint(bgr, regions, mask)
    where = mask > 0
    out = pixels.copy()
    scale = 257 if pixels.dtype == np.uint16 else 1
    full = np.iinfo(pixels.dtype).max
    if pixels.ndim == 2 or pixels.shape[2] == 2:
        grey = cv2.cvtColor(painted, cv2.COLOR_BGR2GRAY).astype(pixels.dtype) * scale
        if pixels.ndim == 2:
            out[where] = grey[where]
        else:
            out[..., 0][where] = grey[where]
            out[..., 1][where] = full
        return out
    rgb = cv2.cvtColor(painted, cv2.COLOR_BGR2RGB).astype(pixels.dtype) * scale
    out[..., :3][where] = rgb[where]
    if pixels.shape[2] == 4:
        out[..., 3][where] = full
    return out
