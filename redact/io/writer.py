"""Encode redacted frames to H.264 and mux the original audio, nothing else.

One ffmpeg process encodes the raw frames from stdin (BGR, or the decoder's
own I420 planes with the input's colour matrix written into the stream so
players read them as the input was read); a second, stream-copy
pass adds the input's audio (or a rewritten soundtrack handed in by the
render pass, :mod:`redact.render.audio`, encoded to AAC).
Everything that could identify the source besides the pixels is left
behind: global and stream metadata, chapters, subtitle, data and cover-art
streams, encoder version tags (``bitexact``) and x264's settings SEI.
The file is written under a temporary name beside the output and renamed
only when ffmpeg has finished cleanly, so a failure never leaves a file at
the output path.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import redact.io.i420 as i420
from redact.config import EncodeConfig
from redact.errors import EncodeError
from redact.io.files import atomic, check_output, ffmpeg_exe, temp_path_for
from redact.types import VideoInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Soundtrack:
    """A rewritten soundtrack for the writer to mux: raw interleaved float32 PCM at the input's rate and channels.

    ``start`` is where its first sample lies after the input container's
    origin (:func:`redact.render.audio.audio_start`), so it lands where the
    copied stream would have.
    """

    path: Path
    start: float = 0.0

MP4_AUDIO_CODECS = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}
"""Codecs MP4 holds as they are; others are re-encoded to AAC."""


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
        soundtrack: Soundtrack | None = None,
        pix_fmt: str = "bgr24",
    ):
        i420.check_format(info, pix_fmt, "write")
        self.info = info
        self.pix_fmt = pix_fmt
        """``bgr24`` (H, W, 3) frames, or ``yuv420p`` I420 arrays (:mod:`redact.io.i420`) of even sizes."""
        self.output = Path(output)
        self.encode = encode
        self.soundtrack = soundtrack
        """A redacted soundtrack to mux instead of the input's audio; None copies (or re-encodes) that."""
        self.scratch = temp_path_for(self.output.with_name(self.output.stem + ".video.mp4"))
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
        audio = self.info.audio
        if audio is None or self.encode.audio == "drop":
            return "none"
        if self.soundtrack is not None:
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

    def mux_command(self, dest: Path) -> list[str]:
        """Step 2: a stream-copy remux that adds the audio and carries over nothing else.

        Remuxing (not encoding) is what drops the encoder tag: ffmpeg only
        writes one for streams it encodes.  Every metadata, chapter and
        stream not mapped here is left behind.

        Processed audio is raw PCM with no timestamps of its own: its first
        sample is stamped with the time it had in the input
        (:func:`redact.render.audio.audio_start`, measured from the same container
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
            assert info.audio is not None and self.soundtrack is not None
            cmd += ["-f", "f32le", "-ar", str(info.audio.sample_rate), "-ac", str(info.audio.channels)]
            cmd += ["-i", str(self.soundtrack.path)]
            if self.soundtrack.start != 0:
                cmd += ["-filter:a", f"asetpts=PTS+{self.soundtrack.start:.6f}/TB"]
        elif mode != "none":
            cmd += ["-i", str(info.path)]
        cmd += ["-map", "0:v:0"] + (["-map", "1:a:0"] if mode != "none" else [])
        cmd += ["-c:v", "copy"]
        if mode == "copy":
            cmd += ["-c:a", "copy"]
        elif mode in ("aac", "processed"):
            cmd += ["-c:a", "aac", "-b:a", self.encode.audio_bitrate, "-flags:a", "+bitexact"]
        cmd += ["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(dest)]
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
            with atomic(self.output) as temp:
                mux = subprocess.run(self.mux_command(temp), stdin=subprocess.DEVNULL, capture_output=True)
                if mux.returncode != 0:
                    lines = mux.stderr.decode(errors="replace").strip().splitlines()
                    reason = _exit_reason(mux.returncode, lines[-1] if lines else "")
                    raise EncodeError(f"{self.output}: ffmpeg failed to mux ({reason})")
        finally:
            self.scratch.unlink(missing_ok=True)
