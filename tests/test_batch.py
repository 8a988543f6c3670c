"""Batches: planning with safe names, resume, exit codes, crashes and ``kill -9``.

Every batch here runs the real pipeline in real worker processes on clips
generated at test time; the small default clip is half a second, so a job
takes well under a second.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import decode_all, file_sha256

from redact.batch import SUMMARY_NAME, Settings, run_batch
from redact.batch import manifest as manifests
from redact.batch.job import DONE, FAILED, SKIPPED, run_job
from redact.batch.plan import plan, safe_component
from redact.cli import main
from redact.config import load
from redact.errors import InputError
from redact.io import probe
from redact.sample import make_sample

SMALL = {"seconds": 0.5, "fps": 20, "size": (192, 144)}


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    return make_sample(tmp_path_factory.mktemp("batch") / "small.mp4", **SMALL).path


def _tree(root: Path, clip: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, p)
        paths.append(p)
    return paths


def _summary(outdir: Path) -> dict:
    return json.loads((outdir / SUMMARY_NAME).read_text(encoding="utf-8"))


def _assert_valid(outdir: Path, name: str, frames: int) -> None:
    """An output is finished when its manifest vouches for it and the video decodes in full."""
    out = outdir / name
    m = manifests.read(out.with_name(out.stem + ".manifest.json"))
    assert m is not None, f"{name}: no manifest"
    assert m.output_sha256 == file_sha256(out)
    assert m.audit_sha256 == file_sha256(out.with_name(out.stem + ".audit.jsonl"))
    assert probe(out).frame_count == frames == m.frames


def _leftovers(outdir: Path) -> list[str]:
    return [p.name for p in outdir.rglob("*") if ".partial" in p.name]


# --- planning -----------------------------------------------------------------------------


def test_hostile_names_stay_inside_outdir_and_stay_distinct(tmp_path):
    names = [
        "a.mp4", "a.MOV", "A.mkv",                      # collide on suffix and case
        "..mp4", "...mp4", ".hidden.mp4",                # dot names
        "new\nline.mp4", "back\\slash.mp4", 'q"uote?*.mp4',
        "Zeugenaussage Müller – 证词 01.mp4",
        "x" * 240 + ".mp4", "x" * 240 + "y.mp4",          # too long, and differ only past the cut
        "b..c.mp4",
    ]
    inputs = []
    (tmp_path / "in").mkdir()
    for n in names:
        (tmp_path / "in" / n).write_bytes(b"")
        inputs.append(tmp_path / "in" / n)
    outdir = tmp_path / "out"
    jobs = plan(inputs, outdir)
    assert len(jobs) == len(names)
    outputs = [j.output for j in jobs]
    assert len({o.as_posix().casefold() for o in outputs}) == len(outputs)
    for o in outputs:
        assert o.parent == outdir.absolute()
        assert not o.name.startswith(".")
        assert len(o.name.encode()) <= 130
        assert not any(c in o.name for c in "\n\\\"?*")
    # Collisions are numbered in sorted input order, so reruns map each input to the same output.
    assert {j.name for j in jobs} >= {"A.mp4", "a-2.mp4", "a-3.mp4", "Zeugenaussage Müller – 证词 01.mp4"}
    assert plan(list(reversed(inputs)), outdir) == jobs, "the mapping must not depend on argument order"


def test_folders_mirror_their_tree_and_skip_hidden_files_and_the_outdir(tmp_path):
    root = tmp_path / "footage"
    for rel in ["cam 1/a.mp4", "cam 1/notes.txt", "cam 2/b.mov", ".cache/c.mp4", "d.avi"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    outdir = root / "redacted"  # inside the input tree: its files must never become inputs
    (outdir / "old").mkdir(parents=True)
    (outdir / "old" / "x.mp4").write_bytes(b"")
    assert [j.name for j in plan([root], outdir)] == ["cam 1/a.mp4", "cam 2/b.mp4", "d.mp4"]
    # Two roots: each keeps its own name.  A glob: mirrored from the folder before the wildcard.
    assert [j.name for j in plan([root / "cam 1", root / "cam 2"], outdir)] == ["cam 1/a.mp4", "cam 2/b.mp4"]
    assert [j.name for j in plan([str(root / "*" / "*.m*")], tmp_path / "o")] == ["cam 1/a.mp4", "cam 2/b.mp4"]
    with pytest.raises(InputError, match="no such file"):
        plan([tmp_path / "missing"], outdir)
    with pytest.raises(InputError, match="no files match"):
        plan([str(tmp_path / "*.nothing")], outdir)


def test_safe_component_rewrites_only_what_it_must():
    assert safe_component("Müller 证词 01") == "Müller 证词 01"
    assert safe_component("..") == "__"
    assert safe_component("a/b\\c") == "a_b_c"
    assert safe_component("") == "_"


def test_a_symlink_inside_outdir_cannot_carry_output_elsewhere(tmp_path, small_clip):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    shutil.copyfile(small_clip, tmp_path / "in" / "sub" / "a.mp4")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(elsewhere, target_is_directory=True)
    s = run_batch([tmp_path / "in"], tmp_path / "out", load(), jobs=1)
    assert [r.status for r in s.results] == [FAILED]
    assert "outside" in s.results[0].reason
    assert list(elsewhere.iterdir()) == []


# --- running, resuming, exit codes ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.models
def test_batch_redacts_a_tree_then_resumes_and_redoes_only_what_changed(tmp_path, small_clip, capsys):
    src = tmp_path / "in"
    _tree(src, small_clip, ["a.mp4", "nested dir/Müller 证词.mov"])
    (src / "junk.mp4").write_bytes(os.urandom(4096))
    out = tmp_path / "out"
    frames = probe(small_clip).frame_count

    assert main(["run", str(src), "-o", str(out), "--jobs", "2", "-q"]) == 3
    err = capsys.readouterr().err
    assert "junk.mp4: " in err and "not a readable video" in err
    _assert_valid(out, "a.mp4", frames)
    _assert_valid(out, "nested dir/Müller 证词.mp4", frames)
    assert not (out / "junk.mp4").exists() and not _leftovers(out)
    s = _summary(out)
    assert s["totals"]["done"] == 2 and s["totals"]["failed"] == 1 and s["totals"]["frames_redacted"] == 2 * frames
    assert {f["name"]: f["status"] for f in s["files"]} == {"a.mp4": DONE, "junk.mp4": FAILED,
                                                           "nested dir/Müller 证词.mp4": DONE}
    # The faces in the outputs are redacted: the pipeline ran, not a copy.
    assert (decode_all(out / "a.mp4") != decode_all(small_clip)).any()

    # Rerun: nothing to do but the failure.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    assert main(["run", str(src), "-o", str(out), "-q"]) == 3
    assert {f["name"]: f["status"] for f in _summary(out)["files"]}["a.mp4"] == SKIPPED
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}

    # A changed input is redone; a changed config redoes everything.
    make_sample(src / "a.mp4", seconds=1.0, fps=20, size=(192, 144), seed=3)
    (src / "junk.mp4").unlink()
    assert main(["run", str(src), "-o", str(out), "-q"]) == 0
    status = {f["name"]: f["status"] for f in _summary(out)["files"]}
    assert status == {"a.mp4": DONE, "nested dir/Müller 证词.mp4": SKIPPED}
    _assert_valid(out, "a.mp4", 20)
    assert main(["run", str(src), "-o", str(out), "-q", "--set", "render.padding=0.4"]) == 0
    assert {f["status"] for f in _summary(out)["files"]} == {DONE}


@pytest.mark.slow
@pytest.mark.models
def test_a_damaged_output_is_not_trusted(tmp_path, small_clip):
    _tree(tmp_path / "in", small_clip, ["a.mp4"])
    out = tmp_path / "out"
    config = load()
    assert run_batch([tmp_path / "in"], out, config).exit_code == 0
    with open(out / "a.mp4", "r+b") as f:  # flip a byte, as a failing disk or a careless edit would
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    again = run_batch([tmp_path / "in"], out, config)
    assert [r.status for r in again.results] == [DONE]
    _assert_valid(out, "a.mp4", probe(small_clip).frame_count)


@pytest.mark.slow
def test_exit_code_is_1_when_nothing_could_be_done(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for name in ["empty.mp4", "noise.mov"]:
        (tmp_path / "in" / name).write_bytes(os.urandom(64) if "noise" in name else b"")
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "empty.mp4: " in err and "file is empty" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".redact-batch.lock", SUMMARY_NAME]


def test_batch_flags_are_checked(tmp_path, small_clip, capsys):
    assert main(["run", str(small_clip), "-o", str(tmp_path / "x.mp4"), "--jobs", "2"]) == 2
    assert "for batches" in capsys.readouterr().err
    assert main(["run", str(small_clip), str(small_clip), "-o", str(tmp_path / "o"), "--log", "a.jsonl"]) == 2
    assert main(["run", str(tmp_path / "nothing-*.mp4"), "-o", str(tmp_path / "o")]) == 1
    assert "no files match" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.models
def test_one_file_into_an_existing_folder_is_a_batch_of_one(tmp_path, small_clip):
    (tmp_path / "out").mkdir()
    assert main(["run", str(small_clip), "-o", str(tmp_path / "out"), "-q"]) == 0
    _assert_valid(tmp_path / "out", "small.mp4", probe(small_clip).frame_count)


# --- crashes ---------------------------------------------------------------------------------


def crash_once(job, settings, progress):
    """Kill this worker the first time it sees ``a.mp4`` (a marker file remembers), as an OOM kill would."""
    marker = job.output.parent / "crashed-once"
    if job.name == "a.mp4" and not marker.exists():
        marker.write_text("1")
        os._exit(9)
    return run_job(job, settings, progress)


def crash_always(job, settings, progress):
    if job.name == "a.mp4":
        os._exit(9)
    return run_job(job, settings, progress)


@pytest.mark.slow
@pytest.mark.models
def test_a_worker_that_dies_is_replaced_and_its_job_retried(tmp_path, small_clip):
    _tree(tmp_path / "in", small_clip, ["a.mp4", "b.mp4", "c.mp4"])
    s = run_batch([tmp_path / "in"], tmp_path / "out", load(), jobs=2, fn=crash_once)
    assert s.exit_code == 0
    by_name = {r.name: r for r in s.results}
    assert by_name["a.mp4"].status == DONE and by_name["a.mp4"].attempts == 2
    for name in ["a.mp4", "b.mp4", "c.mp4"]:
        _assert_valid(tmp_path / "out", name, probe(small_clip).frame_count)


@pytest.mark.slow
@pytest.mark.models
def test_retries_are_bounded(tmp_path, small_clip):
    _tree(tmp_path / "in", small_clip, ["a.mp4", "b.mp4"])
    s = run_batch([tmp_path / "in"], tmp_path / "out", load(), jobs=1, retries=1, fn=crash_always)
    by_name = {r.name: r for r in s.results}
    assert by_name["a.mp4"].status == FAILED and by_name["a.mp4"].attempts == 2
    assert "worker process died" in by_name["a.mp4"].reason
    assert by_name["b.mp4"].status == DONE and s.exit_code == 3
    assert not (tmp_path / "out" / "a.mp4").exists()


@pytest.mark.slow
@pytest.mark.models
def test_kill_9_mid_batch_then_the_same_command_completes_it(tmp_path):
    """SIGKILL to the whole process group (driver, workers, ffmpeg) while files are being written."""
    src = tmp_path / "in"
    clip = make_sample(tmp_path / "long.mp4", seconds=3.0, fps=20, size=(320, 240)).path
    names = [f"clip{i:02d}.mp4" for i in range(6)]
    _tree(src, clip, names)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "redact", "run", str(src), "-o", str(out), "--jobs", "2", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("*.manifest.json")):
        time.sleep(0.05)
    time.sleep(0.3)  # into the middle of the next files
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name.removesuffix(".manifest.json") + ".mp4" for p in out.glob("*.manifest.json")}
    assert 0 < len(finished) < len(names), "the kill should land mid-batch"
    for name in finished:  # whatever has a manifest is complete
        _assert_valid(out, name, probe(clip).frame_count)

    assert subprocess.run(cmd, check=False, timeout=300).returncode == 0
    status = {f["name"]: f["status"] for f in _summary(out)["files"]}
    assert {n for n, s in status.items() if s == SKIPPED} >= finished
    for name in names:
        _assert_valid(out, name, probe(clip).frame_count)
    assert not _leftovers(out)


def test_settings_hash_covers_config_but_not_threads():
    config = load()
    a, b = Settings.make(config, threads=1), Settings.make(config, threads=2)
    assert a.settings_hash == b.settings_hash
    assert Settings.make(load(overrides=["render.padding=0.4"])).settings_hash != a.settings_hash
