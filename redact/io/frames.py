"""The one frame visitor: every pass over a video's frames goes through :func:`decode`.

It is the single place that starts the decoder, applies the damaged-frame
policy (``fail`` or ``blackout``, see :mod:`redact.io.reader`), reports
progress (a tqdm bar, or a callback for batch workers) and stops early when
the caller needs no more frames.  Analysis, rendering, the review report and
verification all read frames this way, so a policy fixed here is fixed for
every pass.

Usage::

    with decode(info, "analyse", progress, on_damage="blackout") as frames:
        for frame in frames:
            ...
    frames.frames_read, frames.damaged
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

from tqdm import tqdm

from redact.io.reader import FrameReader, PixFmt
from redact.types import Frame, VideoInfo

ProgressFn = Callable[[str, int, int], None]
"""``(stage, frames done, frames total)``: how a batch worker reports frames to the bars its parent draws."""

Progress = bool | ProgressFn
"""Draw a tqdm bar (True), nothing (False), or report to a callback."""


class Decoding:
    """Frames of one pass, in order; see :func:`decode`."""

    def __init__(
        self,
        info: VideoInfo,
        stage: str,
        progress: Progress,
        on_damage: Literal["fail", "blackout"],
        pix_fmt: PixFmt,
        stop_after: int | None,
        total: int | None,
    ):
        self.info = info
        self.stop_after = stop_after
        self._reader = FrameReader(info, on_damage=on_damage, pix_fmt=pix_fmt)
        self._bar = bar(total if total is not None else info.frame_count, stage, progress)

    @property
    def frames_read(self) -> int:
        return self._reader.frames_read

    @property
    def damaged(self) -> set[int]:
        """Frames the reader wrote black because they were damaged or missing (``blackout`` only)."""
        return self._reader.damaged

    def __enter__(self) -> Decoding:
        self._bar.__enter__()
        try:
            self._reader.__enter__()
        except BaseException:
            self._bar.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._reader.__exit__(*exc)
        finally:
            self._bar.__exit__(*exc)

    def __iter__(self) -> Iterator[Frame]:
        for frame in self._reader:
            yield frame
            self._bar.update(1)
            if self.stop_after is not None and frame.index >= self.stop_after:
                return

    def advance(self, n: int = 1) -> None:
        """Count frames done by hand, for a pass whose bar counts something else (sampled frames)."""
        self._bar.update(n)


def decode(
    info: VideoInfo,
    stage: str = "",
    progress: Progress = False,
    on_damage: Literal["fail", "blackout"] = "fail",
    pix_fmt: PixFmt = "bgr24",
    stop_after: int | None = None,
    total: int | None = None,
) -> Decoding:
    """Decode ``info`` frame by frame, as a context manager that stops ffmpeg whatever happens.

    ``stop_after`` ends the pass after that frame index (the rest is never
    decoded); ``total`` sets the bar's length when it is not the frame count.
    """
    return Decoding(info, stage, progress, on_damage, pix_fmt, stop_after, total)


def bar(total: int, desc: str, progress: Progress):
    """A frame counter: a tqdm bar, or a reporter to a batch worker's callback."""
    if callable(progress):
        return _Reported(total, desc, progress)
    return tqdm(total=total or None, desc=desc, unit="frame", disable=not progress, dynamic_ncols=True, leave=False)


class _Reported:
    """A frame counter with tqdm's ``update`` that reports to a callback about 50 times a pass."""

    def __init__(self, total: int, desc: str, report: ProgressFn):
        self.total, self.desc, self.report, self.n = total, desc, report, 0
        self.step = max(1, total // 50)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n % self.step == 0 or self.n == self.total:
            self.report(self.desc, self.n, self.total)

    def __enter__(self) -> _Reported:
        self.report(self.desc, 0, self.total)
        return self

    def __exit__(self, *exc) -> None:
        pass
