"""Still pictures composed: read -> analyse -> decide -> paint -> write, and the picture's audit record.

:func:`run_image` is what ``redact run photo.jpg -o out.jpg`` and every
picture of a batch run.  The stages are the video's: detectors built by
:mod:`redact.analyse.sweep` and fused by :mod:`redact.analyse.fuse`
(:mod:`redact.analyse.still`), decisions by :func:`redact.decide.decide`,
regions and styles by :mod:`redact.render` (:mod:`redact.render.still`);
pixels in and out through :mod:`redact.io.images`, which drops every
metadata block.

Each picture gets one audit record: a JSON object with the input's and the
output's SHA-256, the decisions, and every region with its kind, reason,
style and shape (:func:`audit_record`).  A single picture's record is written
as a one-line JSON Lines log beside it; a batch writes all its pictures'
records into one log (:mod:`redact.batch.images`).  Both are written under a
temporary name and renamed, and the picture itself too.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from redact import __version__
from redact.analyse.identity.gallery import People
from redact.analyse.still import StillAnalyser, StillAnalysis, still_config
from redact.audit import AuditLog, default_log_path
from redact.config import Config
from redact.config import load as load_config
from redact.decide import decide
from redact.errors import OutputError
from redact.io.files import check_output, sha256_file, write_atomic
from redact.io.images import FORMATS, IMAGE_SUFFIXES, Picture, encode_picture, read_picture
from redact.render.still import paint_still, still_regions
from redact.render.styles import Painter
from redact.types import Action, Decision, Region

__all__ = ["IMAGE_SUFFIXES", "ImageResult", "audit_record", "is_image", "run_image"]

RECORD_TYPE = "image"


def is_image(path: str | Path) -> bool:
    """Whether ``path`` is named as a picture redact reads (its content is checked when it is read)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


@dataclass
class ImageResult:
    """What one redacted picture came to."""

    output: Path
    audit_log: Path | None
    regions: int
    tracks: int
    record: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return 1


def run_image(
    input: str | Path,
    output: str | Path,
    config: Config | None = None,
    audit_log: str | Path | None | bool = None,
    people: People | None = None,
    analyser: StillAnalyser | None = None,
    input_sha256: str | None = None,
) -> ImageResult:
    """Redact one picture into ``output`` (same format), and write its audit record.

    ``audit_log`` None writes the record beside the output
    (``NAME.audit.jsonl``), False writes none (a batch collects the record
    from the result instead).  ``analyser`` reuses loaded models across
    pictures.  Nothing is written unless everything succeeded.
    """
    config = config or load_config()
    t0 = time.perf_counter()
    input, output = Path(input), Path(output)
    log_path = default_log_path(output) if audit_log is None else (Path(audit_log) if audit_log else None)
    _check_paths(input, output, log_path)
    picture = read_picture(input, config.image.max_pixels)
    timings = {"decode": time.perf_counter() - t0}
    analyser = analyser or StillAnalyser(config, model_threads=None)
    bgr = picture.bgr8()
    analysis = analyser.analyse(bgr, str(input), people)
    decisions = decide(analysis.tracks, still_config(config), analysis.identities, analysis.mode)
    regions = still_regions(analysis.tracks, decisions, config.render, picture.width, picture.height)
    t1 = time.perf_counter()
    painter = Painter(config.render)
    data = encode_picture(picture, paint_still(picture.pixels, bgr, regions, painter), config.image.jpeg_quality,
                          config.image.icc)
    timings["paint+encode"] = time.perf_counter() - t1
    sha_in = input_sha256 or sha256_file(input)
    timings.update(analysis.timings)
    timings["total"] = time.perf_counter() - t0
    record = audit_record(picture, output, config, sha_in, hashlib.sha256(data).hexdigest(), analysis, decisions,
                          regions, painter, timings)
    _write(output, data, log_path, record)
    return ImageResult(output, log_path, len(regions), len(analysis.tracks), record,
                       {k: round(v, 4) for k, v in timings.items()})


def _check_paths(input: Path, output: Path, log_path: Path | None) -> None:
    check_output(output, input)
    want, got = FORMATS.get(input.suffix.lower()), FORMATS.get(output.suffix.lower())
    if got is None or got != want:
        raise OutputError(f"{output}: a redacted picture keeps its format; name it {output.stem}{input.suffix}")
    if log_path is not None:
        check_output(log_path, input)
        if log_path.resolve() == output.resolve():
            raise OutputError(f"{log_path}: the audit log cannot be written over the output picture")


def _write(output: Path, data: bytes, log_path: Path | None, record: dict) -> None:
    """The picture, then its one-record log; the picture is removed again if the log cannot be written."""
    try:
        write_atomic(output, data)
    except OSError as e:
        raise OutputError(f"{output}: cannot write ({e.strerror or e})") from e
    if log_path is None:
        return
    try:
        with AuditLog(log_path) as log:
            log.write(record)
            log.commit()
    except BaseException:
        output.unlink(missing_ok=True)
        raise


def audit_record(
    picture: Picture,
    output: Path,
    config: Config,
    input_sha256: str,
    output_sha256: str,
    analysis: StillAnalysis,
    decisions: dict[int, Decision],
    regions: list[Region],
    painter: Painter,
    timings: dict[str, float],
) -> dict:
    """One picture's audit record: geometry, decisions and hashes, never pixels or descriptors."""
    kinds = {t.id: t.kind for t in analysis.tracks}

    def style(kind: str) -> dict:
        ks = painter.style_of(kind)[0]
        return {"style": ks.style, "shape": ks.shape}

    return {
        "type": RECORD_TYPE,
        "tool": "redact",
        "version": __version__,
        "input": {"file": picture.path.name, "sha256": input_sha256, "format": picture.format,
                  "width": picture.width, "height": picture.height, "bits": picture.bits},
        "output": {"file": output.name, "sha256": output_sha256},
        "config_sha256": config.digest(),
        "people": analysis.people,
        "decisions": [{**d.to_json(), "kind": kinds[tid]} for tid, d in sorted(decisions.items())],
        "regions": [{**r.to_json(), **style(r.kind)} for r in regions],
        "tracks": len(analysis.tracks),
        "kept": sum(1 for d in decisions.values() if d.action is Action.KEEP),
        "engines": analysis.engines,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
