"""Encode redacted frames to H.264 and mux the original audio, nothing else.

One ffmpeg process encodes the raw frames from stdin (BGR, or the decoder's
own I420 planes with the input's colour matrix written into the stream so
players read them as the input was read); a second, stream-copy
pass adds the input's audio (or, when ``audio`` redactions are configured,
the rewritten soundtrack from :mod:`redact.audio`, encoded to AAC).
Everything that could identify the source besides the pixels is left
behind: global and stream metadata, chapters, subtitle, data and cover-art
streams, encoder version tags (``bitexact``) and x264's settings SEI.
The file is written under a temporary name beside the output and renamed
only when ffmpeg has finished cleanly, so a failure never leaves a file at
the output path.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import uuid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from redact.config import AudioConfig, EncodeConfig
from redact.errors import EncodeError, OutputError
from redact.io import i420
from redact.types import VideoInfo

if TYPE_CHECKING:
    from redact.audio import AudioEvent

log = logging.getLogger(__name__)

MP4_AUDIO_CODECS = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}
"""Codecs MP4 holds as they are; others are re-encoded to AAC."""


@cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (the machine needs no system ffmpeg)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def temp_path_for(path: Path) -> Path:
    """A unique hidden name in the output's own folder, so the final rename is atomic."""
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


def _exit_reason(rc: int, stderr_line: str) -> str:
    """Why an ffmpeg child failed, in words: a signal (a full disk or quota kills with SIGXFSZ) or its last error line."""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        if -rc == getattr(signal, "SIGXFSZ", -1):
            return f"file size limit exceeded ({name}): is the disk or the quota full?"
        return f"killed by {name}" + (f"; {stderr_line}" if stderr_line else "")
    return stderr_line or f"exit code {rc}"


