"""Score each track's faces against the reference people: one extra decode, only when photos are given.

Samples are spread along each track (every ``sample_every``-th detection, the
stride growing so no track takes more than ``max_samples``), because a
decision from one lucky frame is how a look-alike gets kept, and because an
identity change inside a track (two people crossing) shows up only if the
faces on both sides of it are looked at.  Detections smaller than
``min_face`` are not embedded at all: they are recorded as unusable.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Literal

import numpy as np
from tqdm import tqdm

from redact.config import IdentityConfig
from redact.identify.embed import FaceEmbedder
from redact.identify.gallery import Gallery
from redact.identify.pool import pool
from redact.io import FrameReader
from redact.types import IdentitySample, Track, VideoInfo


def plan(tracks: list[Track], config: IdentityConfig) -> dict[int, list[tuple[int, int]]]:
    """frame -> [(track id, index of the detection in that track)] to be scored."""
    todo: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for t in tracks:
        if t.kind != "face":
            continue
        n = len(t.frames)
        stride = max(config.sample_every, -(-n // config.max_samples))
        for i in range(0, n, stride):
            todo[t.frames[i]].append((t.id, i))
        if (n - 1) % stride:  # always look at the last detection too: tracks often end in a change
            todo[t.frames[n - 1]].append((t.id, n - 1))
    return dict(todo)


def scan(
    info: VideoInfo,
    tracks: list[Track],
    gallery: Gallery,
    config: IdentityConfig,
    embedder: FaceEmbedder | None = None,
    progress: bool = False,
    on_damage: Literal["fail", "blackout"] = "fail",
) -> tuple[dict[int, list[IdentitySample]], dict[str, float]]:
    """Track id -> samples in frame order, and stage timings."""
    todo = plan(tracks, config)
    by_id = {t.id: t for t in tracks}
    samples: dict[int, list[IdentitySample]] = {t.id: [] for t in tracks if t.kind == "face"}
    vectors: dict[tuple[int, int], np.ndarray] = {}  # (track, frame) -> descriptor; in memory only
    embedder = embedder or FaceEmbedder()
    t0 = time.perf_counter()
    embedder.load()
    t_embed = 0.0
    if todo:
        last = max(todo)
        with FrameReader(info, on_damage=on_damage) as reader, tqdm(
            total=len(todo), desc="identify", unit="frame", disable=not progress, leave=False
        ) as bar:
            for frame in reader:
                jobs = todo.get(frame.index)
                if jobs:
                    t1 = time.perf_counter()
                    _score(frame.image, frame.index, jobs, by_id, gallery, config, embedder, samples, vectors)
                    t_embed += time.perf_counter() - t1
                    bar.update(1)
                if frame.index >= last:
                    break
    for tid, s in samples.items():
        s.sort(key=lambda x: x.frame)
        samples[tid] = pool(s, [vectors.get((tid, x.frame)) for x in s], gallery, config.pool)
    vectors.clear()
    timings = {"identify": time.perf_counter() - t0, "identify.embed": t_embed}
    timings["identify.samples"] = float(sum(len(s) for s in samples.values()))
    return samples, timings


def _score(image, index, jobs, by_id, gallery, config, embedder, samples, vectors) -> None:
    big, small = [], []
    for tid, i in jobs:
        box = by_id[tid].boxes[i]
        (big if box[3] - box[1] >= config.min_face else small).append((tid, box))
    for tid, box in small:
        samples[tid].append(IdentitySample(index, float(box[3] - box[1]), 0.0, float("inf"), False))
    if not big:
        return
    faces = embedder.embed(image, np.stack([b for _, b in big]))
    for (tid, _), face in zip(big, faces):
        usable = face.sharpness >= config.min_sharpness and face.yaw <= config.max_yaw
        samples[tid].append(
            IdentitySample(index, face.height, face.sharpness, face.yaw, usable, gallery.scores(face.vector))
        )
        vectors[(tid, index)] = face.vector
