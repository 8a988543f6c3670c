"""Batches: many videos, resumable, on local worker processes or a Ray cluster.

:func:`run_batch` plans jobs (:mod:`.plan`), clears what a killed batch left
unfinished, runs every job through an executor (:mod:`.local` or
:mod:`.cluster`; each job is :func:`.job.run_job`, which skips outputs whose
manifest still matches) and writes a summary (:mod:`.summary`).  Executors
only decide *where* jobs run; what a job does and what it leaves on disk is
the same everywhere, so a batch started locally can be resumed on a cluster.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from redact.batch.images import ImageLog
from redact.batch.job import FAILED, JobResult, PeopleSpec, Settings, run_job
from redact.batch.plan import Job, check_inside, is_batch, iter_jobs, stale_temp_files
from redact.batch.summary import BatchSummary
from redact.config import Config
from redact.errors import OutputError, RedactError

__all__ = ["BatchSummary", "Job", "JobResult", "PeopleSpec", "Settings", "default_jobs", "is_batch", "run_batch"]

log = logging.getLogger(__name__)

SUMMARY_NAME = "redact-batch.json"
LOCK_NAME = ".redact-batch.lock"
JOB_MEMORY_GIB = 2.0
"""What one job may need at 1080p with every detector on (docs/benchmarks-history.md measures 1.6 GiB)."""


def default_jobs() -> int:
    """One job per core, fewer when memory would not hold them.

    Measured on two cores (docs/benchmarks-history.md, "Batches"): two single-threaded jobs
    beat one job detecting on two frames at once by 17 % at 720p and 2x on
    short clips, where each file's fixed costs (probe, three ffmpeg starts,
    hashing) leave a lone job's second core idle.
    """
    cores = _cores()
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gib = 8.0
    return max(1, min(cores, int(memory_gib // JOB_MEMORY_GIB)))


def run_batch(
    inputs: list[str | Path],
    outdir: str | Path,
    config: Config,
    people: PeopleSpec | None = None,
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    retries: int = 2,
    progress: bool = False,
    summary: str | Path | None = None,
    fn: Callable[..., JobResult] = run_job,
) -> BatchSummary:
    """Redact every video in ``inputs`` into ``outdir``, mirroring the input tree; return what happened.

    ``fn`` replaces the job function (tests wrap :func:`run_job` to crash a
    worker); it must be importable by the workers.
    """
    outdir = Path(outdir)
    planned = _first_checked(iter_jobs(inputs, outdir))  # streamed: a folder of 100,000 pictures is no list
    outdir.mkdir(parents=True, exist_ok=True)
    if not os.access(outdir, os.W_OK):
        raise OutputError(f"{outdir}: output folder is not writable")
    workers = jobs or default_jobs()
    settings = Settings.make(config, people, threads=max(1, _cores() // workers) if executor == "local" else 1)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result = BatchSummary(str(outdir), executor, workers, settings.settings_hash, started)
    t0 = time.perf_counter()
    images = ImageLog(outdir)

    def on_result(r: JobResult) -> None:
        result.results.append(r)
        images.add(r)

    def runnable():
        for job in planned:
            try:
                check_inside(job, outdir)
                yield job
            except RedactError as e:
                on_result(JobResult(job.name, str(job.input), FAILED, reason=str(e)))

    with _exclusive(outdir):
        for stale in stale_temp_files(outdir):
            log.info("removing %s, left unfinished by an earlier batch", stale)
            stale.unlink(missing_ok=True)
        ok = False
        try:
            if executor == "local":
                from redact.batch.local import LocalExecutor

                LocalExecutor(workers, retries=retries, progress=progress).run(runnable(), settings, on_result, fn)
            elif executor == "ray":
                from redact.batch.cluster import RayExecutor

                RayExecutor(address, retries=retries, progress=progress).run(runnable(), settings, on_result, fn)
            else:
                raise OutputError(f"unknown executor {executor!r}; expected local or ray")
            ok = True
        finally:
            images.close(ok)
    result.seconds = round(time.perf_counter() - t0, 3)
    result.results.sort(key=lambda r: r.name)
    result.write(Path(summary) if summary else outdir / SUMMARY_NAME)
    return result


def _first_checked(jobs: Iterator[Job]) -> Iterator[Job]:
    """``jobs`` with the first one made now, so that inputs matching nothing fail before the batch starts."""
    first = next(jobs)  # iter_jobs raises InputError when there is nothing at all
    return itertools.chain([first], jobs)


def _cores() -> int:
    """The cores this process may use (a container or taskset may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _exclusive:
    """Hold OUTDIR's lock file: two batches writing one folder would delete each other's unfinished files."""

    def __init__(self, outdir: Path):
        self.path = outdir / LOCK_NAME

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise OutputError(f"{self.path.parent}: another batch is writing to this folder") from None

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
