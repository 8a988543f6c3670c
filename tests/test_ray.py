"""The Ray executor against a real local Ray instance, started here the way the README starts a head node.

The same jobs, outputs, manifests and summary as local workers: a batch
started on one executor resumes on the other.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_batch import crash_once

from redact.batch import SUMMARY_NAME, run_batch
from redact.batch import manifest as manifests
from redact.batch.job import DONE, FAILED, SKIPPED
from redact.cli import main
from redact.config import load
from redact.io import probe
from redact.sample import make_sample
from tests.doubles import ray_head_cluster

# Not imported here: ray reads its authentication settings once, when imported, and
# the executor sets them up for the cluster it joins before importing it.
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra"),
    pytest.mark.ray,
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A one-node Ray cluster with two CPUs, stopped afterwards."""
    with ray_head_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ray_in")
    clip = make_sample(root.parent / "ray_clip.mp4", seconds=0.5, fps=20, size=(192, 144)).path
    for name in ["a.mp4", "sub dir/b.mov"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, root / name)
    (root / "junk.mp4").write_bytes(os.urandom(2048))
    return root


def _statuses(outdir: Path) -> dict[str, str]:
    return {f["name"]: f["status"] for f in json.loads((outdir / SUMMARY_NAME).read_text())["files"]}


def _frame_lines(audit: Path) -> list[dict]:
    return [r for r in map(json.loads, audit.read_text().splitlines()) if r["type"] == "frame"]


@pytest.mark.models
def test_ray_batch_writes_what_local_workers_write_and_resumes_across_executors(ray_head, inputs, tmp_path):
    on_ray, local = tmp_path / "ray", tmp_path / "local"
    assert main(["run", str(inputs), "-o", str(on_ray), "--executor", "ray", "--address", ray_head, "-q"]) == 3
    assert _statuses(on_ray) == {"a.mp4": DONE, "sub dir/b.mp4": DONE, "junk.mp4": FAILED}
    assert json.loads((on_ray / SUMMARY_NAME).read_text())["executor"] == "ray"
    assert main(["run", str(inputs), "-o", str(local), "--jobs", "2", "-q"]) == 3
    for name in ["a.mp4", "sub dir/b.mp4"]:
        out = on_ray / name
        m = manifests.read(out.with_name(out.stem + ".manifest.json"))
        assert m is not None and m.frames == probe(out).frame_count == probe(inputs / "a.mp4").frame_count
        twin = local / name
        assert _frame_lines(out.with_name(out.stem + ".audit.jsonl")) == _frame_lines(
            twin.with_name(twin.stem + ".audit.jsonl")), "the same regions were redacted"
    # Resume: the Ray outputs are current for a local rerun, and for Ray itself.
    assert main(["run", str(inputs), "-o", str(on_ray), "-q"]) == 3
    assert _statuses(on_ray)["a.mp4"] == SKIPPED
    assert main(["run", str(inputs), "-o", str(on_ray), "--executor", "ray", "--address", ray_head, "-q"]) == 3
    assert _statuses(on_ray) == {"a.mp4": SKIPPED, "sub dir/b.mp4": SKIPPED, "junk.mp4": FAILED}


@pytest.mark.models
def test_ray_retries_a_task_whose_worker_died(ray_head, inputs, tmp_path):
    from redact.batch.cluster import import_ray

    # The workers cannot import the test modules: send the crashing job function by value.
    import_ray().cloudpickle.register_pickle_by_value(sys.modules[crash_once.__module__])
    s = run_batch([inputs / "a.mp4"], tmp_path / "out", load(), executor="ray", address=ray_head, retries=1,
                  fn=crash_once)
    assert (tmp_path / "out" / "crashed-once").exists(), "the first attempt did crash"
    assert [r.status for r in s.results] == [DONE] and s.exit_code == 0
    assert manifests.read(tmp_path / "out" / "a.manifest.json") is not None


def test_every_way_into_ray_turns_its_usage_stats_off():
    # pipelines/ray_batch.py starts Ray itself; the executor does too: both import it through import_ray.
    script = "import os; from redact.batch.cluster import import_ray; import_ray(); print(os.environ['RAY_USAGE_STATS_ENABLED'])"
    env = {k: v for k, v in os.environ.items() if k != "RAY_USAGE_STATS_ENABLED"}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "0"
