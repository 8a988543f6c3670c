"""Rotated copies of a picture, and boxes found on them mapped back: faces at any in-plane angle.

CenterFace and BlazeFace are trained on upright faces.  A victim on the
floor, held down or lying on their side, filmed by a body camera held at any
angle, shows a face turned 90 or 180 degrees in the image, and the models'
scores fall away past about 45 degrees (more steeply the smaller the face).
Turning the *picture* so that such a face stands upright gives the model the
face it was trained on; the boxes it finds there are mapped back through the
inverse rotation.

Angles are degrees counter-clockwise (OpenCV's convention), the rotation
applied to the picture under which the face looked upright.  Multiples of 90
are exact, lossless transposes (``np.rot90``); other angles are
``cv2.warpAffine`` onto a canvas large enough to hold every corner, so nothing
is cut off.  A box found on a rotated copy maps back to the axis-aligned
bounds of its four corners, which for a diagonal face is up to 1.41 times the
box's side: the padding follows the angle, and the face's chin and crown,
which stick out of a tilted box, stay covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from redact.types import Detections


def normalise(angle: float) -> float:
    """An angle in degrees folded into [0, 360)."""
    return float(angle) % 360.0


@dataclass(frozen=True)
class Rotated:
    """A rotated copy of a picture and the affine map from the original's pixels to the copy's."""

    image: np.ndarray
    angle: float
    matrix: np.ndarray
    """2 x 3 affine map (original -> copy), in continuous pixel coordinates (corners at 0 and W)."""

    def boxes_back(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes (n, 4) on the copy -> the axis-aligned bounds of their corners in the original."""
        if not len(xyxy) or self.angle == 0:
            return np.asarray(xyxy, np.float32).reshape(-1, 4)
        inverse = cv2.invertAffineTransform(self.matrix.astype(np.float64))
        return map_boxes(xyxy, inverse)

    def detections_back(self, dets: Detections, width: int, height: int) -> Detections:
        """``dets`` found on the copy, in the original's pixels (clipped to it), tagged with this angle."""
        if not len(dets):
            return dets
        xyxy = np.clip(self.boxes_back(dets.xyxy), 0, [width, height, width, height]).astype(np.float32)
        keep = (xyxy[:, 2] - xyxy[:, 0] >= 1) & (xyxy[:, 3] - xyxy[:, 1] >= 1)
        out = Detections(xyxy, dets.score, dets.kind, dets.detector, np.full(len(dets), self.angle, np.float32),
                         dets.track_id, dets.data)
        return out.filter(keep)


def map_boxes(xyxy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Axis-aligned bounds of each box's four corners after the 2 x 3 affine ``matrix``."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    corners = np.stack(
        [b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1
    )  # (n, 4 corners, 2)
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    return np.concatenate([mapped.min(1), mapped.max(1)], axis=1).astype(np.float32)


def rotate(image: np.ndarray, angle: float) -> Rotated:
    """``image`` turned ``angle`` degrees counter-clockwise, on a canvas that holds all of it."""
    angle = normalise(angle)
    h, w = image.shape[:2]
    if angle == 0:
        return Rotated(image, 0.0, np.array([[1, 0, 0], [0, 1, 0]], np.float64))
    quarter = angle / 90.0
    if quarter == int(quarter):
        k = int(quarter)
        # np.rot90 turns counter-clockwise: (x, y) -> (y, W - x) for k = 1, and so on.
        matrix = {
            1: [[0, 1, 0], [-1, 0, w]],
            2: [[-1, 0, w], [0, -1, h]],
            3: [[0, -1, h], [1, 0, 0]],
        }[k]
        return Rotated(np.ascontiguousarray(np.rot90(image, k)), angle, np.array(matrix, np.float64))
    rad = np.deg2rad(angle)
    c, s = abs(np.cos(rad)), abs(np.sin(rad))
    nw, nh = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += (nw / 2 - w / 2, nh / 2 - h / 2)
    copy = cv2.warpAffine(image, matrix, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Rotated(copy, angle, matrix)


def rotate_square(image: np.ndarray, angle: float) -> Rotated:
    """A square crop turned about its centre, keeping its size (the corners are filled by replication).

    For the refiner's windows: the followed face sits in the middle third of
    the window, so the corners a diagonal turn cuts off hold none of it, and
    the copy keeps the one model input size the windows are compiled for.
    """
    angle = normalise(angle)
    if angle == 0 or (angle / 90.0) == int(angle / 90.0):
        return rotate(image, angle)
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    copy = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Rotated(copy, angle, matrix)
