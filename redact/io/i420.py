"""YUV 4:2:0 planar frames (I420) as one ``(h * 3 // 2, w)`` uint8 array, the layout OpenCV converts.

The render pass carries frames in this layout from the decoder to x264, so
pixels away from every region reach the encoder exactly as decoded, with no
trip through BGR and back, and the pipes carry half the bytes.  4:2:0 halves
both sides, so only even frame sizes have this layout; odd ones are rendered
in BGR.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]

BLACK_Y, NEUTRAL_UV = 16, 128
"""Black in limited-range YUV: what BGR (0, 0, 0) becomes in the encoder."""


def supported(width: int, height: int) -> bool:
    return width > 0 and height > 0 and width % 2 == 0 and height % 2 == 0


def frame_bytes(width: int, height: int) -> int:
    return width * height * 3 // 2


def size_of(image: np.ndarray) -> tuple[int, int]:
    """``(width, height)`` of the picture an I420 array holds."""
    return image.shape[1], image.shape[0] * 2 // 3


def planes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of a contiguous I420 array (writes go through to ``image``)."""
    w, h = size_of(image)
    flat = image.reshape(-1)
    q = (w // 2) * (h // 2)
    return flat[: w * h].reshape(h, w), flat[w * h : w * h + q].reshape(h // 2, w // 2), flat[w * h + q :].reshape(
        h // 2, w // 2
    )


def join(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """One I420 array from three planes."""
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def black(width: int, height: int) -> np.ndarray:
    image = np.full((height * 3 // 2, width), NEUTRAL_UV, np.uint8)
    image[:height] = BLACK_Y
    return image


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The I420 picture inside ``box``, whose corners must be even."""
    x1, y1, x2, y2 = box
    y, u, v = planes(image)
    return join(y[y1:y2, x1:x2], u[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2], v[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2])


def rotate(image: np.ndarray, code: int) -> np.ndarray:
    """``cv2.rotate`` for I420: each plane turned on its own."""
    return join(*(cv2.rotate(np.ascontiguousarray(p), code) for p in planes(image)))


def even_box(box: Box, width: int, height: int) -> Box:
    """``box`` grown outwards to even corners and clipped to the (even) frame."""
    x1, y1, x2, y2 = box
    return max(0, x1 - x1 % 2), max(0, y1 - y1 % 2), min(width, x2 + x2 % 2), min(height, y2 + y2 % 2)


def check_format(info, pix_fmt: str, verb: str) -> None:
    """Refuse a pixel format the frames of ``info`` cannot travel in (``verb``: read or write)."""
    if pix_fmt not in ("bgr24", "yuv420p"):
        raise ValueError(f"pix_fmt must be bgr24 or yuv420p, not {pix_fmt!r}")
    if pix_fmt == "yuv420p" and not supported(info.width, info.height):
        raise ValueError(f"{info.path}: {info.width}x{info.height} has no 4:2:0 layout (odd size); {verb} bgr24")
