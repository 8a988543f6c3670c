"""The review report, built from a real saved analysis of a generated clip (no detector models run).

Tracks are placed by hand on the sample's known face boxes, so every
thumbnail can be checked against the original pixels it must show.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
import shutil
from fractions import Fraction

import cv2
import numpy as np
import pytest

from redact import config, store
from redact.errors import InputError
from redact.io import probe
from redact.io.files import sha256_file
from redact.io.frames import decode
from redact.review import THUMB_HEIGHT, pick, write_report
from redact.sample import make_sample
from redact.types import Action, Analysis, Decision, IdentitySample, Track

LABEL = 'Ann <script>alert("x")</script>'
THUMBS = 3
FAILED = 33


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A 2 s clip with two faces; track 1 kept on frames 10-30, tracks 2 and 3 redacted."""
    root = tmp_path_factory.mktemp("review")
    sample = make_sample(root / "clip.mp4", seconds=2.0, fps=25, size=(320, 180), audio=False, metadata=False)
    assert all(len(b) == 2 for b in sample.boxes), "both sample faces must be in every frame"
    a, b = (1, list(range(0, 50, 2)), 0), (2, list(range(5, 41)), 1)
    tracks = [Track(tid, "face") for tid, _, _ in (a, b)] + [Track(3, "face")]
    for track, (_, frames, face) in zip(tracks, (a, b)):
        for f in frames:
            track.add(f, np.array(sample.boxes[f][face], np.float32), 0.9, "test")
    for f in (48, 49):
        tracks[2].add(f, np.array(sample.boxes[f][1], np.float32), 0.6, "test")
    samples = [IdentitySample(f, 60.0, 200.0, 0.1, f != 0, {LABEL: 0.6 + f / 100}) for f in (0, 10, 20, 30)]
    decisions = {
        1: Decision(1, Action.KEEP, "matched", label=LABEL, score=0.8, visible=((10, 30),)),
        2: Decision(2, Action.REDACT, "unknown", score=0.2),
        3: Decision(3, Action.REDACT, "below-size"),
    }
    people = {"mode": "keep", "people": [{"label": LABEL, "photos": [{"file": "ann.jpg", "sha256": "0" * 64}]}]}
    analysis = Analysis(probe(sample.path), tracks, failed_frames=[FAILED], identities={1: samples}, people=people)
    folder = root / "analysis"
    store.save(folder, analysis, config.load(), sha256_file(sample.path), decisions)
    report = write_report(folder, thumbs=THUMBS)
    return sample, tracks, decisions, folder, report, report.read_text(encoding="utf-8")


def rows(page: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r'<tr id="track-(\d+)">.*?</tr>', page, re.DOTALL)}


