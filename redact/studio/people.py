"""Tracks grouped into people, so a reviewer decides once per person rather than once per fragment.

Two kinds of evidence join tracks, and nothing else:

* the tracker's: a track that ends and one that starts nearby soon after,
  the pairs the render already bridges (:func:`redact.render.bridges.find_bridges`);
* the face's: dlib descriptors (:class:`redact.analyse.identity.embed.FaceEmbedder`)
  of each face track's largest usable faces, joined when the mean
  descriptors' cosine similarity reaches ``identity.threshold`` (0.945, the
  level above the most similar pair of different people measured on the
  bench) and the two tracks are never on screen at the same time (one
  person is never in two places).

It fails closed: a track with no usable face (small, blurred, turned away)
and no tracker link is a row of its own, and a row joins two groups only
when every pair of tracks across them is apart in time.  Grouping decides
nothing: each track keeps its own decision until the reviewer clicks a row.
Descriptors stay in memory; they are never written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from redact.config import Config
from redact.render.bridges import find_bridges
from redact.review import pick
from redact.types import FACE_KINDS, Track

log = logging.getLogger(__name__)

PICKS = 3
"""Faces described per track: the largest of three equal slices of it, as the thumbnails show."""


class _Groups:
    """Union-find over track ids, refusing a union of two groups that overlap in time."""

    def __init__(self, tracks: list[Track]):
        self.parent = {t.id: t.id for t in tracks}
        self.spans = {t.id: [(t.first, t.last)] for t in tracks}

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> bool:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return True
        if any(x1 <= y2 and y1 <= x2 for x1, x2 in self.spans[ra] for y1, y2 in self.spans[rb]):
            return False
        self.parent[rb] = ra
        self.spans[ra] += self.spans.pop(rb)
        return True

    def rows(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in self.parent:
            out.setdefault(self.root(i), []).append(i)
        return sorted((sorted(r) for r in out.values()), key=lambda r: r[0])


def by_tracker(tracks: list[Track], config: Config) -> _Groups:
    """Groups joined where the render bridges one track to the next."""
    groups = _Groups(tracks)
    for b in find_bridges(tracks, config.render.bridge_gap, config.render.bridge_speed):
        groups.join(b.source.id, b.target.id)
    return groups


def group(
    tracks: list[Track], config: Config, describe: Callable[[Track], np.ndarray | None] | None = None
) -> list[list[int]]:
    """Rows of track ids: by the tracker, then by face descriptors when ``describe`` gives them.

    ``describe(track)`` returns the track's mean L2-normalised descriptor, or
    None when it has no usable face.  Pairs are joined most similar first.
    """
    groups = by_tracker(tracks, config)
    if describe is None:
        return groups.rows()
    faces = [t for t in tracks if t.kind in FACE_KINDS and t.frames]
    vectors = {t.id: v for t in faces if (v := describe(t)) is not None}
    ids = sorted(vectors)
    if len(ids) > 1:
        m = np.stack([vectors[i] / max(float(np.linalg.norm(vectors[i])), 1e-9) for i in ids])
        sim = m @ m.T
        a, b = np.triu_indices(len(ids), 1)
        good = sim[a, b] >= config.identity.threshold
        for k in np.argsort(-sim[a, b][good], kind="stable"):
            groups.join(ids[a[good][k]], ids[b[good][k]])
    return groups.rows()


def descriptor(track: Track, frame_at: Callable[[int], np.ndarray], embedder, config: Config) -> np.ndarray | None:
    """Mean descriptor of the track's usable faces among ``PICKS`` of its largest, or None.

    Usable as the identity scan means it (``identity.min_face``,
    ``min_sharpness``, ``max_yaw``): a descriptor of a small or turned face
    matches strangers too easily to join anything on.
    """
    cfg = config.identity
    vectors = []
    for i in pick(track, PICKS):
        box = track.boxes[i]
        if track.placed and track.placed[i] or float(box[3] - box[1]) < cfg.min_face:
            continue
        (sample,) = embedder.embed(frame_at(track.frames[i]), box[None])
        if sample.sharpness >= cfg.min_sharpness and sample.yaw <= cfg.max_yaw:
            vectors.append(sample.vector)
    return np.mean(vectors, axis=0) if vectors else None
