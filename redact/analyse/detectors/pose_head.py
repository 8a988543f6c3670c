"""Head boxes from MediaPipe Pose landmarks: covers heads the face detectors lose.

A face detector needs a face: it loses a head in profile, one turned away, one
seen from behind, or a face hidden by a hand or a hood.  The person is still
identifiable from the hair, the ears and the back of the head, and the
commercial redaction tools cover those with a head detector.  This plug-in
gets the head from MediaPipe Pose (BlazePose, ``model_complexity=1``, the
"full" model that ships in the mediapipe 0.10.21 wheel; 0 and 2 would be
downloaded at run time, so they are not offered).  Pose predicts all 33 body
landmarks of a person it finds, including the nose, eyes, ears, mouth and
shoulders, with a per-landmark *visibility* (its confidence that the point is
in view rather than occluded).  :func:`head_box` turns the head and shoulder
landmarks into a head box; the boxes are ``kind = "face"`` so they fuse
and track with the face detectors' boxes (``redact.analyse.fuse`` takes the union
of overlapping boxes, so a head box around a face box simply enlarges it).

Limits a caller must know:

* **One person per call.**  The legacy Pose solution tracks a single person:
  in a crowd it returns the most salient one and nothing for the others.
  ``tiles`` in the detector's config (``TiledDetector``) runs it on the whole
  frame and on each tile, which gives up to ``1 + tiles**2`` people a chance
  per frame; it is still no crowd detector.
* **A body helps.**  Pose first finds a person with its own detector, which
  keys on the face and upper body; a head with no body below it (a face
  pasted onto footage) is found less reliably (see the bench numbers below).
* **Static mode.**  Every call is an independent still image
  (``static_image_mode=True``): frames may be skipped (``every``) or tiled, and
  a tracking state inside the detector would tie one tile's person to the
  next tile.  Temporal continuity is the tracker's job.

Measured on the 2-core development machine while shared with other jobs, so
absolute times are loose: one call on a 1280x720 frame with a person took a
median of 25 ms over 20 calls at light load (52 ms at load average 12, when
CenterFace took ~400 ms in the same process); a frame with nobody ~8 ms (only
Pose's person detector runs); ``tiles: 2`` costs up to 5 calls.  On the public
bench, every 5th frame of pub01_plaza and pub04_motion_occlusion (faces are
photos composited onto footage, without bodies), threshold 0.5 found 22/193 and
43/217 ground-truth faces (IoU > 0.3 or the box holds the face's centre) with
1 and 0 other boxes; with ``tiles: 2``, 88/193 and 79/217 with 21 and 13 other
boxes, mostly real heads of the footage's pedestrians and cyclists (not in the
ground truth) and small boxes inside composited faces.  None of the faces it
found had been missed by the default detectors, so on that bench it adds cost
and no recall: it pays only where heads turn away, which the bench lacks.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from redact.analyse.detectors.base import check_options, register
from redact.analyse.detectors.mediapipe_face import MediaPipeGraph, process_bgr
from redact.types import Detections, Kind

log = logging.getLogger(__name__)

# BlazePose landmark indices (mediapipe.solutions.pose.PoseLandmark).
LEFT_EYE, RIGHT_EYE = 2, 5
LEFT_EAR, RIGHT_EAR = 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
HEAD = tuple(range(11))
"""Nose, the six eye points, both ears and both mouth corners: every landmark on the head."""

VISIBLE = 0.5
"""A landmark at or above this visibility is treated as seen; the head's centre comes from these."""
CUE_VISIBLE = 0.3
"""Both ends of a size cue need at least this visibility.  Low on purpose: the size is
the *largest* cue (see :func:`head_box`), so a doubtful cue can only make the box bigger."""

# Head size (crown to chin, also the box width) per cue, in units of the
# cue's length.  Adult anthropometry (head height ~23 cm, tragus to tragus ~14 cm,
# pupils ~6.3 cm apart, shoulder joints ~36-40 cm apart) gives roughly 1.65, 3.65,
# 0.6; the ear and shoulder factors are rounded up so hair and a hood are covered.
# On scikit-image's astronaut (head with hair ~155 px high) the four give 150 (ears
# 79 px apart), 162 (eyes 45 px), 146 (shoulders 194 px) and 143 (head centre to
# shoulders 130 px).
EAR_FACTOR = 1.9
EYE_FACTOR = 3.6
SHOULDER_FACTOR = 0.75
NECK_FACTOR = 1.1
"""Per unit of distance from the head's centre to the shoulders' midpoint."""
ABOVE = 0.65
BELOW = 0.55
"""Box top and bottom, in head sizes from the head landmarks' centre.  That centre lies
about 0.1 head heights below the middle of the head (the eye line halves the head; the
mouth and nose pull the mean down), so the skull's top is ~0.6 above it (the
astronaut's hair reaches 0.64) and the chin ~0.4 below.  Both get a margin because hair,
a chin, a beard or a head tilted down identify; on the public bench's faces the chin
(the face box's bottom) lay a median 0.43 head sizes below the centre."""


