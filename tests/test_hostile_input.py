"""Hostile and odd input (issue 6, item 4): a clear one-line error, or a correct output.

A failed job must leave nothing at the output path and no hidden ``.*.partial*``
file beside it; a job that succeeds must give an upright video of the right
size, frame count and duration, one video and at most one audio stream, with
every face redacted.  Clips are 1 s at 160x120 so the whole file runs in seconds.

Where each case is tested (``test_io``/``test_cli``/``test_pipeline`` hold the older ones):

=====================================  =====================================================
zero-byte file                         test_unreadable_input_is_one_line_error[zero-byte]
                                       (probe level: test_io::test_bad_inputs_are_clear_errors)
truncated MP4, index (moov) last       test_unreadable_input_is_one_line_error[cut-moov-last-*]
truncated MP4, index first (faststart) ...[cut-moov-first-header], test_truncated_mdat_*,
                                       test_cut_just_before_the_end_still_gives_full_output
random bytes with a video extension    test_unreadable_input_is_one_line_error[random-bytes-mov]
image, also under an .mp4 name         ...[png-as-mp4], [jpg-as-mp4]; test_io::test_image_is_not_a_video
audio-only file                        ...[audio-only-m4a], [audio-only-mp4]
video with no frames                   ...[video-without-frames], [no-streams]
corrupt frames mid-stream              test_damaged_frames_fail_the_job_by_default,
                                       test_damaged_frames_are_blacked_out_when_configured
huge declared dimensions               ...[huge-30000], [huge-9000], test_huge_frame_size_allocates_nothing_big
odd dimensions                         test_odd_input_gives_a_correct_redacted_output[odd-161x121]
                                       (I/O level: test_io::test_odd_size_is_padded_to_even)
rotation 90                            test_pipeline::test_rotated_input_is_redacted_upright
rotation 180 / 270                     test_odd_input_gives_a_correct_redacted_output[rot180|rot270]
variable frame rate                    test_io::test_variable_frame_rate_becomes_constant_with_duration_kept
10-bit, 4:4:4                          ...[x264-10bit], [ffv1-10bit-mkv], [x264-444]
interlaced                             ...[x264-interlaced], [mpeg2-interlaced]
multiple video streams                 ...[two-video-streams]
subtitle (mov_text) and data stream    test_io::test_only_video_and_audio_survive_without_metadata
non-ASCII, spaces in the name          ...[non-ascii-name], test_non_ascii_name_in_error_line
output folder not writable / missing   test_bad_output_destination_is_one_line_error
output path is a folder                test_output_path_that_is_a_folder_is_refused
full disk (RLIMIT_FSIZE)               test_full_disk_is_a_clear_error_and_leaves_nothing
=====================================  =====================================================
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from redact.cli import main
from redact.errors import OutputError
from redact.io import ffmpeg_exe, probe
from redact.pipeline import run
from redact.sample import background, make_sample
from tests.conftest import decode_all, read_audit, stream_summary
from tests.test_pipeline import assert_faces_redacted

SIZE = (160, 120)
FRAMES = 25  # 1 s at 25 fps


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def atoms(data: bytes) -> dict[str, tuple[int, int]]:
    """Top-level MP4 boxes: name -> (offset, size)."""
    out, i = {}, 0
    while i + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[i : i + 8])
        out[name.decode("latin-1")] = (i, size)
        if size < 8:
            break
        i += size
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 1 s sample with two faces, its index (moov) at the end as cameras write it."""
    return make_sample(tmp_path_factory.mktemp("src") / "clip.mp4", seconds=1.0, size=SIZE)


@pytest.fixture(scope="module")
def faststart(clip, tmp_path_factory):
    """The same clip with its index first (``+faststart``), as web uploads are."""
    path = tmp_path_factory.mktemp("fs") / "faststart.mp4"
    ffmpeg("-i", str(clip.path), "-map", "0", "-c", "copy", "-movflags", "+faststart", str(path))
    return path


