"""A batch on a Ray cluster, then an independent check of every new output, also on the cluster.

    python pipelines/ray_batch.py /shared/footage -o /shared/redacted --address HEAD_IP:6379 \\
        --config configs/publish.yaml --verify

Step 1 is ``redact run ... --executor ray``.  Step 2 (``--verify``) runs
``redact verify OUTPUT --against INPUT`` on each output redacted in step 1 as
one Ray task each; the reports, and the contact sheets where something is
found, go to ``OUTDIR.verify/`` rather than beside the published files,
because a contact sheet shows the faces it found.  Exit code: the batch's
(0, 3, 1), or 4 when the batch succeeded but verify found suspects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from redact.batch import run_batch
from redact.batch.cluster import import_ray
from redact.batch.job import DONE
from redact.config import load


def _verify(output: str, against: str, report_dir: str, every: int, on_decode_error: str) -> tuple[str, int, str]:
    """One output checked against its input, which is read as the batch read it (``detect.on_decode_error``)."""
    from redact.errors import RedactError
    from redact.verify import verify

    out, reports = Path(output), Path(report_dir)
    reports.mkdir(parents=True, exist_ok=True)
    try:
        r = verify(out, against, every=every, report=reports / f"{out.stem}.verify.json",
                   sheet=reports / f"{out.stem}.verify.png", on_decode_error=on_decode_error)
    except RedactError as e:
        return output, -1, str(e)
    return output, len(r.suspects), str(r.report)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", help="videos, folders or globs")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder (shared storage)")
    p.add_argument("--address", help="Ray cluster (default: RAY_ADDRESS, or a local instance)")
    p.add_argument("--config", help="config or preset")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--verify", action="store_true", help="then verify every new output against its input")
    p.add_argument("--every", type=int, default=1, help="verify every N-th frame")
    args = p.parse_args(argv)

    config = load(args.config)
    ray = import_ray()
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        summary = run_batch(args.inputs, args.output, config, executor="ray", retries=args.retries,
                            progress=sys.stderr.isatty())
        print(summary.table())
        if not args.verify:
            return summary.exit_code
        done = [(str(args.output / r.name), r.input) for r in summary.results if r.status == DONE]
        reports = args.output.with_name(args.output.name + ".verify")
        task = ray.remote(num_cpus=1, max_retries=args.retries)(_verify)
        checked = ray.get([task.remote(out, src, str(reports / Path(out).relative_to(args.output).parent),
                                       args.every, config.detect.on_decode_error) for out, src in done])
    finally:
        ray.shutdown()
    suspects = [(out, n, note) for out, n, note in checked if n != 0]
    print(f"verified {len(checked)} new outputs: {len(checked) - len(suspects)} clean")
    for out, n, note in suspects:
        print(f"  {out}: " + (f"{n} suspect(s), report {note}" if n > 0 else f"could not verify: {note}"))
    return summary.exit_code or (4 if suspects else 0)


if __name__ == "__main__":
    sys.exit(main())
