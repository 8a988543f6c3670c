"""Run batch jobs in local worker processes, with nested progress bars.

Processes rather than threads: a model that crashes or a video that exhausts
memory takes down one worker, not the batch.  A pool whose worker died is
replaced, and the jobs that were running in it are retried a bounded number
of times; jobs that had not started yet are simply resubmitted.  Workers are
reused across files: each embeds the reference photos once, and the models'
compiled shapes pass from one file to the next (``redact/analyse/detectors/engine.py``)
instead of being compiled for every file.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from redact.batch.job import FAILED, JobResult, Settings, run_job
from redact.batch.plan import Job
from redact.memory import limit_malloc_arenas

log = logging.getLogger(__name__)

WINDOW = 4
"""Jobs submitted ahead per worker: enough to keep workers busy, few enough that a stream stays a stream."""

JobFn = Callable[..., JobResult]
"""``fn(job, settings, progress)``; :func:`redact.batch.job.run_job` unless a caller wraps it."""

_messages = None  # set in each worker process by _init_worker


def _init_worker(messages) -> None:
    global _messages
    limit_malloc_arenas()
    _messages = messages
    logging.basicConfig(level=logging.WARNING, format="redact: %(message)s")


def _work(fn: JobFn, job: Job, settings: Settings) -> JobResult:
    pid = os.getpid()

    def report(stage: str, done: int, total: int) -> None:
        _messages.put((pid, job.name, stage, done, total))

    report("start", 0, 0)
    return fn(job, settings, report)


class LocalExecutor:
    """``jobs`` worker processes on this machine."""

    def __init__(self, jobs: int, retries: int = 1, progress: bool = False):
        self.jobs = max(1, jobs)
        self.retries = retries
        self.progress = progress

    def run(
        self, jobs: Iterable[Job], settings: Settings, on_result: Callable[[JobResult], None], fn: JobFn = run_job
    ) -> None:
        """Run ``jobs`` (a list, or a stream that is read as workers free up: at most ``WINDOW`` jobs a worker
        are submitted ahead, so a batch of 100,000 files never holds 100,000 futures)."""
        ctx = mp.get_context("spawn")  # fork would copy model threads and locks mid-use
        # SimpleQueue writes synchronously: a worker killed right after saying "start" has still said it.
        messages = ctx.SimpleQueue()
        attempts: collections.Counter[str] = collections.Counter()
        source = iter(jobs)
        pending: collections.deque[Job] = collections.deque()  # to run again after a worker died
        total = len(jobs) if isinstance(jobs, Sized) else None
        with _Bars(total, self.jobs, self.progress) as bars:
            more = True
            while more or pending:
                started: set[str] = set()
                with ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_init_worker,
                                         initargs=(messages,)) as pool:
                    futures: dict = {}
                    broken = False
                    while True:
                        while not broken and len(futures) < WINDOW * self.jobs:
                            job = pending.popleft() if pending else next(source, None)
                            if job is None:
                                more = False
                                break
                            futures[pool.submit(_work, fn, job, settings)] = job
                        if not futures:
                            break
                        done, _ = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
                        bars.drain(messages, started)
                        for future in done:
                            job = futures.pop(future)
                            try:
                                result = future.result()
                                result.attempts = attempts[job.name] + 1
                            except BrokenProcessPool:
                                broken = True  # this pool takes no more jobs; a new one starts below
                                if job.name not in started:
                                    pending.append(job)  # never ran: not an attempt
                                    continue
                                attempts[job.name] += 1
                                if attempts[job.name] <= self.retries:
                                    log.warning("%s: worker process died; retrying", job.name)
                                    pending.append(job)
                                    continue
                                result = JobResult(job.name, str(job.input), FAILED, attempts=attempts[job.name],
                                                   reason="worker process died (killed, or out of memory)")
                            bars.finished(result)
                            on_result(result)


class _Bars:
    """A bar for files and one for the frames of each worker; without a terminal, a log line per file."""

    def __init__(self, files: int | None, workers: int, enabled: bool):
        self.enabled = enabled
        self.files = tqdm(total=files, desc="files", unit="file", disable=not enabled, dynamic_ncols=True)
        self.frames = [
            tqdm(total=0, desc="", unit="frame", position=i + 1, disable=not enabled, dynamic_ncols=True, leave=False)
            for i in range(workers)
        ]
        self.slot: dict[int, int] = {}
        self.count = 0

    def drain(self, messages, started: set[str]) -> None:
        while not messages.empty():
            pid, name, stage, done, total = messages.get()
            if stage == "start":
                started.add(name)
            if not self.enabled:
                continue
            slot = self.slot.setdefault(pid, len(self.slot) % len(self.frames))
            bar = self.frames[slot]
            if stage == "start" or bar.total != total:
                bar.reset(total=total or None)
            bar.set_description_str(f"{stage} {_short(name)}", refresh=False)
            bar.n = done
            bar.refresh()

    def finished(self, result: JobResult) -> None:
        self.count += 1
        self.files.update(1)
        line = f"[{self.count}/{self.files.total or '?'}] {result.status} {result.name}"
        line += f" ({result.frames} frames, {result.seconds:.1f} s)" if result.status != FAILED else f": {result.reason}"
        if self.enabled:
            self.files.write(line)
        else:
            log.info("%s", line)

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc) -> None:
        for bar in self.frames:
            bar.close()
        self.files.close()


def _short(name: str, width: int = 40) -> str:
    return name if len(name) <= width else "..." + name[-(width - 3):]
