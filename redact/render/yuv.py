"""Paint regions on I420 frames, converting only the rectangle around them.

The render pass feeds x264 the decoder's own YUV planes (:mod:`redact.io.i420`).
For a frame with regions, the smallest even rectangle that holds every
region's shape and everything a style reads around it (``fill``'s ring) is
converted to BGR, painted by the same :class:`~redact.render.styles.Painter`
as a BGR frame, and converted back.  Only the painted pixels' luma and every
chroma sample touching a painted pixel are written back: the rest of the
frame, inside the rectangle too, stays as decoded, and no value from inside a
region reaches the output through a chroma sample it shares with its border.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from redact.io import i420
from redact.render.styles import Fill, Painter, shape_window
from redact.types import Region


def paint_i420(painter: Painter, image: np.ndarray, regions: list[Region]) -> np.ndarray:
    """A redacted copy of the I420 ``image`` (or ``image`` itself when there is nothing to paint)."""
    regions = [r for r in regions if r.box[2] > r.box[0] and r.box[3] > r.box[1]]
    if not regions:
        return image
    width, height = i420.size_of(image)
    out = image.copy()
    y, u, v = i420.planes(out)
    for window, members in clusters(painter, regions, width, height):
        x0, y0, x1, y1 = window
        bgr = cv2.cvtColor(i420.crop(image, window), cv2.COLOR_YUV2BGR_I420)
        local = [dataclasses.replace(r, box=(r.box[0] - x0, r.box[1] - y0, r.box[2] - x0, r.box[3] - y0))
                 for r in members]
        mask = np.zeros(bgr.shape[:2], np.uint8)
        painted = painter.paint(bgr, local, mask=mask)
        # A chroma sample covers 2x2 pixels: it is repainted if any of them is.
        shared = cv2.resize(mask, (mask.shape[1] // 2, mask.shape[0] // 2), interpolation=cv2.INTER_AREA)
        back_y, back_u, back_v = i420.planes(cv2.cvtColor(painted, cv2.COLOR_BGR2YUV_I420))
        cv2.copyTo(back_y, mask, y[y0:y1, x0:x1])
        cv2.copyTo(back_u, shared, u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2])
        cv2.copyTo(back_v, shared, v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2])
    return out


Box = tuple[int, int, int, int]


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

