"""Windows around tracked faces, and the worker pool that runs the whole-frame sweeps.

The default config discovers faces with a full-size sweep every 6th frame and
follows small ones in windows in between; these tests pin down which tracks
get windows, that a window finds a face the cheap sweep misses, that a small
face is covered in every frame end to end, and that running the sweeps on
several threads changes nothing in the result.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from redact.analyse import analyse
from redact.analyse.detectors.base import create
from redact.analyse.refine import FALLBACK_MIN_FACE, TrackRefiner, Window
from redact.analyse.track import LiveTrack
from redact.config import RefineConfig, load
from redact.io import probe
from redact.pipeline import run
from redact.sample import FacePath, make_sample, render_frames
from redact.types import PLACED, Detections
from tests.conftest import bare_frames, decode_all, encode_frames, read_audit
from tests.test_pipeline import assert_faces_redacted

W, H = 1280, 720


def _refiner(**overrides) -> TrackRefiner:
    # A model is created but never loaded: windows() is pure geometry.
    return TrackRefiner(RefineConfig(**overrides))


def test_small_recent_confident_tracks_get_square_windows_inside_the_frame():
    r = _refiner(context=3.0, max_face=64, min_score=0.35, max_gap=8)
    live = [
        LiveTrack(np.array([100, 100, 120, 120], np.float32), 1, 0.6),  # small, recent, confident: a window
        LiveTrack(np.array([1270, 702, 1290, 722], np.float32), 1, 0.6),  # at the corner: shifted inside
        LiveTrack(np.array([400, 400, 500, 500], np.float32), 1, 0.9),  # 100 px: left to the whole-frame sweeps
        LiveTrack(np.array([600, 100, 620, 120], np.float32), 1, 0.25),  # only a weak hit: not followed
        LiveTrack(np.array([800, 100, 820, 120], np.float32), 20, 0.9),  # unseen for too long
    ]
    wins = r.windows(live, W, H)
    assert len(wins) == 2
    for w in wins:
        assert w.x2 - w.x1 == w.y2 - w.y1 == 62  # 3.1 x 20 px: context 3, plus 0.1 per frame unseen
        assert 0 <= w.x1 and w.x2 <= W and 0 <= w.y1 and w.y2 <= H
    assert (wins[0].x1, wins[0].y1, wins[0].x2, wins[0].y2) == (79, 79, 141, 141)
    assert (wins[1].x1, wins[1].y1, wins[1].x2, wins[1].y2) == (W - 62, H - 62, W, H)
    assert wins[0].face == (100, 100, 120, 120)  # where the face should be, for the fallback model


def test_windows_grow_with_frames_unseen_and_skip_tracks_already_found():
    r = _refiner()
    box = np.array([100, 100, 120, 120], np.float32)
    near, far = r.windows([LiveTrack(box, 1, 0.9)], W, H)[0], r.windows([LiveTrack(box, 6, 0.9)], W, H)[0]
    assert far.x2 - far.x1 > near.x2 - near.x1
    found = Detections.of(np.array([[102, 101, 121, 119]], np.float32), np.array([0.8], np.float32), "face", "x")
    assert r.windows([LiveTrack(box, 1, 0.9)], W, H, found) == []


def test_a_track_seen_once_gets_a_wide_window_at_the_same_magnification_the_next_frame():
    r = _refiner(context=3.0, input_size=128, first_reach=2.5)
    box = np.array([600, 300, 640, 340], np.float32)  # 40 px, motion unknown
    (young,) = r.windows([LiveTrack(box, 1, 0.9, run=1)], W, H)
    (ordinary,) = r.windows([LiveTrack(box, 1, 0.9, run=2)], W, H)
    assert young.x2 - young.x1 == 240  # 2.5 face sizes each way of the 40 px face
    assert ordinary.x2 - ordinary.x1 == 124 and ordinary.size == 0
    # The same pixels per face as the ordinary window: 128 / 124 ~ 256 / 240.
    assert young.size == 256
    # Only the frame right after the sighting: later its window is an ordinary, growing one.
    (later,) = r.windows([LiveTrack(box, 2, 0.9, run=1)], W, H)
    assert later.x2 - later.x1 == 128 and later.size == 0
    # first_reach 0 turns it off.
    (off,) = _refiner(first_reach=0.0).windows([LiveTrack(box, 1, 0.9, run=1)], W, H)
    assert off == ordinary


def test_a_steady_slow_track_gets_a_window_every_other_frame_only():
    r = _refiner(slow=0.25)
    box = np.array([600, 300, 620, 320], np.float32)  # 20 px
    steady_slow = LiveTrack(box, 1, 0.9, run=3, speed=4.0)  # 0.2 of its size a frame
    # Seen last frame: skipped this one (the render interpolates it); unseen for two: a window.
    assert r.windows([steady_slow], W, H) == []
    assert len(r.windows([steady_slow._replace(gap=2)], W, H)) == 1
    # Faster than a quarter of its size a frame, or followed for too short a run to know: every frame.
    assert len(r.windows([steady_slow._replace(speed=6.0)], W, H)) == 1
    assert len(r.windows([steady_slow._replace(run=2)], W, H)) == 1
    # slow 0, or people to recognise (each sighting is a sample of the face): every frame.
    assert len(_refiner(slow=0.0).windows([steady_slow], W, H)) == 1
    assert len(r.windows([steady_slow], W, H, every_frame=True)) == 1


def test_a_large_face_gets_a_window_only_where_a_whole_frame_sweep_lost_it():
    r = _refiner(max_face=64)
    big = LiveTrack(np.array([400, 300, 500, 420], np.float32), 1, 0.9)  # 120 px tall
    # No whole-frame face detector ran on this frame: left to the next sweep, as before.
    assert r.windows([big], W, H) == []
    # One ran and found it: nothing to do.
    found = Detections.of(np.array([[405, 305, 503, 424]], np.float32), np.array([0.8], np.float32), "face", "x")
    assert r.windows([big], W, H, found, swept=True) == []
    # One ran and lost it (a face smeared by motion, a turn): the window looks for it.
    (win,) = r.windows([big], W, H, swept=True)
    assert win.face == (400, 300, 500, 420)
    assert win.x2 - win.x1 == 372  # 3.1 x 120 px, as for a small face
    # A small box that lies inside it is something else (clutter, a passer-by): it still looks.
    speck = Detections.of(np.array([[440, 350, 455, 365]], np.float32), np.array([0.3], np.float32), "face", "x")
    assert r.windows([big], W, H, speck, swept=True) == [win]


def test_live_tracks_report_the_speed_of_their_fastest_edge():
    from redact.analyse.track import Tracker
    from redact.config import TrackConfig

    tracker = Tracker(TrackConfig())
    for frame in range(4):  # moving right 3 px a frame and growing 1 px a frame at the bottom
        box = np.array([[100 + 3 * frame, 100, 120 + 3 * frame, 120 + frame]], np.float32)
        tracker.update(frame, Detections.of(box, np.array([0.9], np.float32), "face", "x"))
    (live,) = tracker.live(4)
    assert live.run == 4 and live.gap == 1
    assert 2.5 < live.speed <= 3.0  # smoothed towards 3 px a frame from a standing start
    np.testing.assert_array_equal(live.seen, [109, 100, 129, 123])  # the box of frame 3


def test_the_face_a_window_expects_keeps_the_size_last_seen_at_the_predicted_centre():
    """One bad sighting (a 21 px face matched to a 65 px box) makes the predicted box balloon;
    the fallback model must not confirm that with ever larger boxes (the bench's pub04)."""
    r = _refiner()
    ballooning = np.array([80, 80, 160, 160], np.float32)  # predicted: 80 px, growing
    (win,) = r.windows([LiveTrack(ballooning, 1, 0.6, seen=np.array([110, 100, 130, 124], np.float32))], W, H, swept=True)
    assert win.face == (110, 108, 130, 132)


@pytest.fixture(scope="module")
def centerface():
    det = create("centerface", threshold=0.2, scale=0.4)
    refiner = TrackRefiner(RefineConfig())
    det.load()
    refiner.load()
    yield det, refiner
    det.close()
    refiner.close()


@pytest.mark.models
def test_a_window_finds_a_small_face_the_cheap_sweep_misses(centerface):
    sweep, refiner = centerface
    image, boxes, _ = next(render_frames(W, H, 1, [FacePath((600, 300), (600, 300), 18)]))
    (face,) = boxes
    assert len(sweep.detect(image)) == 0, "the 0.4-scale sweep should not see an 18 px face"
    predicted = np.array(face, np.float32) + 3  # where the tracker expects it, a little off
    found = refiner.detect(image, refiner.windows([LiveTrack(predicted, 1, 0.8)], W, H))
    assert len(found) >= 1
    x1, y1, x2, y2 = found.xyxy[np.argmax(found.score)]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    assert face[0] <= cx <= face[2] and face[1] <= cy <= face[3]


@pytest.mark.models
def test_the_first_sighting_window_finds_a_face_that_moved_twice_its_size(centerface):
    _, refiner = centerface
    image, boxes, _ = next(render_frames(W, H, 1, [FacePath((700, 320), (700, 320), 40)]))
    (face,) = boxes
    seen = np.array(face, np.float32) + np.array([90, 0, 90, 0], np.float32)  # where it was one frame ago
    ordinary = refiner.detect(image, refiner.windows([LiveTrack(seen, 1, 0.9, run=2)], W, H))
    young = refiner.detect(image, refiner.windows([LiveTrack(seen, 1, 0.9, run=1)], W, H))
    centres = (young.xyxy[:, :2] + young.xyxy[:, 2:]) / 2
    assert np.any((centres[:, 0] >= face[0]) & (centres[:, 0] <= face[2]) & (centres[:, 1] >= face[1]) & (centres[:, 1] <= face[3]))
    ordinary_centres = (ordinary.xyxy[:, :2] + ordinary.xyxy[:, 2:]) / 2
    assert not np.any((ordinary_centres[:, 0] >= face[0]) & (ordinary_centres[:, 0] <= face[2])), (
        "the face lies outside an ordinary window: this test would not show anything"
    )


@pytest.fixture(scope="module")
def small_faces(tmp_path_factory):
    """A 720p clip with two small faces crossing it: the case the windows exist for."""
    paths = [FacePath((100, 500), (900, 420), 20), FacePath((1100, 150), (500, 200), 26, flip=True)]
    return make_sample(tmp_path_factory.mktemp("small") / "small.mp4", seconds=2.0, size=(W, H), paths=paths)


@pytest.mark.slow
@pytest.mark.models
def test_small_moving_faces_are_covered_in_every_frame_with_the_default_config(small_faces, tmp_path):
    result = run(small_faces.path, tmp_path / "out.mp4", load())
    assert_faces_redacted(small_faces, decode_all(result.output), decode_all(small_faces.path))
    summary = read_audit(result.audit_log)[-1]
    assert summary["timings"]["refine_windows"] > 0


@pytest.mark.slow
@pytest.mark.models
def test_slow_small_faces_skip_every_other_window_and_stay_covered_in_every_frame(tmp_path):
    """The faces the every-other-frame rule is for: small, followed by windows, barely moving."""
    paths = [FacePath((300, 400), (340, 390), 20), FacePath((900, 200), (880, 230), 24, flip=True)]
    sample = make_sample(tmp_path / "slow.mp4", seconds=2.0, size=(W, H), paths=paths)
    every = run(sample.path, tmp_path / "every.mp4", load(overrides=["detect.refine.slow=0"]))
    skipping = run(sample.path, tmp_path / "skip.mp4", load())
    windows = {name: read_audit(r.audit_log)[-1]["timings"]["refine_windows"] for name, r in
               (("every", every), ("skip", skipping))}
    assert windows["skip"] < 0.7 * windows["every"], windows
    assert_faces_redacted(sample, decode_all(skipping.output), decode_all(sample.path))

    def interpolated(result) -> int:
        return sum(g["source"] == "interpolated" for rec in read_audit(result.audit_log) if rec.get("type") == "frame"
                   for g in rec["regions"])

    # The skipped frames are painted from the sightings either side.
    assert interpolated(skipping) >= interpolated(every) + 20


@pytest.mark.slow
@pytest.mark.models
def test_results_do_not_depend_on_the_number_of_worker_threads(small_faces, monkeypatch):
    info = probe(small_faces.path)
    tracks = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("REDACT_THREADS", workers)
        a = analyse(info, load())
        tracks[workers] = [(t.frames, np.round(np.stack(t.boxes), 3).tolist()) for t in a.tracks]
    assert tracks["1"] == tracks["2"]


def _smeared(person: str, height: int, length: int) -> tuple[np.ndarray, tuple]:
    """A 720p frame with one face smeared sideways over ``length`` px, as a fast pan does (the bench's kernel)."""
    image, boxes, _ = next(render_frames(W, H, 1, [FacePath((600, 300), (600, 300), height, person=person)]))
    x1, y1, x2, y2 = (int(v) for v in boxes[0])
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    region = image[y1 - length : y2 + length, x1 - length : x2 + length]
    region[:] = cv2.filter2D(region.copy(), -1, kernel)
    return image, boxes[0]


def _centred_in(d: Detections, box) -> np.ndarray:
    centres = (d.xyxy[:, :2] + d.xyxy[:, 2:]) / 2
    return (centres[:, 0] >= box[0]) & (centres[:, 0] <= box[2]) & (centres[:, 1] >= box[1]) & (centres[:, 1] <= box[3])


@pytest.mark.models
def test_the_fallback_model_finds_a_smeared_face_the_window_model_lost(centerface):
    """CenterFace scores a 52 px face smeared over 17 px at 0; BlazeFace still finds it (the bench's seed 2)."""
    _, refiner = centerface
    image, face = _smeared("hopper", 52, 17)
    predicted = np.array(face, np.float32) + 4
    (win,) = refiner.windows([LiveTrack(predicted, 1, 0.8)], W, H)
    crop = cv2.resize(image[win.y1 : win.y2, win.x1 : win.x2], (128, 128))
    assert len(refiner.detector.detect(crop)) == 0, "CenterFace finds this face: the test would not show anything"
    before = refiner.fallbacks_run
    found = refiner.detect(image, [win])
    assert refiner.fallbacks_run == before + 1
    # A box placed where the face is, not its outline: recognition must not align a face on it.
    assert set(found.detector) == {"blazeface_short"} and found.column(PLACED).all()
    assert _centred_in(found, face).any()


@pytest.mark.models
def test_the_fallback_runs_only_where_the_window_model_lost_the_face_and_keeps_only_boxes_near_it(centerface):
    _, refiner = centerface
    clean = next(render_frames(W, H, 1, [FacePath((600, 300), (600, 300), 52, person="hopper")]))[0]
    image, face = _smeared("hopper", 52, 17)
    before = refiner.fallbacks_run
    (win,) = refiner.windows([LiveTrack(np.array(face, np.float32) + 4, 1, 0.8)], W, H)
    seen = refiner.detect(clean, [win])
    assert refiner.fallbacks_run == before and set(seen.detector) == {"centerface"}
    # The same window, but the track expected its face elsewhere or at another size: BlazeFace's
    # box is not the followed face, and a box kept there would start a track of its own.
    side = face[2] - face[0]
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    elsewhere = (face[0] - 1.1 * side, face[1], face[2] - 1.1 * side, face[3])
    larger = (cx - 2 * side, cy - 2 * side, cx + 2 * side, cy + 2 * side)
    for expected in (elsewhere, larger):
        assert len(refiner.detect(image, [Window(win.x1, win.y1, win.x2, win.y2, face=expected)])) == 0
    assert refiner.fallbacks_run == before + 2
    # Where the track expected it, at its size: kept, at the size the track expected.
    (box,) = refiner.detect(image, [win]).xyxy
    np.testing.assert_allclose(box[2:] - box[:2], np.subtract(win.face[2:], win.face[:2]), atol=1e-3)


@pytest.mark.models
def test_no_second_look_at_faces_too_small_for_the_fallback(centerface):
    _, refiner = centerface
    image, face = _smeared("hopper", 24, 9)
    before = refiner.fallbacks_run
    (win,) = refiner.windows([LiveTrack(np.array(face, np.float32) + 2, 1, 0.8)], W, H)
    assert max(win.face[2] - win.face[0], win.face[3] - win.face[1]) < FALLBACK_MIN_FACE
    refiner.detect(np.zeros_like(image), [win])  # nothing for CenterFace to find
    assert refiner.fallbacks_run == before


def test_no_fallback_when_it_is_off():
    assert TrackRefiner(RefineConfig(fallback="none")).fallback is None


@pytest.mark.slow
@pytest.mark.models
def test_a_face_smeared_by_fast_motion_stays_covered_in_every_frame(tmp_path):
    """A 48 px face moving 17 px a frame, smeared over its motion from frame 8 (a fast pan):
    CenterFace loses it, and the BlazeFace fallback in its windows keeps the track going.

    BlazeFace does not always hold on: at 52 px the same clip loses it again after 12
    frames (8 bare frames instead of 20 without it)."""
    w, h, n, sharp, length = 960, 540, 36, 8, 17
    path = tmp_path / "smeared.mp4"
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    cores = []
    face_path = FacePath((60, 200), (60 + length * (n - 1), 200), 48, person="hopper")

    def frames():
        for i, (image, (box,), _) in enumerate(render_frames(w, h, n, [face_path])):
            x1, y1, x2, y2 = (int(v) for v in box)
            if i >= sharp:
                region = image[y1 - length : y2 + length, max(0, x1 - length) : x2 + length]
                region[:] = cv2.filter2D(region.copy(), -1, kernel)
            cores.append((x1 + 12, y1 + 12, x2 - 12, y2 - 12))
            yield image

    encode_frames(path, frames(), w, h)

    def bare(result) -> list[int]:
        """Frames where the middle of the face is not painted black."""
        return bare_frames(result.output, cores)

    solid = ["render.style=solid"]
    without = run(path, tmp_path / "without.mp4", load(overrides=[*solid, "detect.refine.fallback=none"]))
    assert bare(without), "CenterFace alone covers this face: the test would not show anything"
    covered = run(path, tmp_path / "with.mp4", load(overrides=solid))
    assert bare(covered) == []
    found = [g for rec in read_audit(covered.audit_log) if rec.get("type") == "frame" for g in rec["regions"]
             if g["source"] == "detected" and g["detector"] == "blazeface_short"]
    assert len(found) >= 5
