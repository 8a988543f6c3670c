"""Compare the engines that can run the ONNX models: speed per call, and faces found on the bench.

    python pipelines/compare_engines.py [--bench ../shared/bench] [--videos pub01_plaza_720p ...]
                                        [--stride 4] [--repeat 20]

Speed: each model (CenterFace at 0.4 and full size on a 720p frame, a 128 px
refinement window, PP-OCRv4 text detection at 0.75, NudeNet) on one thread,
ms per call, for onnxruntime, OpenVINO float32 and OpenVINO with
``precision: auto`` (bfloat16 where the CPU has it).

Recall: on every ``stride``-th frame of each video, the ground-truth faces
whose centre lies inside a CenterFace box (threshold 0.2, as the presets run
it) at scale 1.0 and 0.4, per engine.  This is the check that a faster
engine, or bf16 arithmetic, does not cost faces; the leak rates themselves
come from pipelines/benchmark.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from redact.analyse.detectors.base import create
from redact.analyse.detectors.engine import Runtime
from redact.io import probe
from redact.io.frames import decode

ENGINES = {
    "onnxruntime": Runtime("onnxruntime", threads=1),
    "openvino f32": Runtime("openvino", "f32", threads=1),
    "openvino auto": Runtime("openvino", "auto", threads=1),
}


def loaded(name: str, runtime: Runtime, **options):
    det = create(name, **options)
    det.runtime = runtime
    det.load()
    return det


def ms_per_call(det, image: np.ndarray, repeat: int) -> float:
    det.detect(image)  # compiles for this shape
    t = time.perf_counter()
    for _ in range(repeat):
        det.detect(image)
    return (time.perf_counter() - t) / repeat * 1000


def speed(frame: np.ndarray, repeat: int) -> None:
    cases = [
        ("centerface 0.4 scale", "centerface", {"threshold": 0.2, "scale": 0.4}, frame),
        ("centerface full size", "centerface", {"threshold": 0.2, "scale": 1.0}, frame),
        ("centerface 128 px window", "centerface", {"threshold": 0.2}, cv2.resize(frame[:256, :256], (128, 128))),
        ("text 0.75 scale", "text", {"threshold": 0.4, "scale": 0.75}, frame),
        ("nudenet 320 px", "nudenet", {"threshold": 0.25}, frame),
    ]
    print(f"| model, {frame.shape[1]}x{frame.shape[0]} frame | " + " | ".join(ENGINES) + " |")
    print("|---|" + "---|" * len(ENGINES))
    for label, name, options, image in cases:
        row = []
        for runtime in ENGINES.values():
            det = loaded(name, runtime, **options)
            row.append(f"{ms_per_call(det, image, repeat):.1f} ms ({det.engine})")
            det.close()
        print(f"| {label} | " + " | ".join(row) + " |", flush=True)


def _holds(boxes: np.ndarray, x: float, y: float) -> bool:
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    return bool(inside.any())


def recall(video: Path, gt: dict, stride: int) -> dict[tuple[float, str], list[int]]:
    dets = {(s, e): loaded("centerface", r, threshold=0.2, scale=s) for s in (1.0, 0.4) for e, r in ENGINES.items()}
    faces = {f["frame"]: f["faces"] for f in gt["frames"]}
    found = {k: [0, 0] for k in dets}
    with decode(probe(video)) as reader:
        for frame in reader:
            if frame.index % stride:
                continue
            centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in (f["box"] for f in faces.get(frame.index, []))]
            for key, det in dets.items():
                boxes = det.detect(frame.image).xyxy
                hit = sum(_holds(boxes, x, y) for x, y in centres)
                found[key][0] += hit
                found[key][1] += len(centres)
    for det in dets.values():
        det.close()
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "bench")
    ap.add_argument("--videos", nargs="*", default=None)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    videos = sorted((args.bench / "videos").glob("*.mp4"))
    if args.videos:
        videos = [v for v in videos if v.stem in args.videos]
    if not videos:
        raise SystemExit(f"no bench videos under {args.bench / 'videos'}")
    first = next(v for v in videos if "720p" in v.stem) if any("720p" in v.stem for v in videos) else videos[0]
    with decode(probe(first)) as reader:
        frame = next(iter(reader)).image.copy()
    speed(frame, args.repeat)
    print()
    keys = [(s, e) for s in (1.0, 0.4) for e in ENGINES]
    print("| video | GT faces | " + " | ".join(f"found at {s}, {e}" for s, e in keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    totals = {k: 0 for k in keys}
    n_total = 0
    for video in videos:
        gt = json.loads((video.parent / f"{video.stem}.gt.json").read_text())
        found = recall(video, gt, args.stride)
        n = found[keys[0]][1]
        n_total += n
        for k in keys:
            totals[k] += found[k][0]
        print(f"| {video.stem} | {n} | " + " | ".join(str(found[k][0]) for k in keys) + " |", flush=True)
    print(f"| TOTAL | {n_total} | " + " | ".join(str(totals[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
