"""Audio redaction: keep, mute, bleep or disguise the soundtrack, whole or in time ranges.

Voices and spoken names identify people as surely as faces.  The operator
marks what to hide (``audio.action`` for the whole track, ``audio.ranges``
for spans such as "a name is spoken at 01:12.5-01:13.4"), and
:func:`process` rewrites the first audio stream sample by sample:

- ``mute``: the samples become zeros;
- ``bleep``: the samples are replaced by a sine tone (``bleep_hz`` at
  ``bleep_level``) with a short fade at each end, inside the range, so no
  click is heard and no original sample survives;
- ``disguise``: the samples are taken from a pitch-shifted copy of the whole
  track made by ffmpeg (``asetrate`` + ``aresample`` + ``atempo``, which
  moves pitch and formants together and keeps the tempo), trimmed or padded
  to the original length.

Where ranges overlap, the strongest action wins at every instant
(mute > bleep > disguise): they are applied weakest first.

Disguise is the weakest because it is largely reversible: shifting the
pitch back by ``1 / pitch`` brings back a recognisable voice.  It keeps
speech intelligible for casual listeners; names and anyone who must not be
recognised by voice need ``mute`` or ``bleep``.

**Duration and sync.**  The output has exactly as many samples as ffmpeg
decodes from the input, at the same rate and channel count, and is put back
at the time the original stream started, so it lands where a copied stream
would.  Range times are seconds of the *video* timeline (frame 0 is 0 s);
see :func:`process` for how they map to samples.

**Memory.**  Audio streams through ffmpeg pipes one block (``CHUNK_SECONDS``)
at a time; an hour of 48 kHz stereo never sits in memory.  The result goes
to a raw float32 scratch file (about 1.4 GB an hour for 48 kHz stereo) that
the writer encodes to AAC and removes.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redact.config import AudioConfig, EncodeConfig
from redact.errors import EncodeError
from redact.io.files import ffmpeg_exe, temp_path_for
from redact.io.writer import Soundtrack
from redact.marks import AUDIO_ACTIONS
from redact.types import VideoInfo

log = logging.getLogger(__name__)

ORDER = AUDIO_ACTIONS
"""Actions from weakest to strongest; applied in this order, so the strongest wins where ranges overlap."""

RAMP_SECONDS = 0.005
"""Fade at each end of a bleep, inside the range: a tone switched on at full level clicks."""

CHUNK_SECONDS = 1.0
"""Audio is processed in blocks of this length, so memory does not grow with the track."""

WHOLE_TRACK = "whole track"
"""Label of the event that ``audio.action`` applies to the whole track."""


@dataclass(frozen=True)
class AudioEvent:
    """One audio redaction as the audit log records it: seconds on the video timeline, end exclusive."""

    start: float
    end: float
    action: str
    label: str

    def to_json(self) -> dict:
        return {"start": round(self.start, 6), "end": round(self.end, 6), "action": self.action, "label": self.label}


def needs_processing(cfg: AudioConfig) -> bool:
    """Whether the soundtrack must be rewritten (else it is copied as it is)."""
    return cfg.action != "keep" or bool(cfg.ranges)


def plan(duration: float, cfg: AudioConfig) -> list[AudioEvent]:
    """The redactions ``cfg`` asks for on a track of ``duration`` seconds, in the order they are applied.

    The whole-track action (unless ``keep``) is one event over ``0..duration``;
    ranges are clipped to ``[0, duration]`` and dropped when nothing is left.
    Events are sorted weakest action first (then by time), the order in which
    applying them makes the strongest win where they overlap.
    """
    events = []
    if cfg.action != "keep" and duration > 0:
        events.append(AudioEvent(0.0, duration, cfg.action, WHOLE_TRACK))
    for r in cfg.ranges:
        start, end = max(0.0, r.start), min(duration, r.end)
        if end > start:
            events.append(AudioEvent(start, end, r.action, r.label))
    return sorted(events, key=lambda e: (ORDER.index(e.action), e.start, e.end))


def audio_start(info: VideoInfo) -> float:
    """Seconds from the container's start to the first sample ffmpeg decodes from the first audio stream.

    The same origin as ``VideoInfo.start_offset`` (where frame 0 lies), so
    the two together place the audio on the video timeline.  Read from the
    first decoded frame rather than the stream header: whether priming
    samples are dropped (MP4 edit lists, Opus pre-skip) decides which sample
    comes first, and the header does not say.
    """
    import av  # deferred, as in probe: keeps `import redact` light

    with av.open(str(info.path)) as container:
        origin = (container.start_time or 0) / 1e6
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.pts is not None and frame.time_base is not None:
                return float(frame.pts * frame.time_base) - origin
            break
        if stream.start_time is not None:
            return float(stream.start_time * stream.time_base) - origin
    return 0.0


@contextmanager
def soundtrack(info: VideoInfo, cfg: AudioConfig, encode: EncodeConfig, output: Path) -> Iterator[Redacted]:
    """The soundtrack the output gets: the input's, or a rewritten one beside ``output`` while the block runs.

    Run before the video is encoded, so the audit log records the redactions
    that were applied (clipped to the audio's real extent), not the plan.
    """
    if info.audio is None or encode.audio == "drop" or not needs_processing(cfg):
        yield Redacted(None, [])
        return
    dest = temp_path_for(output.with_name(output.stem + ".audio.f32"))
    try:
        start = audio_start(info)
        events = process(info, cfg, dest, start=start)
        yield Redacted(Soundtrack(dest, start), events)
    finally:
        dest.unlink(missing_ok=True)


@dataclass(frozen=True)
class Redacted:
    """What :func:`soundtrack` did: the file to mux (None = the input's audio as it is) and the events applied."""

    track: Soundtrack | None
    events: list[AudioEvent]


def process(info: VideoInfo, cfg: AudioConfig, dest: Path, start: float | None = None) -> list[AudioEvent]:
    """Decode the first audio stream, apply ``cfg``'s redactions, write raw float32 PCM to ``dest``.

    ``dest`` holds interleaved little-endian float32 (``f32le``) at the
    input's sample rate and channel count, with exactly as many samples as
    ffmpeg decodes from the input.  Its first sample lies ``start`` seconds
    after the input container's origin (:func:`audio_start`, computed when not
    given); muxing it stamped with that time puts it where the copied stream
    would have been, next to video muxed with ``-itsoffset
    info.start_offset`` (see ``VideoWriter.mux_command``).

    A range time ``t`` on the video timeline is therefore sample
    ``round((t + info.start_offset - start) * rate)``.  The whole-track action
    covers every sample, including any before the first frame or after the
    last; a range starting at 0 or reaching the video's end runs on to the
    start or end of the audio.

    Returns the events applied, on the video timeline (clipped to the audio's
    extent where it is longer than the video).
    """
    if info.audio is None:
        raise ValueError(f"{info.path}: has no audio stream to process")
    rate, channels = info.audio.sample_rate, info.audio.channels
    if rate <= 0 or channels <= 0:
        raise EncodeError(f"{info.path}: audio stream has no sample rate or channel count; use encode.audio: drop")
    if start is None:
        start = audio_start(info)
    shift = info.start_offset - start
    spans = _sample_spans(cfg, rate, shift, info.duration)
    total = _rewrite(info, cfg, Path(dest), spans, rate, channels)
    if total == 0:
        raise EncodeError(f"{info.path}: the audio stream decoded to no samples; use encode.audio: drop")
    audio_end = total / rate - shift
    return plan(max(info.duration, audio_end), cfg)


# --- sample arithmetic -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """Samples ``lo..hi`` (exclusive; ``hi`` may be infinite) to which ``action`` applies."""

    action: str
    lo: int
    hi: float


def _sample_spans(cfg: AudioConfig, rate: int, shift: float, duration: float) -> list[_Span]:
    """Every redaction as a sample span, weakest action first, overlapping spans of one action merged.

    Merging keeps a bleep continuous across two overlapping ranges (two
    separate tones would each fade out and in at the seam).  A range that
    starts at 0 or reaches the video's end is extended to the start or end
    of the audio, so audio beyond the first or last frame is not left
    unredacted.
    """
    spans: list[_Span] = []
    if cfg.action != "keep":
        spans.append(_Span(cfg.action, 0, float("inf")))
    for r in cfg.ranges:
        lo = 0 if r.start <= 0 else max(0, round((r.start + shift) * rate))
        hi = float("inf") if r.end >= duration else round((r.end + shift) * rate)
        if hi > lo:
            spans.append(_Span(r.action, lo, hi))
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda s: (ORDER.index(s.action), s.lo)):
        last = merged[-1] if merged else None
        if last is not None and last.action == span.action and span.lo <= last.hi:
            merged[-1] = _Span(span.action, last.lo, max(last.hi, span.hi))
        else:
            merged.append(span)
    return merged


def _apply(
    block: np.ndarray, pos: int, spans: list[_Span], disguised: np.ndarray | None, cfg: AudioConfig, rate: int
) -> None:
    """Redact ``block`` (samples ``pos..pos+len``, shape (n, channels)) in place."""
    n = len(block)
    for span in spans:
        a, b = max(span.lo, pos), min(span.hi, pos + n)
        if b <= a:
            continue
        a, b = int(a) - pos, int(b) - pos
        if span.action == "mute":
            block[a:b] = 0.0
        elif span.action == "bleep":
            block[a:b] = _tone(pos + a, pos + b, span, cfg, rate)[:, None]
        else:
            assert disguised is not None
            block[a:b] = disguised[a:b]


def _tone(first: int, stop: int, span: _Span, cfg: AudioConfig, rate: int) -> np.ndarray:
    """The bleep for samples ``first..stop`` of ``span``, phase and fades counted from the span's own start."""
    k = np.arange(first, stop, dtype=np.float64) - span.lo
    ramp = max(1.0, min(RAMP_SECONDS * rate, (span.hi - span.lo) / 2))
    envelope = np.clip(np.minimum((k + 0.5) / ramp, (span.hi - span.lo - k - 0.5) / ramp), 0.0, 1.0)
    return (cfg.bleep_level * envelope * np.sin(2 * np.pi * cfg.bleep_hz * k / rate)).astype(np.float32)


# --- ffmpeg ------------------------------------------------------------------------------------


def disguise_filter(pitch: float, rate: int) -> str:
    """ffmpeg filters that move pitch (and formants) by ``pitch`` and keep the duration.

    ``asetrate`` replays the samples faster or slower (pitch and tempo move
    together), ``aresample`` brings the rate back, and ``atempo`` undoes the
    tempo change; atempo takes factors 0.5-2 per instance, so larger ones
    are chained.  The result is within a few milliseconds of the input's
    length and timing; the caller trims or pads it to the exact length.
    """
    parts = [f"asetrate={rate * pitch:.6f}", f"aresample={rate}"]
    tempo = 1.0 / pitch
    while tempo > 2.0:
        parts.append("atempo=2")
        tempo /= 2.0
    while tempo < 0.5:
        parts.append("atempo=0.5")
        tempo /= 0.5
    parts.append(f"atempo={tempo:.6f}")
    return ",".join(parts)


def decode_command(path: Path, rate: int, channels: int, filters: str | None = None) -> list[str]:
    """ffmpeg decoding the first audio stream of ``path`` to interleaved float32 on stdout."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path)]
    cmd += ["-map", "0:a:0", "-vn", "-sn", "-dn"]
    if filters:
        cmd += ["-af", filters]
    cmd += ["-ac", str(channels), "-ar", str(rate), "-f", "f32le", "pipe:1"]
    return cmd


class _PcmPipe:
    """An ffmpeg process writing float32 PCM to a pipe, read in blocks of whole sample frames."""

    def __init__(self, cmd: list[str], channels: int, what: str):
        self.channels = channels
        self.what = what
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr = b""
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        self._stderr = self._proc.stderr.read()

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` sample frames as a writable (n, channels) array; fewer only at the end."""
        assert self._proc.stdout is not None
        frame_bytes = 4 * self.channels
        buf = self._proc.stdout.read(frames * frame_bytes)
        whole = len(buf) - len(buf) % frame_bytes
        return np.frombuffer(buf[:whole], "<f4").reshape(-1, self.channels).copy()

    def drain(self) -> None:
        """Read and discard what is left, so the process can finish and report its status."""
        assert self._proc.stdout is not None
        while self._proc.stdout.read(1 << 20):
            pass

    def finish(self) -> None:
        """Wait for ffmpeg; an error exit is an ``EncodeError`` with its last message."""
        rc = self._proc.wait()
        self._thread.join(timeout=5)
        if rc != 0:
            lines = self._stderr.decode(errors="replace").strip().splitlines()
            raise EncodeError(f"ffmpeg failed to {self.what} ({lines[-1] if lines else f'exit code {rc}'})")

    def close(self) -> None:
        """Stop ffmpeg if it still runs (after an error on our side); safe to call twice."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def _rewrite(info: VideoInfo, cfg: AudioConfig, dest: Path, spans: list[_Span], rate: int, channels: int) -> int:
    """Stream the decoded track through :func:`_apply` into ``dest``; returns the number of sample frames.

    When anything is disguised, a second ffmpeg decodes the pitch-shifted
    track alongside and is read block for block in step with the original,
    so both stay aligned sample for sample; its surplus is discarded and a
    shortfall is padded with silence.
    """
    pipes = [_PcmPipe(decode_command(info.path, rate, channels), channels, f"decode the audio of {info.path}")]
    if any(s.action == "disguise" for s in spans):
        filters = disguise_filter(cfg.pitch, rate)
        cmd = decode_command(info.path, rate, channels, filters)
        pipes.append(_PcmPipe(cmd, channels, f"disguise the audio of {info.path}"))
    block_frames = max(1, round(CHUNK_SECONDS * rate))
    pos = 0
    try:
        with open(dest, "wb") as out:
            while len(block := pipes[0].read(block_frames)):
                disguised = None
                if len(pipes) > 1:
                    disguised = pipes[1].read(len(block))
                    if len(disguised) < len(block):
                        short = np.zeros((len(block) - len(disguised), channels), np.float32)
                        disguised = np.concatenate([disguised, short])
                _apply(block, pos, spans, disguised, cfg, rate)
                out.write(block.tobytes())
                pos += len(block)
        for pipe in pipes[1:]:
            pipe.drain()
        for pipe in pipes:
            pipe.finish()
    finally:
        for pipe in pipes:
            pipe.close()
    log.debug("audio: %d samples at %d Hz x %d rewritten to %s", pos, rate, channels, dest)
    return pos
