"""Turn the operator's inputs (files, folders, globs) into jobs with safe output paths.

The output tree mirrors the input tree under OUTDIR.  Input names are
untrusted (leaked footage arrives named by whoever leaked it), so every
path component is rewritten to something that cannot leave OUTDIR, hide
itself, carry control characters or exceed file-system limits, and two
inputs that would land on the same output get distinct, deterministic
names.  Planning touches no pixels: it is cheap enough to run on a cluster's
driver for thousands of files.
"""

from __future__ import annotations

import enum
import glob
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from redact.errors import InputError, OutputError
from redact.io.images import IMAGE_SUFFIXES

VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".3gp", ".3g2", ".ogv", ".mxf", ".dv", ".vob",
})
"""What a folder is searched for (with ``IMAGE_SUFFIXES``); files named explicitly or by a glob are taken
whatever their suffix, and are redacted as pictures when theirs is a picture's."""

MAX_NAME_BYTES = 120
"""A component's budget: file systems allow 255 bytes, and the longest derived name
(``.NAME.manifest.json.XXXXXXXX.partial.json``) adds about 40."""

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_MAGIC = re.compile(r"[*?[]")
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.partial(\.[^.]*)?$")
"""Names that :func:`redact.io.files.temp_path_for` gives unfinished files."""


class Status(str, enum.Enum):
    """How one file of a batch ended; a str enum, so summaries and manifests read ``done``, ``skipped``, ``failed``."""

    DONE = "done"
    SKIPPED = "skipped"
    """Its output is current: the manifest matches the input and the settings."""
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

@dataclass(frozen=True)
class Job:
    """One input video and where everything about it is written."""

    input: Path
    output: Path
    name: str
    """The output's path relative to OUTDIR, for tables and logs."""

    @property
    def is_image(self) -> bool:
        """A picture: its output keeps the input's format (a video's is always ``.mp4``)."""
        return self.output.suffix.lower() in IMAGE_SUFFIXES

    @property
    def audit(self) -> Path:
        return self.output.with_name(self.output.stem + ".audit.jsonl")

    @property
    def manifest(self) -> Path:
        """Written last, only when output and audit log are complete: its presence vouches for both.

        A picture's is ``NAME.EXT.redact.json`` (``a.jpg`` and ``a.png`` may sit side by side; the batch's
        pictures share one audit log, whose record of each picture the manifest keeps for reruns).
        """
        if self.is_image:
            return self.output.with_name(self.output.name + ".redact.json")
        return self.output.with_name(self.output.stem + ".manifest.json")


def is_batch(inputs: list[Path], output: Path) -> bool:
    """Whether ``redact run`` was asked for a batch: several inputs, a folder, a glob, or OUTPUT a folder."""
    if len(inputs) != 1 or output.is_dir():
        return True
    only = inputs[0]
    return only.is_dir() or (not only.exists() and bool(_MAGIC.search(str(only))))


def plan(inputs: list[str | Path], outdir: str | Path) -> list[Job]:
    """The jobs for ``inputs``, sorted by input path; an input that matches nothing is an error."""
    outdir = Path(os.path.abspath(outdir))
    base = _base(inputs)
    return sorted(iter_jobs(inputs, outdir), key=lambda j: os.path.relpath(os.path.abspath(j.input), base))


def iter_jobs(inputs: list[str | Path], outdir: str | Path) -> Iterator[Job]:
    """The jobs for ``inputs``, made one at a time as the folders are walked (sorted within each folder).

    A folder of 100,000 pictures is never a list of jobs: what is kept while
    the batch runs is one short string per input (the names taken, so that
    two inputs never land on one output, and the inputs seen, when several
    arguments may overlap).  Arguments are taken in the order of their paths,
    so the mapping does not depend on the order they were given in.
    """
    outdir = Path(os.path.abspath(outdir))
    base = _base(inputs)
    seen: set[str] | None = set() if len(inputs) > 1 else None
    taken: set[str] = set()
    count = 0
    for arg in sorted(inputs, key=lambda a: os.path.relpath(os.path.abspath(a), base)):
        for path in _expand(Path(arg), outdir):
            absolute = os.path.abspath(path)
            if seen is not None:
                if absolute in seen:
                    continue
                seen.add(absolute)
            yield _job(path, absolute, base, outdir, taken)
            count += 1
    if not count:
        raise InputError("no videos or pictures found in the inputs given")


