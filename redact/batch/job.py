"""One batch job, the same wherever it runs: a local worker process or a Ray task.

:func:`run_job` never raises for a bad input: a batch must finish everything
it can, so every failure becomes a :class:`JobResult` with a one-line reason.
Before redoing a job it removes the old output, audit log and manifest, so a
file left at an output path always belongs to the current input; the
pipeline writes under temporary names, and the manifest goes last.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import redact.batch.images as images
import redact.batch.manifest as manifest
from redact.batch.plan import Job, Status
from redact.config import Config
from redact.errors import RedactError
from redact.io.files import sha256_file, write_atomic
from redact.io.frames import ProgressFn

log = logging.getLogger(__name__)

DONE, SKIPPED, FAILED = Status.DONE, Status.SKIPPED, Status.FAILED


@dataclass(frozen=True)
class PeopleSpec:
    """Reference people as the operator named them; each worker loads them once."""

    mode: str
    folders: tuple[Path, ...] = ()
    inline: tuple[str, ...] = ()

    def digest(self) -> str:
        """Hash of the mode, labels and photo bytes: other photos must redo the batch."""
        from redact.analyse.identity.gallery import folder_people, parse_person

        h = hashlib.sha256(self.mode.encode())
        entries = [e for f in self.folders for e in folder_people(f)] + [parse_person(s) for s in self.inline]
        for label, photos in sorted(entries):
            h.update(label.encode())
            for photo in photos:
                h.update(sha256_file(photo).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class Settings:
    """Everything besides the input that decides an output; sent once to every worker."""

    config: Config
    people: PeopleSpec | None = None
    threads: int = 1
    """Frames each job detects at once (REDACT_THREADS); jobs x threads should not exceed the cores."""
    settings_hash: str = field(default="")

    @classmethod
    def make(cls, config: Config, people: PeopleSpec | None = None, threads: int = 1) -> Settings:
        h = hashlib.sha256(config.digest().encode())
        if people is not None:
            h.update(people.digest().encode())
        return cls(config, people, threads, h.hexdigest())


@dataclass
class JobResult:
    name: str
    input: str
    status: Status
    reason: str = ""
    frames: int = 0
    seconds: float = 0.0
    input_bytes: int = 0
    rss_mib: float = 0.0
    """The worker's resident memory after the job: flat across jobs means nothing accumulates."""
    peak_rss_mib: float = 0.0
    attempts: int = 1
    worker: str = ""
    finished: float = 0.0
    """Unix time the job ended: orders a worker's jobs in time."""


def run_job(job: Job, settings: Settings, progress: ProgressFn | None = None) -> JobResult:
    """Redact ``job.input`` unless its manifest shows the output is already current."""
    t0 = time.perf_counter()
    os.environ["REDACT_THREADS"] = str(settings.threads)
    result = JobResult(job.name, str(job.input), FAILED, worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        result.input_bytes = job.input.stat().st_size
        _run(job, settings, progress, result)
    except RedactError as e:
        result.reason = str(e)
    except MemoryError:
        result.reason = "out of memory"
    except Exception as e:  # noqa: BLE001 - one bad file must not end the batch; reported with its reason
        log.debug("job %s failed", job.name, exc_info=True)
        result.reason = f"internal error: {type(e).__name__}: {e}"
    result.seconds = round(time.perf_counter() - t0, 3)
    result.rss_mib, result.peak_rss_mib = _memory()
    result.finished = round(time.time(), 3)
    return result


def _run(job: Job, settings: Settings, progress: ProgressFn | None, result: JobResult) -> None:
    if job.is_image:
        return _run_image(job, settings, result)
    from redact.pipeline import run

    sha = sha256_file(job.input)
    previous = manifest.read(job.manifest)
    if manifest.vouches_for(previous, sha, settings.settings_hash, job.output, job.audit):
        result.status, result.reason = SKIPPED, "output current (manifest matches input and settings)"
        result.frames = previous.frames
        return
    # Nothing vouches for what is there: it must not outlive this attempt.
    for stale in (job.manifest, job.output, job.audit):
        stale.unlink(missing_ok=True)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    people = _load_people(settings.people) if settings.people else None
    out = run(job.input, job.output, settings.config, audit_log=job.audit, progress=progress or False,
              people=people, input_sha256=sha)
    for path in (job.output, job.audit):
        manifest.fsync_file(path)
    manifest.Manifest(
        input_name=job.input.name,
        input_sha256=sha,
        input_bytes=result.input_bytes,
        settings_hash=settings.settings_hash,
        output_sha256=sha256_file(job.output),
        audit_sha256=sha256_file(job.audit),
        frames=out.frames,
    ).write(job.manifest)
    result.status, result.frames = DONE, out.frames


def _run_image(job: Job, settings: Settings, result: JobResult) -> None:
    """Redact one picture unless its manifest vouches for the output; the record goes into the manifest."""
    from redact.still import run_image

    sha = sha256_file(job.input)
    previous = images.read_manifest(job.manifest)
    if images.vouches_for(previous, sha, settings.settings_hash, job.output):
        result.status, result.reason, result.frames = SKIPPED, "output current (manifest matches input and settings)", 1
        return
    for stale in (job.manifest, job.output):
        stale.unlink(missing_ok=True)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    people = _load_people(settings.people) if settings.people else None
    out = run_image(job.input, job.output, settings.config, audit_log=False, people=people,
                    analyser=images.analyser(settings), input_sha256=sha)
    manifest.fsync_file(job.output)
    record = {"format": images.FORMAT, "input_name": job.input.name, "input_sha256": sha,
              "input_bytes": result.input_bytes, "settings_hash": settings.settings_hash,
              "output_sha256": out.record["output"]["sha256"], "record": out.record,
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_atomic(job.manifest, json.dumps(record, ensure_ascii=False), durable=True)
    result.status, result.frames = DONE, 1


@functools.lru_cache(maxsize=2)
def _load_people(spec: PeopleSpec):
    """Reference photos are embedded once per worker process, not once per file."""
    from redact.analyse.identity import load_people

    return load_people(spec.mode, list(spec.folders), list(spec.inline))


def _memory() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        current = peak
    return round(current, 1), round(peak, 1)
