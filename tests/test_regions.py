"""From tracks to per-frame regions: interpolation, extension both ways, padding."""

from __future__ import annotations

import numpy as np
import pytest

from redact.config import RenderConfig
from redact.render.regions import RegionPlanner, pad_box
from redact.types import Action, Decision, Source, Track


def _track(frames, boxes, tid=0, kind="face"):
    t = Track(id=tid, kind=kind)
    for f, b in zip(frames, boxes, strict=True):
        t.add(f, np.array(b, np.float32), 0.9, "test")
    return t


def _plan(tracks, cfg, n=100, action=Action.REDACT):
    decisions = {t.id: Decision(t.id, action, "test") for t in tracks}
    planner = RegionPlanner(tracks, decisions, cfg, 640, 480, n)
    return [planner.regions_at(i) for i in range(n)]


def test_gap_is_interpolated():
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=0)
    t = _track([10, 20], [[0, 0, 100, 100], [200, 0, 300, 100]])
    plan = _plan([t], cfg)
    assert all(len(plan[i]) == 1 for i in range(10, 21))
    mid = plan[15][0]
    assert mid.source is Source.INTERPOLATED
    # Centred on the straight path, and wider than the detections because the
    # face is furthest from evidence in the middle of the gap.
    x1, y1, x2, y2 = mid.box
    assert (x1 + x2) / 2 == 150 and x1 < 100 and x2 > 200
    w = lambda i: plan[i][0].box[2] - plan[i][0].box[0]  # noqa: E731
    assert w(10) == 100 and w(11) < w(13) < w(15) and w(15) > w(17) > w(20) == 100
    assert plan[9] == [] and plan[21] == []


def test_extension_follows_the_motion_and_keeps_the_last_position():
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=5)
    t = _track([10, 11, 12], [[100, 100, 120, 120], [104, 100, 124, 120], [108, 100, 128, 120]])
    after = _plan([t], cfg)[17][0].box
    # Moving 4 px a frame: 5 frames later the face may be at x 128-148; it may also have stopped at 108-128.
    assert after[0] <= 108 and after[2] >= 148


def test_extension_runs_backwards_and_forwards():
    cfg = RenderConfig(padding=0.0, extend_before=5, extend_after=7)
    plan = _plan([_track([30, 31], [[100, 100, 120, 120]] * 2)], cfg)
    covered = [i for i, r in enumerate(plan) if r]
    assert covered == list(range(25, 39))
    assert plan[25][0].source is Source.EXTENDED
    # Extended boxes grow with distance from the detection.
    w = lambda r: r.box[2] - r.box[0]  # noqa: E731
    assert w(plan[25][0]) > w(plan[29][0]) >= 20


def test_extension_is_clipped_to_the_video():
    cfg = RenderConfig(extend_before=10, extend_after=10)
    plan = _plan([_track([2, 98], [[0, 0, 10, 10]] * 2)], cfg, n=100)
    assert all(plan[i] for i in range(100))


def test_a_kept_track_is_shown_only_in_its_confirmed_ranges():
    t = _track([10, 20, 30, 40], [[0, 0, 10, 10]] * 4)
    keep = Decision(t.id, Action.KEEP, "matched", label="a", visible=((20, 30),))
    cfg = RenderConfig(extend_before=2, extend_after=2)
    planner = RegionPlanner([t], {t.id: keep}, cfg, 640, 480, 100)
    redacted = {i for i in range(100) if planner.regions_at(i)}
    # Before the first and after the last confirmation it stays covered, extensions included.
    assert redacted == set(range(8, 20)) | set(range(31, 43))
    planner = RegionPlanner([t], {t.id: keep}, cfg, 640, 480, 100)
    assert {r.reason for i in range(100) for r in planner.regions_at(i)} == {"unconfirmed"}


def test_padding_and_clipping():
    assert pad_box(np.array([100, 100, 200, 150]), 0.1, 640, 480) == (90, 95, 210, 155)
    assert pad_box(np.array([-5, -5, 700, 500]), 0.5, 640, 480) == (0, 0, 640, 480)


@pytest.mark.parametrize("extend_after", [8, 3])
def test_a_fast_face_is_followed_a_few_box_sizes_not_across_the_frame(extend_after):
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=extend_after)
    t = _track([10, 11], [[100, 100, 120, 120], [200, 100, 220, 120]])  # 100 px a frame
    box = _plan([t], cfg)[11 + extend_after][0].box
    # Held at 200-220, carried at most extend_after box widths further, plus growth by distance.
    reach = 220 + 20 * extend_after
    assert box[0] <= 200 and reach <= box[2] < reach + 20


@pytest.mark.parametrize("before, after", [(0, 8), (0, 15), (10, 0)])
def test_a_face_dashing_a_box_size_a_frame_stays_covered_for_the_whole_extension(before, after):
    """Both ways, however long the extension (thorough.yaml extends 15 frames after)."""
    cfg = RenderConfig(padding=0.0, extend_before=before, extend_after=after)
    step = 20.0  # its own width every frame, as the dashing face of the held-out pub04
    x0 = 300 if before else 20  # room in the 640 px frame for its way in or out
    t = _steady(5, box=(x0, 200, x0 + 20, 220), step=step)  # frames 10-14
    plan = _plan([t], cfg)
    for frame in [*range(10 - before, 10), *range(15, 15 + after)]:
        x = x0 + step * (frame - 10)  # where it was or goes on, unseen
        (region,) = plan[frame]
        assert region.box[0] <= x and x + 20 <= region.box[2], frame