def _base(inputs: list[str | Path]) -> str:
    """The folder the output tree mirrors: the deepest one holding every argument's root."""
    return os.path.commonpath([os.path.abspath(_root(Path(a))) for a in inputs])


def _root(arg: Path) -> Path:
    if arg.is_dir():
        return arg
    if not arg.exists() and _MAGIC.search(str(arg)):
        plain = list(_until_magic(arg.parts))  # the tree is mirrored from the last folder before the first wildcard
        return Path(*plain) if plain else Path(".")
    return arg.parent


def _job(path: Path, absolute: str, base: str, outdir: Path, taken: set[str]) -> Job:
    parts = Path(os.path.relpath(absolute, base)).parts
    folders = [safe_component(p) for p in parts[:-1]]
    stem = safe_component(Path(parts[-1]).stem)
    suffix = Path(parts[-1]).suffix.lower()
    suffix = suffix if suffix in IMAGE_SUFFIXES else ".mp4"  # a picture keeps its format
    rel = Path(*folders, stem + suffix)
    n = 2
    while rel.as_posix().casefold() in taken:  # case-insensitive file systems collide too
        rel = Path(*folders, f"{stem}-{n}{suffix}")
        n += 1
    taken.add(rel.as_posix().casefold())
    return Job(path, outdir / rel, rel.as_posix())


def _expand(arg: Path, outdir: Path) -> Iterator[Path]:
    if arg.is_file():
        yield arg
        return
    if arg.is_dir():
        yield from _walk(arg, outdir)
        return
    text = str(arg)
    if _MAGIC.search(text):
        matched = False
        for m in sorted(Path(m) for m in glob.glob(text, recursive=True)):
            if m.is_dir():
                for p in _walk(m, outdir):
                    matched = True
                    yield p
            elif m.is_file() and not _inside(m, outdir):
                matched = True
                yield m
        if not matched:
            raise InputError(f"{arg}: no files match")
        return
    raise InputError(f"{arg}: no such file or folder")


def _until_magic(parts: tuple[str, ...]):
    for part in parts:
        if _MAGIC.search(part):
            return
        yield part


def _walk(folder: Path, outdir: Path) -> Iterator[Path]:
    """Videos and pictures under ``folder``, one at a time; hidden files and folders skipped, and never the
    batch's own outputs.  Only the names of the folder being walked are held (to sort them)."""
    wanted = VIDEO_SUFFIXES | IMAGE_SUFFIXES
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not _inside(here / d, outdir))
        names = sorted(f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in wanted)
        filenames.clear()
        for f in names:
            yield here / f


def _inside(path: Path, folder: Path) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def safe_component(name: str) -> str:
    """One path component that stays where it is put: no separators, no ``..``, not hidden, not too long.

    Letters of every script and spaces are kept (publishers name files in
    their own language); what is rewritten becomes ``_``.  A name shortened
    to fit gets a short hash of the original, so two long names that share a
    beginning stay distinct.
    """
    clean = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip()
    clean = re.sub(r"^\.+", lambda m: "_" * len(m.group()), clean) or "_"
    if len(clean.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        cut = clean.encode()[: MAX_NAME_BYTES - 9].decode("utf-8", "ignore")
        clean = f"{cut}~{digest}"
    return clean


def check_inside(job: Job, outdir: Path) -> None:
    """Refuse a job whose output would leave OUTDIR, e.g. through a symbolic link already inside it."""
    real_out, real_dir = os.path.realpath(job.output), os.path.realpath(outdir)
    if not real_out.startswith(real_dir.rstrip(os.sep) + os.sep):
        raise OutputError(f"{job.output}: resolves outside {outdir} (a symbolic link?); refusing to write there")


def stale_temp_files(outdir: Path) -> list[Path]:
    """Unfinished files left under OUTDIR by a batch that was killed."""
    return [
        Path(dirpath) / f
        for dirpath, _, filenames in os.walk(outdir)
        for f in filenames
        if TEMP_NAME.match(f)
    ]
