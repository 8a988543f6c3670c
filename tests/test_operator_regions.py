"""Operator-marked regions: parsing, static spans, protected text, and a real tracker followed both ways.

The tracking tests run OpenCV's CSRT on a clip made here with the real
encoder: a textured 40 px patch (a stand-in for a tattoo) appears on
frame 10, crosses the picture, and vanishes on frame 60, over a
textured background.  The mark is given in the middle, so the track must
reach back to where the patch entered and forward to where it vanished.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from redact.analyse.regions import follow_regions, protect_filter
from redact.analyse.track import iou_matrix
from redact.config import EncodeConfig, MarkedRegion, ProtectedRegion, RegionsConfig
from redact.errors import ConfigError
from redact.io import probe
from redact.io.writer import VideoWriter
from redact.marks import load_regions_file, parse_protect, parse_region
from redact.types import Detections, VideoInfo

W, H, FPS, FRAMES, SIDE = 320, 240, 25, 75, 40
MARKED = 35
"""The frame where the test gives the box (t = 1.4 s)."""
APPEARS = 10
"""The first frame with the patch."""
GONE = 60
"""The first frame without it again."""


def _texture(h: int, w: int, seed: int, grain: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // grain + 2, w // grain + 2, 3), dtype=np.uint8)
    return cv2.resize(small, (w + 2 * grain, h + 2 * grain), interpolation=cv2.INTER_CUBIC)[:h, :w]


def patch_box(i: int) -> np.ndarray | None:
    """Where the patch is on frame ``i`` (unclipped xyxy), None once it has vanished.

    It moves right at 5 px a frame, and up and down.
    """
    if not APPEARS <= i < GONE:
        return None
    x, y = 20 + 5 * (i - APPEARS), 100 + round(30 * np.sin(i / 10))
    return np.array([x, y, x + SIDE, y + SIDE], np.float32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> VideoInfo:
    out = tmp_path_factory.mktemp("operator") / "tattoo.mp4"
    background = (_texture(H, W, 1, 6) * 0.5 + 64).astype(np.uint8)
    patch = _texture(SIDE, SIDE, 2, 4)
    spec = VideoInfo(
        path=out.with_name("source.mp4"), width=W, height=H, fps=Fraction(FPS), frame_count=FRAMES, duration=3
    )
    with VideoWriter(spec, out, EncodeConfig(crf=18, preset="ultrafast")) as writer:
        for i in range(FRAMES):
            frame = background.copy()
            box = patch_box(i)
            if box is not None:
                x1, y1, x2, y2 = (int(v) for v in box)
                frame[y1:y2, x1:x2] = patch
            writer.write(frame)
    return probe(out)


def _mark(at: int = MARKED, **extra) -> MarkedRegion:
    x1, y1, _, _ = patch_box(at)
    return parse_region(
        f"t={at / FPS},x={x1:g},y={y1:g},w={SIDE},h={SIDE},label=tattoo"
        + "".join(f",{k}={v}" for k, v in extra.items())
    )


# --- tracked regions ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_operator_region_is_tracked_across_frames_both_ways(clip):
    (track,) = follow_regions(clip, RegionsConfig(redact=[_mark()]), first_id=7)
    assert (track.id, track.kind, track.label) == (7, "region", "tattoo")
    assert set(track.detectors) == {"csrt"}
    assert track.frames == list(range(track.first, track.last + 1)), "a followed region has a box on every frame"
    # Both ways: on every frame with the patch, before the mark and after it,
    # the box is on the patch...
    assert track.first <= APPEARS and track.last >= GONE - 1
    for frame, box, score in zip(track.frames, track.boxes, track.scores, strict=True):
        assert box.dtype == np.float32 and 0 <= box[0] < box[2] <= W and 0 <= box[1] < box[3] <= H
        truth = patch_box(frame)
        if truth is not None:
            assert iou_matrix(box[None], truth[None])[0, 0] >= 0.5, f"frame {frame}"
            assert score > 0.5, f"frame {frame}"
    # ...and the track ends where the patch vanishes, each way, give or take
    # the 0.2 s (5 frames) of low-likeness boxes kept before a loss is declared.
    assert APPEARS - 4 <= track.first and track.last <= GONE - 1 + 4


@pytest.mark.slow
def test_a_tracked_region_stays_inside_its_span_and_max_seconds(clip):
    # Three regions in one decode pass, marked at different times (so the
    # buffered frames serve overlapping backward runs): one held inside
    # start-end, two by max_seconds (0.2 s = 5 frames each way).
    cfg = RegionsConfig(redact=[_mark(start="01.3", end="0:01.44"), _mark(), _mark(at=30)], max_seconds=0.2)
    spanned, capped, early = follow_regions(clip, cfg, first_id=0)
    assert spanned.frames == list(range(32, 37))
    assert capped.frames == list(range(MARKED - 5, MARKED + 6))
    assert early.frames == list(range(25, 36))
    assert [spanned.id, capped.id, early.id] == [0, 1, 2]
    for track in (spanned, capped, early):
        assert all(iou_matrix(b[None], patch_box(f)[None])[0, 0] >= 0.5 for f, b in zip(track.frames, track.boxes))


def test_a_mark_outside_the_video_is_an_error_not_a_silent_skip(clip):
    late = MarkedRegion(label="tattoo", t=9.0, x=10, y=10, w=20, h=20)
    with pytest.raises(ConfigError, match=r"region 0 \(tattoo, t=9\): t is after the video ends"):
        follow_regions(clip, RegionsConfig(redact=[late]), first_id=0)
    off = MarkedRegion(t=1.0, x=W + 5, y=10, w=20, h=20)
    with pytest.raises(ConfigError, match="lies outside the 320x240 frame"):
        follow_regions(clip, RegionsConfig(redact=[off]), first_id=0)
    outside_span = MarkedRegion(t=2.0, x=10, y=10, w=20, h=20, start=0.0, end=1.0)
    with pytest.raises(ConfigError, match="t lies outside the region's start-end span"):
        follow_regions(clip, RegionsConfig(redact=[outside_span]), first_id=0)


# --- static regions (no decoding) ---------------------------------------------------------------------------


def _info(frames: int = 250, fps: int = 25) -> VideoInfo:
    return VideoInfo(
        path=Path("none.mp4"), width=640, height=360, fps=Fraction(fps), frame_count=frames, duration=frames / fps
    )


def test_static_regions_mark_both_ends_of_their_span():
    regions = [
        parse_region("x=600,y=10,w=100,h=50,start=2,end=4.5,label=sign"),  # mode inferred: no t
        parse_region("mode=static,x=10,y=20,w=30,h=40"),  # no span: the whole video
        parse_region("start=00:01,end=00:02.5,label=blackout"),  # no box: the whole frame
    ]
    sign, always, blackout = follow_regions(_info(), RegionsConfig(redact=regions), first_id=3)
    assert [t.id for t in (sign, always, blackout)] == [3, 4, 5]
    assert sign.frames == [50, 112] and sign.label == "sign" and sign.detectors == ["static", "static"]
    np.testing.assert_array_equal(sign.boxes[0], [600, 10, 640, 60])  # clipped to the frame
    assert always.frames == [0, 249]
    np.testing.assert_array_equal(always.boxes[1], [10, 20, 40, 60])
    assert blackout.frames == [25, 62] and blackout.kind == "region"
    np.testing.assert_array_equal(blackout.boxes[0], [0, 0, 640, 360])
    assert all(b.dtype == np.float32 for t in (sign, always, blackout) for b in t.boxes)


def test_a_static_span_is_clipped_to_the_video_and_a_late_one_is_an_error():
    (tail,) = follow_regions(_info(), RegionsConfig(redact=[parse_region("start=9,end=60")]), first_id=0)
    assert tail.frames == [225, 249]
    with pytest.raises(ConfigError, match=r"starts at 12 s, after the video ends \(10.00 s\)"):
        follow_regions(_info(), RegionsConfig(redact=[parse_region("start=12,end=13")]), first_id=0)


# --- parsing ------------------------------------------------------------------------------------------------


def test_parse_region_reads_times_boxes_and_infers_the_mode():
    r = parse_region("t=01:12.5, x=100, y=80, w=40.5, h=60, label=tattoo, start=1:00, end=90")
    assert (r.mode, r.t, r.x, r.y, r.w, r.h, r.label, r.start, r.end) == (
        "track",
        72.5,
        100,
        80,
        40.5,
        60,
        "tattoo",
        60,
        90,
    )
    assert parse_region("start=10,end=12").whole_frame
    assert parse_region("start=10,end=12").mode == "static"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("t=1,x=1,y=2,w=3,h=4,colour=red", "colour: unknown key (valid: t, x, y, w, h, label, mode, start, end)"),
        ("t=1,x=1,y=2,w=3,h=4,t=2", "t is given twice"),
        ("t=1,x=1,y,w=3,h=4", "expected KEY=VALUE pairs separated by commas, got 'y'"),
        ("t=1,x=ten,y=2,w=3,h=4", "x: expected a number of pixels, got 'ten'"),
        ("t=1:75,x=1,y=2,w=3,h=4", "t: '1:75': not a valid time"),
        ("t=1,x=1,y=2,w=3", "give all of x, y, w, h (or none, for the whole frame)"),
        ("t=1,x=1,y=2,w=0,h=4", "expected x, y >= 0 and w, h > 0"),
        ("mode=track,x=1,y=2,w=3,h=4", "a tracked region needs t"),
        ("t=1", "a region without a box blacks out the whole frame; it needs mode static, start and end"),
        ("start=5", "needs mode static, start and end"),
        ("start=5,end=3", "end 3.0 is before start 5.0"),
        ("mode=sometimes,start=1,end=2", "'sometimes' is not one of track, static"),
    ],
)
def test_parse_region_errors_are_one_clear_line(spec, message):
    with pytest.raises(ConfigError) as e:
        parse_region(spec)
    text = str(e.value)
    assert text.startswith(f"--region {spec!r}: ") and message in text and "\n" not in text


def test_parse_protect():
    p = parse_protect("x=0,y=0,w=320,h=40,label=timestamp,end=01:00")
    assert (p.x, p.y, p.w, p.h, p.label, p.start, p.end) == (0, 0, 320, 40, "timestamp", None, 60)
    with pytest.raises(
        ConfigError, match=r"^--protect 'x=0,y=0,w=3': a protected region needs x, y, w and h \(missing h\)$"
    ):
        parse_protect("x=0,y=0,w=3")
    with pytest.raises(ConfigError, match="t: unknown key"):
        parse_protect("t=1,x=0,y=0,w=3,h=3")


def test_load_regions_file(tmp_path):
    path = tmp_path / "regions.yaml"
    path.write_text(
        "regions:\n"
        "  - {t: '00:12.4', x: 100, y: 80, w: 40, h: 60, label: tattoo}\n"
        "  - {start: 3, end: '0:04.5'}\n"
        "protect:\n"
        "  - {x: 0, y: 0, w: 320, h: 40, label: timestamp}\n",
        encoding="utf-8",
    )
    regions, protect = load_regions_file(path)
    assert [(r.mode, r.t, r.label) for r in regions] == [("track", 12.4, "tattoo"), ("static", None, "region")]
    assert regions[1].whole_frame and regions[1].end == 4.5
    assert protect == [ProtectedRegion(label="timestamp", x=0, y=0, w=320, h=40)]

    path.write_text("- {start: 1, end: 2}\n", encoding="utf-8")  # a bare list is the regions
    assert load_regions_file(path) == ([MarkedRegion(mode="static", start=1, end=2)], [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "regions:\n  - {t: 1, x: 1, y: 2, w: 3, h: 4}\n  - {t: 1, x: 1, y: 2, w: 3, h: 4, colour: red}\n",
            "regions.yaml: regions.1.colour: unknown key",
        ),
        ("regions:\n  - {t: soon, x: 1, y: 2, w: 3, h: 4}\n", "regions.yaml: regions.0.t: 'soon': expected a time"),
        (
            "protect:\n  - {x: 1, y: 2}\n",
            "regions.yaml: protect.0: a protected region needs x, y, w and h (missing w, h)",
        ),
        ("regions: {t: 1}\n", "regions.yaml: regions: expected a list, got dict"),
        ("regions:\n  - 12.4\n", "regions.yaml: regions.0: expected a mapping"),
        ("region: []\n", "regions.yaml: region: unknown key (valid: protect, regions)"),
        ("regions: [\n", "regions.yaml: not valid YAML"),
    ],
)
def test_load_regions_file_errors_name_file_and_item(tmp_path, text, message):
    path = tmp_path / "regions.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_regions_file(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_load_regions_file_missing(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: cannot read regions file"):
        load_regions_file(tmp_path / "nope.yaml")


# --- protected areas ----------------------------------------------------------------------------------------


def test_protect_filter_exempts_text_inside_never_faces():
    dets = Detections(
        xyxy=[[10, 5, 60, 25], [12, 4, 40, 30], [200, 200, 260, 220], [290, 20, 400, 40], [200, 10, 400, 30]],
        score=[0.9, 0.9, 0.9, 0.9, 0.9],
        kind=["text", "face", "text", "text", "text"],
        detector=["ocr", "centerface", "ocr", "ocr", "ocr"],
    )
    overlay = [ProtectedRegion(label="timestamp", x=0, y=0, w=320, h=40, start=1.0, end=5.0)]
    kept = protect_filter(dets, 2.0, overlay)
    # The overlay's text goes; the face inside it, text elsewhere, text
    # straddling the edge and a line whose centre is inside but which runs on
    # past the overlay (60 % inside) stay.
    assert list(kept.kind) == ["face", "text", "text", "text"]
    np.testing.assert_array_equal(kept.xyxy[0], [12, 4, 40, 30])
    assert len(protect_filter(dets, 5.0, overlay)) == 4  # the end is inclusive
    assert len(protect_filter(dets, 5.1, overlay)) == 5  # after the span nothing is exempt
    assert len(protect_filter(dets, 0.0, [ProtectedRegion(x=0, y=0, w=320, h=40)])) == 4  # open span
    assert protect_filter(dets, 2.0, []) is dets
