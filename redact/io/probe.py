"""Learn what an input holds before touching a frame.

PyAV reads the container headers (exact rational rates, rotation side data,
every stream) without the guesswork of parsing ``ffmpeg -i`` text; frames
themselves are decoded by the ffmpeg binary in :mod:`redact.io.reader`.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

from redact.errors import InputError
from redact.types import AudioInfo, Colour, VideoInfo

log = logging.getLogger(__name__)

MAX_PIXELS = 8192 * 8192
"""Larger declared sizes are refused: one BGR frame would need over 200 MB."""

VFR_TOLERANCE = 0.01
"""Average and nominal rate differing by more than 1 % means variable frame rate."""


def probe(path: str | Path) -> VideoInfo:
    """Describe the first real video stream of ``path`` (cover art is not one).

    Raises ``InputError`` with a one-line reason for anything that is not a
    readable video, so a batch can report it and move on.  Damaged headers
    can leave PyAV's objects half-filled (a stream without a codec, a zero
    time base); whatever that breaks is reported as unreadable headers, not
    as a crash (tests/test_fuzz.py mutates headers to check).
    """
    path = Path(path)
    try:
        return _probe(path)
    except InputError:
        raise
    except (AttributeError, TypeError, ValueError, ArithmeticError, OverflowError) as e:
        raise InputError(f"{path}: video headers are damaged ({type(e).__name__}: {_reason(e)})") from e
    except Exception as e:
        import av

        if isinstance(e, av.error.FFmpegError):
            raise InputError(f"{path}: video headers are damaged ({_reason(e)})") from e
        raise


def _probe(path: Path) -> VideoInfo:
    import av  # deferred: keeps `import redact` light

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: not a readable video ({_reason(e)})") from e
    with container:
        fmt = container.format.name
        if fmt.endswith("_pipe") or fmt == "image2":
            raise InputError(f"{path}: is a still image ({fmt.removesuffix('_pipe')}), not a video")
        videos = [
            s
            for s in container.streams.video
            if not (s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not videos:
            none = "" if container.streams else " (the file holds no streams at all: truncated, or not a video)"
            raise InputError(f"{path}: no video stream{none}")
        v = videos[0]
        cc = v.codec_context
        if cc is None:
            raise InputError(f"{path}: video stream has no usable codec (unknown, or damaged headers)")
        stream_index, codec = v.index, cc.name
        width, height = int(cc.width or 0), int(cc.height or 0)
        if width <= 0 or height <= 0:
            # ffmpeg zeroes a size it refuses (beyond ~16k x 16k), so this is also the huge case.
            raise InputError(f"{path}: video stream has no usable frame size (missing, or too large to decode)")
        if width * height > MAX_PIXELS:
            raise InputError(f"{path}: declared frame size {width}x{height} is too large")
        colour = _colour(cc)
        fps, vfr = _frame_rate(v)
        if fps is None:
            raise InputError(f"{path}: video stream has no usable frame rate")
        rotation = _rotation(container, v)
        if rotation in (90, 270):
            width, height = height, width
        duration = _duration(container, v)
        frame_count = int(v.frames or 0)
        if vfr or frame_count <= 0:
            frame_count = max(0, round(duration * fps))
        start = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
        container_start = (container.start_time or 0) / 1e6
        audio = None
        if container.streams.audio:
            a = container.streams.audio[0]
            audio = AudioInfo(
                codec=a.codec_context.name,
                sample_rate=int(a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
            )
        kept = {v.index} | ({container.streams.audio[0].index} if audio else set())
        dropped = tuple(
            f"#{s.index} {s.type}" + (" (cover art)" if s.disposition & av.stream.Disposition.attached_pic else "")
            for s in container.streams
            if s.index not in kept
        )
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        frame_count=frame_count,
        duration=duration,
        rotation=rotation,
        variable_frame_rate=vfr,
        codec=codec,
        start_offset=max(0.0, start - container_start),
        audio=audio,
        dropped_streams=dropped,
        stream_index=stream_index,
        colour=colour,
    )


YUV_MATRICES = {1, 5, 6, 9, 10}
"""BT.709, BT.470BG, SMPTE 170M, BT.2020 (non-constant and constant): the matrices a 4:2:0 stream can carry."""


def _colour(cc) -> Colour:
    """The stream's colour description where it gives one; a code outside H.273's range counts as unspecified."""

    def code(name: str, valid) -> int:
        value = int(getattr(cc, name, 2) or 2)
        return value if value in valid else 2

    named = set(range(1, 23)) - {2, 3}
    return Colour(code("colorspace", YUV_MATRICES), code("color_primaries", named), code("color_trc", named))


def _frame_rate(v) -> tuple[Fraction | None, bool]:
    avg = Fraction(v.average_rate) if v.average_rate else None
    nominal = Fraction(v.base_rate) if v.base_rate else (Fraction(v.guessed_rate) if v.guessed_rate else None)
    rate = avg or nominal
    if rate is None or not 0 < rate < 1000:
        return None, False
    if avg and nominal and abs(avg - nominal) / nominal > VFR_TOLERANCE:
        # Variable frame rate: the reader resamples to the average rate so
        # that duration and audio sync are kept (see reader.py).
        return avg.limit_denominator(1001), True
    return (nominal if nominal and 0 < nominal < 1000 else avg), False


def _rotation(container, v) -> int:
    """Clockwise degrees the player would rotate by, read from the first frame's display matrix."""
    try:
        for frame in container.decode(v):
            return int(round(-(getattr(frame, "rotation", 0) or 0))) % 360
    except Exception as e:  # noqa: BLE001 - any decode failure is reported the same way
        raise InputError(f"{container.name}: first video frame cannot be decoded ({_reason(e)})") from e
    raise InputError(f"{container.name}: video stream has no frames")


def _duration(container, v) -> float:
    if v.duration is not None and v.time_base:
        return float(v.duration * v.time_base)
    if container.duration:
        return container.duration / 1e6
    return 0.0


def _reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.splitlines()[0] if text else type(e).__name__