class VideoWriter:
    """Write frames of ``info``'s size and rate to ``output`` (MP4), atomically.

    Usage::

        with VideoWriter(info, out, cfg.encode) as w:
            for frame in frames:
                w.write(frame)
        # the output exists only if the block finished without an exception
    """

    def __init__(
        self,
        info: VideoInfo,
        output: str | Path,
        encode: EncodeConfig,
        audio: AudioConfig | None = None,
        pix_fmt: str = "bgr24",
    ):
        if pix_fmt not in ("bgr24", "yuv420p"):
            raise ValueError(f"pix_fmt must be bgr24 or yuv420p, not {pix_fmt!r}")
        if pix_fmt == "yuv420p" and not i420.supported(info.width, info.height):
            raise ValueError(f"{info.path}: {info.width}x{info.height} has no 4:2:0 layout (odd size); write bgr24")
        self.info = info
        self.pix_fmt = pix_fmt
        """``bgr24`` (H, W, 3) frames, or ``yuv420p`` I420 arrays (:mod:`redact.io.i420`) of even sizes."""
        self.output = Path(output)
        self.encode = encode
        self.audio = audio
        """Audio redactions (:mod:`redact.audio`); ``None`` or nothing to do copies the audio as before."""
        self.audio_events: list[AudioEvent] = []
        """The audio redactions applied, filled in when the output is finished."""
        self.temp = temp_path_for(self.output)
        self.scratch = temp_path_for(self.output.with_name(self.output.stem + ".video.mp4"))
        self.audio_scratch = temp_path_for(self.output.with_name(self.output.stem + ".audio.f32"))
        self._audio_start = 0.0
        # H.264 4:2:0 codes only even sizes: odd ones are padded by repeating
        # the last row/column (recorded in the audit header).
        self.out_width = info.width + info.width % 2
        self.out_height = info.height + info.height % 2
        self.frames_written = 0
        self._proc: subprocess.Popen | None = None
        self._stderr = b""
        self._stderr_thread: threading.Thread | None = None

    @property
    def audio_mode(self) -> str:
        """``copy``, ``aac``, ``processed`` (redacted, then AAC) or ``none``: what happens to the first audio stream."""
        from redact.audio import needs_processing  # deferred: redact.audio imports this module

        audio = self.info.audio
        if audio is None or self.encode.audio == "drop":
            return "none"
        if self.audio is not None and needs_processing(self.audio):
            return "processed"
        if self.encode.audio == "aac" or audio.codec not in MP4_AUDIO_CODECS:
            return "aac"
        return "copy"

    def command(self) -> list[str]:
        """Step 1: raw frames -> H.264 in a scratch file (x264's settings SEI removed)."""
        info, enc = self.info, self.encode
        rate = f"{info.fps.numerator}/{info.fps.denominator}"
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-s", f"{self.out_width}x{self.out_height}"]
        cmd += ["-framerate", rate, "-i", "pipe:0", "-map", "0:v:0"]
        cmd += ["-c:v", "libx264", "-preset", enc.preset, "-crf", str(enc.crf), "-pix_fmt", "yuv420p"]
        cmd += ["-bsf:v", ",".join(["filter_units=remove_types=6", *self._colour_filter()]), "-f", "mp4", str(self.scratch)]
        return cmd

    def _colour_filter(self) -> list[str]:
        """Write the input's colour description into the H.264 stream (I420 frames only).

        BGR frames are converted by ffmpeg with its default (BT.601) matrix and
        left unlabelled, as before; I420 frames keep the input's matrix, which
        the stream must then name.  The encoder's own colour options do not
        reach x264 from raw input, so the bitstream filter sets them.
        """
        c = self.info.colour
        if self.pix_fmt != "yuv420p":
            return []
        fields = {"matrix_coefficients": c.matrix, "colour_primaries": c.primaries,
                  "transfer_characteristics": c.transfer}
        given = [f"{k}={v}" for k, v in fields.items() if v != 2]
        return ["h264_metadata=" + ":".join(["video_full_range_flag=0", *given])]

    def mux_command(self) -> list[str]:
        """Step 2: a stream-copy remux that adds the audio and carries over nothing else.

        Remuxing (not encoding) is what drops the encoder tag: ffmpeg only
        writes one for streams it encodes.  Every metadata, chapter and
        stream not mapped here is left behind.

        Processed audio is raw PCM with no timestamps of its own: its first
        sample is stamped with the time it had in the input
        (:func:`redact.audio.audio_start`, measured from the same container
        origin as ``start_offset``), so it lands where the copied stream
        would have.  ``asetpts`` does that; ``-itsoffset`` is ignored for raw
        PCM input.
        """
        info = self.info
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        if info.start_offset > 0:
            # Keep the video where it started relative to the audio.
            cmd += ["-itsoffset", f"{info.start_offset:.6f}"]
        cmd += ["-i", str(self.scratch)]
        mode = self.audio_mode
        if mode == "processed":
            assert info.audio is not None
            cmd += ["-f", "f32le", "-ar", str(info.audio.sample_rate), "-ac", str(info.audio.channels)]
            cmd += ["-i", str(self.audio_scratch)]
            if self._audio_start != 0:
                cmd += ["-filter:a", f"asetpts=PTS+{self._audio_start:.6f}/TB"]
        elif mode != "none":
            cmd += ["-i", str(info.path)]
        cmd += ["-map", "0:v:0"] + (["-map", "1:a:0"] if mode != "none" else [])
        cmd += ["-c:v", "copy"]
        if mode == "copy":
            cmd += ["-c:a", "copy"]
        elif mode in ("aac", "processed"):
            cmd += ["-c:a", "aac", "-b:a", self.encode.audio_bitrate, "-flags:a", "+bitexact"]
        cmd += ["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(self.temp)]
        return cmd

    def __enter__(self) -> VideoWriter:
        check_output(self.output, self.info.path)
        log.debug("encoder: %s", " ".join(self.command()))
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        return self

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        self._stderr = self._proc.stderr.read()

    def write(self, image: np.ndarray) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        h, w = image.shape[:2]
        if self.pix_fmt == "yuv420p":
            if (h, w) != (self.out_height * 3 // 2, self.out_width):
                raise ValueError(f"I420 frame of shape {image.shape}, expected {(self.out_height * 3 // 2, self.out_width)}")
        elif (w, h) != (self.out_width, self.out_height):
            image = cv2.copyMakeBorder(image, 0, self.out_height - h, 0, self.out_width - w, cv2.BORDER_REPLICATE)
        try:
            self._proc.stdin.write(np.ascontiguousarray(image).data)
        except (BrokenPipeError, OSError) as e:
            rc = self._proc.wait()
            raise EncodeError(f"{self.output}: encoder stopped ({_exit_reason(rc, self._error_text()) or e})") from e
        self.frames_written += 1

    def _error_text(self) -> str:
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        lines = self._stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def __exit__(self, exc_type, exc, tb) -> None:
        proc = self._proc
        assert proc is not None
        try:
            if exc_type is not None:
                proc.kill()
                proc.wait()
                return
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError):
                pass
            rc = proc.wait()
            if rc != 0:
                raise EncodeError(f"{self.output}: ffmpeg failed to encode ({_exit_reason(rc, self._error_text())})")
            if self.frames_written == 0:
                raise EncodeError(f"{self.output}: no frames were written")
            if self.audio_mode == "processed":
                self._process_audio()
            mux = subprocess.run(self.mux_command(), stdin=subprocess.DEVNULL, capture_output=True)
            if mux.returncode != 0:
                lines = mux.stderr.decode(errors="replace").strip().splitlines()
                reason = _exit_reason(mux.returncode, lines[-1] if lines else "")
                raise EncodeError(f"{self.output}: ffmpeg failed to mux ({reason})")
            os.replace(self.temp, self.output)
        finally:
            for scratch in (self.temp, self.scratch, self.audio_scratch):
                scratch.unlink(missing_ok=True)

    def _process_audio(self) -> None:
        """Rewrite the soundtrack into ``audio_scratch`` (muxed next) and record what was done."""
        from redact.audio import audio_start, process

        assert self.audio is not None
        self._audio_start = audio_start(self.info)
        self.audio_events = process(self.info, self.audio, self.audio_scratch, start=self._audio_start)