def head_box(points: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Return a head box ``[x1, y1, x2, y2]`` and a confidence, or ``None``.

    ``points`` is ``(n >= 13, 3)``: x and y in pixels and visibility in [0, 1]
    for BlazePose landmarks 0-12 (the head and both shoulders; more rows are
    ignored).  A non-finite row counts as not seen.  The box is not clipped to
    any frame.

    **Centre**: the visibility-weighted mean of the head landmarks seen (visibility
    >= ``VISIBLE``), so a frontal face uses nose, eyes, mouth and ears, a profile
    the near side's points and a back view the ears.  If none is seen, all the
    head landmarks weighted by visibility: Pose still *predicts* where an occluded
    nose or ear is, which is inside the head it cannot see.  If even that carries
    no weight, the centre goes one neck length above the shoulders' midpoint.
    The box reaches ``ABOVE`` head sizes above the centre and ``BELOW`` below it.

    **Size**: the *largest* of four estimates: ear to ear, eye to eye, shoulder to
    shoulder, and head centre to the shoulders' midpoint.  Each is a 2-D length,
    and turning the head or body only ever shortens a projected length (ears and
    eyes overlap in profile, shoulders overlap side-on, bowing shortens the neck),
    so the largest estimate is the least foreshortened one; an overestimate costs
    some background, an underestimate leaks part of a head.  That is also why the
    box is as wide as the head is high: a profile is about as long as the head
    is high.

    **Confidence**: the highest visibility of a head landmark, raised to the
    lower visibility of the two shoulders when both are higher: seen shoulders
    put a head above them even when no head landmark is seen (a back view).  It
    ranks boxes; it is not a calibrated probability.
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[0] < 13 or pts.shape[1] < 3:
        raise ValueError(f"head_box needs (>=13, 3) landmarks (x, y, visibility), got shape {pts.shape}")
    pts = pts[:13, :3]
    finite = np.isfinite(pts).all(axis=1)
    xy = np.where(finite[:, None], pts[:, :2], 0.0)
    vis = np.where(finite, np.clip(pts[:, 2], 0.0, 1.0), 0.0)

    def seen(i: int, at: float = CUE_VISIBLE) -> bool:
        return bool(vis[i] >= at)

    shoulders = seen(LEFT_SHOULDER) and seen(RIGHT_SHOULDER)
    shoulder_mid = (xy[LEFT_SHOULDER] + xy[RIGHT_SHOULDER]) / 2

    head = np.array(HEAD)
    w = np.where(vis[head] >= VISIBLE, vis[head], 0.0)
    if w.sum() == 0:
        w = vis[head]  # predicted positions of occluded points, weighted by Pose's own doubt
    centre = (w[:, None] * xy[head]).sum(0) / w.sum() if w.sum() > 0 else None

    cues = []
    if seen(LEFT_EAR) and seen(RIGHT_EAR):
        cues.append(EAR_FACTOR * np.linalg.norm(xy[LEFT_EAR] - xy[RIGHT_EAR]))
    if seen(LEFT_EYE) and seen(RIGHT_EYE):
        cues.append(EYE_FACTOR * np.linalg.norm(xy[LEFT_EYE] - xy[RIGHT_EYE]))
    if shoulders:
        cues.append(SHOULDER_FACTOR * np.linalg.norm(xy[LEFT_SHOULDER] - xy[RIGHT_SHOULDER]))
        if centre is not None:
            cues.append(NECK_FACTOR * np.linalg.norm(centre - shoulder_mid))
    size = max(cues, default=0.0)
    if not size > 0:
        return None

    if centre is None:
        # Only shoulders: the head is above their midpoint, "above" meaning away from
        # the shoulder line on the image-up side (a tilted body tilts its head too).
        d = xy[RIGHT_SHOULDER] - xy[LEFT_SHOULDER]
        up = np.array([d[1], -d[0]]) / (np.linalg.norm(d) or 1.0)
        if up[1] > 0:
            up = -up
        centre = shoulder_mid + up * size / NECK_FACTOR
    cx, cy = centre
    box = np.array([cx - size / 2, cy - ABOVE * size, cx + size / 2, cy + BELOW * size], np.float32)

    score = float(vis[head].max())
    if shoulders:
        score = max(score, float(min(vis[LEFT_SHOULDER], vis[RIGHT_SHOULDER])))
    return box, score


@register("pose_head")
class PoseHeadDetector(MediaPipeGraph):
    """One MediaPipe Pose graph in static-image mode; never share an instance between threads.

    ``threshold`` is passed to Pose as its person-detection confidence and also
    drops head boxes whose visibility confidence (see :func:`head_box`) is
    lower; ``scale`` resizes the frame first (Pose itself works at 256 px, so
    scaling mostly saves the resize).
    """

    kind = Kind.FACE
    solution = "pose"

    def __init__(self, threshold: float = 0.5, scale: float = 1.0) -> None:
        self.name = "pose_head"
        self.threshold, self.scale = check_options("pose_head", threshold, scale)
        self._graph: Any = None

    def _build(self, pose):
        # model_complexity=1 is the only pose model inside the 0.10.21 wheel;
        # 0 and 2 are fetched from the network on first use.
        graph = pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False,
                          min_detection_confidence=self.threshold)
        log.debug("pose_head loaded (BlazePose full, static images, threshold %.2f)", self.threshold)
        return graph

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        result = process_bgr(self._graph, self.name, image, self.scale)
        if result.pose_landmarks is None:
            return Detections()
        # Normalised coordinates are resolution-free: scaling by the *original* size
        # undoes the resize exactly (x by width, y by height, so any aspect works).
        points = np.array([(p.x * w, p.y * h, p.visibility) for p in result.pose_landmarks.landmark[:13]])
        found = head_box(points)
        if found is None:
            return Detections()
        box, score = found
        if score < self.threshold:
            return Detections()
        np.clip(box, 0, [w, h, w, h], out=box)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:  # the head is outside the frame
            return Detections()
        return Detections.of(box[None], [score], self.kind, self.name)
