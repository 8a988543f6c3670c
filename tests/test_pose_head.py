"""The ``pose_head`` plug-in: head boxes from MediaPipe Pose, with the real model.

The reference person is scikit-image's ``astronaut`` (512 x 512, head and
shoulders): her face spans about x 178-272, y 65-175 (as in
``test_detectors.py``; BlazeFace puts it at 174-278, 68-172), her hair about
x 155-300, y 15-175.  The geometry of :func:`head_box` is tested alone on
hand-made landmarks.  The model loads once per module.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from redact.analyse.detectors.base import TiledDetector, available, create
from redact.analyse.detectors.pose_head import PoseHeadDetector, head_box
from redact.config import load
from redact.errors import DetectorError
from redact.pipeline import run
from redact.types import Detections
from tests.conftest import read_audit

THRESHOLD = 0.5
FACE = np.array([178, 65, 272, 175], np.float32)  # the astronaut's face, in her 512 x 512 image


def contains(outer: np.ndarray, inner: np.ndarray, slack: float = 0.0) -> bool:
    return bool(
        outer[0] <= inner[0] + slack
        and outer[1] <= inner[1] + slack
        and outer[2] >= inner[2] - slack
        and outer[3] >= inner[3] - slack
    )


def area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def pose() -> Iterator[PoseHeadDetector]:
    det = create("pose_head", threshold=THRESHOLD)
    det.load()
    yield det
    det.close()


# --- the plug-in on real pixels -----------------------------------------------------


def test_registered_listed_and_a_face_kind():
    assert "pose_head" in available()
    det = create("pose_head", threshold=0.3, scale=0.5)
    assert isinstance(det, PoseHeadDetector)
    assert det.name == "pose_head" and det.kind == "face"
    assert det.threshold == 0.3 and det.scale == 0.5


@pytest.mark.models
def test_finds_one_head_around_the_astronaut_face(pose, astronaut):
    dets = pose.detect(astronaut)
    assert len(dets) == 1
    box = dets.xyxy[0]
    assert contains(box, FACE), box
    # A head box, not a body box: bigger than the face, smaller than four faces.
    assert area(FACE) < area(box) < 4 * area(FACE)
    assert dets.score[0] >= THRESHOLD
    assert dets.xyxy.dtype == np.float32
    assert list(dets.kind) == ["face"] and list(dets.detector) == ["pose_head"]


@pytest.mark.models
def test_boxes_are_in_original_pixels_when_scaled_and_offset(astronaut):
    x, y = 600, 150
    canvas = np.full((720, 1280, 3), 128, np.uint8)
    canvas[y : y + 512, x : x + 512] = astronaut
    det = create("pose_head", threshold=THRESHOLD, scale=0.5)
    det.load()
    try:
        dets = det.detect(canvas)
    finally:
        det.close()
    assert len(dets) == 1
    assert contains(dets.xyxy[0], FACE + np.array([x, y, x, y], np.float32), slack=4)


@pytest.mark.models
def test_non_contiguous_view(pose, astronaut):
    # What a tiler slices: a strided view, here the upper 400 rows of the image.
    view = astronaut[:400, 40:480]
    assert not view.flags.c_contiguous
    dets = pose.detect(view)
    assert len(dets) == 1
    assert contains(dets.xyxy[0], FACE - np.array([40, 0, 40, 0], np.float32), slack=4)
    assert (dets.xyxy >= 0).all() and dets.xyxy[0, 2] <= 440 and dets.xyxy[0, 3] <= 400


@pytest.mark.models
def test_grayscale_looking_image_still_finds_the_head(pose, astronaut):
    grey = cv2.cvtColor(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    dets = pose.detect(grey)
    assert len(dets) == 1
    assert contains(dets.xyxy[0], FACE)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((720, 1280, 3), np.uint8),
        np.full((217, 333, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8),
    ],
    ids=["black-720p", "grey-odd-size", "noise"],
)
@pytest.mark.models
def test_no_person_no_boxes(pose, image):
    dets = pose.detect(image)
    assert isinstance(dets, Detections) and len(dets) == 0


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (8, 8), (17, 31), (48, 48)])
@pytest.mark.models
def test_tiny_images_do_not_crash(pose, astronaut, size):
    h, w = size
    for image in (np.zeros((h, w, 3), np.uint8), cv2.resize(astronaut, (w, h), interpolation=cv2.INTER_AREA)):
        dets = pose.detect(image)
        assert (dets.xyxy >= 0).all()
        assert (dets.xyxy[:, [0, 2]] <= w).all() and (dets.xyxy[:, [1, 3]] <= h).all()


@pytest.mark.models
def test_tiled_gives_each_tile_a_chance(pose, astronaut):
    # Pose is single-person per call; the tiler runs it on the frame and on each tile.
    canvas = np.full((720, 1280, 3), 128, np.uint8)
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    canvas[40:296, 60:316] = small
    canvas[420:676, 900:1156] = small
    faces = [FACE / 2 + np.array([x, y, x, y], np.float32) for x, y in ((60, 40), (900, 420))]
    found = TiledDetector(pose, tiles=2).detect(canvas)
    for face in faces:
        assert any(contains(b, face, slack=4) for b in found.xyxy), (face, found.xyxy)


def test_errors_are_detector_errors(astronaut):
    with pytest.raises(DetectorError, match="load"):
        create("pose_head").detect(astronaut)
    with pytest.raises(DetectorError, match="threshold"):
        create("pose_head", threshold=1.5)
    with pytest.raises(DetectorError, match="scale"):
        create("pose_head", scale=0)
    with pytest.raises(DetectorError, match="bogus"):
        create("pose_head", bogus=1)


@pytest.mark.models
def test_wrong_image_type_is_a_detector_error(pose):
    with pytest.raises(DetectorError, match="BGR uint8"):
        pose.detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(DetectorError, match="BGR uint8"):
        pose.detect(np.zeros((64, 64, 3), np.float32))


@pytest.mark.slow
@pytest.mark.models
def test_usable_through_the_pipeline(clips, tmp_path):
    sample = clips["basic"]
    # Windows off: their CenterFace would look again wherever pose lost a head, and this is about pose alone.
    config = load(None, ["detect.detectors=[{name: pose_head, threshold: 0.5}]", "detect.refine.detector=none"])
    assert [d.name for d in config.detect.detectors] == ["pose_head"]
    result = run(sample.path, tmp_path / "out.mp4", config)
    assert result.output.exists() and result.frames == sample.frames
    records = read_audit(result.audit_log)
    detected = [g for r in records if r["type"] == "frame" for g in r["regions"] if g["source"] == "detected"]
    assert detected, "pose_head found no head in the sample clip"
    assert {g["detector"] for g in detected} == {"pose_head"}
    assert {g["kind"] for g in detected} == {"face"}


# --- the geometry alone -------------------------------------------------------------


NAMES = [
    "nose", "l_eye_in", "l_eye", "l_eye_out", "r_eye_in", "r_eye", "r_eye_out",
    "l_ear", "r_ear", "mouth_l", "mouth_r", "l_shoulder", "r_shoulder",
]  # fmt: skip
"""BlazePose landmarks 0-12, in order."""


def landmarks(**points: tuple[float, float, float]) -> np.ndarray:
    """13 BlazePose landmarks (x, y, visibility), all unseen except those named."""
    arr = np.zeros((13, 3))
    for name, value in points.items():
        arr[NAMES.index(name)] = value
    return arr


# A frontal head 100 px high centred near (300, 200) on shoulders 160 px apart, from
# anthropometry: eyes 27 px apart on the eye line, ears 60 px apart a little below it.
FRONTAL = {
    "nose": (300, 222, 0.99),
    "l_eye_in": (308, 200, 0.99), "l_eye": (314, 200, 0.99), "l_eye_out": (320, 200, 0.99),
    "r_eye_in": (293, 200, 0.99), "r_eye": (287, 200, 0.99), "r_eye_out": (281, 200, 0.99),
    "l_ear": (330, 208, 0.95), "r_ear": (270, 208, 0.95),
    "mouth_l": (310, 233, 0.99), "mouth_r": (290, 233, 0.99),
    "l_shoulder": (380, 300, 0.99), "r_shoulder": (220, 300, 0.99),
}  # fmt: skip
HEAD = np.array([250, 150, 350, 250], np.float32)  # crown to chin, ear to ear and some


def test_frontal_head_box_covers_the_head():
    box, score = head_box(landmarks(**FRONTAL))
    assert contains(box, HEAD), box
    assert area(box) < 2.5 * area(HEAD)
    assert box[3] < 300  # above the shoulder line
    assert score == pytest.approx(0.99)


def test_back_of_head_from_ears_and_shoulders():
    # Seen from behind: nose, eyes and mouth are not visible, and Pose's guesses
    # for them are garbage here (all at the origin) with visibility 0.05.
    pts = landmarks(**FRONTAL)
    pts[[0, 1, 2, 3, 4, 5, 6, 9, 10]] = (0, 0, 0.05)
    box, score = head_box(pts)
    cx = (box[0] + box[2]) / 2
    assert cx == pytest.approx(300, abs=2)  # between the ears
    assert contains(box, HEAD), box
    assert 80 < box[2] - box[0] < 200  # a head's size, from ear and shoulder width
    assert box[3] < 300  # above the shoulders
    assert score == pytest.approx(0.99)  # shoulders seen put a head above them


def test_profile_size_comes_from_the_neck():
    # Side-on: ears, eyes and shoulders overlap in the image, so their widths say
    # nothing; the distance from the head to the shoulders still gives its size.
    pts = landmarks(
        nose=(340, 222, 0.99), l_eye=(325, 200, 0.99), l_eye_in=(328, 200, 0.9), l_eye_out=(322, 200, 0.9),
        l_ear=(300, 208, 0.95), mouth_l=(332, 233, 0.99),
        r_eye=(327, 200, 0.2), r_ear=(302, 208, 0.2),
        l_shoulder=(295, 300, 0.99), r_shoulder=(305, 300, 0.6),
    )  # fmt: skip
    box, _ = head_box(pts)
    assert box[2] - box[0] > 80
    assert contains(box, np.array([280, 160, 345, 245], np.float32)), box


def test_only_shoulders_puts_the_head_above_them():
    pts = landmarks(l_shoulder=(380, 300, 0.9), r_shoulder=(220, 300, 0.9))
    box, score = head_box(pts)
    assert (box[0] + box[2]) / 2 == pytest.approx(300)
    assert box[3] < 300 and box[1] > 50
    assert 80 < box[2] - box[0] < 200
    assert score == pytest.approx(0.9)


def test_a_larger_cue_only_grows_the_box():
    small, _ = head_box(landmarks(**FRONTAL))
    wide = {**FRONTAL, "l_shoulder": (460, 300, 0.99), "r_shoulder": (140, 300, 0.99)}
    big, _ = head_box(landmarks(**wide))
    assert area(big) > area(small)


def test_nothing_seen_gives_no_box():
    assert head_box(np.zeros((13, 3))) is None
    assert head_box(np.full((33, 3), np.nan)) is None
    with pytest.raises(ValueError, match="13"):
        head_box(np.zeros((5, 3)))
