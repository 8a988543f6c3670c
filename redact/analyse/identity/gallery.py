"""Reference photos -> the people to keep visible, or the only people to redact.

``--keep DIR`` holds one sub-folder of photos per person (the folder name is
the label); ``--keep-person LABEL=PHOTO[,PHOTO...]`` adds one person inline.
Every photo must show exactly one clear face: a photo with none, or with two
faces of comparable size, would make "who is this reference?" a guess, and
a wrong guess keeps a victim visible, so both are errors naming the photo.
Descriptors stay in memory; only labels, file names and hashes are recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from redact.analyse.identity.embed import FaceEmbedder
from redact.errors import InputError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

MIN_REFERENCE_FACE = 64
"""A reference face smaller than this (px tall) is too little to describe a person by."""

SECOND_FACE = 0.4
"""Another face at least this fraction of the main face's height makes the photo ambiguous."""

FACE_SCORE = 0.5
"""Detector score that counts as a face in a reference photo."""

MAX_SIDE = 1600
"""Photos are shrunk to this longest side before detection (phone photos are 4000 px and up)."""


@dataclass(frozen=True)
class Person:
    label: str
    photos: tuple[Path, ...]
    vectors: np.ndarray
    """(photos, 128) L2-normalised descriptors, one per photo."""
    sha256: tuple[str, ...] = ()

    def similarity(self, vector: np.ndarray) -> float:
        """Best cosine similarity over this person's photos."""
        return float(np.max(self.vectors @ vector))

    def to_json(self) -> dict:
        """Labels, names and hashes only: never the descriptors."""
        return {"label": self.label, "photos": [{"file": p.name, "sha256": h} for p, h in zip(self.photos, self.sha256)]}


@dataclass(frozen=True)
class Gallery:
    people: tuple[Person, ...]

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.people]

    def scores(self, vector: np.ndarray) -> dict[str, float]:
        return {p.label: p.similarity(vector) for p in self.people}


@dataclass(frozen=True)
class People:
    """The reference people and what to do with them."""

    mode: Literal["keep", "only-redact"]
    gallery: Gallery

    def to_json(self) -> dict:
        return {"mode": self.mode, "people": [p.to_json() for p in self.gallery.people]}


def parse_person(spec: str) -> tuple[str, list[Path]]:
    """``LABEL=PHOTO[,PHOTO...]`` -> (label, photos); an item may also be a folder of that person's photos."""
    label, sep, photos = spec.partition("=")
    label = label.strip()
    items = [Path(p.strip()) for p in photos.split(",") if p.strip()]
    if not sep or not label or not items:
        raise InputError(f"--keep-person {spec!r}: expected LABEL=PHOTO[,PHOTO...]")
    paths: list[Path] = []
    for item in items:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                raise InputError(f"{item}: no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) for person {label!r}")
            paths += found
        else:
            paths.append(item)
    return label, paths


def folder_people(folder: Path) -> list[tuple[str, list[Path]]]:
    """One person per sub-folder of ``folder``; loose photos directly inside it are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: reference folder not found (expected one sub-folder of photos per person)")
    people, loose = [], []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            photos = sorted(p for p in entry.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
            if not photos:
                raise InputError(f"{entry}: no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) for person {entry.name!r}")
            people.append((entry.name, photos))
        elif entry.suffix.lower() in PHOTO_SUFFIXES:
            loose.append(entry.name)
    if loose:
        raise InputError(
            f"{folder}: photos must be in one sub-folder per person (folder name = label), found {loose[0]!r} "
            "directly inside"
        )
    if not people:
        raise InputError(f"{folder}: no person sub-folders with photos")
    return people


def load_people(
    mode: Literal["keep", "only-redact"],
    folders: list[Path] = (),
    inline: list[str] = (),
    embedder: FaceEmbedder | None = None,
    detector=None,
) -> People:
    """Read, check and describe every reference photo."""
    entries: list[tuple[str, list[Path]]] = []
    for folder in folders:
        entries += folder_people(folder)
    entries += [parse_person(spec) for spec in inline]
    labels = [label for label, _ in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise InputError(f"reference person {dupes[0]!r} is given more than once")
    if not entries:
        raise InputError("no reference people given")
    embedder = embedder or FaceEmbedder()
    own_detector = detector is None
    if own_detector:
        from redact.analyse.detectors.base import create

        detector = create("centerface", threshold=FACE_SCORE, scale=1.0)
        detector.load()
    try:
        people = []
        for label, photos in entries:
            vectors, hashes = [], []
            for photo in photos:
                image, sha = _read_photo(photo)
                box = _only_face(photo, image, detector)
                vectors.append(embedder.embed(image, box[None])[0].vector)
                hashes.append(sha)
            people.append(Person(label, tuple(photos), np.stack(vectors), tuple(hashes)))
    finally:
        if own_detector:
            detector.close()
    return People(mode, Gallery(tuple(people)))


def _read_photo(path: Path) -> tuple[np.ndarray, str]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read reference photo ({e.strerror or e})") from e
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not an image OpenCV can read")
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image, hashlib.sha256(data).hexdigest()


def _only_face(path: Path, image: np.ndarray, detector) -> np.ndarray:
    dets = detector.detect(image)
    dets = dets.filter(dets.score >= FACE_SCORE)
    if not len(dets):
        raise InputError(f"{path}: no face found in this reference photo")
    heights = dets.xyxy[:, 3] - dets.xyxy[:, 1]
    main = int(np.argmax(heights))
    others = np.delete(heights, main)
    if (others >= SECOND_FACE * heights[main]).any():
        raise InputError(
            f"{path}: {1 + int((others >= SECOND_FACE * heights[main]).sum())} faces in this reference photo; "
            "crop it to the one person"
        )
    if heights[main] < MIN_REFERENCE_FACE:
        raise InputError(
            f"{path}: the face is {heights[main]:.0f} px tall; a reference needs at least {MIN_REFERENCE_FACE} px"
        )
    return dets.xyxy[main]
