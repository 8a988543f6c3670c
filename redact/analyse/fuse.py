"""Fusion: the boxes several detectors (and turned copies) found for one object become one box."""

from __future__ import annotations

import numpy as np

from redact.analyse.detectors.base import SURE
from redact.analyse.track import inside_matrix, iou_matrix
from redact.types import Detections

NESTED = 0.9
"""A box with at least this share of its area inside another box of the same kind is part of that object."""


def fuse(dets: Detections, iou: float) -> Detections:
    """Merge boxes of the same object found by several detectors.

    Each cluster keeps its best score and detector name but takes the union
    of the boxes: when two detectors disagree on the extent, cover both.

    A box lying inside another (``NESTED``) joins it whatever their IoU: a
    face detector firing on part of a face (eyes, a half cut by a pole) would
    otherwise start a track of its own, extended for frames around its one
    sighting, and with reference photos that stray track covered the face of
    a person kept visible (about 90 frames of the bench's keep faces).  The
    union is the outer box, so nothing is covered less.  No bench face ever
    lies even half inside another face's box; a visible face inside another
    face would have to be in front of it yet smaller.

    Boxes found at different angles (``Detections.angle``) join when either
    one's centre lies in the other: a face found upright and on a turned
    copy is framed differently, and the stray second box started a track of
    its own that covered a kept face for the frames of its extension.
    """
    if len(dets) <= 1:
        return dets
    dets = dets.filter(~_seen_upright(dets))
    order = np.argsort(-dets.score)
    overlap = iou_matrix(dets.xyxy, dets.xyxy)
    nested = inside_matrix(dets.xyxy, dets.xyxy) >= NESTED
    # The same face seen on the frame and on a turned copy gets boxes of other shapes (a turned box
    # maps back to the bounds of its corners): a centre inside the other's box is enough to join.
    centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    inside = np.all((centres[:, None] >= dets.xyxy[None, :, :2]) & (centres[:, None] <= dets.xyxy[None, :, 2:]), axis=2)
    nested |= (inside | inside.T) & (dets.angle[:, None] != dets.angle[None, :])
    nested |= nested.T
    taken = np.zeros(len(dets), bool)
    rows = []
    for i in order:
        if taken[i]:
            continue
        members = (~taken) & ((overlap[i] > iou) | nested[i]) & (dets.kind == dets.kind[i])
        members[i] = True
        taken |= members
        box = dets.xyxy[members]
        rows.append((np.array([*box[:, :2].min(0), *box[:, 2:].max(0)]), i, _angle_of(dets, members, i)))
    idx = np.array([i for _, i, _ in rows])
    fused = dets[idx]  # each cluster's best row: its score, kind, detector and flags
    fused.xyxy = np.stack([b for b, _, _ in rows])
    fused.angle = np.array([a for _, _, a in rows], np.float32)
    return fused


def _seen_upright(dets: Detections) -> np.ndarray:
    """Boxes from turned copies centred in a box the upright pass is sure of (``SURE``): the same face.

    The upright box frames an upright face; the turned one maps back to the
    bounds of its corners (taller, or wider), and their union made the
    ellipse around a face reach a protected timestamp above it.
    """
    sure = (dets.angle == 0) & (dets.score >= SURE)
    if not sure.any() or not (dets.angle != 0).any():
        return np.zeros(len(dets), bool)
    centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    boxes = dets.xyxy[sure]
    inside = np.all((centres[:, None] >= boxes[None, :, :2]) & (centres[:, None] <= boxes[None, :, 2:]), axis=2)
    inside &= dets.kind[:, None] == dets.kind[sure][None, :]
    return (dets.angle != 0) & inside.any(axis=1)


def _angle_of(dets: Detections, members: np.ndarray, best: int) -> float:
    """The angle a fused face is followed at: upright where the upright pass was sure of it.

    CenterFace scores a clean upright face about as high on a turned copy as
    on the frame itself; following it turned would send its windows to look
    at it sideways for no reason.
    """
    upright = members & (dets.angle == 0) & (dets.score >= SURE)
    return 0.0 if upright.any() else float(dets.angle[best])
