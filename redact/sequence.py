"""A folder of numbered frames redacted as one video (``redact run frames/ -o OUT --as-video --fps 30``).

Route (why it is this one): every frame is read with the same checks as a
single picture (:func:`redact.io.images.read_picture`: format, size, pixel
limit, orientation) and piped into ffmpeg as raw BGR, which writes a
temporary *lossless* video (FFV1, RGB, in Matroska) beside the output.
That temporary video then goes through the unchanged video pipeline, so the
tracker fills the frames a detector missed, extends tracks backwards and
forwards, and bridges gaps exactly as on footage.  ffmpeg's own ``image2``
demuxer was not used: it stops at the first gap in the numbering, reads
EXIF-rotated frames sideways, and would bypass the pixel limit and the
misnamed-file checks; teaching the reader a second kind of input would
touch every pass.

Output:

* ``-o out.mp4``: the redacted video and its audit log, as ``redact run``
  writes for any video.  The header's input is the lossless intermediate,
  ``<folder>.frames.mkv``, removed after the run; its ``source`` names the
  folder, the frames and their digest (:func:`frames_source`);
* ``-o out/`` (a folder, or any name without a video suffix): the same
  numbered frames, same names and formats, painted at their own depth from
  the original pixels (:mod:`redact.render.still`) with the regions the
  video analysis decided, plus ``redact-frames.audit.jsonl``: a ``sequence``
  line with the decisions, then one ``image`` line per frame.  The folder is
  filled under a temporary name and renamed when complete.

The temporary video is removed whatever happens.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from redact import __version__
from redact.analyse.identity.gallery import People
from redact.audit import AuditLog
from redact.config import Config
from redact.errors import EncodeError, InputError, OutputError
from redact.io.files import ffmpeg_exe, sha256_file
from redact.io.images import IMAGE_SUFFIXES, Picture, encode_picture, read_picture
from redact.render.regions import RegionPlanner
from redact.render.still import paint_still
from redact.render.styles import Painter
from redact.types import RunResult

VIDEO_OUTPUTS = frozenset({".mp4", ".m4v", ".mov", ".mkv"})
LOG_NAME = "redact-frames.audit.jsonl"
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def numbered_frames(folder: Path) -> list[Path]:
    """The pictures of ``folder`` in frame order (the last number in each name); all of one format."""
    if not folder.is_dir():
        raise InputError(f"{folder}: --as-video takes a folder of numbered frames")
    frames = []
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(".") or not entry.is_file() or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        m = _NUMBER.search(Path(name).stem)
        if m is None:
            raise InputError(f"{folder / name}: a frame of a sequence needs a number in its name")
        frames.append((int(m.group(1)), name))
    if not frames:
        raise InputError(f"{folder}: no numbered pictures ({', '.join(sorted(IMAGE_SUFFIXES))})")
    frames.sort()
    numbers = [n for n, _ in frames]
    if len(set(numbers)) != len(numbers):
        raise InputError(f"{folder}: two frames share a number; the frame order is ambiguous")
    suffixes = {Path(name).suffix.lower() for _, name in frames}
    if len(suffixes) > 1:
        raise InputError(f"{folder}: frames of several formats ({', '.join(sorted(suffixes))}); one sequence is one format")
    return [folder / name for _, name in frames]


def run_sequence(
    folder: str | Path,
    output: str | Path,
    config: Config,
    fps: Fraction | float = 25,
    audit_log: str | Path | None = None,
    progress=False,
    people: People | None = None,
):
    """Redact the numbered frames of ``folder`` as one video into ``output`` (a video, or a folder of frames)."""
    folder, output = Path(folder), Path(output)
    frames = numbered_frames(folder)
    fps = Fraction(fps).limit_denominator(1001)
    if fps <= 0:
        raise InputError(f"--fps {fps}: must be positive")
    to_video = output.suffix.lower() in VIDEO_OUTPUTS
    parent = output.parent
    if not parent.is_dir():
        raise OutputError(f"{output}: folder {parent} does not exist")
    work = parent / f".{output.name}.{uuid.uuid4().hex[:8]}.partial.d"
    work.mkdir()
    try:
        video = work / f"{folder.name or 'frames'}.frames.mkv"
        _encode_lossless(frames, video, fps, config.image.max_pixels)
        if to_video:
            from redact.pipeline import run

            return run(video, output, config, audit_log=audit_log, progress=progress, people=people,
                       source=frames_source(frames, fps))
        return render_frames(video, frames, output, config, work, progress=progress, people=people)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def frames_source(frames: list[Path], fps: Fraction) -> dict:
    """What the intermediate video was made from, for the MP4's audit header: the frames, in order, and a digest.

    The header's input is the temporary FFV1 video, which is gone once the run
    ends; ``frames_sha256`` lets an auditor tie the log to the folder itself.
    It is the SHA-256 of what ``sha256sum`` prints for the frames in this order
    (``<sha256>  <name>`` and a newline, one line a frame).
    """
    listing = "".join(f"{sha256_file(p)}  {p.name}\n" for p in frames)
    return {"type": "frames", "folder": frames[0].parent.name, "frames": len(frames), "first": frames[0].name,
            "last": frames[-1].name, "fps": f"{fps.numerator}/{fps.denominator}",
            "frames_sha256": hashlib.sha256(listing.encode()).hexdigest()}


def _encode_lossless(frames: list[Path], video: Path, fps: Fraction, max_pixels: int) -> None:
    """Pipe every frame, read with the picture checks, into a lossless RGB FFV1 video."""
    first = read_picture(frames[0], max_pixels)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "bgr24", "-s", f"{first.width}x{first.height}", "-framerate", f"{fps.numerator}/{fps.denominator}",
           "-i", "pipe:0", "-c:v", "ffv1", "-pix_fmt", "bgr0", "-map_metadata", "-1", str(video)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for picture in _pictures(frames, first, max_pixels):
            if (picture.width, picture.height) != (first.width, first.height):
                raise InputError(f"{picture.path}: {picture.width} x {picture.height}, the first frame is "
                                 f"{first.width} x {first.height}; a sequence has one size")
            proc.stdin.write(picture.bgr8().tobytes())  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
        err = proc.stderr.read().decode(errors="replace").strip()  # type: ignore[union-attr]
        if proc.wait() != 0:
            raise EncodeError(f"{video}: ffmpeg could not write the intermediate video ({err.splitlines()[-1:]})")
    except BrokenPipeError:
        proc.wait()
        raise EncodeError(f"{video}: ffmpeg stopped while the frames were written") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _pictures(frames: list[Path], first: Picture, max_pixels: int) -> Iterator[Picture]:
    yield first
    for path in frames[1:]:
        yield read_picture(path, max_pixels)


def render_frames(video: Path, frames: list[Path], output: Path, config: Config, work: Path, progress=False,
                  people: People | None = None) -> RunResult:
    """Analyse and decide on the intermediate video; paint each original frame at its own depth into ``output``."""
    from redact.analyse import analyse
    from redact.decide import decide
    from redact.io import probe

    t0 = time.perf_counter()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise OutputError(f"{output}: exists and is not an empty folder; name a new folder for the frames")
    info = probe(video)
    analysis = analyse(info, config, progress=progress, people=people)
    if analysis.video.frame_count != len(frames):
        raise InputError(f"{video}: decoded {analysis.video.frame_count} frames of {len(frames)}")
    decisions = decide(analysis.tracks, config, analysis.identities, analysis.mode)
    planner = RegionPlanner(analysis.tracks, decisions, config.render, info.width, info.height, len(frames))
    painter = Painter(config.render)
    staging = work / "frames"
    staging.mkdir()
    failed = set(analysis.failed_frames)
    total = 0
    with AuditLog(staging / LOG_NAME) as log:
        log.write({"type": "sequence", "tool": "redact", "version": __version__, "folder": frames[0].parent.name,
                   "frames": len(frames), "fps": f"{info.fps.numerator}/{info.fps.denominator}",
                   "config": config.to_dict(), "config_sha256": config.digest(), "people": analysis.people,
                   "decisions": [d.to_json() for _, d in sorted(decisions.items())], "engines": analysis.engines})
        for i, path in enumerate(frames):
            picture = read_picture(path, config.image.max_pixels)
            regions = [] if i in failed else planner.regions_at(i)
            pixels = picture.pixels * 0 if i in failed else paint_still(picture.pixels, picture.bgr8(), regions, painter)
            data = encode_picture(picture, pixels, config.image.jpeg_quality, config.image.icc)
            (staging / path.name).write_bytes(data)
            total += len(regions)
            log.write({"type": "image", "frame": i, "input": {"file": path.name, "sha256": sha256_file(path)},
                       "output": {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()},
                       "blacked_out": i in failed,
                       "regions": [{**r.to_json(), "style": painter.style_of(r.kind)[0].style,
                                    "shape": painter.style_of(r.kind)[0].shape} for r in regions]})
        log.write({"type": "summary", "frames": len(frames), "regions": total, "tracks": len(analysis.tracks),
                   "failed_frames": sorted(failed)})
        log.commit()
    if output.is_dir():
        output.rmdir()  # empty (checked above): the complete folder takes its place
    os.replace(staging, output)
    timings = {**analysis.timings, "total": round(time.perf_counter() - t0, 3)}
    return RunResult(output, output / LOG_NAME, len(frames), len(analysis.tracks), total, timings)
