"""Audio redaction on real files: mute, bleep and disguise land on the right samples and keep sync.

Sources are made here with the real ffmpeg: a tiny lavfi picture and a
known signal (sines, plus short bursts at known times) stored as FLAC, so
the input decodes to exactly what was written.  Outputs are AAC, so they are
compared with the decoded input, not with ideal numbers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from redact.config import AudioConfig, AudioRange, EncodeConfig, load
from redact.errors import ConfigError
from redact.io import VideoWriter, ffmpeg_exe, probe
from redact.io.frames import decode
from redact.marks import parse_audio_range
from redact.render.audio import (
    AudioEvent,
    audio_start,
    decode_command,
    needs_processing,
    plan,
    process,
    soundtrack,
)
from redact.sample import make_sample
from redact.types import VideoInfo
from tests.conftest import read_audit

RATE = 48000
SECONDS = 3.0
BURSTS = (0.5, 1.2, 2.3)
"""Times (s) of 10 ms, 2 kHz bursts: onsets to check sync against."""


def _signal(channels: int = 2) -> np.ndarray:
    """A 440 Hz sine (550 Hz on the right channel, to catch swapped or mixed channels) plus bursts."""
    t = np.arange(round(SECONDS * RATE)) / RATE
    cols = []
    for hz in (440.0, 550.0)[:channels]:
        x = 0.3 * np.sin(2 * np.pi * hz * t)
        for b in BURSTS:
            i = round(b * RATE)
            x[i : i + 480] += 0.6 * np.sin(2 * np.pi * 2000 * np.arange(480) / RATE)
        cols.append(x)
    return np.stack(cols, 1).astype(np.float32)


def _make_clip(path: Path, channels: int = 2, video_offset: float = 0.0, audio_offset: float = 0.0) -> VideoInfo:
    """A 64x48, 25 fps clip with :func:`_signal` as lossless FLAC; either stream may start late."""
    raw = path.with_suffix(".f32")
    _signal(channels).tofile(raw)
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    if video_offset:
        cmd += ["-itsoffset", str(video_offset)]
    cmd += ["-f", "lavfi", "-i", f"testsrc2=s=64x48:r=25:d={SECONDS}"]
    cmd += ["-f", "f32le", "-ar", str(RATE), "-ac", str(channels), "-i", str(raw)]
    if audio_offset:  # -itsoffset does not move raw PCM input
        cmd += ["-filter:a", f"asetpts=PTS+{audio_offset}/TB"]
    cmd += ["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "flac", str(path)]
    subprocess.run(cmd, check=True)
    raw.unlink()
    return probe(path)


def _decode(path: Path) -> np.ndarray:
    """The first audio stream as float32 (n, channels), as ffmpeg decodes it."""
    info = probe(path)
    assert info.audio is not None
    out = subprocess.run(
        decode_command(path, info.audio.sample_rate, info.audio.channels), capture_output=True, check=True
    ).stdout
    return np.frombuffer(out, "<f4").reshape(-1, info.audio.channels)


def _timeline_offset(path: Path) -> float:
    """Where the first decoded audio sample lies on the video timeline (frame 0 = 0 s), in seconds."""
    info = probe(path)
    return audio_start(info) - info.start_offset


def _write(info: VideoInfo, out: Path, audio: AudioConfig | None, encode: EncodeConfig | None = None) -> VideoWriter:
    """Decode and re-encode ``info`` unchanged, with ``audio`` redactions, as the render pass does."""
    encode = encode or EncodeConfig()
    with soundtrack(info, audio or AudioConfig(), encode, out) as sound:
        with VideoWriter(info, out, encode, sound.track) as w, decode(info) as r:
            for f in r:
                w.write(f.image)
    w.audio_events = sound.events
    return w


def _changed(y: np.ndarray, x: np.ndarray, a: float = 0.05, b: float = SECONDS - 0.05) -> list[tuple[float, float]]:
    """Spans (s) within ``a..b`` where ``y`` differs from ``x`` by more than 0.05 RMS over 1 ms windows.

    The first and last few tens of ms are left out by default: AAC distorts
    a signal that starts or stops abruptly at full level.
    """
    d = (y[_sl(a, b)] - x[_sl(a, b)]).astype(np.float64)
    win = RATE // 1000
    power = np.convolve((d**2).mean(axis=1), np.ones(win) / win, "same")
    on = np.concatenate([[False], np.sqrt(power) > 0.05, [False]])
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(a + i / RATE, a + j / RATE) for i, j in zip(edges[::2], edges[1::2])]


def _on_video_timeline(path: Path) -> np.ndarray:
    """The decoded audio of ``path`` shifted so that sample 0 plays with video frame 0 (zeros where none)."""
    y, offset = _decode(path), round(_timeline_offset(path) * RATE)
    if offset >= 0:
        return np.concatenate([np.zeros((offset, y.shape[1]), np.float32), y])
    return y[-offset:]


def _peak_hz(x: np.ndarray) -> float:
    """The strongest frequency of a mono excerpt (Hann window, bin interpolation)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum[1:])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / len(x)


