"""Text, badges, ID numbers and plates: PP-OCRv4 text *detection* (OpenVINO or onnxruntime).

The model is the one ``rapidocr-onnxruntime`` ships in its wheel
(``models/ch_PP-OCRv4_det_infer.onnx``); only the detector runs, no
recogniser, because finding text is enough to hide it.  It is a DB
(differentiable binarisation) network: one forward pass gives a per-pixel
text probability map at the input's resolution; text regions are the
connected blobs of that map above ``BINARISE``, each scored by its mean
probability and grown back by the "unclip" ratio the model was trained
with, since the map marks only the shrunk core of each line.

We decode the map ourselves (thirty lines of OpenCV) instead of calling
rapidocr's pipeline, to get axis-aligned boxes and scores in one step, run
the model single-threaded beside the face detectors, and keep the
decoding thresholds in our config: rapidocr's defaults (0.3 / 0.5) are
tuned for reading documents, where a false box costs a misread; here a
missed name badge costs a victim, so the box score threshold is lower.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from redact.analyse.detectors.base import check_image, check_options, register, resize_for, shipped_file
from redact.analyse.detectors.engine import OnnxPlugin
from redact.types import Detections, Kind

log = logging.getLogger(__name__)

MODEL = "ch_PP-OCRv4_det_infer.onnx"
BINARISE = 0.3
"""Pixels of the probability map above this are text (what PP-OCR uses)."""
UNCLIP = 1.6
"""How far each blob is grown back, as PP-OCR trains it: area * ratio / perimeter."""
ALIGN = 32
MIN_SIDE = 3
"""Blobs thinner than this (px of the map) are noise, not characters."""
SQUAT_RATIO = 1.5
SQUAT_SIDE = 24
"""Blobs thicker than this (px of the map) must lie down: at least ``SQUAT_RATIO`` times as long
as thick, and running nearer horizontal than vertical.

On dark, noisy footage the model also fires on faces and bright objects;
those blobs are round, while a line of text of two characters or more is
at least half again as long as it is tall.  It also fires on faces, legs
and lamp posts in thick upright blobs, while none of the 1,654 blobs on
true text of the bench's seeds 0-2 this thick stands upright
(``pipelines/text_blobs.py``).  Thinner blobs of any shape and angle
are kept (a lone digit, a short slanted word).  The price: a line of large
letters (over ~48 px at 720p and 0.75 scale) written top to bottom, or
filmed by a camera lying on its side, is not found and must be marked with
``--region``."""
MAX_LINE = 0.07
"""Blobs whose short side is more than this share of the image height are not a line of text.

A blob is the shrunk core of a line, about two thirds of its letters'
height: at 0.07, letters up to about a ninth of the frame's height (80 px
at 720p) are found; the thickest of the 1,654 blobs on true text of the
bench's seeds 0-2 is 0.053 (``pipelines/text_blobs.py``), ~60 px letters.
Thicker blobs are what the model makes of things that are not writing:
sensor noise around faces and bright objects, a row of pedestrians' legs or
of parked cars, scored 0.9 and more.  With the limit at 0.12 they painted
out 22 % of the picture on the bench's infrared clip with ``publish.yaml``,
5 % at 0.07 (docs/benchmarks-history.md, issue 5).  Larger text (a badge filling the
picture) must be marked with ``--region``."""


@register("text")
class TextDetector(OnnxPlugin):
    """Finds lines of text of any script; ``scale`` resizes the frame first (text ~8 px tall after it is still found)."""

    kind = Kind.TEXT

    def __init__(self, threshold: float = 0.4, scale: float = 1.0) -> None:
        super().__init__()
        self.name = "text"
        self.threshold, self.scale = check_options("text", threshold, scale)
        self._kernel = np.ones((2, 2), np.uint8)

    def model(self) -> Path:
        return shipped_file("rapidocr_onnxruntime", f"models/{MODEL}", "pip install rapidocr-onnxruntime")

    def detect(self, image: np.ndarray) -> Detections:
        check_image(self.name, image)
        h, w = image.shape[:2]
        small, _ = resize_for(image, self.scale)
        blob, (sh, sw) = _blob(small)
        (prob,) = self.infer(blob)
        xyxy, score = decode(prob[0, 0, :sh, :sw], self.threshold, self._kernel)
        if not len(score):
            return Detections()
        xyxy /= np.array([sw / w, sh / h, sw / w, sh / h], np.float32)
        np.clip(xyxy, 0, [w, h, w, h], out=xyxy)
        return Detections.of(xyxy, score, self.kind, self.name)


def _blob(bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Normalised RGB NCHW, zero-padded (bottom/right) to multiples of 32; returns the blob and the image size."""
    h, w = bgr.shape[:2]
    ph, pw = -(-h // ALIGN) * ALIGN, -(-w // ALIGN) * ALIGN
    blob = np.zeros((1, 3, ph, pw), np.float32)
    rgb = bgr[:, :, ::-1].astype(np.float32) * (2.0 / 255.0) - 1.0  # (x / 255 - 0.5) / 0.5
    blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)
    return blob, (h, w)


