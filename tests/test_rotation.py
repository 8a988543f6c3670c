"""Faces at any in-plane angle: turned copies of the frame, turned windows, and the end-to-end promise.

Victims in the footage this tool is for lie on the floor, are held down or
upside down, filmed by a body camera held at any angle.  These tests pin the
geometry of turning a picture and mapping boxes back, the sweep over turned
copies, windows that follow a face at its own angle and look for it at other
angles when it rolls over, and, end to end with the real models, that a real
face turned 90, 135, 180 and 270 degrees and moving is covered in every frame
by the default config, in colour and in dark, noisy grey.
"""

from __future__ import annotations

import numpy as np
import pytest

from redact.analyse.detectors.base import Rotations, create
from redact.analyse.detectors.rotate import map_boxes, rotate, rotate_square
from redact.analyse.refine import TrackRefiner
from redact.analyse.track import LiveTrack
from redact.config import RefineConfig, load
from redact.pipeline import run
from redact.sample import FacePath, render_frames
from tests.conftest import bare_frames, encode_frames
from tests.doubles import HugeUnsure, RedAboveGreen
from tests.test_refine import _centred_in

W, H = 960, 540


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_quarter_turns_are_lossless_and_boxes_map_back_exactly(angle):
    image = np.zeros((72, 128, 3), np.uint8)
    image[10:20, 30:50] = 255
    turned = rotate(image, angle)
    assert turned.image.shape == ((128, 72, 3) if angle % 180 else (72, 128, 3))
    ys, xs = np.nonzero(turned.image[..., 0])
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    np.testing.assert_array_equal(map_boxes(np.array([[30, 10, 50, 20]]), turned.matrix), found)
    np.testing.assert_array_equal(turned.boxes_back(found), [[30, 10, 50, 20]])


@pytest.mark.parametrize("angle", [30, 45, 135, 315])
def test_a_diagonal_turn_keeps_every_pixel_and_maps_a_box_back_to_bounds_around_it(angle):
    image = np.zeros((72, 128, 3), np.uint8)
    image[10:20, 30:50] = 255
    turned = rotate(image, angle)
    assert turned.image.shape[0] * turned.image.shape[1] > 72 * 128  # the canvas grew, nothing was cut
    ys, xs = np.nonzero(turned.image[..., 0] > 127)
    back = turned.boxes_back(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32))[0]
    # The axis-aligned bounds of a turned box hold the original box: padding that follows the angle.
    assert back[0] <= 31 and back[1] <= 11 and back[2] >= 49 and back[3] >= 19
    assert rotate_square(image[:64, :64], angle).image.shape == (64, 64, 3)


def _frame(angle: float, height: int = 48) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image, (box,), _ = next(render_frames(W, H, 1, [FacePath((400, 200), (400, 200), height, angle=angle)]))
    return image, box


@pytest.fixture(scope="module")
def centerface():
    model = create("centerface", threshold=0.15, scale=1.0)
    model.load()
    yield model
    model.close()


@pytest.mark.parametrize("angle", [90, 180, 270])
@pytest.mark.models
@pytest.mark.slow
def test_the_turned_copy_finds_a_turned_face_upright_and_says_at_which_angle(centerface, angle):
    image, face = _frame(angle)
    upright = centerface.detect(image)
    upright_best = float(upright.score[_centred_in(upright, face)].max(initial=0.0))
    found = Rotations(centerface, [0, 90, 180, 270]).detect(image)
    on_face = _centred_in(found, face)
    best = int(np.argmax(np.where(on_face, found.score, -1)))
    # A face turned +a stands upright in the copy turned -a.
    assert on_face[best] and found.angle[best] == (360 - angle) % 360
    assert found.score[best] > max(0.6, upright_best + 0.1), (found.score[best], upright_best)


def test_a_huge_unsure_box_from_a_turned_copy_is_dropped_but_not_from_the_upright_pass():
    found = Rotations(HugeUnsure(), [0, 90]).detect(np.zeros((200, 300, 3), np.uint8))
    big = (found.xyxy[:, 2] - found.xyxy[:, 0]) > 100
    assert set(found.angle[big]) == {0.0}  # only the upright pass's
    assert set(found.angle[~big]) == {0.0, 90.0}  # small boxes from both


