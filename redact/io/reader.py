"""Stream decoded frames from the ffmpeg binary, one at a time.

ffmpeg runs in its own process and a reader thread keeps a few frames ready,
so decoding overlaps detection and memory stays flat whatever the length.
ffmpeg's auto-rotation is left on: frames arrive upright, and every box in the
pipeline and the audit log is in upright pixels.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import threading
from collections.abc import Iterator

import numpy as np

from redact.errors import DecodeError
from redact.io.writer import ffmpeg_exe
from redact.types import Frame, VideoInfo

log = logging.getLogger(__name__)

_END = object()


class FrameReader:
    """Iterate over the frames of a probed video as :class:`Frame` objects.

    Constant-rate input is passed through frame for frame.  Variable-rate
    input is resampled to its average rate (frames repeated or dropped to hold
    timing), because the encoder is fed raw frames at one rate; duration and
    audio sync are kept, individual timestamps are not.

    Use as a context manager so ffmpeg is stopped even when the consumer fails.
    """

    def __init__(self, info: VideoInfo, prefetch: int = 4):
        self.info = info
        self.prefetch = prefetch
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._stderr = b""
        self.frames_read = 0

    def command(self) -> list[str]:
        info = self.info
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(info.path)]
        cmd += ["-map", f"0:{info.stream_index}", "-an", "-sn", "-dn"]
        if info.variable_frame_rate:
            cmd += ["-fps_mode", "cfr", "-r", f"{info.fps.numerator}/{info.fps.denominator}"]
        else:
            cmd += ["-fps_mode", "passthrough"]
        # Force the probed size: a stream whose size changes mid-way is scaled
        # to it instead of desynchronising the raw pipe.
        cmd += ["-vf", f"scale={info.width}:{info.height}", "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
        return cmd

    def __enter__(self) -> FrameReader:
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self._thread = threading.Thread(target=self._pump, name="redact-decode", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        # Unblock the pump if it waits on a full queue.
        while self._thread is not None and self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        if proc is not None:
            proc.wait()
            if proc.stdout:
                proc.stdout.close()

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        self._stderr = self._proc.stderr.read()

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        w, h = self.info.width, self.info.height
        size = w * h * 3
        stdout = self._proc.stdout
        try:
            while not self._stop.is_set():
                buf = stdout.read(size)
                if len(buf) < size:
                    break
                self._put(np.frombuffer(buf, np.uint8).reshape(h, w, 3))
            self._put(_END)
        except Exception as e:  # noqa: BLE001 - re-raised in the consumer's thread
            self._put(e)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Frame]:
        if self._proc is None:
            raise RuntimeError("FrameReader must be used as a context manager")
        fps = self.info.fps
        while True:
            item = self._queue.get()
            if item is _END:
                break
            if isinstance(item, Exception):
                raise DecodeError(f"{self.info.path}: decoding failed ({item})") from item
            index = self.frames_read
            self.frames_read += 1
            # The array is read-only (a view of the pipe buffer); stages copy before drawing.
            yield Frame(index=index, image=item, time=float(index / fps))
        rc = self._proc.wait()
        self._stderr_thread.join()
        if rc != 0:
            detail = self._stderr.decode(errors="replace").strip().splitlines()
            raise DecodeError(
                f"{self.info.path}: ffmpeg could not decode the video"
                + (f" ({detail[-1]})" if detail else f" (exit code {rc})")
            )
        if self.frames_read == 0:
            raise DecodeError(f"{self.info.path}: no frame could be decoded")
