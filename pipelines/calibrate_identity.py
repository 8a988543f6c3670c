#!/usr/bin/env python
"""Calibrate ``identity.threshold`` on impostor pairs from the bench's real face photos.

    python pipelines/calibrate_identity.py [--bench ../shared/bench] [--margin 0.015]

Every photo in ``<bench>/assets/photos`` (13 people, 33 photos) is described
once at full size (the reference side) and again as a probe shrunk to 96, 64
and 48 px face height, each also in a grey, grainy "infrared" look and with
motion blur: the conditions of the footage.  A reference/probe pair of
different people is an impostor pair; of the same person (different photos),
a genuine pair.  The threshold must sit above every impostor pair, with a
margin: a false match keeps a victim visible, a missed match only redacts
someone who could have stayed.  The table shows, per condition, the highest
impostor similarity and how many genuine pairs still pass.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIZES = (0, 96, 64, 48)
LOOKS = ("clean", "ir", "blur")


def degrade(image: np.ndarray, look: str, rng: np.random.Generator) -> np.ndarray:
    if look == "ir":
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        grey += rng.normal(0, 8, grey.shape)
        return cv2.cvtColor(np.clip(grey, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    if look == "blur":
        kernel = np.zeros((7, 7), np.float32)
        kernel[3, :] = 1 / 7
        return cv2.filter2D(image, -1, kernel)
    return image


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    ap.add_argument("--margin", type=float, default=0.015, help="added above the highest impostor similarity")
    args = ap.parse_args()

    from redact.config import IdentityConfig
    from redact.detect.base import create
    from redact.identify.embed import FaceEmbedder

    assets = args.bench / "assets"
    photos = json.loads((assets / "faces.json").read_text())
    detector = create("centerface", threshold=0.5)
    detector.load()
    embedder = FaceEmbedder()
    rng = np.random.default_rng(0)
    refs, probes = [], []  # (person, photo, vector) and (person, photo, size, look, vector, usable)
    cfg = IdentityConfig()
    for rel, meta in sorted(photos.items()):
        image = cv2.imread(str(assets / rel))
        scale = min(1.0, 1600 / max(image.shape[:2]))
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        dets = detector.detect(image)
        box = dets.xyxy[int(np.argmax(dets.score))]
        refs.append((meta["person"], rel, embedder.embed(image, box[None])[0].vector))
        for size, look in itertools.product(SIZES, LOOKS):
            f = size / (box[3] - box[1]) if size else 1.0
            small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if size else image
            face = embedder.embed(degrade(small, look, rng), (box * f)[None])[0]
            usable = face.sharpness >= cfg.min_sharpness and face.yaw <= cfg.max_yaw
            probes.append((meta["person"], rel, size, look, face.vector, usable))

    print(f"{len(refs)} photos of {len({r[0] for r in refs})} people")
    print(f"{'probe':>12} {'look':>6} {'impostor pairs':>15} {'max impostor':>13} {'genuine pairs':>14} "
          f"{'genuine p5':>11} {'genuine >= thr':>15} {'usable':>7}")
    worst = 0.0
    rows = []
    for size, look in itertools.product(SIZES, LOOKS):
        imp, gen, usable = [], [], []
        for person, rel, s, lk, vec, ok in probes:
            if (s, lk) != (size, look):
                continue
            usable.append(ok)
            for rp, rrel, rvec in refs:
                if rrel == rel:
                    continue
                (gen if rp == person else imp).append(float(rvec @ vec))
        worst = max(worst, max(imp))
        rows.append((size, look, imp, gen, usable))
    threshold = round(worst + args.margin, 3)
    for size, look, imp, gen, usable in rows:
        passing = np.mean(np.array(gen) >= threshold)
        print(f"{(str(size) + ' px') if size else 'full':>12} {look:>6} {len(imp):>15} {max(imp):>13.3f} "
              f"{len(gen):>14} {np.percentile(gen, 5):>11.3f} {passing:>14.0%} {np.mean(usable):>7.0%}")
    print(f"highest impostor similarity {worst:.3f}; + margin {args.margin} -> threshold {threshold} "
          f"(configured: identity.threshold = {cfg.threshold})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
