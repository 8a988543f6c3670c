"""Stage 3, render: decode again, paint out the decided regions, encode, and log every redaction.

Frames of even size travel as I420 from decoder to encoder and are painted
only around their regions (:mod:`redact.render.yuv`); odd sizes take the
BGR path.  The soundtrack is redacted first (:mod:`redact.render.audio`), so
the audit log records what was done to it.  The video and its audit log are
written under temporary names and appear together or not at all.
"""

from __future__ import annotations

import time
from pathlib import Path

import redact.io.i420 as i420
from redact.audit import AuditLog, default_log_path
from redact.config import Config
from redact.errors import OutputError, RedactError
from redact.io import VideoWriter
from redact.io.files import check_output, sha256_file
from redact.io.frames import Progress, decode
from redact.render.audio import soundtrack
from redact.render.regions import RegionPlanner
from redact.render.styles import Painter, Solid, redact_frame
from redact.render.yuv import paint_i420
from redact.types import Action, Analysis, Decision, Kind, Reason, Region, RunResult, Source, VideoInfo


def render(
    analysis: Analysis,
    decisions: dict[int, Decision],
    config: Config,
    output: str | Path,
    audit_log: str | Path | None = None,
    progress: Progress = False,
    input_sha256: str | None = None,
    source: dict | None = None,
) -> RunResult:
    """Pass 2: decode again, redact, encode; write the video and its audit log atomically.

    ``source`` goes into the log's header: what an intermediate input was made from."""
    info = analysis.video
    output = Path(output)
    log_path = Path(audit_log) if audit_log else default_log_path(output)
    if log_path.resolve() == output.resolve():
        raise OutputError(f"{log_path}: the audit log cannot be written over the output video")
    check_output(output, info.path)
    check_output(log_path, info.path)
    t0 = time.perf_counter()
    input_sha256 = input_sha256 or sha256_file(info.path)
    timings = {"hash_input": time.perf_counter() - t0}
    frames = _Frames(analysis, decisions, config)
    t_start = time.perf_counter()
    with soundtrack(info, config.audio, config.encode, output) as sound:
        writer = VideoWriter(info, output, config.encode, sound.track, pix_fmt=frames.pix_fmt)
        with AuditLog(log_path) as audit:
            audit.header(info, config, input_sha256, (writer.out_width, writer.out_height), analysis.people,
                         source)
            by_id = {t.id: t for t in analysis.tracks}
            for tid, d in sorted(decisions.items()):
                t = by_id[tid]
                audit.decision(d, t.first, t.last, len(t.frames), t.kind, t.label)
            if writer.audio_mode == "processed":
                audit.audio(sound.events)
            with writer:
                frames.encode(writer, audit, progress)
            # The video is now at its final name; from here a failure must remove it again.
            try:
                timings.update(render=time.perf_counter() - t_start, paint=frames.seconds)
                t1 = time.perf_counter()
                output_sha = sha256_file(output)
                timings["hash_output"] = time.perf_counter() - t1
                all_timings = {k: round(v, 3) for k, v in {**analysis.timings, **timings}.items()}
                audit.summary(
                    frames=writer.frames_written,
                    tracks=len(analysis.tracks),
                    tracks_redacted=sum(1 for d in decisions.values() if d.action is Action.REDACT),
                    tracks_kept=sum(1 for d in decisions.values() if d.action is Action.KEEP),
                    failed_frames=len(frames.failed),
                    audio=writer.audio_mode,
                    engines=analysis.engines,
                    timings=all_timings,
                    output={"file": output.name, "sha256": output_sha},
                )
                audit.commit()
            except BaseException:
                output.unlink(missing_ok=True)
                raise
    return RunResult(output, log_path, writer.frames_written, len(analysis.tracks), audit.regions, all_timings)


class _Frames:
    """The frame loop of pass 2: which regions each frame gets, painted in the frames' own pixel format."""

    def __init__(self, analysis: Analysis, decisions: dict[int, Decision], config: Config):
        info = self.info = analysis.video
        self.config = config
        self.planner = RegionPlanner(analysis.tracks, decisions, config.render, info.width, info.height,
                                     info.frame_count)
        self.painter = Painter(config.render)
        kinds = {t.kind for t in analysis.tracks}
        self.styles = {k: (self.painter.style_of(k)[0].style, self.painter.style_of(k)[0].shape) for k in kinds}
        self.styles[Kind.FRAME] = ("solid", "box")
        self.pix_fmt = "yuv420p" if i420.supported(info.width, info.height) else "bgr24"
        self.failed = set(analysis.failed_frames)
        self.seconds = 0.0

    def paint(self, image, regions: list[Region]):
        if self.pix_fmt == "yuv420p":
            return paint_i420(self.painter, image, regions)
        return self.painter.paint(image, regions)

    def black(self, image):
        info = self.info
        if self.pix_fmt == "yuv420p":
            return i420.black(info.width, info.height)
        return redact_frame(image, [(0, 0, info.width, info.height)], Solid([0, 0, 0]), ellipse=False)

    def encode(self, writer: VideoWriter, audit: AuditLog, progress: Progress) -> None:
        """Every frame, painted (or blacked out where pass 1 failed on it), to the writer and the audit log."""
        info = self.info
        with decode(info, "render", progress, self.config.detect.on_decode_error, self.pix_fmt) as frames:
            for frame in frames:
                tp = time.perf_counter()
                if frame.index in self.failed or frame.index in frames.damaged:
                    self.failed.add(frame.index)
                    why = Reason.DECODE_ERROR if frame.index in frames.damaged else Reason.DETECTOR_ERROR
                    regions = [Region((0, 0, info.width, info.height), Kind.FRAME, None, Source.FAILSAFE, None, None,
                                      why)]
                    image = self.black(frame.image)
                else:
                    regions = self.planner.regions_at(frame.index)
                    image = self.paint(frame.image, regions)
                audit.frame(frame.index, frame.time, regions, self.styles)
                self.seconds += time.perf_counter() - tp
                writer.write(image)
        _check_count(info, frames.frames_read)


def _check_count(info: VideoInfo, read: int) -> None:
    if read != info.frame_count:
        raise RedactError(
            f"{info.path}: second pass decoded {read} frames, first pass {info.frame_count}; "
            "refusing to write an output whose redactions may be misaligned"
        )