def _onsets(x: np.ndarray, threshold: float = 0.5) -> list[float]:
    """Times (s) where ``|x|`` first exceeds ``threshold`` after at least 0.2 s below it."""
    above = np.flatnonzero(np.abs(x) > threshold)
    starts = above[np.concatenate([[True], np.diff(above) > 0.2 * RATE])]
    return [i / RATE for i in starts]


def _lag(y: np.ndarray, x: np.ndarray, a: float, b: float, search: int = 1024) -> int:
    """Samples by which ``y`` is late against ``x``, matched on ``x[a:b]`` (include a burst: sines repeat)."""
    ref = x[_sl(a, b), 0]
    lo = round(a * RATE)
    errors = [np.sum((y[lo + d : lo + d + len(ref), 0] - ref) ** 2) for d in range(-search, search + 1)]
    return int(np.argmin(errors)) - search


def _sl(a: float, b: float) -> slice:
    return slice(round(a * RATE), round(b * RATE))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> VideoInfo:
    return _make_clip(tmp_path_factory.mktemp("audio") / "tone.mp4")


# --- planning and parsing ------------------------------------------------------------------------


def test_plan_clips_drops_and_orders_weakest_first():
    cfg = AudioConfig(
        action="disguise",
        ranges=[
            AudioRange(9.0, 12.0, "mute", "past the end"),
            AudioRange(2.0, 3.0, "bleep", "name"),
            AudioRange(10.0, 11.0, "bleep", "after the end"),
            AudioRange(1.0, 2.5, "mute", "address"),
        ],
    )
    assert plan(10.0, cfg) == [
        AudioEvent(0.0, 10.0, "disguise", "whole track"),
        AudioEvent(2.0, 3.0, "bleep", "name"),
        AudioEvent(1.0, 2.5, "mute", "address"),
        AudioEvent(9.0, 10.0, "mute", "past the end"),
    ]
    assert plan(10.0, AudioConfig()) == []
    assert plan(0.0, AudioConfig(action="mute")) == []
    assert AudioEvent(1.0, 2.0, "bleep", "x").to_json() == {"start": 1.0, "end": 2.0, "action": "bleep", "label": "x"}


def test_needs_processing_only_for_a_redaction():
    assert not needs_processing(AudioConfig())
    assert needs_processing(AudioConfig(action="mute"))
    assert needs_processing(AudioConfig(ranges=[AudioRange(1, 2, "bleep")]))


def test_parse_audio_range_forms():
    assert parse_audio_range("01:12.5-01:13.4=bleep:name spoken") == AudioRange(72.5, 73.4, "bleep", "name spoken")
    assert parse_audio_range("3-4.25=mute") == AudioRange(3.0, 4.25, "mute", "")
    label = "room 4: door"  # a label may hold colons
    assert parse_audio_range(f"1:00:00-1:00:01=disguise:{label}") == AudioRange(3600, 3601, "disguise", label)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("1-2", "START-END=ACTION"),
        ("1-2=shout", "'shout' is not one of"),
        ("2-1=mute", "ends before it starts"),
        ("x-2=mute", "expected a time"),
        ("=mute", "--audio-range '=mute'"),
        ("1:75-2:00=mute", "not a valid time"),
    ],
)
def test_parse_audio_range_rejects_bad_input(spec, says):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        parse_audio_range(spec)


def test_audio_range_from_config_overrides():
    cfg = load(overrides=["audio.ranges=[{start: 1.5, end: 2, action: mute, label: plate}]"]).audio
    assert cfg.ranges == [AudioRange(1.5, 2.0, "mute", "plate")]
    with pytest.raises(ConfigError, match="audio.ranges.0"):
        load(overrides=["audio.ranges=[{start: 2, end: 1, action: mute}]"])


# --- sample-exact processing (raw PCM, before any encoder) ---------------------------------------


