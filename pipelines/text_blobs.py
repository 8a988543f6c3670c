"""Which text-model blobs are writing: the shape rules of redact's text decoder against the bench's ground truth.

    python pipelines/text_blobs.py [--videos ../shared/bench/videos ...] [--every 6] [--scale 0.75]

The text model (``redact/analyse/detectors/text.py``) turns a frame into a probability
map; its blobs become text boxes unless the decoder's shape rules drop them
(``is_line``: ``MIN_SIDE``, ``MAX_LINE``, ``SQUAT_*``).  On every ``every``-th
frame of each video with a ``.gt.json`` beside it, every blob scoring at
least 0.4 is labelled *true* when its centre lies in a GT mark box of that
frame (text or plate), *false* otherwise, and the table shows how each rule
(and other ``MAX_LINE`` values) splits them: how many true blobs a rule
would drop, and how many false ones and what share of their box area.
False blobs' area is what paints out the picture, so that is the column
the rules are judged by (docs/benchmarks-history.md, issue 5).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from redact.analyse.detectors import text
from redact.analyse.detectors.base import create, resize_for
from redact.io import probe
from redact.io.frames import decode

MIN_SCORE = 0.4
"""The threshold `publish.yaml` and `dataset.yaml` give the text detector."""


@dataclass
class Blob:
    true: bool
    thick: float
    """Short side of its rotated rectangle, as a share of the map's height."""
    long: float
    upright: bool
    squat_side: bool
    """Thicker than ``SQUAT_SIDE`` map pixels."""
    area: float
    """Its axis-aligned box in frame pixels, as a share of the frame."""
    kept: bool
    """What the decoder decides now (``is_line``)."""


def probe_video(video: Path, detector, every: int) -> list[Blob]:
    gt = json.loads(video.with_suffix(".gt.json").read_text())
    marks = {f["frame"]: [m["box"] for m in f.get("marks", [])] for f in gt["frames"]}
    info = probe(video)
    found = []
    with decode(info) as reader:
        for frame in reader:
            index = frame.index
            if index % every:
                continue
            small, _ = resize_for(frame.image, detector.scale)
            blob, (sh, sw) = text._blob(small)
            (prob,) = detector.infer(blob)
            prob = prob[0, 0, :sh, :sw]
            fx, fy = info.width / sw, info.height / sh
            for rect, contour in text.blobs(prob, np.ones((2, 2), np.uint8)):
                (cx, cy), (rw, rh), _ = rect
                short, long = min(rw, rh), max(rw, rh)
                if short < text.MIN_SIDE or text.blob_score(prob, contour) < MIN_SCORE:
                    continue
                _, _, bw, bh = cv2.boundingRect(contour)
                centre = (cx * fx, cy * fy)
                true = any(b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3] for b in marks.get(index, []))
                found.append(Blob(true, short / sh, long / sh, text._upright(rect), short > text.SQUAT_SIDE,
                                  bw * bh / (sw * sh), text.is_line(rect, sh)))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", nargs="+", type=Path, default=[Path("../shared/bench/videos")],
                    help="folders of bench videos with their .gt.json")
    ap.add_argument("--every", type=int, default=6, help="every N-th frame (the presets' text stride)")
    ap.add_argument("--scale", type=float, default=0.75, help="the text detector's scale (publish.yaml: 0.75)")
    args = ap.parse_args()
    detector = create("text", threshold=MIN_SCORE, scale=args.scale)
    detector.load()
    found: list[Blob] = []
    for folder in args.videos:
        for video in sorted(folder.glob("*.mp4")):
            if video.with_suffix(".gt.json").exists():
                found += probe_video(video, detector, args.every)
                print(f"{video.name}: {len(found)} blobs so far", flush=True)
    true = [b for b in found if b.true]
    false = [b for b in found if not b.true]
    false_area = sum(b.area for b in false) or 1.0
    print(f"\n{len(true)} blobs on GT marks, {len(false)} elsewhere; thickest true blob "
          f"{max((b.thick for b in true), default=0):.3f} of the map's height\n")
    rules = {f"thicker than {t:.2f} of the height": (lambda b, t=t: b.thick > t) for t in (0.05, 0.06, 0.07, 0.08, 0.10, 0.12)}
    rules["thicker than SQUAT_SIDE and upright"] = lambda b: b.squat_side and b.upright
    # The decoder's rules before f124f79: thicker than 0.12 of the height, or thick and squat.
    rules["the rules before f124f79"] = lambda b: b.thick > 0.12 or (b.squat_side and b.long < text.SQUAT_RATIO * b.thick)
    rules["all of the decoder's rules (is_line)"] = lambda b: not b.kept
    print("| drops blobs ... | true blobs dropped | false blobs dropped | share of false blobs' area |")
    print("|---|---|---|---|")
    for name, drops in rules.items():
        dropped = [b for b in false if drops(b)]
        print(f"| {name} | {sum(drops(b) for b in true)} | {len(dropped)} | "
              f"{sum(b.area for b in dropped) / false_area * 100:.0f} % |")


if __name__ == "__main__":
    main()
