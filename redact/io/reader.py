"""Stream decoded frames from the ffmpeg binary, one at a time.

ffmpeg runs in its own process and a reader thread keeps a few frames ready,
so decoding overlaps detection and memory stays flat whatever the length.
ffmpeg's auto-rotation is left on: frames arrive upright, and every box in the
pipeline and the audit log is in upright pixels.

Damaged input fails closed.  By default (``on_damage="fail"``) ffmpeg runs
with ``-xerror``: the first frame its decoder has to conceal (damaged bytes,
a truncated file) stops decoding and raises :class:`DecodeError`, instead of
passing a half-decoded picture on, in which a smeared face may escape the
detector.  With ``on_damage="blackout"`` the frames are decoded in-process
with PyAV, which reports per frame what ffmpeg's command line does not: every
frame the decoder flags as corrupt, or that is missing (a packet that cannot
be decoded, the end of a truncated file), comes out black at its place in
time and its index is listed in :attr:`FrameReader.damaged`.

Frames come as BGR for the detectors, or, with ``pix_fmt="yuv420p"``, as the
decoder's own YUV 4:2:0 planes (:mod:`redact.io.i420`) for the render pass,
which paints only around its regions and passes every other pixel on as it
was decoded.
"""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Literal

import cv2
import numpy as np

import redact.io.i420 as i420
from redact.errors import DecodeError
from redact.io.files import ffmpeg_exe
from redact.types import Frame, VideoInfo

log = logging.getLogger(__name__)

_END = object()

PixFmt = Literal["bgr24", "yuv420p"]


