"""The audit log: JSON Lines, one object per line, flushed as it is written.

Line 1 is a ``header`` (tool version, input name and SHA-256, video facts,
the resolved config and its hash); then a ``decision`` line per track; then an
``audio`` line per audio redaction (start, end, action, label); then a
``frame`` line for every frame with at least one region (box, kind, track,
source, detector, score, reason); the last line is a ``summary`` (counts,
stage timings, output SHA-256).  It holds geometry and decisions only: never
pixels, crops or embeddings.

The log is written under a temporary name and renamed beside the video when
the run succeeds, so a log at the final path always describes a finished
output.  See README.md ("Audit log") for the field reference.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any

from redact import __version__
from redact.audio import AudioEvent
from redact.config import Config
from redact.errors import OutputError
from redact.io.writer import temp_path_for
from redact.types import Decision, Region, VideoInfo

FORMAT_VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def default_log_path(output: Path) -> Path:
    """``clip.redacted.mp4`` -> ``clip.redacted.audit.jsonl``, beside the output."""
    return output.with_name(output.stem + ".audit.jsonl")


class AuditLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.temp = temp_path_for(self.path)
        self._file: IO[str] | None = None
        self.regions = 0
        self.frames_with_regions = 0

    def __enter__(self) -> AuditLog:
        try:
            self._file = open(self.temp, "w", encoding="utf-8")
        except OSError as e:
            raise self._error(e) from e
        return self

    def write(self, record: dict[str, Any]) -> None:
        assert self._file is not None
        try:
            self._file.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError as e:
            raise self._error(e) from e

    def _error(self, e: OSError) -> OutputError:
        """A full disk or quota is the usual cause; say so in one line, not as an internal error."""
        return OutputError(f"{self.path}: cannot write the audit log ({e.strerror or e}); is the disk or quota full?")

    def header(
        self, video: VideoInfo, config: Config, input_sha256: str, output_size: tuple[int, int],
        people: dict | None = None,
    ) -> None:
        self.write(
            {
                "type": "header",
                "format": FORMAT_VERSION,
                "tool": "redact",
                "version": __version__,
                "input": {"file": video.path.name, "sha256": input_sha256},
                "video": video.to_json(),
                "output_size": list(output_size),
                "config": config.to_dict(),
                "config_sha256": config.digest(),
                "people": people,
            }
        )

    def decision(self, d: Decision, first: int, last: int, detections: int, kind: str, marked_as: str = "") -> None:
        """One line per track; ``marked_as`` is the operator's label of a marked region (``tattoo``)."""
        self.write(
            {"type": "decision", **d.to_json(), "kind": kind, **({"marked_as": marked_as} if marked_as else {}),
             "first_frame": first, "last_frame": last, "detections": detections}
        )

    def audio(self, events: list[AudioEvent]) -> None:
        """One line per audio redaction: seconds on the video timeline, end exclusive, action and label."""
        for event in events:
            self.write({"type": "audio", **event.to_json()})

    def frame(self, index: int, time: float, regions: list[Region], styles: dict[str, tuple[str, str]]) -> None:
        """One line per frame with regions; each region names the style and shape it was painted in."""
        if not regions:
            return
        self.regions += len(regions)
        self.frames_with_regions += 1
        self.write(
            {
                "type": "frame",
                "frame": index,
                "t": round(time, 6),
                "action": "redact",
                "regions": [
                    {**r.to_json(), "style": styles[r.kind][0], "shape": styles[r.kind][1]} for r in regions
                ],
            }
        )

    def summary(self, **fields: Any) -> None:
        self.write(
            {"type": "summary", "regions": self.regions, "frames_with_regions": self.frames_with_regions, **fields}
        )

    def commit(self) -> None:
        """Close and move the log to its final name (call only after the video is in place)."""
        self.close()
        os.replace(self.temp, self.path)

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            try:
                self._file.close()  # flushes, so a full disk can fail here too
            except OSError as e:
                raise self._error(e) from e

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close()
        finally:
            self.temp.unlink(missing_ok=True)
