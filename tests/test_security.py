"""Security properties of what a batch leaves behind, checked on the files themselves.

Outputs carry one redacted video stream and the sound, and no metadata;
audit logs, manifests, summaries and analyses hold geometry, hashes and
decisions, never pixels or face descriptors; the review report, which does
show faces, exists only when asked for and never beside published output.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from conftest import stream_summary
from test_identity import reference_photo

from redact.cli import main
from redact.sample import FacePath, make_sample

# Every test here reads one real batch run (the module fixture `batch`, several seconds).
pytestmark = [pytest.mark.models, pytest.mark.slow]

LEAKY_TAGS = {"creation_time", "location", "location-eng", "comment", "title", "artist", "encoder", "make", "model"}
"""Container tags a camera or phone writes that identify the source."""


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One batch over a leaky file (metadata, subtitles, data and cover art) and two people, keeping one."""
    root = tmp_path_factory.mktemp("sec")
    src = root / "in"
    src.mkdir()
    make_sample(src / "leaky.mp4", seconds=1.0, fps=20, size=(320, 240), extra_streams=True)
    paths = [FacePath((20, 10), (150, 20), 110, person="astronaut"),
             FacePath((470, 200), (390, 190), 100, person="hopper")]
    make_sample(src / "two people.mp4", seconds=1.0, paths=paths)
    refs = root / "refs" / "astronaut"
    refs.mkdir(parents=True)
    cv2.imwrite(str(refs / "ref.jpg"), reference_photo("astronaut", 7, 1.25, True))
    out = root / "out"
    assert main(["run", str(src), "-o", str(out), "--keep", str(refs.parent), "-q"]) == 0
    decisions = [r for r in map(json.loads, (out / "two people.audit.jsonl").read_text().splitlines())
                 if r["type"] == "decision"]
    assert {d["action"] for d in decisions} == {"keep", "redact"}, "the batch workers scored the reference person"
    analysis = root / "analysis"
    assert main(["analyse", str(src / "two people.mp4"), "--out", str(analysis), "--keep", str(refs.parent),
                 "-q"]) == 0
    return src, out, analysis


def test_outputs_hold_one_video_and_the_sound_and_no_metadata(batch):
    src, out, _ = batch
    before = stream_summary(src / "leaky.mp4")
    assert {t for t, _ in before["streams"]} >= {"video", "audio", "subtitle", "data"}
    for video in out.glob("*.mp4"):
        after = stream_summary(video)
        assert [t for t, _ in after["streams"]] == ["video", "audio"], video.name
        assert not {k.lower() for k in after["format_tags"]} & LEAKY_TAGS
        for _, meta in after["streams"]:
            assert set(meta) <= {"language", "handler_name", "vendor_id"}, meta
        raw = video.read_bytes()
        for needle in (b"x264 - core", b"Lavf", b"Cell block", b"Officer", b"+48.8584"):
            assert needle not in raw, (video.name, needle)


def _walk(value, path="$"):
    """Every (path, leaf) of a JSON document, lists of numbers reported whole."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        yield path, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def _records(folder: Path) -> list[tuple[str, object]]:
    leaves = []
    for f in sorted(folder.rglob("*")):
        if f.suffix == ".jsonl":
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
                leaves += [(f"{f.name}:{n}{p}", v) for p, v in _walk(json.loads(line))]
        elif f.suffix == ".json":
            leaves += [(f"{f.name}{p}", v) for p, v in _walk(json.loads(f.read_text(encoding="utf-8")))]
    return leaves


def test_logs_manifests_summaries_and_analyses_hold_no_pixels_or_descriptors(batch):
    _, out, analysis = batch
    leaves = _records(out) + _records(analysis)
    kinds = {p.split(":")[0].split("$")[0].rsplit(".", 2)[-2] for p, _ in leaves}
    assert {"audit", "manifest"} <= kinds and any("redact-batch" in p for p, _ in leaves)
    assert any("analysis.json" in p for p, _ in leaves)
    per_frame = (".frames", ".scores", "failed_frames")  # one number per frame of a track: indices and scores
    for path, value in leaves:
        # A face descriptor is 128 numbers and a crop thousands; boxes and spans are a few.
        assert not isinstance(value, list) or len(value) <= 8 or path.endswith(per_frame), path
        # No encoded image: strings are names, hashes, reasons and config values.
        assert not isinstance(value, str) or len(value) < 400, path
        # Names that would hold image data (config keys, like image.max_pixels, are limits: numbers, checked above).
        lowered = path.lower()
        named = ("embedding", "descriptor", "vector", "thumbnail", "pixels", "crop")
        assert ".config." in path or not any(k in lowered for k in named), path


def test_the_review_report_exists_only_on_request_and_only_beside_the_analysis(batch, tmp_path):
    _, out, analysis = batch
    assert not list(out.rglob("*.html")) and not list(analysis.rglob("*.html"))
    assert main(["review", str(analysis), "-o", str(out / "review.html"), "-q"]) == 1  # beside published output
    assert not (out / "review.html").exists()
    assert main(["review", str(analysis), "-q"]) == 0
    assert sorted(p.name for p in analysis.iterdir() if p.suffix == ".html") == ["review.html"]