def thumbnails(row: str) -> list[tuple[int, np.ndarray]]:
    """(frame, decoded BGR image) for every thumbnail of a table row."""
    out = []
    for uri, frame in re.findall(r'<img src="data:image/jpeg;base64,([^"]+)"[^>]*title="frame (\d+),', row):
        img = cv2.imdecode(np.frombuffer(base64.b64decode(uri), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None, "thumbnail is not a decodable JPEG"
        out.append((int(frame), img))
    return out


def test_report_lands_in_the_analysis_folder_with_a_warning(analysed):
    _, _, _, folder, report, page = analysed
    assert report == folder / "review.html"
    assert "Contains unredacted faces" in page[: page.index("<h1>")]
    assert "Do not publish" in page
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == [], "temporary file left behind"
    # Self-contained: nothing is fetched from elsewhere, and no script runs.
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script>" not in page and "default-src 'none'" in page


def test_one_row_per_track_with_decision_reason_and_identity(analysed):
    _, tracks, _, _, _, page = analysed
    table = rows(page)
    assert sorted(table) == [t.id for t in tracks]
    assert 'class="keep">keep<' in table[1] and 'class="redact">redact<' in table[2]
    assert ">unknown<" in table[2] and ">below-size<" in table[3]
    assert ">0.800<" in table[1] and ">0.200<" in table[2]
    # 3 of 4 samples usable (frame 0 is not); median of 0.70, 0.80, 0.90.
    assert "3/4 usable, median 0.800" in table[1]
    assert "00:00.4–00:01.2" in table[1], "kept track's visible frames 10-30 in seconds"


def test_thumbnails_are_crops_of_the_original_faces(analysed):
    sample, tracks, _, _, _, page = analysed
    table = rows(page)
    shots = {t.id: thumbnails(table[t.id]) for t in tracks}
    assert {tid: len(s) for tid, s in shots.items()} == {1: THUMBS, 2: THUMBS, 3: 2}
    by_id = {t.id: t for t in tracks}
    for tid, s in shots.items():
        assert all(f in by_id[tid].frames for f, _ in s)
        assert len({f for f, _ in s}) == len(s), "thumbnails are spread over the track, not repeated"
    # Spread: the first and last thumbnails come from the first and last slices of the track.
    assert shots[2][0][0] < 5 + 36 / THUMBS <= 5 + 2 * 36 / THUMBS <= shots[2][-1][0]
    with decode(probe(sample.path)) as reader:
        frames = {f.index: f.image.copy() for f in reader}
    for tid, s in shots.items():
        for f, img in s:
            assert img.shape[0] == THUMB_HEIGHT and 0.5 < img.shape[1] / img.shape[0] <= 1.0
            x1, y1, x2, y2 = by_id[tid].boxes[by_id[tid].frames.index(f)]
            face = cv2.resize(frames[f][int(y1) : int(y2), int(x1) : int(x2)], (32, 32), interpolation=cv2.INTER_AREA)
            elsewhere = cv2.resize(frames[f][:40, -40:], (32, 32), interpolation=cv2.INTER_AREA)
            # The middle of the thumbnail is the face (the box fills 1/1.3 of the crop).
            h, w = img.shape[:2]
            mid = cv2.resize(
                img[round(h * 0.12) : round(h * 0.88), round(w * 0.12) : round(w * 0.88)],
                (32, 32),
                interpolation=cv2.INTER_AREA,
            )
            err = np.abs(mid.astype(float) - face).mean()
            assert err < 15 and err < np.abs(mid.astype(float) - elsewhere).mean() / 3


def test_thumbnails_prefer_the_largest_box_of_each_slice():
    track = Track(7, "face")
    for f, side in enumerate((10, 30, 20, 20, 50, 10)):
        track.add(f * 2, np.array([0, 0, side, side], np.float32), 0.9, "test")
    assert pick(track, 2) == [1, 4]
    assert pick(track, 10) == list(range(6)), "never more thumbnails than detections"
    assert pick(track, 0) == []


def test_labels_and_names_are_escaped(analysed):
    _, _, _, _, _, page = analysed
    assert LABEL not in page
    assert html.escape(LABEL) in page
    assert page.count(html.escape(LABEL)) >= 2, "in the summary and in the kept track's row"


def test_timeline_counts_shown_and_redacted_per_bucket(analysed):
    _, tracks, decisions, _, _, page = analysed
    bars = [
        dict(zip(("first", "last", "kept", "redacted", "failed"), map(int, m)))
        for m in re.findall(
            r'<g data-first="(\d+)" data-last="(\d+)" data-kept="(\d+)" '
            r'data-redacted="(\d+)" data-failed="(\d)">',
            page,
        )
    ]
    assert bars and bars[0]["first"] == 0 and bars[-1]["last"] == 49
    for bar in bars:
        span = range(bar["first"], bar["last"] + 1)
        shown = sum(any(decisions[t.id].shown_at(f) for f in span if t.first <= f <= t.last) for t in tracks)
        hidden = sum(any(not decisions[t.id].shown_at(f) for f in span if t.first <= f <= t.last) for t in tracks)
        assert (bar["kept"], bar["redacted"]) == (shown, hidden), bar
        assert bar["failed"] == (bar["first"] <= FAILED <= bar["last"])
    # Known buckets: at frame 20 track 1 is shown and track 2 redacted; at frame 49 tracks 1 and 3 are redacted.
    at = {f: next(b for b in bars if b["first"] <= f <= b["last"]) for f in (20, 49)}
    assert at[20]["kept"] == 1 and at[20]["redacted"] >= 1
    assert (at[49]["kept"], at[49]["redacted"]) == (0, 2)


def test_override_template_holds_the_automatic_decisions(analysed):
    _, _, _, folder, _, page = analysed
    assert "keep: [1]\nredact: [2, 3]" in page
    assert f"--analysis {folder}" in page and "--decisions decisions.yaml" in page


def test_another_video_is_refused_and_leaves_no_report(analysed, tmp_path):
    sample, _, _, folder, _, _ = analysed
    other = tmp_path / "other.mp4"
    shutil.copyfile(sample.path, other)
    with open(other, "ab") as f:
        f.write(b"\0")  # same pictures, different file: the analysis does not describe it
    out = folder / "second.html"
    with pytest.raises(InputError, match="not the video this analysis is of"):
        write_report(folder, input=other, output=out)
    assert not out.exists()
    assert not [p for p in folder.iterdir() if "second" in p.name]


def test_a_moved_video_must_be_named_and_is_then_used(analysed, tmp_path):
    sample, _, _, folder, _, first = analysed
    moved = tmp_path / "moved.mp4"
    shutil.copyfile(sample.path, moved)
    record = json.loads((folder / store.FILE).read_text(encoding="utf-8"))
    record["input"]["path"] = str(tmp_path / "gone.mp4")
    copy = tmp_path / "analysis"
    copy.mkdir()
    (copy / store.FILE).write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(InputError, match="--input"):
        write_report(copy)
    page = write_report(copy, input=moved).read_text(encoding="utf-8")
    assert rows(page).keys() == rows(first).keys()
    assert shlex.quote(str(moved)) in html.unescape(page), "the render command names the video actually reviewed"


def test_timecodes_round_into_the_next_minute():
    from redact.review import _t

    assert _t(1499, Fraction(25)) == "01:00.0"  # 59.96 s
    assert _t(30, Fraction(30000, 1001)) == "00:01.0"


def _browser() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium on this machine (.ci/run installs Debian's chromium)")
@pytest.mark.browser
@pytest.mark.slow
def test_a_browser_renders_the_report_with_every_thumbnail(analysed, tmp_path):
    """Headless Chromium, with the page's own Content-Security-Policy, must draw each thumbnail.

    Each thumbnail decoded from the page is looked for in the screenshot: a
    policy or markup mistake that stops images loading would leave blank
    boxes, which the HTML tests above cannot see.
    """
    import subprocess

    _, tracks, _, _, report, page = analysed
    shot = tmp_path / "review.png"
    cmd = [_browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--force-device-scale-factor=1", "--window-size=1600,1400", f"--screenshot={shot}", report.as_uri()]
    done = subprocess.run(cmd, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    screen = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert screen is not None and screen.shape[:2] == (1400, 1600)
    table = rows(page)
    found = []
    for t in tracks:
        for _, img in thumbnails(table[t.id]):
            score = cv2.minMaxLoc(cv2.matchTemplate(screen, img, cv2.TM_CCOEFF_NORMED))[1]
            found.append(score)
    assert len(found) == 2 * THUMBS + 2
    assert min(found) > 0.9, f"thumbnails not drawn as decoded: best matches {sorted(found)}"
    # The red warning banner is the first thing on the page.
    top = screen[5:40, 5:-5].reshape(-1, 3).mean(axis=0)
    assert top[2] > 150 and top[0] < 80 and top[1] < 80, f"banner colour {top}"
