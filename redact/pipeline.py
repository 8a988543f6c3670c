"""The three stages composed: analyse -> decide -> render, and ``run`` for all three.

Pass 1 (:func:`redact.analyse.analyse`) decodes every frame, runs the
detector plug-ins, links detections into tracks, follows marked regions and
samples faces for recognition.  :func:`redact.decide.decide` looks at whole
tracks.  Pass 2 (:func:`redact.render.render`) decodes again, paints out the
decided, interpolated and padded regions, encodes, and writes the audit log.
Two passes let gap filling run backwards in time (a face is covered in the
frames before the detector first saw it) and cost one extra decode, which is
cheap next to detection and encoding.

:func:`analyse_to` and :func:`render_from` split the job in two around a
saved analysis folder, so an operator can review the decisions and re-render
with overrides without detecting again.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

import redact.review_state as review_state
import redact.store as store
from redact.analyse import analyse
from redact.analyse.identity.gallery import People
from redact.config import Config
from redact.config import load as load_config
from redact.decide import decide
from redact.errors import InputError, OutputError
from redact.io import probe
from redact.io.files import check_output, sha256_file
from redact.io.frames import Progress, ProgressFn
from redact.render import render
from redact.types import Analysis, Decision, RunResult

__all__ = ["ProgressFn", "RunResult", "analyse_to", "render_from", "run"]


def run(
    input: str | Path,
    output: str | Path,
    config: Config | None = None,
    audit_log: str | Path | None = None,
    progress: Progress = False,
    people: People | None = None,
    input_sha256: str | None = None,
    source: dict | None = None,
) -> RunResult:
    """Redact one video: probe, analyse, decide, render.  The library entry point behind ``redact run``.

    ``people`` (from :func:`redact.analyse.identity.load_people`) keeps the listed
    people visible, or redacts only them; without it everyone is redacted.
    ``progress`` draws tqdm bars, or reports frames to a callback (batch
    workers); ``input_sha256`` saves hashing the input again when the caller
    already has; ``source`` goes into the audit log's header (what an
    intermediate input, such as a frame folder's video, was made from).
    """
    config = config or load_config()
    t0 = time.perf_counter()
    info = probe(input)
    # Refuse an unwritable destination now, not after minutes of detection.
    check_output(Path(output), info.path)
    if audit_log is not None:
        check_output(Path(audit_log), info.path)
    t_probe = time.perf_counter() - t0
    with logging_redirect_tqdm():
        analysis = analyse(info, config, progress=progress, people=people)
        analysis.timings["probe"] = t_probe
        decisions = decide(analysis.tracks, config, analysis.identities, analysis.mode)
        result = render(analysis, decisions, config, output, audit_log, progress=progress, input_sha256=input_sha256,
                        source=source)
    result.timings["total"] = round(time.perf_counter() - t0, 3)
    return result


def analyse_to(
    input: str | Path,
    folder: str | Path,
    config: Config | None = None,
    progress: bool = False,
    people: People | None = None,
) -> tuple[Path, Analysis, dict[int, Decision]]:
    """Pass 1 and the automatic decisions, saved to ``folder`` for review (``redact analyse``)."""
    config = config or load_config()
    t0 = time.perf_counter()
    info = probe(input)
    with logging_redirect_tqdm():
        analysis = analyse(info, config, progress=progress, people=people)
    analysis.timings["probe+analyse"] = time.perf_counter() - t0
    decisions = decide(analysis.tracks, config, analysis.identities, analysis.mode)
    path = store.save(folder, analysis, config, sha256_file(info.path), decisions)
    return path, analysis, decisions


def render_from(
    input: str | Path,
    folder: str | Path,
    output: str | Path,
    decisions_file: str | Path | None = None,
    config: Config | None = None,
    audit_log: str | Path | None = None,
    progress: bool = False,
) -> RunResult:
    """Pass 2 from a saved analysis, with the operator's overrides; no detector runs (``redact render``).

    ``config`` may change how regions are drawn and encoded, and the identity
    thresholds, but not detection, tracking or marked regions: those produced the saved
    tracks, and rendering them under other settings would misreport them.  A review saved
    in the folder by ``redact studio`` is applied (:mod:`redact.review_state`).
    """
    t0 = time.perf_counter()
    saved = store.load(folder)
    config = config or saved.config
    for section in ("detect", "track", "regions"):
        if getattr(config, section) != getattr(saved.config, section):
            raise OutputError(
                f"{folder}: the {section} settings differ from those of the analysis; "
                "run `redact analyse` again with them"
            )
    info = probe(input)
    check_output(Path(output), info.path)
    sha = sha256_file(info.path)
    if sha != saved.input_sha256:
        raise InputError(
            f"{info.path}: this is not the video that was analysed in {folder} "
            f"({saved.record['input']['file']}, SHA-256 {saved.input_sha256[:12]}...)"
        )
    analysis = saved.analysis(info)
    overrides = store.load_decisions(decisions_file, {t.id for t in analysis.tracks}) if decisions_file else None
    # What `redact studio` saved in the folder (marks, audio ranges, overrides) is part of this render.
    config, overrides = review_state.apply(Path(folder), analysis, config, overrides)
    decisions = decide(analysis.tracks, config, analysis.identities, analysis.mode, overrides)
    with logging_redirect_tqdm():
        result = render(analysis, decisions, config, output, audit_log, progress=progress, input_sha256=sha)
    result.timings["total"] = round(time.perf_counter() - t0, 3)
    return result