def _steady(n: int, box=(300, 200, 340, 240), step: float = 0.0, kind: str = "face") -> Track:
    """A track detected on frames 10 .. 10+n-1, moving ``step`` px a frame to the right."""
    boxes = [[box[0] + step * i, box[1], box[2] + step * i, box[3]] for i in range(n)]
    return _track(list(range(10, 10 + n)), boxes, kind=kind)


def test_an_established_face_lost_in_view_is_held_without_growing_further():
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=8, hold_after=30, hold_detections=10)
    t = _steady(12)  # frames 10-21, a 40 px face standing still in the middle of the frame
    plan = _plan([t], cfg, n=100)
    covered = [i for i, r in enumerate(plan) if r]
    assert covered == list(range(10, 22 + 30))
    assert {r.source for i in range(22, 52) for r in plan[i]} == {Source.EXTENDED}
    width = lambda i: plan[i][0].box[2] - plan[i][0].box[0]  # noqa: E731
    # It grows while extended as before, then stays the size it had at extend_after.
    assert width(21) < width(25) < width(29) == width(40) == width(51)


@pytest.mark.parametrize(
    "why, track, cfg",
    [
        ("too few detections", _steady(9), {}),
        ("touching the frame's edge", _steady(12, box=(0, 200, 40, 240)), {}),
        ("moving fast: leaving", _steady(12, step=15.0), {}),
        ("not a face", _steady(12, kind="text"), {}),
        ("hold switched off", _steady(12), {"hold_after": 0}),
    ],
)
def test_other_tracks_get_the_ordinary_extension(why, track, cfg):
    cfg = RenderConfig(padding=0.0, extend_before=0, **{"extend_after": 8, "hold_after": 30, "hold_detections": 10, **cfg})
    plan = _plan([track], cfg, n=100)
    assert max(i for i, r in enumerate(plan) if r) == track.last + 8, why


def test_a_hold_ends_where_the_face_is_found_again_as_a_new_track():
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=8, hold_after=30, hold_detections=10)
    lost = _steady(12)  # frames 10-21
    again = _track([40, 41, 42], [[302, 201, 342, 241]] * 3, tid=1)  # the same face, 18 frames later
    elsewhere = _track([30, 31], [[500, 20, 540, 60]] * 2, tid=2)  # someone else: no effect
    plan = _plan([lost, again, elsewhere], cfg, n=100)
    held = [i for i, regions in enumerate(plan) if any(r.track_id == 0 for r in regions)]
    assert held == list(range(10, 41))


def test_a_hold_ends_where_the_face_comes_out_further_along_its_way():
    """A face walking on behind something comes out where its motion carries it, not where it
    was lost: found there, its hold ends (on the bench, the old box sat over a kept face)."""
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=8, hold_after=30, hold_detections=10)
    lost = _steady(12, step=4.0)  # frames 10-21, 4 px a frame to the right: at x 344-384 when lost
    on_its_way = _track([40, 41], [[440, 201, 480, 241]] * 2, tid=1)  # 96 px on: too far from where it was lost
    behind = _track([40, 41], [[240, 201, 280, 241]] * 2, tid=2)  # as far back: not on its way
    for other, last in ((on_its_way, 40), (behind, 51)):
        plan = _plan([lost, other], cfg, n=100)
        held = [i for i, regions in enumerate(plan) if any(r.track_id == 0 for r in regions)]
        assert held == list(range(10, last + 1))


def test_a_track_that_picks_up_a_lost_face_is_held_in_turn():
    """The hold ends where the face is found again, so the track that found it must hold it
    too, however young: found once and lost again, it is the same face, still there."""
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=8, hold_after=30, hold_detections=10)
    lost = _steady(12)  # frames 10-21
    again = _track([40], [[302, 201, 342, 241]], tid=1)  # found once, 18 frames later
    stranger = _track([45], [[500, 20, 540, 60]], tid=2)  # found once, elsewhere: not held
    late = _track([90], [[302, 201, 342, 241]], tid=3)  # at the spot, but long after the hold
    plan = _plan([lost, again, stranger, late], cfg, n=130)
    frames_of = lambda tid: [i for i, regions in enumerate(plan) if any(r.track_id == tid for r in regions)]  # noqa: E731
    assert frames_of(0) == list(range(10, 41))
    assert frames_of(1) == list(range(40, 71))
    assert frames_of(2) == list(range(45, 54))
    assert frames_of(3) == list(range(90, 99))


def test_a_hold_ends_where_another_face_is_detected_over_the_lost_one():
    """A face lost as it passes behind another one (a victim behind a kept person): the one
    in front now covers the spot, and holding the lost box would hide it."""
    cfg = RenderConfig(padding=0.0, extend_before=0, extend_after=8, hold_after=30, hold_detections=10)
    lost = _steady(12)  # frames 10-21, centre (320, 220)
    front = _track(list(range(0, 60)), [[460 - 3 * i, 180, 540 - 3 * i, 260] for i in range(60)], tid=1)
    plan = _plan([lost, front], cfg, n=100)
    held = [i for i, regions in enumerate(plan) if any(r.track_id == 0 for r in regions)]
    # The face in front reaches x 320 (its left edge at 460 - 3i) at frame 47: held until then, not to 51.
    assert held == list(range(10, 48))