def test_mute_and_bleep_replace_exactly_their_samples(clip, tmp_path):
    ranges = [AudioRange(0.8, 1.3, "mute"), AudioRange(1.8, 2.4, "bleep")]
    cfg = AudioConfig(ranges=ranges, bleep_hz=1000, bleep_level=0.25)
    dest = tmp_path / "out.f32"
    events = process(clip, cfg, dest)
    assert events == [AudioEvent(1.8, 2.4, "bleep", ""), AudioEvent(0.8, 1.3, "mute", "")]
    x = _decode(clip.path)
    y = np.fromfile(dest, "<f4").reshape(-1, 2)
    assert y.shape == x.shape == (round(SECONDS * RATE), 2)
    mute, bleep = _sl(0.8, 1.3), _sl(1.8, 2.4)
    assert np.all(y[mute] == 0)
    k = np.arange(bleep.stop - bleep.start)
    tone = 0.25 * np.sin(2 * np.pi * 1000 * k / RATE)
    ramp = round(0.005 * RATE)
    for ch in range(2):
        # Full level between the fades, never above it inside them, and identical on both channels.
        np.testing.assert_allclose(y[bleep][ramp:-ramp, ch], tone[ramp:-ramp], atol=1e-6)
        assert np.all(np.abs(y[bleep][:, ch]) <= np.abs(tone) + 1e-6)
    assert abs(float(y[bleep.start, 0])) < 0.01 and abs(float(y[bleep.stop - 1, 0])) < 0.01  # faded ends: no click
    untouched = np.ones(len(x), bool)
    untouched[mute] = untouched[bleep] = False
    assert np.array_equal(y[untouched], x[untouched])
    # The samples just outside each range are the input's (the ranges end exclusive).
    for s in (mute, bleep):
        assert np.array_equal(y[[s.start - 1, s.stop]], x[[s.start - 1, s.stop]])


def test_overlapping_ranges_strongest_wins(clip, tmp_path):
    cfg = AudioConfig(
        ranges=[AudioRange(0.5, 2.0, "disguise"), AudioRange(1.0, 1.6, "bleep"), AudioRange(1.2, 1.4, "bleep"),
                AudioRange(1.3, 1.5, "mute")],
    )
    dest = tmp_path / "out.f32"
    process(clip, cfg, dest)
    x, y = _decode(clip.path), np.fromfile(dest, "<f4").reshape(-1, 2)
    assert np.all(y[_sl(1.3, 1.5)] == 0)
    # One continuous bleep over the two overlapping ranges: no fade at 1.2 s or 1.4 s.
    assert np.abs(y[_sl(1.19, 1.21), 0]).max() > 0.2 and np.abs(y[_sl(1.5, 1.6), 0]).max() > 0.2
    assert _peak_hz(y[_sl(1.0, 1.3), 0]) == pytest.approx(1000, abs=5)
    assert _peak_hz(y[_sl(0.6, 0.98), 0]) == pytest.approx(330, abs=5)  # disguised 440 Hz
    assert np.array_equal(y[_sl(2.0, 3.0)], x[_sl(2.0, 3.0)]) and np.array_equal(y[_sl(0, 0.5)], x[_sl(0, 0.5)])


# --- end to end through the writer (AAC output) ---------------------------------------------------