def _marker(angle: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 540p frame with the scripted face (red over green, 40 px tall) turned by ``angle`` (a quarter turn)."""
    tile = np.full((40, 40, 3), 90, np.uint8)
    tile[2:18, 12:28] = (0, 0, 255)
    tile[22:38, 12:28] = (0, 255, 0)
    image = np.full((H, W, 3), 90, np.uint8)
    image[200:240, 400:440] = np.rot90(tile, angle // 90)
    ys, xs = np.nonzero(image.max(axis=2) == 255)
    return image, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_a_window_follows_a_face_at_its_angle_and_finds_it_again_when_it_rolls_over():
    refiner = TrackRefiner(RefineConfig(fallback="none"), detector=RedAboveGreen())
    image, face = _marker(90)  # rolled a quarter turn counter-clockwise: upright in the copy turned 270
    track = LiveTrack(np.array(face, np.float32) + 3, 1, 0.8, angle=0.0)
    (win,) = refiner.windows([track], W, H)
    assert win.angle == 0.0 and len(refiner.detector.detect(image[win.y1 : win.y2, win.x1 : win.x2])) == 0
    found = refiner.detect(image, [win])
    assert list(found.angle) == [270.0] and _centred_in(found, face).all()
    np.testing.assert_allclose(found.xyxy[0], face, atol=2)  # mapped back onto the face
    assert refiner.windows_run == 1 + refiner.config.turns.index(270.0) + 1  # tried in order, stopped there
    # Followed at its own angle from then on: one window is enough.
    before = refiner.windows_run
    (win,) = refiner.windows([track._replace(angle=270.0)], W, H)
    assert _centred_in(refiner.detect(image, [win]), face).all() and refiner.windows_run == before + 1
    # With no turns, the upright window alone loses it.
    alone = TrackRefiner(RefineConfig(fallback="none", turns=[]), detector=RedAboveGreen())
    assert len(alone.detect(image, alone.windows([track], W, H))) == 0


def test_the_turned_sweep_maps_a_quarter_turned_face_back_onto_it():
    for angle in (90, 180, 270):
        image, face = _marker(angle)
        found = Rotations(RedAboveGreen(), [0, 90, 180, 270]).detect(image)
        assert list(found.angle) == [(360 - angle) % 360]
        np.testing.assert_allclose(found.xyxy[0], face, atol=1)


TURNED = [(90, 44, (60, 60), (360, 100)), (135, 56, (820, 60), (560, 140)),
          (180, 36, (120, 380), (420, 330)), (270, 64, (780, 380), (620, 300))]
"""(angle, face height px, start, end) of four people on the floor, each moving."""


def _turned_clip(path, dark: bool, frames: int = 40) -> list[list[tuple[int, int, int, int]]]:
    """Encode the four turned faces moving; return each frame's face cores (the middle 40 % of each face)."""
    paths = [FacePath(start, end, h, angle=a) for a, h, start, end in TURNED]
    rng = np.random.default_rng(1)
    cores = []

    def images():
        for image, boxes, _ in render_frames(W, H, frames, paths):
            cores.append([_core(b) for b in boxes])
            if dark:  # night CCTV: grey, a third of the light, sensor noise
                grey = image.mean(axis=2, keepdims=True) * 0.33 + rng.normal(0, 6, (H, W, 1))
                image = np.repeat(np.clip(grey, 0, 255).astype(np.uint8), 3, axis=2)
            yield image

    encode_frames(path, images(), W, H)
    return cores


def _core(box) -> tuple[int, int, int, int]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    r = 0.2 * min(box[2] - box[0], box[3] - box[1])
    return (round(cx - r), round(cy - r), round(cx + r), round(cy + r))


@pytest.mark.parametrize("dark", [False, True], ids=["colour", "dark-grey-noise"])
@pytest.mark.slow
@pytest.mark.models
def test_turned_moving_faces_are_covered_in_every_frame_by_the_default_config(tmp_path, dark):
    clip = tmp_path / "floor.mp4"
    cores = _turned_clip(clip, dark)
    assert not any(bare_frames(clip, [f[p] for f in cores]) != list(range(len(cores))) for p in range(len(TURNED))), \
        "a face core in the input is already too dark to tell from the black fill: the test would show nothing"
    result = run(clip, tmp_path / "out.mp4", load(overrides=["render.style=solid"]))
    for person in range(len(TURNED)):
        bare = bare_frames(result.output, [frame[person] for frame in cores])
        assert bare == [], f"face turned {TURNED[person][0]} degrees left bare on frames {bare}"


@pytest.mark.slow
@pytest.mark.models
def test_the_fast_preset_covers_turned_faces_of_44_px_and_up_and_says_what_it_gives_up(tmp_path):
    """fast.yaml turns the frame at half size, like its upright sweep: it gives up the smallest turned faces.

    On this clip the 36 px upside-down face is left bare on the last frames
    (36-39 of 40 when this was written), which the README states; the faces
    of 44 px and more are covered in every frame."""
    from pathlib import Path

    clip = tmp_path / "floor.mp4"
    cores = _turned_clip(clip, dark=False)
    preset = Path(__file__).resolve().parent.parent / "configs" / "fast.yaml"
    result = run(clip, tmp_path / "out.mp4", load(preset, ["render.style=solid"]))
    bare = {a: bare_frames(result.output, [frame[i] for frame in cores]) for i, (a, *_) in enumerate(TURNED)}
    assert {a: b for a, b in bare.items() if a != 180} == {90: [], 135: [], 270: []}
    assert len(bare[180]) <= 8, bare[180]
