"""Tracker invariants: no detection is ever dropped; identities survive short misses."""

from __future__ import annotations

import numpy as np

from redact.analyse.track import Tracker
from redact.config import TrackConfig
from redact.decide.policy import lone_stretches
from redact.types import Detections, Track


def _dets(*boxes, score=0.9):
    return Detections.of(np.array(boxes, np.float32).reshape(-1, 4), [score] * len(boxes), "face", "test")


def test_every_detection_lands_in_a_track():
    tr = Tracker(TrackConfig())
    rng = np.random.default_rng(1)
    total = 0
    for f in range(50):
        n = int(rng.integers(0, 4))
        xy = rng.uniform(0, 500, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], 1)
        tr.update(f, _dets(*boxes, score=0.05))  # low scores too: no cut-off
        total += n
    assert sum(len(t.frames) for t in tr.tracks) == total


def test_one_frame_detection_is_kept():
    tr = Tracker(TrackConfig())
    tr.update(0, _dets([10, 10, 30, 30]))
    tr.update(1, Detections())
    assert len(tr.tracks) == 1 and tr.tracks[0].frames == [0]


def test_identity_survives_misses_and_motion():
    tr = Tracker(TrackConfig(max_coast=10))
    for f in range(30):
        if f % 3 == 2:
            tr.update(f, Detections())
            continue
        x = 10 + 8 * f
        tr.update(f, _dets([x, 50, x + 30, 80], [400 - x, 200, 430 - x, 230]))
    assert len(tr.tracks) == 2
    for t in tr.tracks:
        assert len(t.frames) == 20


def test_coasting_is_bounded():
    tr = Tracker(TrackConfig(max_coast=3))
    tr.update(0, _dets([10, 10, 40, 40]))
    tr.update(10, _dets([10, 10, 40, 40]))
    assert len(tr.tracks) == 2


def test_live_tracks_say_when_their_motion_is_unknown():
    """``run`` counts back to 1 when a track is found again after a gap: its velocity is stale then."""
    tr = Tracker(TrackConfig(max_coast=30))
    runs = []
    for f in [0, 1, 2, 4, 20, 21]:  # one miss at 3 keeps the run; 16 frames unseen break it
        tr.update(f, _dets([100, 100, 140, 140]))
        (live,) = tr.live(f + 1)
        runs.append(live.run)
    assert runs == [1, 2, 3, 4, 1, 2]
    assert len(tr.tracks) == 1


def test_a_small_box_inside_a_large_face_does_not_take_over_its_track():
    """Matched by its centre, a 15 px box would shrink a 110 px face's track to its size (see SIZE_RATIO)."""
    tr = Tracker(TrackConfig())
    for f in range(3):
        tr.update(f, _dets([850 + 4 * f, 560, 960 + 4 * f, 670]))
    rows = tr.update(3, _dets([890, 600, 905, 615]))  # inside the face's predicted box, a seventh of its size
    face = tr.tracks[0]
    assert rows.track_id[0] != face.id and face.frames == [0, 1, 2]
    (live,) = [t for t in tr.live(4) if t.id == face.id]
    assert live.box[2] - live.box[0] > 100  # still the face's size, where it was heading
    rows = tr.update(4, _dets([868, 562, 976, 668]))  # the face itself, next frame
    assert rows.track_id[0] == face.id


def test_two_faces_in_one_frame_are_two_tracks():
    tr = Tracker(TrackConfig())
    tr.update(0, _dets([0, 0, 20, 20], [0, 0, 20, 20]))  # identical boxes still both kept
    assert len(tr.tracks) == 2


def test_fusion_folds_a_box_inside_another_into_it():
    from redact.analyse.fuse import fuse

    face = [100, 100, 200, 220]
    part = [120, 130, 170, 180]  # a detector firing on the eyes: IoU 0.2, wholly inside
    apart = [180, 100, 280, 220]  # a neighbour overlapping a fifth of the face: stays its own
    dets = Detections.of(np.array([face, part, apart], np.float32), np.array([0.6, 0.9, 0.8]), "face", "centerface")
    fused = fuse(dets, 0.5)
    assert len(fused) == 2
    assert [list(b) for b in fused.xyxy] == [face, apart]  # the union is the outer box: nothing covered less
    assert fused.score[0] == np.float32(0.9)  # the cluster keeps its best score
    text = Detections.of(np.array([part], np.float32), np.array([0.9]), "text", "text")
    assert len(fuse(Detections.concat([dets, text]), 0.5)) == 3  # another kind is never folded in


def test_lone_stretches_end_where_the_track_could_have_changed_hands():
    def track(tid, frames, x=0.0, height=100.0, kind="face"):
        t = Track(tid, kind)
        for f in frames:
            t.add(f, np.array([x, 0, x + 100, height], np.float32), 0.9, "test")
        return t

    kept = track(0, [*range(20), *range(24, 40)])  # a 4-frame gap after frame 19: it coasted
    assert lone_stretches(kept, [kept], 48) == [(0, 19), (24, 39)]
    # A face within a quarter of a box on frames 30-32 ends the stretch there; one further away, or of
    # another kind (the tracker never links kinds), does not.
    passer = track(1, range(30, 33), x=110)
    assert lone_stretches(kept, [kept, passer], 48) == [(0, 19), (24, 29), (33, 39)]
    assert lone_stretches(kept, [kept, track(1, range(30, 33), x=130)], 48) == [(0, 19), (24, 39)]
    assert lone_stretches(kept, [kept, track(1, range(30, 33), x=110, kind="text")], 48) == [(0, 19), (24, 39)]
    # Too small to be shown in a kept track at all.
    small = track(2, range(10), height=40)
    assert lone_stretches(small, [small], 48) == []
