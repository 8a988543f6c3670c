"""Following a small face by its look where no face model scores it any more.

A face of 12-40 px that moves fast, or under a shaking camera, is smeared
along its motion on most frames: CenterFace and BlazeFace, in whole frames
and in enlarged windows alike, score it under 0.1 for tens of frames running,
and the face is left visible until a sweep happens to find it again (on
random bench videos: a 15 px face lost for 37 frames in a row, a 30 px
upside-down face in infrared for 50).  The blob itself stays easy to see:
the same smear of skin against the same background, a few pixels further on.
So each face track remembers how its face looked at its last real detection,
and where the models find nothing, the patch most like it near the predicted
place (normalised cross-correlation) says where the face went.

Such a box is evidence of *where*, never that a face is there: it is marked
``PLACED`` (recognition does not sample it), and it keeps a track alive for at
most ``MAX_RUN`` frames after the track's last real detection, so a track that
followed clutter, or a face that left, ends soon after.  The cost of being
wrong is a small patch redacted for a second; the cost of not following is a
face left visible.
"""

from __future__ import annotations

import cv2
import numpy as np

from redact.types import PLACED, Detections

MATCH = 0.6
"""Least normalised correlation (TM_CCOEFF_NORMED) of a patch with the remembered face to place it there."""
MAX_RUN = 12
"""Frames a track may be carried by its look alone after its last real detection (half a second at 25 fps):
on the tuning videos 25 frames found no more faces, and ran more windows on clutter (pub01: 2,391 against
2,019).  A box placed where the face is not moves its track there; this also bounds how long."""
MAX_FACE = 64
"""Only faces this small (px) are followed by look: larger ones stay visible to the whole-frame sweeps."""
MIN_TEXTURE = 6.0
"""A remembered patch flatter than this (grey std) matches anything: it is not followed."""
FORGET_AFTER = 256
"""Frames after which the look of a track not detected since is dropped (tracks die after ``max_coast``)."""
NAME = "appearance"
"""The detector name its boxes carry in the audit log."""


class LookFollower:
    """Remembers each small face track's last detected look, and finds it again in a window."""

    def __init__(self) -> None:
        self._looks: dict[int, np.ndarray] = {}  # track id -> grey patch of its last real detection
        self._carried: dict[int, int] = {}  # track id -> frames placed by look since then
        self._when: dict[int, int] = {}  # track id -> the call of remember() that last saw it
        self._calls = 0
        self.looks_run = 0

    def remember(self, image: np.ndarray, rows: Detections) -> None:
        """Keep the look of every small face a model detected on this frame (``rows`` labelled by the tracker)."""
        self._calls += 1
        if self._calls % FORGET_AFTER == 0:  # tracks long dead: a long video makes thousands
            for track in [t for t, when in self._when.items() if self._calls - when > FORGET_AFTER]:
                del self._when[track], self._carried[track]
                self._looks.pop(track, None)
        height, width = image.shape[:2]
        placed = rows.column(PLACED)
        for i in range(len(rows)):
            x1, y1, x2, y2 = (int(round(float(v))) for v in rows.xyxy[i])
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
            if placed[i] or rows.track_id[i] < 0 or x2 - x1 < 4 or y2 - y1 < 4 or max(x2 - x1, y2 - y1) > MAX_FACE:
                continue
            grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
            track = int(rows.track_id[i])
            self._carried[track], self._when[track] = 0, self._calls
            if float(grey.std()) >= MIN_TEXTURE:
                self._looks[track] = grey
            else:
                self._looks.pop(track, None)

    def carrying(self, track: int) -> bool:
        """Whether ``track`` was last placed by its look: no model found it at any angle on that frame."""
        return self._carried.get(track, 0) > 0

    def find(self, image: np.ndarray, track: int, area: tuple[int, int, int, int],
             face: tuple[float, float, float, float], angle: float = 0.0) -> Detections:
        """The remembered face of ``track`` inside ``area`` (x1, y1, x2, y2), boxed at the size of ``face``."""
        patch = self._looks.get(track)
        if patch is None or self._carried.get(track, 0) >= MAX_RUN:
            return Detections()
        x1, y1, x2, y2 = area
        ph, pw = patch.shape
        if x2 - x1 <= pw or y2 - y1 <= ph:
            return Detections()
        search = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
        scores = cv2.matchTemplate(search, patch, cv2.TM_CCOEFF_NORMED)
        self.looks_run += 1
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        if best < MATCH:
            return Detections()
        self._carried[track] = self._carried.get(track, 0) + 1
        cx, cy = x1 + bx + pw / 2, y1 + by + ph / 2
        hw, hh = (face[2] - face[0]) / 2, (face[3] - face[1]) / 2
        # Score 0: no model scored it.  The angle is the track's, so its windows keep looking at it.
        d = Detections.of([cx - hw, cy - hh, cx + hw, cy + hh], [0.0], "face", NAME)
        d.angle[:] = angle
        d.data[PLACED] = np.ones(1, bool)
        return d
