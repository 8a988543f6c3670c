"""Video in and out on real files: rates, sizes, rotation, audio, metadata, atomic output."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

from redact.config import EncodeConfig, load
from redact.errors import EncodeError, InputError, OutputError
from redact.io import VideoWriter, probe
from redact.io.frames import decode
from redact.sample import SENSITIVE_TAGS, background, default_paths, render_frames
from tests.conftest import audio_md5, decode_all, stream_summary


def _copy_through(info, out, encode=None):
    """Decode ``info`` and encode it unchanged: the I/O path of a run without redaction."""
    with VideoWriter(info, out, encode or EncodeConfig()) as w, decode(info) as r:
        for f in r:
            w.write(f.image)
    return w


def test_probe_exact_ntsc_rate(clips):
    info = probe(clips["ntsc"].path)
    assert info.fps == Fraction(30000, 1001)
    assert info.frame_count == clips["ntsc"].frames == 60
    assert (info.width, info.height) == (640, 360)


def test_ntsc_roundtrip_keeps_rate_count_duration(clips, tmp_path):
    info = probe(clips["ntsc"].path)
    out = tmp_path / "out.mp4"
    _copy_through(info, out)
    got = probe(out)
    assert got.fps == Fraction(30000, 1001)
    assert got.frame_count == info.frame_count
    assert abs(got.duration - info.duration) < 1 / 29.97


def test_only_video_and_audio_survive_without_metadata(clips, tmp_path):
    src = clips["ntsc"].path
    before = stream_summary(src)
    assert {t for t, _ in before["streams"]} >= {"video", "audio", "subtitle", "data"}
    assert any(k in before["format_tags"] for k in SENSITIVE_TAGS)
    out = tmp_path / "out.mp4"
    _copy_through(probe(src), out)
    after = stream_summary(out)
    assert [t for t, _ in after["streams"]] == ["video", "audio"]
    tags = {k.lower() for k in after["format_tags"]}
    assert not tags & {"creation_time", "location", "location-eng", "comment", "title", "artist", "encoder"}
    for _, meta in after["streams"]:
        assert set(meta) <= {"language", "handler_name", "vendor_id"}, meta
        assert "Axon" not in str(meta)
    raw = out.read_bytes()
    for needle in (b"x264 - core", b"Lavf", b"Cell block", b"Officer", b"+48.8584"):
        assert needle not in raw, needle


def test_audio_is_copied_bit_exact(clips, tmp_path):
    out = tmp_path / "out.mp4"
    w = _copy_through(probe(clips["basic"].path), out)
    assert w.audio_mode == "copy"
    assert audio_md5(out) == audio_md5(clips["basic"].path)


def test_no_audio_input_gives_video_only_output(clips, tmp_path):
    out = tmp_path / "out.mp4"
    _copy_through(probe(clips["silent"].path), out)
    assert [t for t, _ in stream_summary(out)["streams"]] == ["video"]


@pytest.mark.slow
def test_odd_size_is_padded_to_even(clips, tmp_path):
    info = probe(clips["odd"].path)
    assert (info.width, info.height) == (321, 241)
    out = tmp_path / "out.mp4"
    _copy_through(info, out)
    got = decode_all(out)
    assert got.shape[1:3] == (242, 322)
    src = decode_all(clips["odd"].path)
    # The added row/column repeats the last one; the picture itself is unchanged up to codec noise.
    assert np.abs(got[:, :241, :321].astype(int) - src.astype(int)).mean() < 4


@pytest.mark.slow
def test_rotation_is_applied_and_dropped(clips, tmp_path):
    sample = clips["rot90"]
    info = probe(sample.path)
    assert (info.width, info.height) == (640, 360) and info.rotation in (90, 270)
    frames = decode_all(sample.path)
    upright = np.stack([img for img, _, _ in render_frames(640, 360, sample.frames, default_paths(640, 360))])
    assert np.abs(frames.astype(int) - upright.astype(int)).mean() < 4, "decoded frames must be upright"
    out = tmp_path / "out.mp4"
    _copy_through(info, out)
    again = probe(out)
    assert again.rotation == 0 and (again.width, again.height) == (640, 360)


def test_failing_encode_leaves_no_file(clips, tmp_path):
    info = probe(clips["basic"].path)
    out = tmp_path / "out.mp4"
    with pytest.raises(EncodeError):
        with VideoWriter(info, out, EncodeConfig()) as w:
            w._proc.kill()  # the encoder dies mid-stream (as on a full disk or OOM)
            w._proc.wait()
            for _ in range(5):
                w.write(np.zeros((info.height, info.width, 3), np.uint8))
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_exception_during_render_leaves_no_file(clips, tmp_path):
    info = probe(clips["basic"].path)
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(info, out, EncodeConfig()) as w:
            w.write(np.zeros((info.height, info.width, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_clear_error(clips, tmp_path):
    if os.geteuid() == 0:
        out = tmp_path / "missing" / "out.mp4"  # root can write anywhere; use a missing folder
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "out.mp4"
    with pytest.raises(OutputError, match="out.mp4"):
        with VideoWriter(probe(clips["basic"].path), out, EncodeConfig()):
            pass


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (os.urandom(4096), "not a readable video"), (None, "no such file")],
)
def test_bad_inputs_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad video.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        probe(path)


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_image_is_not_a_video(tmp_path, ext):
    import cv2

    path = tmp_path / f"still.{ext}"
    cv2.imwrite(str(path), background(64, 48))
    with pytest.raises(InputError, match="still image"):
        probe(path)


def test_truncated_file_is_a_clear_error(clips, tmp_path):
    # The sample keeps its index (moov) at the end, as cameras write it: cut
    # in half, the file has no index and cannot be read at all.
    data = clips["basic"].path.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.mp4"):
        probe(path)


def test_default_preset_encodes(clips, tmp_path):
    cfg = load()
    out = tmp_path / "out.mp4"
    _copy_through(probe(clips["basic"].path), out, cfg.encode)
    assert probe(out).codec == "h264"


def test_variable_frame_rate_becomes_constant_with_duration_kept(tmp_path):
    """VFR input is resampled to its average rate: same duration, audio still in sync."""
    import subprocess

    from redact.io import ffmpeg_exe

    src = tmp_path / "vfr.mp4"
    # 30 frames at 30 fps, then 30 frames at 15 fps: 3 s, 60 frames, average 20 fps.
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30", "-f", "lavfi",
         "-i", "sine=f=440:r=48000:d=3", "-frames:v", "60",
         "-vf", "setpts='if(lt(N,30),N/30,1+(N-30)/15)/TB'", "-fps_mode", "passthrough",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(src)],
        check=True,
    )
    info = probe(src)
    assert info.variable_frame_rate
    assert abs(float(info.fps) - 20) < 1  # average over the stream's own duration
    out = tmp_path / "out.mp4"
    _copy_through(info, out)
    got = probe(out)
    assert not got.variable_frame_rate
    # The content lasts 3 s (the last frame shows for 1/15 s; the container's own
    # duration field stops at its start).
    assert abs(got.duration - 3.0) <= 1.5 / float(info.fps)
    assert abs(got.frame_count - 60) <= 2
    import av

    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert abs(float(a.duration * a.time_base) - got.duration) < 0.1
