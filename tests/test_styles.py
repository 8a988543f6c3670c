"""Redaction styles on numpy frames: coverage and irreversibility."""

from __future__ import annotations

import numpy as np
import pytest

from redact.config import RenderConfig
from redact.render.styles import make_style, redact_frame, region_mask

RNG = np.random.default_rng(0)


def _frame(h=120, w=160):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ellipse", [True, False])
def test_mask_covers_whole_box(ellipse):
    box = (30, 20, 90, 100)
    mask = region_mask((120, 160), [box], ellipse)
    x1, y1, x2, y2 = box
    assert (mask[y1:y2, x1:x2] == 255).all(), "the padded box must be covered, corners included"


@pytest.mark.parametrize("style", ["fill", "solid"])
def test_irreversible_styles_ignore_pixels_inside(style):
    """Two frames that differ only inside the region must redact to identical outputs."""
    a = _frame()
    b = a.copy()
    box = (40, 30, 100, 90)
    mask = region_mask(a.shape[:2], [box], ellipse=True) > 0
    b[mask] = RNG.integers(0, 256, (int(mask.sum()), 3), dtype=np.uint8)
    s = make_style(RenderConfig(style=style))
    out_a = redact_frame(a, [box], s, ellipse=True)
    out_b = redact_frame(b, [box], s, ellipse=True)
    assert np.array_equal(out_a, out_b)
    assert not np.array_equal(out_a[mask], a[mask])


@pytest.mark.parametrize("style", ["fill", "solid", "pixelate", "blur"])
def test_pixels_outside_regions_untouched(style):
    a = _frame()
    boxes = [(10, 10, 50, 60), (40, 40, 120, 110)]  # overlapping
    out = redact_frame(a, boxes, make_style(RenderConfig(style=style)), ellipse=True)
    mask = region_mask(a.shape[:2], boxes, ellipse=True) > 0
    assert np.array_equal(out[~mask], a[~mask])
    assert (np.abs(out[mask].astype(int) - a[mask].astype(int)).mean()) > 20


def test_original_frame_is_not_modified():
    a = _frame()
    before = a.copy()
    a.setflags(write=False)  # decoded frames are read-only views of the pipe buffer
    out = redact_frame(a, [(0, 0, 50, 50)], make_style(RenderConfig()), ellipse=False)
    assert np.array_equal(a, before)
    assert not np.array_equal(out[:50, :50], before[:50, :50])


def test_blur_and_pixelate_are_strong():
    """The weaker styles must still destroy face-scale detail in the region."""
    import cv2
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[68:172, 174:278].copy()
    box = (0, 0, face.shape[1], face.shape[0])
    for style in ("blur", "pixelate"):
        out = redact_frame(face, [box], make_style(RenderConfig(style=style)), ellipse=False)
        g_in = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(float)
        g_out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(float)
        detail_in = np.abs(cv2.Laplacian(g_in, cv2.CV_64F)).mean()
        # Laplacian energy of the smooth structure left over (noise of pixelate removed first).
        detail_out = np.abs(cv2.Laplacian(cv2.GaussianBlur(g_out, (0, 0), 1.5), cv2.CV_64F)).mean()
        assert detail_out < 0.5 * detail_in, style


@pytest.mark.parametrize("ellipse", [True, False])
def test_parts_paint_exactly_the_union(ellipse):
    from redact.render.styles import region_parts

    boxes = [(10, 10, 70, 80), (50, 40, 150, 118), (0, 0, 5, 5)]
    mask = region_mask((120, 160), boxes, ellipse)
    union = np.zeros_like(mask)
    drawn = np.zeros((120, 160, 3), np.uint8)
    for part in region_parts((120, 160), boxes, ellipse):
        (x1, y1, x2, y2), own = part.window, part.own
        union[y1:y2, x1:x2] |= own
        part.fill(drawn, np.array([7, 8, 9], np.uint8))
    assert np.array_equal(union, mask)
    # Flat styles draw straight into the frame: the very pixels of the mask, no more, no fewer.
    assert np.array_equal((drawn == [7, 8, 9]).all(axis=2), mask > 0)


@pytest.mark.parametrize("ellipse", [True, False])
def test_parts_match_the_mask_for_random_regions_at_the_borders(ellipse):
    """fill samples its colour where the mask is clear and paints through the parts: the two must agree exactly."""
    from redact.render.styles import Shapes

    rng = np.random.default_rng(3)
    for _ in range(200):
        boxes = []
        for _ in range(int(rng.integers(1, 5))):
            x1, y1 = int(rng.integers(-10, 150)), int(rng.integers(-10, 110))
            x2, y2 = x1 + int(rng.integers(1, 60)), y1 + int(rng.integers(1, 60))
            boxes.append((max(0, x1), max(0, y1), min(160, x2), min(120, y2)))
        shapes = Shapes((120, 160), boxes, ellipse)
        union = np.zeros((120, 160), np.uint8)
        for (px1, py1, px2, py2), own, *_ in shapes.parts:
            union[py1:py2, px1:px2] |= own
        assert np.array_equal(union, shapes.mask), boxes
