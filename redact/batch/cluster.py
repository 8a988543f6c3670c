"""Run batch jobs as Ray tasks on an existing cluster (``pip install 'redact[ray]'``).

Each task gets the paths of one job and reads and writes them itself, so
inputs and OUTDIR must be on storage every node mounts at the same path.
Ray retries a task whose worker died (node lost, out of memory) up to
``retries`` times; a job that *fails* (bad input) returns a failed result
instead of raising, because running it again would fail the same way.
Frame progress stays on the workers; the driver shows a bar of files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sized
from pathlib import Path

from tqdm import tqdm

from redact.batch.job import FAILED, JobResult, Settings, run_job
from redact.batch.plan import Job
from redact.errors import RedactError

log = logging.getLogger(__name__)

WINDOW = 4
"""Tasks submitted ahead per CPU of the cluster."""


def _task(fn: Callable[..., JobResult], job: Job, settings: Settings) -> JobResult:
    return fn(job, settings, None)


class RayExecutor:
    """Jobs as Ray tasks, one CPU each; ``address`` None starts or joins a Ray instance as ``ray.init`` does."""

    def __init__(self, address: str | None = None, retries: int = 2, progress: bool = False, cpus_per_job: int = 1):
        self.address = address
        self.retries = retries
        self.progress = progress
        self.cpus_per_job = cpus_per_job

    def run(
        self, jobs: Iterable[Job], settings: Settings, on_result: Callable[[JobResult], None], fn=run_job
    ) -> None:
        ray = import_ray()
        owned = not ray.is_initialized()
        if owned:
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except Exception as e:  # noqa: BLE001 - ray raises several types for an unreachable cluster
                raise RedactError(f"cannot connect to the Ray cluster at {self.address or 'auto'}: {e}") from e
        try:
            remote = ray.remote(num_cpus=self.cpus_per_job, max_retries=self.retries)(_task)
            shared = ray.put(settings)
            # A stream of jobs is submitted a window at a time: 100,000 pictures are never 100,000 tasks at once.
            window = WINDOW * max(1, int(ray.cluster_resources().get("CPU", 1)) // self.cpus_per_job)
            source, futures = iter(jobs), {}

            def fill() -> None:
                while len(futures) < window and (job := next(source, None)) is not None:
                    futures[remote.remote(fn, job, shared)] = job

            total = len(jobs) if isinstance(jobs, Sized) else None
            with tqdm(total=total, desc="files", unit="file", disable=not self.progress) as bar:
                fill()
                while futures:
                    ready, _ = ray.wait(list(futures), num_returns=1)
                    for ref in ready:
                        job = futures.pop(ref)
                        try:
                            result = ray.get(ref)
                        except Exception as e:  # noqa: BLE001 - the task's worker died more often than retried
                            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                            result = JobResult(job.name, str(job.input), FAILED, attempts=self.retries + 1,
                                               reason=f"Ray task failed after {self.retries} retries: {reason}")
                        bar.update(1)
                        log.info("%s %s", result.status, result.name)
                        on_result(result)
                    fill()
        finally:
            if owned:
                ray.shutdown()


def import_ray():
    """Import ray, first telling it to send the cluster's token if there is one, and no usage stats.

    Recent Ray clusters require a token (``ray start --head`` writes
    ~/.ray/auth_token), but a driver joining one sends it only when told to,
    and ray reads that setting once, at import.  A Ray instance that
    ``ray.init`` starts reports usage statistics to Ray's makers unless told
    not to: whoever redacts footage of abuse must not announce it, so every
    caller (the batch executor, ``pipelines/ray_batch.py``) comes through here.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError as e:
        raise RedactError("--executor ray needs the ray package: pip install 'redact[ray]'") from e
    return ray
