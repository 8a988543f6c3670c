"""Paint regions on I420 frames, touching only the pixels around them.

The render pass feeds x264 the decoder's own YUV planes (:mod:`redact.io.i420`).
A frame's regions are grouped so that each group, with everything a style
reads around it (``fill``'s ring), lies in an even rectangle of its own.
``fill`` and ``solid`` (the defaults) are flat colours: they are painted on
the planes directly.  Other styles' groups are converted to BGR, painted by
the same :class:`~redact.render.styles.Painter` as a BGR frame, and converted
back.  Either way only painted pixels' luma and every chroma sample touching
a painted pixel change: the rest of the frame, inside the rectangle too,
stays as decoded, and no value from inside a region reaches the output
through a chroma sample it shares with its border.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

import redact.io.i420 as i420
from redact.render.styles import Box, Fill, Painter, Shapes, Solid, fill_groups, paint_order, shape_window
from redact.types import Region


def paint_i420(painter: Painter, image: np.ndarray, regions: list[Region]) -> np.ndarray:
    """``image`` (I420) with its regions painted: in place when the array is writable, else a copy.

    ``fill`` and ``solid`` regions are painted on the planes themselves
    (their flat colour needs no conversion of the picture); a group holding
    any other style goes through BGR.
    """
    regions = [r for r in regions if r.box[2] > r.box[0] and r.box[3] > r.box[1]]
    if not regions:
        return image
    out = image if image.flags.writeable else image.copy()
    width, height = i420.size_of(out)
    for window, members in clusters(painter, regions, width, height):
        if all(isinstance(painter.style_of(r.kind)[1], (Fill, Solid)) for r in members):
            _paint_flat(painter, out, window, members)
        else:
            _paint_through_bgr(painter, out, window, members)
    return out


def _local(regions: list[Region], x0: int, y0: int) -> list[Region]:
    return [dataclasses.replace(r, box=(r.box[0] - x0, r.box[1] - y0, r.box[2] - x0, r.box[3] - y0)) for r in regions]


def _paint_through_bgr(painter: Painter, image: np.ndarray, window: Box, regions: list[Region]) -> None:
    x0, y0, _, _ = window
    bgr = cv2.cvtColor(i420.crop(image, window), cv2.COLOR_YUV2BGR_I420)
    mask = np.zeros(bgr.shape[:2], np.uint8)
    painted = painter.paint(bgr, _local(regions, x0, y0), mask=mask)
    back_y, back_u, back_v = i420.planes(cv2.cvtColor(painted, cv2.COLOR_BGR2YUV_I420))
    y, u, v = _window_planes(image, window)
    cv2.copyTo(back_y, mask, y)
    shared = _chroma_mask(mask)
    cv2.copyTo(back_u, shared, u)
    cv2.copyTo(back_v, shared, v)


def _paint_flat(painter: Painter, image: np.ndarray, window: Box, regions: list[Region]) -> None:
    """``fill`` and ``solid`` straight on the planes, kind by kind in the painter's order.

    ``fill``'s colour is the mean luma and chroma of its ring (see
    :func:`_ring_mean`): the BGR painter's colour up to rounding and the
    chroma at the ring's inner edge, without converting the picture.
    """
    x0, y0, _, _ = window
    y, u, v = _window_planes(image, window)
    local = _local(regions, x0, y0)
    for kind in paint_order({r.kind for r in local}):
        ks, style = painter.style_of(kind)
        shapes = Shapes(y.shape, [r.box for r in local if r.kind == kind], ks.shape == "ellipse")
        if isinstance(style, Solid):
            _flat(y, u, v, shapes.parts, _yuv_of(style.color))
            continue
        for members, ring_box, ring in fill_groups(shapes):
            colour = _ring_mean(y, u, v, ring_box, ring) if ring.any() else (i420.BLACK_Y, i420.NEUTRAL_UV,
                                                                              i420.NEUTRAL_UV)
            _flat(y, u, v, members, colour)


def _flat(y, u, v, parts, colour: tuple[int, int, int]) -> None:
    """Paint ``parts`` in one YUV colour: their luma pixels, and every chroma sample they touch.

    Works inside the parts' own even bounding box: a crowd has many groups
    per frame, and frame-sized masks per group cost more than the painting.
    """
    x1, y1, x2, y2 = i420.even_box(
        (min(p.window[0] for p in parts), min(p.window[1] for p in parts),
         max(p.window[2] for p in parts), max(p.window[3] for p in parts)),
        y.shape[1], y.shape[0],
    )
    mask = np.zeros((y2 - y1, x2 - x1), np.uint8)
    for part in parts:
        part.fill(y, np.array([colour[0]]))
        wx1, wy1, wx2, wy2 = part.window
        cv2.bitwise_or(mask[wy1 - y1 : wy2 - y1, wx1 - x1 : wx2 - x1], part.own,
                       dst=mask[wy1 - y1 : wy2 - y1, wx1 - x1 : wx2 - x1])
    shared = _chroma_mask(mask)
    u[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2][shared > 0] = colour[1]
    v[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2][shared > 0] = colour[2]


def _ring_mean(y, u, v, box: Box, ring: np.ndarray) -> tuple[int, int, int]:
    """Mean luma of the ring's pixels, and mean chroma of the samples whose 2x2 block is all ring.

    A chroma sample shared with a pixel inside a region carries some of that
    pixel's colour, so only samples wholly outside every region are read;
    where none is, the fill is grey at the ring's luma.
    """
    x1, y1, x2, y2 = box
    luma = cv2.mean(y[y1:y2, x1:x2], mask=ring)[0]
    ex1, ey1, ex2, ey2 = x1 - x1 % 2, y1 - y1 % 2, x2 + x2 % 2, y2 + y2 % 2
    if (ex1, ey1, ex2, ey2) != box:
        ring = cv2.copyMakeBorder(ring, y1 - ey1, ey2 - y2, x1 - ex1, ex2 - x2, cv2.BORDER_CONSTANT, value=0)
    whole = cv2.resize(ring, ((ex2 - ex1) // 2, (ey2 - ey1) // 2), interpolation=cv2.INTER_AREA)
    whole = cv2.compare(whole, 255, cv2.CMP_EQ)
    if not whole.any():
        return round(luma), i420.NEUTRAL_UV, i420.NEUTRAL_UV
    rows, cols = slice(ey1 // 2, ey2 // 2), slice(ex1 // 2, ex2 // 2)
    return round(luma), round(cv2.mean(u[rows, cols], mask=whole)[0]), round(cv2.mean(v[rows, cols], mask=whole)[0])


def _yuv_of(bgr: list[int]) -> tuple[int, int, int]:
    y, u, v = i420.planes(cv2.cvtColor(np.full((2, 2, 3), bgr, np.uint8), cv2.COLOR_BGR2YUV_I420))
    return int(y[0, 0]), int(u[0, 0]), int(v[0, 0])


def _window_planes(image: np.ndarray, window: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = window
    y, u, v = i420.planes(image)
    return y[y0:y1, x0:x1], u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]


def _chroma_mask(mask: np.ndarray) -> np.ndarray:
    """255 where a 2x2 block (one chroma sample) holds any painted pixel."""
    return cv2.resize(mask, (mask.shape[1] // 2, mask.shape[0] // 2), interpolation=cv2.INTER_AREA)



def clusters(painter: Painter, regions: list[Region], width: int, height: int) -> list[tuple[Box, list[Region]]]:
    """Regions grouped so that each group can be painted inside its own even rectangle.

    A group's rectangle holds its regions' shape windows grown by the widest
    ring ``fill`` could take around them; groups whose rectangles meet are
    merged until none do.  No style then reads or writes a pixel outside its
    group's rectangle or inside another's, so painting group by group gives
    the pixels painting the whole frame at once would, at the cost of the
    faces' surroundings rather than of the frame.
    """
    groups = []
    for r in regions:
        box = shape_window(r.box, painter.style_of(r.kind)[0].shape == "ellipse", (height, width))
        groups.append([box, _context(box, width, height), [r]])
    merged = True
    while merged:
        merged = False
        i = 0
        while i < len(groups):
            j = i + 1
            while j < len(groups):
                if _meet(groups[i][1], groups[j][1]):
                    (a, _, ra), (b, _, rb) = groups[i], groups.pop(j)
                    box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    groups[i] = [box, _context(box, width, height), ra + rb]
                    merged = True
                    j = i + 1  # the grown rectangle may now meet groups already passed over
                else:
                    j += 1
            i += 1
    return [(context, members) for _, context, members in groups]


def _context(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    ring = max(4, int(Fill.RING * max(x2 - x1, y2 - y1))) + 1
    return i420.even_box((x1 - ring, y1 - ring, x2 + ring, y2 + ring), width, height)


def _meet(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

