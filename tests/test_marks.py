"""Identifying marks other than faces: text, plates, exposed bodies, protected overlays.

The text detector runs on rendered badges and plates (real PP-OCR model,
real pixels); the end-to-end test redacts a generated clip with a name
badge, a moving plate and a camera timestamp overlay, and checks every
frame's pixels.  The body detector's contract is tested without explicit
imagery: its real model runs on ordinary pictures, its decoder on a
synthetic output tensor, and its wiring through the pipeline on a clip.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import decode_all, read_audit

from redact.analyse.detectors.base import available, create
from redact.analyse.detectors.nudity import DEFAULT_CLASSES, LABELS, decode
from redact.analyse.detectors.text import MAX_LINE, SQUAT_SIDE
from redact.analyse.detectors.text import decode as text_decode
from redact.config import ProtectedRegion, load
from redact.errors import DetectorError
from redact.pipeline import run
from redact.sample import Mark, draw_mark, make_sample


@pytest.fixture(scope="module")
def text_detector():
    det = create("text", threshold=0.4, scale=1.0)
    det.load()
    yield det
    det.close()


def covered(box, boxes) -> float:
    """Share of ``box`` inside the union of ``boxes``."""
    x1, y1, x2, y2 = (int(v) for v in box)
    mask = np.zeros((y2 - y1, x2 - x1), bool)
    for b in boxes:
        bx1, by1, bx2, by2 = (round(v) for v in b)
        mask[max(0, by1 - y1) : max(0, by2 - y1), max(0, bx1 - x1) : max(0, bx2 - x1)] = True
    return float(mask.mean())


def test_mark_plugins_are_registered():
    assert {"text", "nudenet", "plate_haar"} <= set(available())


@pytest.mark.parametrize("kind, text, height", [("badge", "J. DOE 4471", 14), ("plate", "A123BC 77", 20),
                                                 ("overlay", "2024-05-01 10:00:00", 12)])
@pytest.mark.models
def test_text_detector_finds_rendered_text(text_detector, kind, text, height):
    img = np.full((360, 640, 3), 90, np.uint8)
    cv2.GaussianBlur(np.random.default_rng(1).normal(90, 30, img.shape).astype(np.uint8), (0, 0), 5, dst=img)
    box = draw_mark(img, Mark(kind, text, height=height), 200, 150)
    dets = text_detector.detect(img)
    assert len(dets) >= 1
    assert set(dets.kind) == {"text"}
    assert covered(box, dets.xyxy) > 0.6, (box, dets.xyxy)
    assert np.all(dets.score >= 0.4)


@pytest.mark.models
@pytest.mark.slow
def test_text_detector_ignores_a_plain_picture_and_scales_back(text_detector):
    from skimage import data

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    # The astronaut photo carries a flag patch and no writing at readable size.
    plain = text_detector.detect(img)
    assert len(plain) <= 1
    big = np.full((720, 1280, 3), 200, np.uint8)
    box = draw_mark(big, Mark("plate", "B MW 4471", height=30), 700, 500)
    half = create("text", threshold=0.4, scale=0.5)
    half.load()
    dets = half.detect(big)
    assert covered(box, dets.xyxy) > 0.6  # boxes come back in full-frame pixels


@pytest.mark.models
@pytest.mark.slow
def test_text_detector_finds_letters_a_ninth_of_the_frame_tall():
    """The decoder's limits (``MAX_LINE``) still leave large text to the model, at publish.yaml's scale."""
    det = create("text", threshold=0.4, scale=0.75)
    det.load()
    for kind, text in (("badge", "J. DOE 4471"), ("plate", "A123BC 77")):
        img = np.full((720, 1280, 3), 90, np.uint8)
        cv2.GaussianBlur(np.random.default_rng(1).normal(90, 30, img.shape).astype(np.uint8), (0, 0), 5, dst=img)
        box = draw_mark(img, Mark(kind, text, height=80), 150, 250)
        dets = det.detect(img)
        assert covered(box, dets.xyxy) > 0.5, (kind, box, dets.xyxy)  # the badge's box includes its card


def _bar(w: int, h: int, angle: float, shape=(540, 960)) -> np.ndarray:
    """A text probability map holding one solid bar of w x h map pixels, turned by ``angle`` degrees."""
    prob = np.zeros(shape, np.float32)
    corners = cv2.boxPoints(((shape[1] / 2, shape[0] / 2), (w, h), angle)).astype(np.int32)
    cv2.fillPoly(prob, [corners], 0.9)
    return prob


def test_text_decoder_drops_blobs_too_thick_or_too_upright_to_be_a_line():
    thick = int(MAX_LINE * 540)
    assert len(text_decode(_bar(300, thick - 4, 0), 0.4)[1]) == 1  # a line of large letters
    assert len(text_decode(_bar(300, thick + 4, 0), 0.4)[1]) == 0  # a row of legs or parked cars
    assert len(text_decode(_bar(300, SQUAT_SIDE + 6, 10), 0.4)[1]) == 1  # a thick line, slanted
    assert len(text_decode(_bar(300, SQUAT_SIDE + 6, 80), 0.4)[1]) == 0  # the same, standing up
    assert len(text_decode(_bar(SQUAT_SIDE + 6, 300, 0), 0.4)[1]) == 0  # ... whichever side minAreaRect names
    assert len(text_decode(_bar(120, SQUAT_SIDE - 6, 90), 0.4)[1]) == 1  # thin upright text is kept
    assert len(text_decode(_bar(SQUAT_SIDE + 6, SQUAT_SIDE + 10, 0), 0.4)[1]) == 0  # large and round


@pytest.mark.models
def test_text_detector_rejects_bad_input(text_detector):
    with pytest.raises(DetectorError, match="BGR uint8"):
        text_detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(DetectorError, match="before load"):
        create("text").detect(np.zeros((32, 32, 3), np.uint8))


@pytest.mark.models
@pytest.mark.slow
def test_nudenet_contract_on_ordinary_pictures():
    from skimage import data

    det = create("nudenet", threshold=0.25)
    det.load()
    assert det.classes == DEFAULT_CLASSES
    # An ordinary portrait and a flat frame: nothing exposed, so nothing to redact.
    for img in (cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), np.full((360, 640, 3), 128, np.uint8)):
        dets = det.detect(img)
        assert len(dets) == 0
    # The same model with a class that *is* in the portrait proves the decoding end to end.
    faces = create("nudenet", threshold=0.25, classes=["FACE_FEMALE"])
    faces.load()
    dets = faces.detect(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    assert len(dets) >= 1 and set(dets.kind) == {"body"}
    x1, y1, x2, y2 = dets.xyxy[np.argmax(dets.score)]
    assert x1 < 225 < x2 and y1 < 120 < y2  # the astronaut's face centre (see test_detectors.py)


def test_nudenet_decoder_keeps_only_configured_classes():
    out = np.zeros((4 + len(LABELS), 3), np.float32)
    out[:4, 0] = [100, 100, 20, 40]  # cx, cy, w, h in model pixels
    out[4 + LABELS.index("BUTTOCKS_EXPOSED"), 0] = 0.9
    out[:4, 1] = [50, 50, 10, 10]
    out[4 + LABELS.index("FEET_COVERED"), 1] = 0.95
    out[4 + LABELS.index("MALE_GENITALIA_EXPOSED"), 2] = 0.1  # below threshold
    wanted = np.array([label in DEFAULT_CLASSES for label in LABELS])
    xyxy, score = decode(out, wanted, 0.25, factor=2.0)
    assert score.tolist() == pytest.approx([0.9])
    assert xyxy.tolist() == [[180.0, 160.0, 220.0, 240.0]]


def test_nudenet_rejects_unknown_classes():
    with pytest.raises(DetectorError, match="unknown classes NAKED"):
        create("nudenet", classes=["NAKED"])


@pytest.fixture(scope="module")
def marks_clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("marks")
    return make_sample(root / "marks.mp4", seconds=2.0, fps=25, marks=True)


@pytest.mark.slow
@pytest.mark.models
def test_badge_and_plate_redacted_in_every_frame_protected_overlay_survives(marks_clip, tmp_path):
    overlay = next(box for kind, box in marks_clip.marks[0] if kind == "overlay")
    _, _, x2, y2 = overlay
    config = load(overrides=["detect.detectors.1.every=1"])
    config.detect.detectors.append(
        type(config.detect.detectors[0])(name="text", threshold=0.4, scale=1.0, every=3)
    )
    config.regions.protect.append(ProtectedRegion("timestamp", x=0, y=0, w=x2 + 20, h=y2 + 12))
    out = tmp_path / "out.mp4"
    result = run(marks_clip.path, out, config)
    src, dst = decode_all(marks_clip.path).astype(np.int16), decode_all(out).astype(np.int16)
    assert len(src) == len(dst) == marks_clip.frames
    for i, marks in enumerate(marks_clip.marks):
        for kind, (bx1, by1, bx2, by2) in marks:
            diff = np.abs(src[i, by1:by2, bx1:bx2] - dst[i, by1:by2, bx1:bx2]).mean()
            if kind == "overlay":
                assert diff < 6, f"frame {i}: the protected timestamp was changed ({diff:.1f})"
            else:
                # Solid black over a white badge / yellow plate (or a face's fill where they
                # overlap): a large change, and no pixel of the box left as it was.
                assert diff > 60, f"frame {i}: {kind} at {(bx1, by1, bx2, by2)} not redacted ({diff:.1f})"
                same = np.abs(src[i, by1:by2, bx1:bx2] - dst[i, by1:by2, bx1:bx2]).max(axis=2) < 12
                assert same.mean() < 0.02, f"frame {i}: {same.mean():.1%} of the {kind} unchanged"
    audit = read_audit(result.audit_log)
    kinds = {d["kind"] for d in audit if d["type"] == "decision"}
    assert {"face", "text"} <= kinds
    styles = {(r["kind"], r["style"], r["shape"]) for f in audit if f["type"] == "frame" for r in f["regions"]}
    assert ("text", "solid", "box") in styles and ("face", "fill", "ellipse") in styles


@pytest.mark.slow
@pytest.mark.models
def test_a_face_inside_a_protected_region_is_still_redacted(tmp_path):
    from redact.sample import FacePath

    clip = make_sample(tmp_path / "face_in_overlay.mp4", seconds=1.0, fps=25,
                       paths=[FacePath((40, 20), (60, 30), 90)], audio=False)
    config = load()
    config.regions.protect.append(ProtectedRegion("overlay", x=0, y=0, w=640, h=360))
    out = tmp_path / "out.mp4"
    run(clip.path, out, config)
    src, dst = decode_all(clip.path).astype(np.int16), decode_all(out).astype(np.int16)
    for i, boxes in enumerate(clip.boxes):
        for bx1, by1, bx2, by2 in boxes:
            assert np.abs(src[i, by1:by2, bx1:bx2] - dst[i, by1:by2, bx1:bx2]).mean() > 20, f"frame {i}"


def test_publish_and_dataset_presets_name_the_mark_detectors():
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "configs"
    publish = load(configs / "publish.yaml")
    names = [d.name for d in publish.detect.detectors]
    assert "text" in names and "nudenet" in names and "centerface" in names
    assert publish.audio.action == "disguise"
    assert publish.render.text.style == "solid" and publish.render.body.style == "solid"
    dataset = load(configs / "dataset.yaml")
    assert "text" in [d.name for d in dataset.detect.detectors] and dataset.audio.action == "keep"