def run_cli(capsys, src: Path, out: Path, *extra: str) -> tuple[int, list[str]]:
    code = main(["run", str(src), "-o", str(out), "--quiet", *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def assert_failed_cleanly(code: int, err: list[str], named: Path, reason: str, out: Path) -> None:
    """Exit 1, exactly one line naming the file and the reason, nothing at ``out``, no partials."""
    assert code == 1, err
    assert len(err) == 1, err
    assert err[0].startswith(f"redact: error: {named}: "), err
    assert reason in err[0], err
    assert "Traceback" not in err[0] and "internal error" not in err[0]
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if ".partial" in p.name]


def assert_correct_output(out: Path, clip, src: Path, width: int = SIZE[0], height: int = SIZE[1]) -> None:
    """Upright, right size, all frames, 1 s, video + at most one audio stream, every face redacted."""
    info = probe(out)
    assert (info.width, info.height, info.rotation) == (width + width % 2, height + height % 2, 0)
    assert info.frame_count == FRAMES
    assert abs(info.duration - 1.0) < 0.05
    kinds = [k for k, _ in stream_summary(out)["streams"]]
    assert kinds in (["video"], ["video", "audio"]), kinds
    got = decode_all(out)[:, :height, :width]
    assert_faces_redacted(clip, got, decode_all(src))
    assert not [p.name for p in out.parent.iterdir() if ".partial" in p.name]


# --- inputs that are not a video ---------------------------------------------------------


def _write(name: str, data: bytes):
    def make(clip, faststart, folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _image_as(name: str, ext: str):
    def make(clip, faststart, folder: Path) -> Path:
        _, buf = cv2.imencode(ext, background(64, 48))
        path = folder / name
        path.write_bytes(buf.tobytes())
        return path

    return make


def _audio_only(name: str):
    def make(clip, faststart, folder: Path) -> Path:
        path = folder / name
        ffmpeg("-i", str(clip.path), "-map", "0:a", "-c", "copy", str(path))
        return path

    return make


def _cut(which: str, where):
    """The clip (``last``: moov at the end; ``first``: faststart) cut where ``where(data, boxes)`` says."""

    def make(clip, faststart, folder: Path) -> Path:
        data = (clip.path if which == "last" else faststart).read_bytes()
        path = folder / f"cut {which}.mp4"
        path.write_bytes(data[: where(data, atoms(data))])
        return path

    return make


def _no_streams(clip, faststart, folder: Path) -> Path:
    path = folder / "empty streams.mp4"
    ffmpeg("-i", str(clip.path), "-map", "0", "-c", "copy", "-frames:v", "0", str(path))
    return path


def _declared_size(size: int):
    """A raw-video MOV whose sample description claims ``size`` x ``size`` (the pixels are 16x16)."""

    def make(clip, faststart, folder: Path) -> Path:
        path = folder / f"huge {size}.mov"
        ffmpeg("-f", "lavfi", "-i", "color=s=16x16:r=25:d=0.2", "-c:v", "rawvideo", "-pix_fmt", "bgr24", str(path))
        data = bytearray(path.read_bytes())
        # stsd: header(8) + version/flags(4) + count(4); visual entry: size, format, 6 reserved,
        # data ref (2), 16 predefined/reserved, then width and height (16 bits each).
        at = data.find(b"stsd") + 4 + 8 + 8 + 6 + 2 + 16
        assert struct.unpack(">HH", data[at : at + 4]) == (16, 16)
        struct.pack_into(">HH", data, at, size, size)
        path.write_bytes(bytes(data))
        return path

    return make


UNREADABLE = {
    "zero-byte": (_write("empty.mp4", b""), "file is empty"),
    "random-bytes-mov": (_write("noise.mov", random.Random(6).randbytes(20000)), "not a readable video"),
    "png-as-mp4": (_image_as("still.mp4", ".png"), "still image (png)"),
    "jpg-as-mp4": (_image_as("still.mp4", ".jpg"), "still image (jpeg)"),
    "audio-only-m4a": (_audio_only("voice.m4a"), "no video stream"),
    "audio-only-mp4": (_audio_only("voice.mp4"), "no video stream"),
    "no-streams": (_no_streams, "no video stream"),
    # Index first, cut right after it: a video stream declaring 25 frames, none in the file.
    "video-without-frames": (_cut("first", lambda d, b: b["moov"][0] + b["moov"][1]), "video stream has no frames"),
    "cut-moov-first-header": (_cut("first", lambda d, b: 200), "no video stream"),
    "cut-moov-last-header": (_cut("last", lambda d, b: 100), "not a readable video"),
    "cut-moov-last-mid-mdat": (_cut("last", lambda d, b: b["mdat"][0] + b["mdat"][1] // 2), "not a readable video"),
    "cut-moov-last-before-end": (_cut("last", lambda d, b: len(d) - 8), "not a readable video"),
    "huge-30000": (_declared_size(30000), "no usable frame size"),
    "huge-9000": (_declared_size(9000), "declared frame size 9000x9000 is too large"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_input_is_one_line_error(case, clip, faststart, tmp_path, capsys):
    """Anything that is not a decodable video stops before any work, in one line naming the file."""
    make, reason = UNREADABLE[case]
    src = make(clip, faststart, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, err = run_cli(capsys, src, out_dir / "out.mp4")
    assert_failed_cleanly(code, err, src, reason, out_dir / "out.mp4")
    assert list(out_dir.iterdir()) == []


def test_huge_frame_size_allocates_nothing_big(clip, faststart, tmp_path):
    """A header claiming 9000x9000 (a 243 MB BGR frame) is refused from the header alone."""
    src = _declared_size(9000)(clip, faststart, tmp_path)
    # VmHWM is this process's own peak (ru_maxrss would count the parent's pages from before exec).
    code = (
        "import re, sys\n"
        "from redact.errors import InputError\nfrom redact.io import probe\n"
        "try:\n    probe(sys.argv[1])\nexcept InputError:\n    pass\n"
        "print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1))\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True, check=True)
    assert int(p.stdout) < 200_000, f"peak memory {int(p.stdout) // 1024} MB while probing"


# --- truncated and damaged files -----------------------------------------------------------


def _cut_mid_mdat(faststart: Path, folder: Path) -> Path:
    data = faststart.read_bytes()
    off, size = atoms(data)["mdat"]
    path = folder / "cut mid.mp4"
    path.write_bytes(data[: off + size // 2])
    return path


def _damage(clip, folder: Path) -> Path:
    """300 random bytes in the middle of the clip's picture data."""
    data = bytearray(clip.path.read_bytes())
    off, size = atoms(bytes(data))["mdat"]
    at = off + size // 2
    data[at : at + 300] = random.Random(1).randbytes(300)
    path = folder / "damaged.mp4"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.models
@pytest.mark.slow
def test_truncated_mdat_fails_the_job_by_default(faststart, tmp_path, capsys):
    """An index-first file cut mid-data probes fine but runs out of frames: fail, no shortened output."""
    src = _cut_mid_mdat(faststart, tmp_path)
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, src, out)
    assert_failed_cleanly(code, err, src, "damaged or truncated at frame", out)


@pytest.mark.models
@pytest.mark.slow
def test_truncated_mdat_is_padded_black_when_configured(clip, faststart, tmp_path, capsys):
    """With on_decode_error: blackout the missing frames come out black and the length is kept."""
    src = _cut_mid_mdat(faststart, tmp_path)
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, src, out, "--set", "detect.on_decode_error=blackout")
    assert code == 0, err
    frames = decode_all(out)
    assert len(frames) == FRAMES
    black = [i for i in range(FRAMES) if frames[i].max() < 20]
    assert black and black == list(range(black[0], FRAMES)), black
    failsafe = {r["frame"] for r in read_audit(out.with_suffix(".audit.jsonl")) if r["type"] == "frame"
                and r["regions"][0]["source"] == "failsafe"}
    assert failsafe == set(black)


@pytest.mark.models
@pytest.mark.slow
def test_cut_just_before_the_end_still_gives_full_output(clip, faststart, tmp_path, capsys):
    """Index first, last 8 bytes gone: only audio is lost there, so every frame is still redacted."""
    src = tmp_path / "cut end.mp4"
    src.write_bytes(faststart.read_bytes()[:-8])
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, src, out)
    assert code == 0, err
    assert_correct_output(out, clip, clip.path)


@pytest.mark.models
def test_damaged_frames_fail_the_job_by_default(clip, tmp_path, capsys):
    """A frame the decoder has to conceal could hide a face from the detector: fail closed."""
    src = _damage(clip, tmp_path)
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, src, out)
    assert_failed_cleanly(code, err, src, "damaged or truncated at frame", out)
    assert "on_decode_error: blackout" in err[0]


@pytest.mark.slow
@pytest.mark.models
def test_damaged_frames_are_blacked_out_when_configured(clip, tmp_path, capsys):
    """blackout: damaged frames black and logged as failsafe, the rest redacted, count and timing kept."""
    src = _damage(clip, tmp_path)
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, src, out, "--set", "detect.on_decode_error=blackout")
    assert code == 0, err
    frames = decode_all(out)
    assert len(frames) == FRAMES and abs(probe(out).duration - 1.0) < 0.05
    records = read_audit(out.with_suffix(".audit.jsonl"))
    failsafe = {r["frame"]: r["regions"][0] for r in records if r["type"] == "frame"
                and r["regions"][0]["source"] == "failsafe"}
    assert failsafe and all(frames[i].max() < 20 for i in failsafe)
    assert {region["reason"] for region in failsafe.values()} == {"decode-error"}
    assert records[-1]["failed_frames"] == len(failsafe)
    # Every other frame is the clip with its faces redacted.
    others = dataclasses.replace(clip, boxes=[[] if i in failsafe else b for i, b in enumerate(clip.boxes)])
    assert_faces_redacted(others, frames, decode_all(clip.path))
    # verify --against reads the damaged input the way the run did, or refuses it like the run's default.
    report = tmp_path / "v.json"
    assert main(["verify", str(out), "--against", str(src), "--report", str(report), "--quiet"]) == 1
    assert "damaged or truncated" in capsys.readouterr().err
    code = main(["verify", str(out), "--against", str(src), "--report", str(report), "--quiet",
                 "--on-decode-error", "blackout"])
    assert code == 0, capsys.readouterr()
    assert json.loads(report.read_text())["frames"] == FRAMES
    # So does the Ray pipeline's verify step, given the batch config's on_decode_error.
    spec = importlib.util.spec_from_file_location("ray_batch", Path(__file__).parent.parent / "pipelines" / "ray_batch.py")
    ray_batch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ray_batch)
    assert ray_batch._verify(str(out), str(src), str(tmp_path / "reports"), 1, "blackout")[1] == 0
    assert ray_batch._verify(str(out), str(src), str(tmp_path / "reports"), 1, "fail")[1] == -1


# --- odd but valid input -------------------------------------------------------------------


def _transcode(*args: str, ext: str = "mp4"):
    def make(clip, folder: Path) -> Path:
        path = folder / f"input.{ext}"
        ffmpeg("-i", str(clip.path), *args, str(path))
        return path

    return make


def _two_videos(clip, folder: Path) -> Path:
    path = folder / "two videos.mp4"
    ffmpeg("-i", str(clip.path), "-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=1", "-map", "0:v", "-map", "1:v",
           "-map", "0:a", "-c:v", "libx264", "-c:a", "copy", str(path))
    return path


def _renamed(clip, folder: Path) -> Path:
    path = folder / "Zeugenaussage Müller – 证词 01.mp4"
    shutil.copy(clip.path, path)
    return path


ODD = {
    "rot180": {"rotation": 180},
    "rot270": {"rotation": 270},
    "odd-161x121": {"size": (161, 121)},
    "x264-10bit": _transcode("-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-c:a", "copy"),
    "ffv1-10bit-mkv": _transcode("-c:v", "ffv1", "-pix_fmt", "yuv420p10le", "-c:a", "copy", ext="mkv"),
    "x264-444": _transcode("-c:v", "libx264", "-pix_fmt", "yuv444p", "-c:a", "copy"),
    "x264-interlaced": _transcode("-c:v", "libx264", "-flags", "+ilme+ildct", "-x264opts", "tff=1", "-c:a", "copy"),
    "mpeg2-interlaced": _transcode("-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-alternate_scan", "1",
                                   "-q:v", "3", "-c:a", "mp2", ext="mpg"),
    "two-video-streams": _two_videos,
    "non-ascii-name": _renamed,
}


@pytest.mark.parametrize("case", list(ODD))
@pytest.mark.models
@pytest.mark.slow
def test_odd_input_gives_a_correct_redacted_output(case, clip, tmp_path, capsys):
    """Unusual but valid video is redacted upright at its own size, all frames, video + audio only."""
    spec = ODD[case]
    if isinstance(spec, dict):
        size = spec.get("size", SIZE)
        sample = make_sample(tmp_path / "input.mp4", seconds=1.0, **{"size": SIZE, **spec})
        src = sample.path
    else:
        size, sample, src = SIZE, clip, spec(clip, tmp_path)
    out = tmp_path / "out" / "Ausgabe – 证词.mp4"
    out.parent.mkdir()
    code, err = run_cli(capsys, src, out)
    assert code == 0, err
    assert_correct_output(out, sample, sample.path, *size)
    assert sorted(p.name for p in out.parent.iterdir()) == ["Ausgabe – 证词.audit.jsonl", "Ausgabe – 证词.mp4"]


def test_non_ascii_name_in_error_line(tmp_path, capsys):
    """The error line carries a non-ASCII, space-laden name intact."""
    src = tmp_path / "Zeugenaussage Müller – 证词 01.mp4"
    src.write_bytes(b"")
    code, err = run_cli(capsys, src, tmp_path / "out.mp4")
    assert_failed_cleanly(code, err, src, "file is empty", tmp_path / "out.mp4")


# --- where the output goes -----------------------------------------------------------------


@pytest.mark.parametrize("case, reason", [("folder-missing", "does not exist"), ("folder-read-only", "not writable")])
def test_bad_output_destination_is_one_line_error(case, reason, clip, tmp_path, capsys):
    """Refused before any work, naming the output; nothing is written."""
    if case == "folder-read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder anyway; the missing-folder case covers the check")
        (tmp_path / "read-only").mkdir()
        (tmp_path / "read-only").chmod(0o500)
    out = tmp_path / ("missing" if case == "folder-missing" else "read-only") / "out.mp4"
    code, err = run_cli(capsys, clip.path, out)
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"redact: error: {out}: ") and reason in err[0], err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ([] if case == "folder-missing" else ["read-only"])


def test_output_path_that_is_a_folder_is_refused(clip, tmp_path):
    """The library refuses a folder as the output file (the CLI reads ``-o FOLDER`` as a batch destination)."""
    folder = tmp_path / "out.mp4"
    folder.mkdir()
    with pytest.raises(OutputError, match=f"{folder}: is a folder"):
        run(clip.path, folder)
    assert list(folder.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@pytest.mark.parametrize(
    "limit, reason",
    [
        # The clip's video is ~28 KB and its audit log ~19 KB: only the video reaches 24 KB.
        pytest.param(24_000, "file size limit exceeded", id="video-hits-the-limit"),
        pytest.param(2_000, "cannot write the audit log (File too large)", id="audit-log-hits-the-limit"),
    ],
)
@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_leaves_nothing(limit, reason, clip, tmp_path):
    """A disk that fills up mid-job (RLIMIT_FSIZE: writes fail with EFBIG, ffmpeg dies of SIGXFSZ)."""
    import resource

    out = tmp_path / "out" / "out.mp4"
    out.parent.mkdir()

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    # No bytecode: a .pyc cut short by the limit would break every later import of the package.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    p = subprocess.run([sys.executable, "-m", "redact", "run", str(clip.path), "-o", str(out), "--quiet"],
                       check=False, capture_output=True, text=True, preexec_fn=limit_file_size, env=env, timeout=120)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 1, p.stderr
    assert len(err) == 1 and err[0].startswith(f"redact: error: {out.parent / out.stem}.") and reason in err[0], (
        p.stderr)
    assert list(out.parent.iterdir()) == []
