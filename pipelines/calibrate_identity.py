#!/usr/bin/env python
"""Calibrate ``identity.threshold`` on impostor pairs from the bench's real face photos.

    python pipelines/calibrate_identity.py [--bench ../shared/bench] [--margin 0.015]

Every photo in ``<bench>/assets/photos`` (13 people, 33 photos) is described
once at full size (the reference side) and again as a probe shrunk to 96, 64 and
48 px face height, each also in a grey, grainy "infrared" look and with
motion blur: the conditions of the footage.  Each probe is rendered as 25
"frames" (fresh grain, the box shifted and scaled by a few percent, as a
detector's box wobbles), five samples of five frames, and scored three ways:
the first frame alone; the first sample's median stack of five chips, as
``identity.stack: 2`` stacks a detection with two neighbours on each side;
and the mean of the five stacks' descriptors, as ``identity.pool: 2`` pools a
sample with two neighbours on each side (what the pipeline compares).
A reference/probe pair of different people is an impostor
pair; of the same person (different photos), a genuine pair.  The threshold
must sit above every impostor pair, single or pooled, with a margin: a false
match keeps a victim visible, a missed match only redacts someone who could
have stayed.  The table shows, per condition, the highest impostor
similarity and how many genuine pairs still pass, for single and pooled
probes.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
SIZES = (0, 96, 64, 48)
LOOKS = ("clean", "ir", "blur")
STACK = 5
"""Frames per sample: a detection and two neighbours on each side (``identity.stack: 2``)."""
POOL = 5
"""Samples per probe: a sample and two usable neighbours on each side (``identity.pool: 2``)."""
JITTER = 0.03
"""Box shift and scale between a probe's frames, as a fraction of the face height."""


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

    from redact.analyse.detectors.base import create
    from redact.analyse.identity.embed import FaceEmbedder
    from redact.config import IdentityConfig

    assets = args.bench / "assets"
    photos = json.loads((assets / "faces.json").read_text())
    detector = create("centerface", threshold=0.5)
    detector.load()
    embedder = FaceEmbedder()
    rng = np.random.default_rng(0)
    cfg = IdentityConfig()
    refs = []  # (person, photo, vector)
    probes = []  # (person, photo, size, look, {"single" | "stacked" | "pooled": vector}, usable)
    for rel, meta in tqdm(sorted(photos.items()), desc="photos", unit="photo"):
        image = cv2.imread(str(assets / rel))
        scale = min(1.0, 1600 / max(image.shape[:2]))
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        dets = detector.detect(image)
        box = dets.xyxy[int(np.argmax(dets.score))]
        refs.append((meta["person"], rel, embedder.embed(image, box[None])[0].vector))
        for size, look in itertools.product(SIZES, LOOKS):
            f = size / (box[3] - box[1]) if size else 1.0
            small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if size else image
            frames = [embedder.align(degrade(small, look, rng), _jitter(box * f, rng if k else None))[0]
                      for k in range(STACK * POOL)]
            chips = [chip for chip, _ in frames]
            stacks = [np.median(np.stack(chips[k : k + STACK]), axis=0).astype(np.uint8)
                      for k in range(0, STACK * POOL, STACK)]
            single, *stacked = embedder.describe([chips[0], *stacks])
            pooled = np.mean(stacked, axis=0)
            sharpness, yaw = embedder.quality(*frames[0])
            usable = sharpness >= cfg.min_sharpness and yaw <= cfg.max_yaw
            vectors = {"single": single, "stacked": stacked[0], "pooled": pooled / np.linalg.norm(pooled)}
            probes.append((meta["person"], rel, size, look, vectors, usable))

    kinds = ("single", "stacked", "pooled")
    print(f"{len(refs)} photos of {len({r[0] for r in refs})} people; samples stack {STACK} frames, probes pool "
          f"{POOL} samples")
    print(f"{'probe':>8} {'look':>6} {'impostor pairs':>15} " + " ".join(f"{'max imp. ' + k:>17}" for k in kinds)
          + f" {'genuine pairs':>14} " + " ".join(f"{'p5 ' + k:>11}" for k in kinds) + f" {'usable':>7}")
    rows = []
    for size, look in itertools.product(SIZES, LOOKS):
        imp: dict[str, list[float]] = {k: [] for k in kinds}
        gen: dict[str, list[float]] = {k: [] for k in kinds}
        usable = []
        for person, rel, s, lk, vectors, ok in probes:
            if (s, lk) != (size, look):
                continue
            usable.append(ok)
            for rp, rrel, ref in refs:
                if rrel == rel:
                    continue
                for k in kinds:
                    (gen if rp == person else imp)[k].append(float(ref @ vectors[k]))
        rows.append((size, look, imp, gen, usable))
    worst = max(max(v) for r in rows for v in r[2].values())
    threshold = round(worst + args.margin, 3)
    for size, look, imp, gen, usable in rows:
        print(f"{(str(size) + ' px') if size else 'full':>8} {look:>6} {len(imp['single']):>15} "
              + " ".join(f"{max(imp[k]):>17.3f}" for k in kinds) + f" {len(gen['single']):>14} "
              + " ".join(f"{np.percentile(gen[k], 5):>11.3f}" for k in kinds) + f" {np.mean(usable):>7.0%}")
    for k in kinds:
        share = np.mean(np.array([g for r in rows for g in r[3][k]]) >= threshold)
        print(f"genuine pairs at or above {threshold} ({k}): {share:.0%}")
    print(f"highest impostor similarity {worst:.3f} (single, stacked or pooled); + margin {args.margin} -> threshold "
          f"{threshold} (configured: identity.threshold = {cfg.threshold})")
    return 0


def _jitter(box: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """The box as a detector might give it on another frame: shifted and scaled by up to JITTER of its height."""
    if rng is None:
        return box[None]
    x1, y1, x2, y2 = box
    h = y2 - y1
    dx, dy = rng.uniform(-JITTER, JITTER, 2) * h
    grow = 1 + rng.uniform(-JITTER, JITTER)
    cx, cy, w2, h2 = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy, (x2 - x1) * grow / 2, h * grow / 2
    return np.array([[cx - w2, cy - h2, cx + w2, cy + h2]], np.float32)


if __name__ == "__main__":
    raise SystemExit(main())
