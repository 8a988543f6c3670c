"""Bridges between a face track that ends and one that starts nearby soon after."""

from __future__ import annotations

import numpy as np

from redact.config import RenderConfig
from redact.render.bridges import find_bridges
from redact.render.regions import RegionPlanner
from redact.types import Action, Decision, Reason, Source, Track


def _track(tid, frames, boxes, kind="face"):
    t = Track(id=tid, kind=kind)
    for f, b in zip(frames, boxes, strict=True):
        t.add(f, np.array(b, np.float32), 0.22, "centerface")
    return t


def _covered(regions, x, y):
    return any(r.box[0] <= x < r.box[2] and r.box[1] <= y < r.box[3] for r in regions)


def _plan(tracks, cfg, n=40, actions=None):
    actions = actions or {}
    decisions = {t.id: Decision(t.id, actions.get(t.id, Action.REDACT), "test") for t in tracks}
    planner = RegionPlanner(tracks, decisions, cfg, 640, 480, n)
    return [planner.regions_at(i) for i in range(n)]


# A 20 px head walking left at 12 px a frame, seen only at frames 10 and 16
# (pub01's background passer-by on a CPU without AMX, in miniature).
WALKER = [_track(1, [10], [[300, 200, 320, 220]]), _track(2, [16], [[228, 200, 248, 220]])]


def test_a_face_crossing_the_gap_between_two_tracks_is_covered_only_with_a_bridge():
    cfg = RenderConfig(padding=0.2)
    centre = lambda f: (310 - 12 * (f - 10), 210)  # noqa: E731 - where the head really is
    bridged = _plan(WALKER, cfg)
    assert all(_covered(bridged[f], *centre(f)) for f in range(10, 17))
    middle = [r for r in bridged[13] if r.source is Source.BRIDGED]
    assert len(middle) == 1 and middle[0].track_id == 1 and middle[0].reason is Reason.BRIDGE
    # Without it, each track's held box stays where it was seen and the head is bare mid-way.
    plain = _plan(WALKER, RenderConfig(padding=0.2, bridge_gap=0))
    assert not _covered(plain[13], *centre(13))
    assert not any(r.source is Source.BRIDGED for regions in plain for r in regions)


def test_the_bridge_grows_away_from_both_sightings():
    plan = _plan(WALKER, RenderConfig(padding=0.0, extend_before=0, extend_after=0))
    width = {f: plan[f][0].box[2] - plan[f][0].box[0] for f in range(11, 16)}
    assert plan[10][0].source is Source.DETECTED and len(plan[13]) == 1
    assert 20 < width[11] < width[13] and width[13] > width[15] > 20


def test_no_bridge_when_too_fast_too_late_too_different_in_size_or_not_a_face():
    ends = _track(1, [10], [[300, 200, 320, 220]])
    assert find_bridges([ends, _track(2, [12], [[100, 200, 120, 220]])], 12, 1.0) == []  # 9 sizes a frame
    assert find_bridges([ends, _track(2, [30], [[300, 200, 320, 220]])], 12, 1.0) == []  # 20 frames later
    assert find_bridges([ends, _track(2, [12], [[300, 200, 360, 260]])], 12, 1.0) == []  # 3x the size
    assert find_bridges([ends, _track(2, [11], [[300, 200, 320, 220]])], 12, 1.0) == []  # nothing in between
    text = [_track(1, [10], [[300, 200, 400, 220]], "text"), _track(2, [14], [[310, 200, 410, 220]], "text")]
    assert find_bridges(text, 12, 1.0) == []
    assert len(find_bridges([ends, _track(2, [14], [[310, 200, 330, 220]])], 12, 1.0)) == 1


def test_the_slowest_pairs_are_taken_first_and_each_track_is_in_at_most_one_each_way():
    a = _track(1, [10], [[300, 200, 320, 220]])
    near = _track(2, [14], [[330, 200, 350, 220]])
    far = _track(3, [14], [[380, 200, 400, 220]])
    b = _track(4, [9], [[320, 200, 340, 220]])  # overlaps `near`: pace 0, against a's 0.125
    pairs = {(br.source.id, br.target.id) for br in find_bridges([a, near, far, b], 12, 1.0)}
    assert pairs == {(4, 2), (1, 3)}
    # a's only other candidate needs 0.75 face sizes a frame.
    assert {(br.source.id, br.target.id) for br in find_bridges([a, near, far, b], 12, 0.5)} == {(4, 2)}


def test_a_bridge_is_redacted_even_between_kept_tracks():
    plan = _plan(WALKER, RenderConfig(padding=0.2), actions={1: Action.KEEP, 2: Action.KEEP})
    assert any(r.source is Source.BRIDGED for r in plan[13])
