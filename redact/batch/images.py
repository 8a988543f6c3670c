"""Pictures in a batch: the job, its manifest, and the batch's one audit log of pictures.

A picture is a job like a video (same planning, retries, executors, summary
and exit codes), with two differences.  Its audit record is not a file
beside it: every picture of a batch is one line of ``OUTDIR/redact-images.audit.jsonl``
(:class:`ImageLog`), written by the driver as results arrive, under a
temporary name renamed when the batch ends, so a batch of 100,000 pictures
leaves 100,000 pictures and one log rather than three files each.  And its
manifest (``NAME.EXT.redact.json``, written last, atomically and durably)
holds that record, so a rerun that skips the picture still logs it.

Workers keep one :class:`~redact.analyse.still.StillAnalyser` for all their
pictures: the models load and compile once per worker, not once per picture.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from redact.audit import AuditLog
from redact.batch.plan import Status
from redact.io.files import sha256_file
from redact.io.images import IMAGE_SUFFIXES

DONE, SKIPPED, FAILED = Status.DONE, Status.SKIPPED, Status.FAILED

LOG_NAME = "redact-images.audit.jsonl"
FORMAT = "redact-image-manifest/1"
MANIFEST_SUFFIX = ".redact.json"

_analysers: dict[str, object] = {}
"""This worker process's loaded analyser, by settings hash (one at a time)."""


def analyser(settings):
    """This worker's still analyser for ``settings`` (a batch's ``Settings``), loaded once."""
    from redact.analyse.still import StillAnalyser

    analyser = _analysers.get(settings.settings_hash)
    if analyser is None:
        for old in _analysers.values():
            old.close()  # type: ignore[attr-defined]
        _analysers.clear()
        analyser = _analysers[settings.settings_hash] = StillAnalyser(settings.config, model_threads=settings.threads)
    return analyser


def read_manifest(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def vouches_for(manifest: dict | None, input_sha256: str, settings_hash: str, output: Path) -> bool:
    if manifest is None or manifest.get("input_sha256") != input_sha256:
        return False
    if manifest.get("settings_hash") != settings_hash or not output.is_file():
        return False
    return sha256_file(output) == manifest.get("output_sha256") and isinstance(manifest.get("record"), dict)


def is_image_result(result) -> bool:
    return Path(result.name).suffix.lower() in IMAGE_SUFFIXES


@dataclass
class ImageLog:
    """The batch's audit log of pictures: one line per picture, redacted, skipped (logged again) or failed.

    Lines are chained like a video's audit log (``prev_sha256``); the log
    appears at ``OUTDIR/redact-images.audit.jsonl`` only when the batch ends,
    replacing the previous batch's, and only if the batch had pictures.
    """

    outdir: Path
    _log: AuditLog | None = None
    counts: dict | None = None

    def add(self, result) -> None:
        if not is_image_result(result):
            return
        if self._log is None:
            self._log = AuditLog(self.outdir / LOG_NAME).__enter__()
            self.counts = {DONE: 0, SKIPPED: 0, FAILED: 0, "regions": 0}
        self.counts[result.status] = self.counts.get(result.status, 0) + 1  # type: ignore[index]
        manifest = read_manifest(self.outdir / (result.name + MANIFEST_SUFFIX)) if result.status != FAILED else None
        if manifest is None:
            self._log.write({"type": "failed", "name": result.name, "input": os.path.basename(result.input),
                             "reason": result.reason or "no manifest after the job"})
            return
        record = manifest["record"]
        self.counts["regions"] += len(record.get("regions", ()))  # type: ignore[index]
        self._log.write({**record, "name": result.name, "status": result.status})

    def close(self, ok: bool) -> None:
        """Write the summary line and put the log in place (``ok``), or drop the unfinished one."""
        if self._log is None:
            return
        try:
            if ok:
                self._log.write({"type": "summary", "pictures": sum(v for k, v in self.counts.items() if k != "regions"),
                                 **self.counts})  # type: ignore[union-attr]
                self._log.commit()
        finally:
            self._log.__exit__(None, None, None)
            self._log = None
