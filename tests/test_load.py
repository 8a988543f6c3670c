"""Load: a batch of 200 short clips with two local jobs finishes with every output correct and flat memory.

The throughput of this and of the Ray executor on the same files is in
docs/benchmarks-history.md (``pipelines/batch_load.py``); here only correctness and memory
are asserted, never speed.
"""

from __future__ import annotations

import collections
import json

import pytest
from conftest import decode_all, file_sha256
from test_pipeline import assert_faces_redacted

from redact.batch import SUMMARY_NAME
from redact.batch import manifest as manifests
from redact.cli import main
from redact.sample import make_batch

# Two hundred real runs: the heaviest test of the suite, so only in the full run.
pytestmark = [pytest.mark.slow, pytest.mark.models]

CLIPS = 200


def test_two_hundred_clips_with_two_jobs(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    made = make_batch(src, CLIPS)
    assert main(["run", str(src), "-o", str(out), "--jobs", "2", "-q"]) == 0

    summary = json.loads((out / SUMMARY_NAME).read_text(encoding="utf-8"))
    assert summary["totals"]["done"] == CLIPS and summary["totals"]["failed"] == 0
    for rel, sample in made.items():
        video = out / rel
        m = manifests.read(video.with_name(video.stem + ".manifest.json"))
        assert m is not None and m.frames == sample.frames, rel
        assert m.output_sha256 == file_sha256(video) and m.input_sha256 == file_sha256(src / rel)
    # Pixels: every face redacted in a spread of outputs (one of each distinct clip, and the last ones).
    for rel in [*list(made)[:4], *list(made)[-3:]]:
        assert_faces_redacted(made[rel], decode_all(out / rel), decode_all(src / rel))

    # Memory per worker is flat: what a worker holds after its last jobs is what it held early on.
    by_worker = collections.defaultdict(list)
    for f in sorted(summary["files"], key=lambda f: f["finished"]):
        by_worker[f["worker"]].append(f["rss_mib"])
    assert len(by_worker) == 2 and all(len(rss) >= 40 for rss in by_worker.values()), by_worker.keys()
    for worker, rss in by_worker.items():
        settled = max(rss[: len(rss) // 4])  # after the first quarter of its jobs: models loaded, arenas grown
        assert max(rss) - settled < 64, f"{worker}: {settled:.0f} -> {max(rss):.0f} MiB"
