"""What a batch did: a JSON file for machines, a table for people, and the exit code."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from redact.batch.job import DONE, FAILED, SKIPPED, JobResult
from redact.io.files import write_atomic

EXIT_ALL_DONE, EXIT_NOTHING_DONE, EXIT_SOME_FAILED = 0, 1, 3


@dataclass
class BatchSummary:
    outdir: str
    executor: str
    workers: int
    settings_hash: str
    started: str
    seconds: float = 0.0
    results: list[JobResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 3 when some files failed, 1 when every file failed."""
        failed = self.count(FAILED)
        if failed == 0:
            return EXIT_ALL_DONE
        return EXIT_SOME_FAILED if failed < len(self.results) else EXIT_NOTHING_DONE

    def totals(self) -> dict:
        done = [r for r in self.results if r.status == DONE]
        frames = sum(r.frames for r in done)
        wall = max(self.seconds, 1e-9)
        return {
            "files": len(self.results),
            DONE: len(done),
            SKIPPED: self.count(SKIPPED),
            FAILED: self.count(FAILED),
            "frames_redacted": frames,
            "input_mib_redacted": round(sum(r.input_bytes for r in done) / 2**20, 2),
            "wall_seconds": round(self.seconds, 2),
            "worker_seconds": round(sum(r.seconds for r in self.results), 2),
            "files_per_minute": round(60 * len(done) / wall, 2),
            "frames_per_second": round(frames / wall, 2),
            "peak_rss_mib_max": max((r.peak_rss_mib for r in self.results), default=0.0),
        }

    def to_json(self) -> dict:
        head = {k: v for k, v in asdict(self).items() if k != "results"}
        return {**head, "totals": self.totals(), "files": [asdict(r) for r in self.results]}

    def write(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.to_json(), indent=1, ensure_ascii=False))

    def table(self, failures: int = 20) -> str:
        t = self.totals()
        lines = [
            f"{'done':>8} {'skipped':>8} {'failed':>8} {'frames':>9} {'wall s':>8} {'files/min':>10} {'frames/s':>9}",
            (f"{t[DONE]:>8} {t[SKIPPED]:>8} {t[FAILED]:>8} {t['frames_redacted']:>9} {t['wall_seconds']:>8.1f} "
             f"{t['files_per_minute']:>10.1f} {t['frames_per_second']:>9.1f}"),
        ]
        failed = [r for r in self.results if r.status == FAILED]
        if failed:
            lines.append("failed:")
            lines += [f"  {r.name}: {r.reason}" for r in failed[:failures]]
            if len(failed) > failures:
                lines.append(f"  ... {len(failed) - failures} more in the summary file")
        return "\n".join(lines)
