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

import glob
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from redact.errors import InputError, OutputError

VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".3gp", ".3g2", ".ogv", ".mxf", ".dv", ".vob",
})
"""What a folder is searched for; files named explicitly or by a glob are taken whatever their suffix."""

MAX_NAME_BYTES = 120
"""A component's budget: file systems allow 255 bytes, and the longest derived name
(``.NAME.manifest.json.XXXXXXXX.partial.json``) adds about 40."""

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_MAGIC = re.compile(r"[*?[]")
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.partial(\.[^.]*)?$")
"""Names that :func:`redact.io.writer.temp_path_for` gives unfinished files."""


@dataclass(frozen=True)
class Job:
    """One input video and where everything about it is written."""

    input: Path
    output: Path
    name: str
    """The output's path relative to OUTDIR, for tables and logs."""

    @property
    def audit(self) -> Path:
        return self.output.with_name(self.output.stem + ".audit.jsonl")

    @property
    def manifest(self) -> Path:
        """Written last, only when output and audit log are complete: its presence vouches for both."""
        return self.output.with_name(self.output.stem + ".manifest.json")


def is_batch(inputs: list[Path], output: Path) -> bool:
    """Whether ``redact run`` was asked for a batch: several inputs, a folder, a glob, or OUTPUT a folder."""
    if len(inputs) != 1 or output.is_dir():
        return True
    only = inputs[0]
    return only.is_dir() or (not only.exists() and bool(_MAGIC.search(str(only))))


def plan(inputs: list[str | Path], outdir: str | Path) -> list[Job]:
    """The jobs for ``inputs``, sorted by output name; an input that matches nothing is an error."""
    outdir = Path(os.path.abspath(outdir))
    found: dict[str, tuple[Path, Path]] = {}  # absolute input -> (input, root it is relative to)
    for arg in inputs:
        for path, root in _expand(Path(arg), outdir):
            found.setdefault(os.path.abspath(path), (path, root))
    if not found:
        raise InputError("no videos found in the inputs given")
    roots = [os.path.abspath(root) for _, root in found.values()]
    base = os.path.commonpath(roots)
    jobs: list[Job] = []
    taken: set[str] = set()
    for absolute in sorted(found, key=lambda a: os.path.relpath(a, base)):
        parts = Path(os.path.relpath(absolute, base)).parts
        folders = [safe_component(p) for p in parts[:-1]]
        stem = safe_component(Path(parts[-1]).stem)
        rel = Path(*folders, stem + ".mp4")
        n = 2
        while rel.as_posix().casefold() in taken:  # case-insensitive file systems collide too
            rel = Path(*folders, f"{stem}-{n}.mp4")
            n += 1
        taken.add(rel.as_posix().casefold())
        jobs.append(Job(found[absolute][0], outdir / rel, rel.as_posix()))
    return jobs


def _expand(arg: Path, outdir: Path) -> list[tuple[Path, Path]]:
    if arg.is_file():
        return [(arg, arg.parent)]
    if arg.is_dir():
        return [(p, arg) for p in _walk(arg, outdir)]
    text = str(arg)
    if _MAGIC.search(text):
        # The tree is mirrored from the last folder before the first wildcard.
        plain = list(_until_magic(arg.parts))
        root = Path(*plain) if plain else Path(".")
        matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
        out = []
        for m in matches:
            if m.is_dir():
                out += [(p, root) for p in _walk(m, outdir)]
            elif m.is_file() and not _inside(m, outdir):
                out.append((m, root))
        if not out:
            raise InputError(f"{arg}: no files match")
        return out
    raise InputError(f"{arg}: no such file or folder")


def _until_magic(parts: tuple[str, ...]):
    for part in parts:
        if _MAGIC.search(part):
            return
        yield part


def _walk(folder: Path, outdir: Path) -> list[Path]:
    """Videos under ``folder``, hidden files and folders skipped, and never the batch's own outputs."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not _inside(here / d, outdir))
        found += [
            here / f for f in sorted(filenames)
            if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_SUFFIXES
        ]
    return found


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