def test_bleep_and_mute_land_on_the_right_samples_in_the_output(clip, tmp_path):
    out = tmp_path / "out.mp4"
    cfg = AudioConfig(ranges=[AudioRange(0.8, 1.3, "mute", "name"), AudioRange(1.8, 2.4, "bleep", "address")])
    w = _write(clip, out, cfg)
    assert w.audio_mode == "processed"
    assert [e.action for e in w.audio_events] == ["bleep", "mute"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "scratch files left behind"
    got = probe(out)
    assert got.audio is not None and (got.audio.codec, got.audio.sample_rate, got.audio.channels) == ("aac", RATE, 2)
    assert _timeline_offset(out) == pytest.approx(0.0, abs=1e-3)
    x, y = _decode(clip.path), _decode(out)
    # AAC's priming is trimmed by the MP4 edit list: the untouched start lines up sample for sample.
    assert _lag(y, x, 0.45, 0.55) == 0
    changed = _changed(y, x)
    assert len(changed) == 2
    for (a, b), (lo, hi) in zip(changed, [(0.8, 1.3), (1.8, 2.4)]):
        assert abs(a - lo) < 0.003 and abs(b - hi) < 0.003, (a, b)
    assert np.sqrt(np.mean(y[_sl(0.81, 1.29)] ** 2)) < 1e-3  # muted
    assert np.sqrt(np.mean(y[_sl(0.5, 0.79)] ** 2)) > 0.1  # not muted around it
    bleep = y[_sl(1.81, 2.39)]
    for ch in range(2):
        assert _peak_hz(bleep[:, ch]) == pytest.approx(1000, abs=2)
        assert np.sqrt(np.mean(bleep[:, ch] ** 2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("pitch", [0.75, 1.3])
def test_disguise_keeps_duration_sync_and_moves_pitch(clip, tmp_path, pitch):
    out = tmp_path / "out.mp4"
    _write(clip, out, AudioConfig(action="disguise", pitch=pitch))
    x, y = _decode(clip.path), _decode(out)
    assert abs(len(y) - len(x)) <= 1024
    assert _timeline_offset(out) == pytest.approx(0.0, abs=1e-3)
    for ch, hz in enumerate((440, 550)):
        assert _peak_hz(y[_sl(0.6, 1.1), ch]) == pytest.approx(hz * pitch, rel=0.01)
    onsets = _onsets(y[:, 0])
    assert len(onsets) == len(BURSTS)
    for got, want in zip(onsets, BURSTS):
        assert abs(got - want) < 0.010, (got, want)
    assert abs(probe(out).duration - probe(clip.path).duration) < 0.05


def test_disguised_range_only_changes_that_range(clip, tmp_path):
    out = tmp_path / "out.mp4"
    _write(clip, out, AudioConfig(ranges=[AudioRange(1.0, 2.0, "disguise", "witness")], pitch=0.75))
    x, y = _decode(clip.path), _decode(out)
    assert len(y) == len(x)
    changed = _changed(y, x)
    assert changed[0][0] == pytest.approx(1.0, abs=0.003) and changed[-1][1] == pytest.approx(2.0, abs=0.003)
    assert _peak_hz(y[_sl(1.3, 1.9), 0]) == pytest.approx(330, rel=0.01)
    assert _peak_hz(y[_sl(0.6, 0.99), 0]) == pytest.approx(440, rel=0.01)
    (onset,) = [t for t in _onsets(y[:, 0]) if 1.0 < t < 2.0]
    assert onset == pytest.approx(1.2, abs=0.010)


@pytest.mark.parametrize(("video_offset", "audio_offset"), [(0.5, 0.0), (0.0, 0.3)])
def test_processed_audio_lands_where_copied_audio_would(tmp_path, video_offset, audio_offset):
    """Streams that start apart: ranges are on the video timeline, and the audio keeps its place."""
    info = _make_clip(tmp_path / "src.mp4", channels=1, video_offset=video_offset, audio_offset=audio_offset)
    assert audio_start(info) - info.start_offset == pytest.approx(audio_offset - video_offset, abs=0.03)
    copied, processed = tmp_path / "copied.mp4", tmp_path / "processed.mp4"
    assert _write(info, copied, None).audio_mode == "copy"
    _write(info, processed, AudioConfig(ranges=[AudioRange(1.0, 1.5, "mute")]))
    x, y = _on_video_timeline(copied), _on_video_timeline(processed)
    # The copy is the reference: the bursts play where the source put them, relative to the picture.
    shift = audio_start(info) - info.start_offset
    assert _onsets(x[:, 0]) == pytest.approx([b + shift for b in BURSTS if b + shift > 0], abs=0.002)
    assert _lag(y, x, 2.3 + shift - 0.05, 2.3 + shift + 0.05) == 0
    ((a, b),) = _changed(y, x, max(shift, 0) + 0.1, 2.6)  # where both have audio and AAC has settled
    assert a == pytest.approx(1.0, abs=0.003) and b == pytest.approx(1.5, abs=0.003)


def test_keep_and_drop_leave_the_audio_alone(clip, tmp_path):
    assert VideoWriter(clip, tmp_path / "a.mp4", EncodeConfig()).audio_mode == "copy"
    w = _write(clip, tmp_path / "b.mp4", AudioConfig(action="mute"), EncodeConfig(audio="drop"))
    assert w.audio_mode == "none" and w.audio_events == []
    assert probe(tmp_path / "b.mp4").audio is None


# --- the pipeline and its audit log ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.models
def test_run_redacts_audio_and_audits_every_range(tmp_path):
    from redact.pipeline import run

    sample = make_sample(tmp_path / "in.mp4", seconds=1.6, size=(160, 120))
    config = load(overrides=[
        "audio.ranges=[{start: 0.2, end: 0.6, action: mute, label: name}, {start: 1.0, end: 1.4, action: bleep}]"
    ])
    result = run(sample.path, tmp_path / "out.mp4", config)
    lines = read_audit(result.audit_log)
    types = [line["type"] for line in lines]
    audio = [{k: v for k, v in line.items() if k != "prev_sha256"} for line in lines if line["type"] == "audio"]
    assert audio == [
        {"type": "audio", "start": 1.0, "end": 1.4, "action": "bleep", "label": ""},
        {"type": "audio", "start": 0.2, "end": 0.6, "action": "mute", "label": "name"},
    ]
    first_audio = types.index("audio")
    assert set(types[1:first_audio]) <= {"decision"} and "frame" not in types[:first_audio + 2]
    assert lines[-1]["audio"] == "processed"
    y = _decode(result.output)
    assert np.sqrt(np.mean(y[_sl(0.21, 0.59)] ** 2)) < 1e-3 < np.sqrt(np.mean(y[_sl(0.7, 0.95)] ** 2))
    assert _peak_hz(y[_sl(1.01, 1.39), 0]) == pytest.approx(1000, abs=2)