class FrameReader:
    """Iterate over the frames of a probed video as :class:`Frame` objects.

    Constant-rate input is passed through frame for frame.  Variable-rate
    input is resampled to its average rate (frames repeated or dropped to hold
    timing), because the encoder is fed raw frames at one rate; duration and
    audio sync are kept, individual timestamps are not.

    ``pix_fmt="yuv420p"`` delivers I420 arrays (even sizes only) instead of
    BGR; their range is always limited (``tv``), converted from full-range
    input, and their colour matrix is the input's (``VideoInfo.colour``).

    Use as a context manager so ffmpeg is stopped even when the consumer fails.
    """

    def __init__(
        self,
        info: VideoInfo,
        prefetch: int = 4,
        on_damage: Literal["fail", "blackout"] = "fail",
        pix_fmt: PixFmt = "bgr24",
    ):
        i420.check_format(info, pix_fmt, "read")
        self.info = info
        self.prefetch = prefetch
        self.on_damage = on_damage
        self.pix_fmt = pix_fmt
        self.damaged: set[int] = set()
        """Indices of frames written black because they were damaged or missing (``blackout`` only)."""
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._stderr = b""
        self.frames_read = 0

    def command(self) -> list[str]:
        info = self.info
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-xerror", "-i", str(info.path)]
        cmd += ["-map", f"0:{info.stream_index}", "-an", "-sn", "-dn"]
        if info.variable_frame_rate:
            cmd += ["-fps_mode", "cfr", "-r", f"{info.fps.numerator}/{info.fps.denominator}"]
        else:
            cmd += ["-fps_mode", "passthrough"]
        # Force the probed size: a stream whose size changes mid-way is scaled
        # to it instead of desynchronising the raw pipe.
        # YUV keeps the input's matrix but is always limited range, the range
        # the encoder is told (full-range input is converted, not relabelled).
        scale = f"scale={info.width}:{info.height}" + (":out_range=tv" if self.pix_fmt == "yuv420p" else "")
        cmd += ["-vf", scale, "-f", "rawvideo", "-pix_fmt", self.pix_fmt, "pipe:1"]
        return cmd

    def __enter__(self) -> FrameReader:
        if self.on_damage == "blackout":
            self._thread = threading.Thread(target=self._pump_pyav, name="redact-decode", daemon=True)
            self._thread.start()
            return self
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
        yuv = self.pix_fmt == "yuv420p"
        size = i420.frame_bytes(w, h) if yuv else w * h * 3
        shape = (h * 3 // 2, w) if yuv else (h, w, 3)
        stdout = self._proc.stdout
        try:
            while not self._stop.is_set():
                # I420 frames are the render's to paint in place: a buffer of its own per frame.
                buf = _read_exactly(stdout, size) if yuv else stdout.read(size)
                if len(buf) < size:
                    break
                self._put(np.frombuffer(buf, np.uint8).reshape(shape))
            self._put(_END)
        except Exception as e:  # noqa: BLE001 - re-raised in the consumer's thread
            self._put(e)

    def _pump_pyav(self) -> None:
        try:
            for image in self._pyav_frames():
                if self._stop.is_set():
                    return
                self._put(image)
            self._put(_END)
        except Exception as e:  # noqa: BLE001 - re-raised in the consumer's thread
            self._put(e)

    def _pyav_frames(self) -> Iterator[np.ndarray]:
        """Upright frames on the constant-rate grid, damaged and missing ones black (``blackout``).

        A frame's place is its timestamp times the rate, so a frame the
        decoder drops leaves a gap that is filled black and timing is kept.
        Variable-rate input fills its gaps by repeating the previous frame
        and drops frames that land on a taken place, as ffmpeg's resampling
        does; there a dropped frame cannot be told from a long one.
        """
        import av  # deferred: keeps `import redact` light

        info = self.info
        rotate = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(info.rotation)
        sw, sh = (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)
        yuv = self.pix_fmt == "yuv420p"
        black = i420.black(info.width, info.height) if yuv else np.zeros((info.height, info.width, 3), np.uint8)
        black.flags.writeable = False
        placed = 0
        last = black

        def fill(upto: int) -> Iterator[np.ndarray]:
            nonlocal placed
            if upto > placed and not (info.variable_frame_rate and placed > 0 and last is not black):
                log.warning("%s: frames %d-%d are missing; written black", info.path.name, placed, upto - 1)
            while placed < upto:
                if info.variable_frame_rate and placed > 0 and last is not black:
                    yield last
                else:
                    self.damaged.add(placed)
                    yield black
                placed += 1

        try:
            container = av.open(str(info.path))
        except (av.error.FFmpegError, OSError) as e:
            raise DecodeError(f"{info.path}: cannot be opened for decoding ({e})") from e
        with container:
            stream = container.streams[info.stream_index]
            stream.thread_type = "AUTO"
            tb = stream.time_base
            origin = stream.start_time
            for frame in _decoded(container, stream, info.path.name, lambda: placed):
                if frame.pts is None or tb is None:
                    slot = placed
                else:
                    if origin is None:
                        origin = frame.pts
                    slot = round((frame.pts - origin) * tb * info.fps)
                if slot < placed:
                    if not info.variable_frame_rate:
                        log.warning("%s: frame at %s s repeats a time already shown; dropped",
                                    info.path.name, float((frame.pts or 0) * (tb or 0)))
                    continue
                yield from fill(slot)
                if frame.is_corrupt:
                    log.warning("%s: frame %d is damaged; written black", info.path.name, placed)
                    self.damaged.add(placed)
                    image = black
                else:
                    image = self._image(frame, sw, sh)
                    if rotate is not None:
                        image = i420.rotate(image, rotate) if yuv else cv2.rotate(image, rotate)
                    # Variable-rate gaps repeat this array: painters must copy it, not paint it.
                    image.flags.writeable = False
                    last = image
                yield image
                placed += 1
        # A truncated file ends early: its missing frames are black too, so the
        # video keeps the length the container declares (and its audio's).
        if not (info.variable_frame_rate and info.frame_count - placed <= 1):
            yield from fill(info.frame_count)

    def _image(self, frame, width: int, height: int) -> np.ndarray:
        """One PyAV frame as this reader's pixel format, limited range for YUV as on the ffmpeg path."""
        if self.pix_fmt == "bgr24":
            return frame.to_ndarray(format="bgr24", width=width, height=height, threads=1)
        full = frame.color_range == 2  # AVCOL_RANGE_JPEG
        if not full and frame.format.name == "yuv420p" and (frame.width, frame.height) == (width, height):
            return np.ascontiguousarray(frame.to_ndarray())
        return np.ascontiguousarray(
            frame.reformat(width=width, height=height, format="yuv420p", src_color_range=frame.color_range,
                           dst_color_range=1, threads=1).to_ndarray()
        )

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _failure(self, rc: int) -> str:
        reason = _ffmpeg_reason(self._stderr) or f"exit code {rc}"
        if rc in (-9, 137) and not self._stderr:
            return f"{self.info.path}: the decoder was killed after frame {self.frames_read} (out of memory?)"
        return (
            f"{self.info.path}: video is damaged or truncated at frame {self.frames_read} ({reason}); "
            "no output written (detect.on_decode_error: blackout writes damaged frames black instead)"
        )

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is None:
            raise RuntimeError("FrameReader must be used as a context manager")
        fps = self.info.fps
        while True:
            item = self._queue.get()
            if item is _END:
                break
            if isinstance(item, DecodeError):
                raise item
            if isinstance(item, Exception):
                raise DecodeError(f"{self.info.path}: decoding failed ({item})") from item
            index = self.frames_read
            self.frames_read += 1
            # BGR arrays are read-only (views of the pipe buffer): stages copy before drawing.
            # I420 arrays are writable and this frame's alone, so the render paints in place.
            yield Frame(index=index, image=item, time=float(index / fps))
        if self._proc is not None:
            rc = self._proc.wait()
            self._stderr_thread.join()
            if rc != 0:
                raise DecodeError(self._failure(rc))
        if self.frames_read == 0:
            raise DecodeError(f"{self.info.path}: no frame could be decoded")


def _read_exactly(stream, size: int) -> bytearray:
    """``size`` bytes into a new writable buffer, fewer only at the end of the stream."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            return buf[:got]
        got += n
    return buf


_GENERIC = re.compile(r"Task finished|Terminating thread|Error processing packet|Decoding error|Nothing was written|"
                      r"Error while filtering|Conversion failed")


def _ffmpeg_reason(stderr: bytes) -> str:
    """The most telling line of ffmpeg's error output, without its ``[h264 @ 0x...]`` prefixes."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", ln).strip() for ln in stderr.decode(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    specific = [ln for ln in lines if not _GENERIC.search(ln)]
    return (specific or lines or [""])[0]


def _decoded(container, stream, name: str, placed: Callable[[], int]) -> Iterator:
    """PyAV frames of ``stream``, past packets that do not decode; a demuxing error (a damaged or
    truncated container) ends the stream, which the caller fills black to its declared length."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as e:
            log.warning("%s: demuxing stopped after frame %d (%s)", name, placed(), e)
            return
        try:
            yield from stream.decode(packet)
        except av.error.FFmpegError as e:
            log.warning("%s: a packet could not be decoded (%s)", name, e)
