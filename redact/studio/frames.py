"""Any one frame of the video, fast, for the studio: thumbnails and the redacted preview.

The passes of a run read every frame in order through
:func:`redact.io.frames.decode`; a reviewer jumps around instead.  This
opens the file with PyAV, seeks to the keyframe before the frame asked for
and decodes forward to it, and keeps the decoder where it stopped, so
stepping or playing forwards costs one frame each.  A frame's number is
placed as the reader places it (its timestamp times the rate, counted from
the stream's start), and frames come upright, so boxes from the analysis
land where they belong.

The redacted preview paints a frame with the render's own planner and
painter (:class:`redact.render.RegionPlanner`, :func:`redact.render.yuv.paint_i420`
on the decoder's YUV planes for even sizes, as the render does), so what the
reviewer sees is what the render will write, up to the encoder's noise.
"""

from __future__ import annotations

import threading
from fractions import Fraction

import cv2
import numpy as np

import redact.io.i420 as i420
from redact.config import Config
from redact.render import Painter, RegionPlanner
from redact.render.yuv import paint_i420
from redact.types import Decision, Kind, Region, Source, Track, VideoInfo

_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
SEEK_AHEAD = 50
"""Frames a request may lie ahead of the decoder before a seek is cheaper than decoding on."""


class FrameSource:
    """Frame ``i`` of a video as BGR or I420; one decoder, used by one request at a time."""

    def __init__(self, info: VideoInfo):
        import av  # deferred, as everywhere: keeps `import redact` light

        self.info = info
        self._lock = threading.Lock()
        self._container = av.open(str(info.path))
        self._stream = self._container.streams[info.stream_index]
        self._stream.thread_type = "AUTO"
        self._frames = None
        self._at = -1
        self._last = None
        self._pending = None

    def close(self) -> None:
        self._container.close()

    def get(self, index: int, yuv: bool = False) -> np.ndarray:
        """Frame ``index`` (clipped to the video), upright; black where it cannot be decoded."""
        index = min(max(index, 0), self.info.frame_count - 1)
        with self._lock:
            frame = self._find(index)
            # Converted under the lock and on this thread only: swscale's own slice threads deadlocked
            # a thumbnail request when requests overlapped (and uvicorn then waited on it at exit).
            return self._convert(frame, yuv)

    def _convert(self, frame, yuv: bool) -> np.ndarray:
        info = self.info
        if frame is None:
            return i420.black(info.width, info.height) if yuv else np.zeros((info.height, info.width, 3), np.uint8)
        sw, sh = (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)
        if yuv:
            image = np.ascontiguousarray(frame.reformat(width=sw, height=sh, format="yuv420p",
                                                        src_color_range=frame.color_range, dst_color_range=1, threads=1)
                                         .to_ndarray())
            rotate = _ROTATE.get(info.rotation)
            return i420.rotate(image, rotate) if rotate is not None else image
        image = frame.to_ndarray(format="bgr24", width=sw, height=sh, threads=1)
        rotate = _ROTATE.get(info.rotation)
        return cv2.rotate(image, rotate) if rotate is not None else image

    def _slot(self, frame) -> int:
        stream = self._stream
        origin = stream.start_time or 0
        if frame.pts is None or stream.time_base is None:
            return self._at + 1
        return round((frame.pts - origin) * stream.time_base * self.info.fps)

    def _find(self, index: int):
        """The last decoded frame whose place is at most ``index``: decode on, or seek first."""
        if index == self._at:
            return self._last
        if self._frames is None or not self._at < index <= self._at + SEEK_AHEAD:
            self._seek(index)
        while True:
            frame, self._pending = self._pending or self._next(), None
            if frame is None:
                return self._last
            slot = self._slot(frame)
            if slot > index:
                # The frame asked for is missing (a gap): show the one before it, as a player would.
                self._pending = frame
                return self._last
            self._at, self._last = slot, frame
            if slot == index:
                return frame

    def _next(self):
        import av

        try:
            return next(self._frames, None)
        except av.error.FFmpegError:
            return None

    def _seek(self, index: int) -> None:
        stream = self._stream
        origin = stream.start_time or 0
        target = origin + int(Fraction(index) / self.info.fps / stream.time_base) if stream.time_base else 0
        self._container.seek(max(target, origin), stream=stream, backward=True, any_frame=False)
        self._frames = self._container.decode(stream)
        self._at, self._last, self._pending = -1, None, None


class Preview:
    """Regions of any frame, as the render plans them, and frames painted with them."""

    def __init__(self, info: VideoInfo, config: Config):
        self.info, self.config = info, config
        self.painter = Painter(config.render)
        self._planner: RegionPlanner | None = None
        self._planned_to = -1
        self._inputs: tuple[list[Track], dict[int, Decision], set[int]] | None = None
        self._lock = threading.Lock()

    def update(self, tracks: list[Track], decisions: dict[int, Decision], failed: set[int]) -> None:
        """New tracks or decisions (a mark drawn, a row kept).  Planning thousands of tracks takes seconds
        (holds, bridges), so new decisions for the same tracks only swap the spans' decisions."""
        with self._lock:
            same = self._inputs is not None and [id(t) for t in self._inputs[0]] == [id(t) for t in tracks]
            self._inputs = (tracks, decisions, failed)
            if same and self._planner is not None:
                self._planner.redecide(decisions)
                self._planned_to = -1
            else:
                self._planner = None

    def regions_at(self, index: int) -> list[Region]:
        """The regions the render paints on frame ``index`` (the whole frame where pass 1 failed on it)."""
        info = self.info
        with self._lock:
            assert self._inputs is not None, "update() first"
            tracks, decisions, failed = self._inputs
            if index in failed:
                return [Region((0, 0, info.width, info.height), Kind.FRAME, None, Source.FAILSAFE, None, None,
                               "decode-error")]  # type: ignore[arg-type]
            # The planner answers frames in increasing order; going back rewinds its sweep.
            if self._planner is None:
                self._planner = RegionPlanner(tracks, decisions, self.config.render, info.width, info.height,
                                              info.frame_count)
            elif index < self._planned_to:
                self._planner.rewind()
            self._planned_to = index
            return self._planner.regions_at(index)

    def paint(self, source: FrameSource, index: int) -> np.ndarray:
        """Frame ``index`` as the render would write it, as BGR."""
        regions = self.regions_at(index)
        info = self.info
        if any(r.kind == Kind.FRAME for r in regions):
            return np.zeros((info.height, info.width, 3), np.uint8)
        if i420.supported(info.width, info.height):
            image = paint_i420(self.painter, source.get(index, yuv=True), regions)
            return cv2.cvtColor(image, cv2.COLOR_YUV2BGR_I420)
        return self.painter.paint(source.get(index).copy(), regions)


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - imencode fails only on invalid input
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
