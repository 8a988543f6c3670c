"""Batch throughput on this machine: the same generated clips through local jobs and through Ray.

    python pipelines/batch_load.py                       # 200 clips of 0.5 s, 192x144 (the load test's set)
    python pipelines/batch_load.py --clips 40 --seconds 4 --size 640x360 --markdown

Each configuration redacts into its own fresh folder, so nothing is skipped.
Ray runs on a local instance started here with as many CPUs as the machine
has (to measure a real cluster, run ``redact run ... --executor ray --address``
and read its summary).  Prints a table; docs/benchmarks-history.md holds the latest.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
from pathlib import Path

from redact.batch import run_batch
from redact.batch.cluster import import_ray
from redact.config import load
from redact.sample import make_batch


def measure(src: Path, out: Path, executor: str, jobs: int, config) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    s = run_batch([src], out, config, jobs=jobs, executor=executor)
    t = s.totals()
    by_worker = collections.defaultdict(list)
    for r in sorted(s.results, key=lambda r: r.finished):
        by_worker[r.worker].append(r.rss_mib)
    growth = max((max(v) - max(v[: max(1, len(v) // 4)]) for v in by_worker.values()), default=0.0)
    return {
        "executor": executor, "jobs": jobs, "files": t["files"], "failed": t["failed"], "frames": t["frames_redacted"],
        "wall_s": t["wall_seconds"], "files_per_min": t["files_per_minute"], "fps": t["frames_per_second"],
        "workers": len(by_worker), "rss_growth_mib": round(growth, 1), "peak_rss_mib": t["peak_rss_mib_max"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--seconds", type=float, default=0.5)
    p.add_argument("--size", default="192x144", help="WxH")
    p.add_argument("--config", help="config or preset (default: built-in defaults)")
    p.add_argument("--skip-ray", action="store_true")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    w, h = map(int, args.size.split("x"))
    config = load(args.config)
    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        make_batch(src, args.clips, seconds=args.seconds, size=(w, h))
        for jobs in sorted({1, cores}):
            rows.append(measure(src, Path(tmp) / f"local{jobs}", "local", jobs, config))
        if not args.skip_ray:
            ray = import_ray()  # the executor joins the instance started here
            ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:
                rows.append(measure(src, Path(tmp) / "ray", "ray", cores, config))
            finally:
                ray.shutdown()
    cols = list(rows[0])
    print(f"{args.clips} clips of {args.seconds} s at {w}x{h}, {cores} cores, config {args.config or 'default'}")
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    else:
        print("  ".join(f"{c:>14}" for c in cols))
        for r in rows:
            print("  ".join(f"{r[c]!s:>14}" for c in cols))
    return 0 if all(r["failed"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
