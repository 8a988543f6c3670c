"""Files: the ffmpeg binary, temporary names, the one atomic write, and SHA-256.

Every file redact writes (video, audit log, analysis, report, manifest,
summary) appears at its final name complete or not at all: it is written
under a hidden temporary name in the same folder, then renamed, which is
atomic on one file system.  A crash or a full disk leaves at most a
``.*.partial*`` file, never a half-written output that looks finished.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from redact.errors import OutputError


@cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (the machine needs no system ffmpeg)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def temp_path_for(path: Path) -> Path:
    """A unique hidden name in the output's own folder, so the final rename is atomic."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


def check_output(output: Path, input: Path | None = None) -> None:
    """Fail before any work if ``output`` cannot be written (checked again when writing)."""
    output = Path(output)
    parent = output.parent
    if not parent.is_dir():
        raise OutputError(f"{output}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{output}: folder {parent} is not writable")
    if output.is_dir():
        raise OutputError(f"{output}: is a folder, expected a file name")
    if input is not None and output.resolve() == Path(input).resolve():
        raise OutputError(f"{output}: output would overwrite the input")


@contextmanager
def atomic(path: Path, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; it becomes ``path`` only if the block ends without an exception.

    ``durable`` also flushes the file and its folder to disk, for records
    that must survive a power cut together with what they describe (batch
    manifests).
    """
    path = Path(path)
    temp = temp_path_for(path)
    try:
        yield temp
        if durable:
            with open(temp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(temp, path)
        if durable:
            fsync_dir(path.parent)
    finally:
        temp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | str, durable: bool = False) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic`."""
    with atomic(path, durable) as temp:
        temp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks so a long video never sits in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
