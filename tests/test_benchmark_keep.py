"""The benchmark's keep-mode arithmetic (pipelines/benchmark.py) on hand-made score.py records.

Pure functions only: nothing runs a tool, the scorer or needs ../shared.
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


def _inst(frame, id_, role, **values):
    return {"frame": frame, "id": id_, "role": role, **values}


def _buckets(**rates):
    return {"leak_by_bucket": {b: {"leak_rate": rates.get(b)} for b in bench.BUCKETS}}


def test_big_keep_visible_counts_only_keep_faces_from_48_px_by_gt_box():
    boxes = {(0, "k"): [0, 0, 40, 48], (1, "k"): [0, 0, 40, 47.9], (2, "k"): [0, 10, 40, 70], (0, "v"): [0, 0, 90, 90]}
    inst = [_inst(0, "k", "keep", visible=True), _inst(1, "k", "keep", visible=False),
            _inst(2, "k", "keep", visible=False), _inst(0, "v", "victim", leaked=True)]
    assert bench.big_keep_visible(inst, boxes) == (1, 2)


def test_leaked_victims_ignores_keeps_and_occlusion_skips():
    inst = [_inst(0, "v", "victim", leaked=True), _inst(1, "v", "victim", leaked=False),
            _inst(2, "v", "victim", skipped="occluded"), _inst(0, "k", "keep", visible=True)]
    assert bench.leaked_victims(inst) == {(0, "v")}


def test_victims_kept_are_leaks_new_in_keep_mode():
    plain = [_inst(0, "v", "victim", leaked=True), _inst(1, "v", "victim", leaked=False)]
    keep = [_inst(0, "v", "victim", leaked=False), _inst(1, "v", "victim", leaked=True)]
    assert bench.leaked_victims(keep) - bench.leaked_victims(plain) == {(1, "v")}


def test_raised_buckets_only_where_both_have_a_rate_and_keep_is_higher():
    keep = _buckets(**{"<24": 0.2, "24-48": 0.1, "48-96": 0.05})
    plain = _buckets(**{"<24": 0.1, "24-48": 0.1, ">96": 0.0})
    assert bench.raised_buckets(keep, plain) == ["<24"]


@pytest.mark.parametrize(("timings", "found"), [
    ({"hash_input": 0.0, "render": 3.5, "paint": 1.1, "hash_output": 0.0}, []),
    ({"detect": 7.6, "detect.0.centerface": 2.3, "refine": 1.2, "refine_windows": 303, "analyse": 4.6, "render": 4.0},
     ["analyse", "detect", "detect.0.centerface", "refine"]),
    (None, []),
])
def test_detection_stages(timings, found):
    assert bench.detection_stages(timings) == found


def test_config_args_passes_config_flags_on_and_drops_the_rest():
    args = ["--config", "configs/fast.yaml", "--print-config", "--set", "a=1", "--keep-person", "x=y", "--set=b=2",
            "--crf", "20"]
    assert bench.config_args(args) == ["--config", "configs/fast.yaml", "--set", "a=1", "--set", "b=2", "--crf", "20"]


def _keep_row(video, visible, n):
    return bench.Row(video, "redact_keep", keep=bench.KeepStats(big_visible=visible, big_n=n))


def test_keep_visible_target_is_judged_over_the_set_and_names_the_worst_video():
    rows = [_keep_row("a", 95, 100), _keep_row("b", 86, 100)]
    total = _keep_row("TOTAL", 181, 200)
    met, detail = bench._big_keeps_visible(total, rows)
    assert met is True and "worst video b" in detail and "under 90 % on 1 video" in detail
    met, _ = bench._big_keeps_visible(_keep_row("TOTAL", 179, 200), rows)
    assert met is False
    # A video that was not scored cannot pass silently.
    met, _ = bench._big_keeps_visible(total, rows + [bench.Row("c", "redact_keep")])
    assert met is False
