"""The benchmark's random-set mode and tilt columns (pipelines/benchmark.py) on hand-made inputs.

Pure functions only: nothing runs make_bench.py, a tool or the scorer, or needs ../shared.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "pipelines" / "benchmark.py"
_SPEC = importlib.util.spec_from_file_location("benchmark", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["benchmark"] = bench  # its dataclasses resolve their string annotations through sys.modules
_SPEC.loader.exec_module(bench)


def test_random_defaults_to_seed_0_and_a_cache_folder_per_seed():
    args = bench.parse_args(["--random", "15"])
    assert (args.random, args.seed) == (15, 0)
    assert args.random_dir == bench.REPO / "out" / "random" / "seed0"
    assert bench.parse_args(["--random", "8", "--seed", "3"]).random_dir == bench.REPO / "out" / "random" / "seed3"


def test_random_dir_option_and_shortened_videos_get_their_own_folder(tmp_path):
    assert bench.parse_args(["--random", "1", "--seed", "9", "--random-dir", str(tmp_path)]).random_dir == tmp_path
    short = bench.parse_args(["--random", "1", "--seed", "9", "--random-seconds", "1.5"])
    assert short.random_dir == bench.REPO / "out" / "random" / "seed9-1.5s"


def test_public_mode_is_unchanged():
    args = bench.parse_args(["--videos", "pub01_plaza_720p"])
    assert (args.random, args.seed, args.random_dir, args.random_seconds) == (None, None, None, None)


@pytest.mark.parametrize("argv", [
    ["--seed", "1"],  # a seed without a random set means nothing
    ["--random-dir", "x"],
    ["--random", "0"],
    ["--random", "3", "--videos", "a"],  # the random set picks its own videos
    ["--random", "3", "--videos-dir", "x"],
    ["--random", "3", "--random-seconds", "0"],
])
def test_contradictory_random_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as e:
        bench.parse_args(argv)
    assert e.value.code == 2


def test_missing_videos_needs_both_the_mp4_and_the_gt(tmp_path):
    names = ["rand1_000_clean_720p", "rand1_001_ir_1080p", "rand1_002_noise_720p", "rand1_003_shake_720p"]
    for suffix in (".mp4", ".gt.json"):
        (tmp_path / f"{names[0]}{suffix}").touch()
    (tmp_path / f"{names[1]}.mp4").touch()  # being built: make_bench writes the GT last
    (tmp_path / f"{names[2]}.gt.json").touch()
    (tmp_path / "rand1_009_other_720p.mp4").touch()  # another video of the folder is not asked for
    assert bench.missing_videos(names, tmp_path) == names[1:]
    assert bench.missing_videos(names[:1], tmp_path) == []


def test_make_bench_is_asked_for_only_the_missing_videos(tmp_path):
    args = bench.parse_args(["--random", "15", "--seed", "2", "--random-dir", str(tmp_path)])
    cmd = bench.make_bench_cmd(args, ["rand2_008_clean_720p", "rand2_014_ir_1080p"])
    assert cmd[0] == sys.executable and cmd[1] == "make_bench.py"
    assert cmd[2:] == ["--random", "15", "--seed", "2", "--out", str(tmp_path),
                       "--only", "rand2_008_clean_720p,rand2_014_ir_1080p"]
    args = bench.parse_args(["--random", "1", "--seed", "2", "--random-seconds", "1"])
    assert bench.make_bench_cmd(args, ["a"])[-2:] == ["--seconds", "1"]


def test_mode_line_names_seed_and_n(tmp_path):
    args = bench.parse_args(["--random", "15", "--seed", "2", "--random-dir", str(tmp_path)])
    line = bench.mode_line(args, ["a", "b"], 12.0)
    assert "seed 2" in line and "N = 15" in line and "2 generated now" in line and "13 reused" in line
    assert bench.mode_line(bench.parse_args([]), [], 0.0) == "mode: public bench videos"


def _metrics(victims, buckets, tilts):
    """A score.py-shaped metrics dict: buckets / tilts are (n, leak_rate) per key."""
    return {
        "leak_rate": 0.0, "victim_instances": victims, "frames_with_any_leak_frac": 0.0, "frames_with_victims": 1,
        "longest_leak_run": {"annotated_frames": 0}, "over_redaction_frac": 0.0, "keep_visible_frac": None,
        "keep_instances": 0, "checks": {"frames_in": 10}, "throughput": {"tool_seconds": 1.0},
        "leak_by_bucket": {b: {"n": n, "leak_rate": r} for b, (n, r) in zip(bench.BUCKETS, buckets)},
        **({"leak_by_tilt": {t: {"n": n, "leak_rate": r} for t, (n, r) in zip(bench.TILTS, tilts)}} if tilts else {}),
    }


def test_tilt_totals_are_weighted_by_instance_counts():
    a = _metrics(100, [(100, 0.0)] * 4, [(90, 0.0), (10, 0.5), (0, None)])
    b = _metrics(300, [(300, 0.0)] * 4, [(100, 0.01), (30, 0.1), (170, 0.2)])
    tilt = bench.total_metrics([a, b])["leak_by_tilt"]
    assert tilt["<30"] == {"n": 190, "leak_rate": pytest.approx(1 / 190)}
    assert tilt["30-90"] == {"n": 40, "leak_rate": pytest.approx((5 + 3) / 40)}
    assert tilt[">90"] == {"n": 170, "leak_rate": pytest.approx(0.2)}  # a's empty bucket (None) does not count


def test_totals_leave_out_videos_scored_without_tilt_and_cells_show_counts_on_total_rows():
    old = _metrics(50, [(50, 0.1)] * 4, None)  # a score.json from before leak_by_tilt
    new = _metrics(10, [(10, 0.0)] * 4, [(10, 0.0), (0, None), (0, None)])
    m = bench.total_metrics([old, new])
    assert m["leak_by_tilt"]["<30"] == {"n": 10, "leak_rate": 0.0}
    assert m["leak_by_bucket"]["<24"] == {"n": 60, "leak_rate": pytest.approx(5 / 60)}
    assert "leak_by_tilt" not in bench.total_metrics([old])

    total, video = bench.Row(bench.TOTAL, "redact", metrics=m), bench.Row("v", "redact", metrics=new)
    assert bench.COLUMNS["tilt <30°"].cell(total) == "0.0 (n=10)"
    assert bench.COLUMNS["tilt 30-90°"].cell(total) == "- (n=0)"
    assert bench.COLUMNS["<24"].cell(total) == "8.3 (n=60)"
    assert bench.COLUMNS["victims n"].cell(total) == "60"
    assert bench.COLUMNS["tilt <30°"].cell(video) == "0.0"  # per-video rows: the rate only
    assert bench.COLUMNS["tilt <30°"].cell(bench.Row("v", "redact", metrics=old)) == "-"
