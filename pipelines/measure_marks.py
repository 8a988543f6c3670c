"""Measure the mark detectors alone on the bench's mark videos: text coverage per scale, and the Haar plate cascade.

    python pipelines/measure_marks.py [--bench ../shared/bench] [--videos pub07_marks_street_720p ...]
                                      [--scales 1.0,0.75,0.5] [--stride 10]

For every ``stride``-th frame and every GT mark with cap height >= 12 px and
less than half occluded, the text detector's boxes (padded by 15 % of their
size) must cover >= 80 % of the mark's box inset as the scorer insets it
(3 % of the width, 14 % of the height): the share of such instances is
printed per scale with the ms per call on this machine, one thread.  The
cascade is judged by whether a box holds each plate's centre, and its boxes
holding no plate centre are counted as false.  These numbers chose the text
detector's scale and stride in configs/publish.yaml (docs/benchmarks-history.md); the
leak rates come from pipelines/benchmark.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from redact.analyse.detectors.base import create
from redact.io import probe
from redact.io.frames import decode

PAD = 0.15
COVER = 0.8


def inset(box: list[float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * 0.03, (y2 - y1) * 0.14
    return x1 + dx, y1 + dy, x2 - dx, y2 - dy


def coverage(box: tuple[float, float, float, float], boxes: np.ndarray) -> float:
    """Share of ``box`` inside the union of ``boxes`` (each padded by PAD of its size)."""
    x1, y1, x2, y2 = box
    w, h = max(1, int(x2 - x1)), max(1, int(y2 - y1))
    mask = np.zeros((h, w), bool)
    for bx1, by1, bx2, by2 in boxes:
        px, py = (bx2 - bx1) * PAD, (by2 - by1) * PAD
        a1, b1 = int(max(0, bx1 - px - x1)), int(max(0, by1 - py - y1))
        a2, b2 = int(min(w, bx2 + px - x1)), int(min(h, by2 + py - y1))
        if a2 > a1 and b2 > b1:
            mask[b1:b2, a1:a2] = True
    return float(mask.mean())


def measure(video: Path, gt: dict, scales: list[float], stride: int) -> None:
    texts = {s: create("text", threshold=0.4, scale=s) for s in scales}
    for d in texts.values():
        d.load()
    cascade = create("plate_haar")
    cascade.load()
    hits = {s: {"text": [], "plate": []} for s in scales}
    seconds = dict.fromkeys(scales, 0.0)
    haar = {"hit": 0, "plates": 0, "false": 0, "seconds": 0.0}
    calls = 0
    with decode(probe(video)) as reader:
        for frame in reader:
            if frame.index % stride:
                continue
            calls += 1
            all_marks = gt["frames"][frame.index].get("marks", [])
            marks = [m for m in all_marks if m["text_h"] >= 12 and m.get("occluded_frac", 0) < 0.5]
            for s, det in texts.items():
                t0 = time.perf_counter()
                found = det.detect(frame.image)
                seconds[s] += time.perf_counter() - t0
                for m in marks:
                    hits[s][m["kind"]].append(coverage(inset(m["box"]), found.xyxy) >= COVER)
            t0 = time.perf_counter()
            plates = cascade.detect(frame.image).xyxy
            haar["seconds"] += time.perf_counter() - t0
            centres = [((m["box"][0] + m["box"][2]) / 2, (m["box"][1] + m["box"][3]) / 2, m)
                       for m in all_marks if m["kind"] == "plate"]
            for cx, cy, m in centres:
                if m.get("occluded_frac", 0) > 0.5:
                    continue
                haar["plates"] += 1
                haar["hit"] += any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in plates)
            haar["false"] += sum(
                not any(m["box"][0] <= (b[0] + b[2]) / 2 <= m["box"][2] and m["box"][1] <= (b[1] + b[3]) / 2 <= m["box"][3]
                        for _, _, m in centres)
                for b in plates
            )
    name = video.stem
    for s in scales:
        share = {k: (f"{np.mean(v):.3f}" if v else "-") for k, v in hits[s].items()}
        print(f"{name}  text scale {s}: {seconds[s] / calls * 1000:.0f} ms/call; covered text {share['text']}, "
              f"plate {share['plate']} (n={sum(map(len, hits[s].values()))})")
    print(f"{name}  plate_haar: plate centre hit {haar['hit']}/{haar['plates']}, false boxes {haar['false']} "
          f"in {calls} frames, {haar['seconds'] / calls * 1000:.0f} ms/call")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "bench")
    ap.add_argument("--videos", nargs="+", default=["pub07_marks_street_720p", "pub08_marks_ir_noise_720p"])
    ap.add_argument("--scales", default="1.0,0.75,0.5")
    ap.add_argument("--stride", type=int, default=10)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    for name in args.videos:
        gt = json.loads((args.bench / "videos" / f"{name}.gt.json").read_text())
        measure(args.bench / "videos" / f"{name}.mp4", gt, [float(s) for s in args.scales.split(",")], args.stride)


if __name__ == "__main__":
    main()