def decode(prob: np.ndarray, threshold: float, kernel: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probability map -> axis-aligned boxes (map pixels) and scores.

    A blob's score is its mean probability; blobs under ``threshold``, or
    not shaped like a line of text (:func:`is_line`), are dropped.  The box
    is the blob's rotated rectangle grown by the unclip distance, then made
    axis-aligned: redaction covers the whole slanted line, never a part of it.
    """
    boxes, scores = [], []
    for rect, contour in blobs(prob, kernel):
        if not is_line(rect, prob.shape[0]):
            continue
        score = blob_score(prob, contour)
        if score < threshold:
            continue
        (cx, cy), (rw, rh), angle = rect
        grow = rw * rh * UNCLIP / (2 * (rw + rh))
        corners = cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle))
        boxes.append([*corners.min(0), *corners.max(0)])
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.asarray(boxes, np.float32), np.asarray(scores, np.float32)


def blobs(prob: np.ndarray, kernel: np.ndarray | None = None) -> list[tuple[tuple, np.ndarray]]:
    """The blobs of the map above ``BINARISE``: each one's rotated rectangle (``cv2.minAreaRect``) and contour."""
    mask = (prob > BINARISE).astype(np.uint8)
    if kernel is not None:
        mask = cv2.dilate(mask, kernel)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    return [(cv2.minAreaRect(c), c) for c in contours]


def is_line(rect: tuple, map_height: int) -> bool:
    """Whether a blob's rotated rectangle is shaped like a line of text (``MIN_SIDE``, ``MAX_LINE``, ``SQUAT_*``)."""
    _, (rw, rh), _ = rect
    short, long = min(rw, rh), max(rw, rh)
    if short < MIN_SIDE or short > MAX_LINE * map_height:
        return False
    return short <= SQUAT_SIDE or (long >= SQUAT_RATIO * short and not _upright(rect))


def blob_score(prob: np.ndarray, contour: np.ndarray) -> float:
    """Mean probability inside the contour."""
    x, y, bw, bh = cv2.boundingRect(contour)
    inside = np.zeros((bh, bw), np.uint8)
    cv2.fillPoly(inside, [contour - [x, y]], 1)
    return float(cv2.mean(prob[y : y + bh, x : x + bw], inside)[0])


def _upright(rect: tuple) -> bool:
    """Whether a rotated rectangle's long side runs nearer vertical than horizontal.

    From its corners rather than ``minAreaRect``'s angle, whose convention
    changed between OpenCV releases.
    """
    corners = cv2.boxPoints(rect)
    side1, side2 = corners[1] - corners[0], corners[2] - corners[1]
    dx, dy = side1 if side1 @ side1 >= side2 @ side2 else side2
    return abs(dy) > abs(dx)
