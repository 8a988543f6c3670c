"""The audit log: JSON Lines, one object per line, flushed as it is written, each line chained to the last.

Line 1 is a ``header`` (tool version, input name and SHA-256, video facts,
the resolved config and its hash); then a ``decision`` line per track; then an
``audio`` line per audio redaction (start, end, action, label); then a
``frame`` line for every frame with at least one region (box, kind, track,
source, detector, score, reason); the last line is a ``summary`` (counts,
stage timings, and the SHA-256 of the input, the output and the decisions);
only ``approval`` lines (a reviewer's, from ``redact studio``: :func:`approve`)
may follow it.  It holds geometry and decisions only: never pixels, crops or embeddings.

The log is written under a temporary name and renamed beside the video when
the run succeeds, so a log at the final path always describes a finished
output.  See README.md ("Audit log") for the field reference.

Chain of custody (format 2).  Every line is one UTF-8 JSON object followed by
``\n``, and its second key, ``prev_sha256``, is the lowercase hex SHA-256 of
the exact bytes of the line before it, *including* that line's ``\n``; line 1
carries 64 zeros (:data:`GENESIS`).  So ``sed -n 4p LOG | sha256sum`` prints
line 5's ``prev_sha256``.  A changed byte, a deleted, inserted or reordered
line, or a log cut short breaks the chain where it happened, and
:func:`check` (``redact audit check LOG [--output FILE]``) names the first
line it can no longer vouch for.  The chain proves the lines are whole and in
order up to the summary; it cannot prove the summary genuine, since whoever
rewrites the whole log can recompute the chain: the SHA-256 of the log kept
elsewhere (the batch manifest's ``audit_sha256``, a reviewer's approval)
anchors it.

The summary's hashes:

* ``input.sha256``: the bytes of the input video (the header's, repeated).
* ``output.sha256``: the bytes of the output video.
* ``decisions_sha256``: the decisions the render used, one per track, as a
  JSON array of objects with exactly the keys ``track``, ``action``,
  ``reason``, ``label``, ``score`` and ``visible`` (the values of the
  ``decision`` lines), sorted by ``track``, serialised with sorted keys, no
  whitespace and non-ASCII characters as themselves -- Python's
  ``json.dumps(ds, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
  -- and hashed as UTF-8.  ``score`` is ``null`` or a float written as Python
  writes it (shortest round-trip form, always with a point: ``0.9312``,
  ``1.0``).  :func:`decisions_digest` computes it from ``Decision`` objects or
  from the log's ``decision`` lines.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from redact.config import Config
from redact.errors import AuditError, InputError, OutputError
from redact.io.files import sha256_file, temp_path_for, write_atomic
from redact.types import Decision, Region, VideoInfo
from redact.version import __version__

if TYPE_CHECKING:  # redact.render imports this module: a runtime import would be circular
    from redact.render.audio import AudioEvent

FORMAT_VERSION = 2
"""2: every line carries ``prev_sha256``; the summary carries ``input`` and ``decisions_sha256``."""

CHAIN_KEY = "prev_sha256"
GENESIS = "0" * 64
"""What line 1 carries as ``prev_sha256``: there is no line before it."""

DECISION_KEYS = ("track", "action", "reason", "label", "score", "visible")
"""The keys of a decision that ``decisions_sha256`` covers: those of ``Decision.to_json()``."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the one serialisation that digests here are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decisions_digest(decisions: Iterable[Decision | dict[str, Any]]) -> str:
    """SHA-256 of the decisions a render used (see the module docstring for the exact bytes).

    Takes ``Decision`` objects, or the log's ``decision`` lines (their other
    keys, such as ``kind`` or ``prev_sha256``, are left out), in any order.
    """
    records = [d.to_json() if isinstance(d, Decision) else d for d in decisions]
    chosen = sorted(({k: r.get(k) for k in DECISION_KEYS} for r in records), key=lambda r: r["track"])
    return hashlib.sha256(canonical_json(chosen)).hexdigest()


def default_log_path(output: Path) -> Path:
    """``clip.redacted.mp4`` -> ``clip.redacted.audit.jsonl``, beside the output."""
    return output.with_name(output.stem + ".audit.jsonl")


class AuditLog:
    """Writes one log; each line is chained to the one before (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.temp = temp_path_for(self.path)
        self._file: IO[bytes] | None = None
        self._prev = GENESIS
        self._input: dict[str, str] | None = None
        self._decisions: list[dict[str, Any]] = []
        self.regions = 0
        self.frames_with_regions = 0

    def __enter__(self) -> AuditLog:
        try:
            self._file = open(self.temp, "wb")  # bytes: what is hashed is exactly what is on disk
        except OSError as e:
            raise self._error(e) from e
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line, with ``prev_sha256`` after its ``type``."""
        assert self._file is not None
        chained = {"type": record["type"], CHAIN_KEY: self._prev, **record}
        line = (json.dumps(chained, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as e:
            raise self._error(e) from e
        self._prev = hashlib.sha256(line).hexdigest()

    def _error(self, e: OSError) -> OutputError:
        """A full disk or quota is the usual cause; say so in one line, not as an internal error."""
        return OutputError(f"{self.path}: cannot write the audit log ({e.strerror or e}); is the disk or quota full?")

    def header(
        self, video: VideoInfo, config: Config, input_sha256: str, output_size: tuple[int, int],
        people: dict | None = None, source: dict | None = None,
    ) -> None:
        """``source``: what the input was made from, when it is an intermediate (a frame folder's video)."""
        self._input = {"file": video.path.name, "sha256": input_sha256}
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
                **({"source": source} if source else {}),
            }
        )

    def decision(self, d: Decision, first: int, last: int, detections: int, kind: str, marked_as: str = "") -> None:
        """One line per track; ``marked_as`` is the operator's label of a marked region (``tattoo``)."""
        self._decisions.append(d.to_json())
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
        """The last line: counts, ``fields`` (``output`` with its SHA-256, timings...), and the input and
        decisions hashes from the header and decision lines written before."""
        self.write(
            {"type": "summary", "regions": self.regions, "frames_with_regions": self.frames_with_regions,
             "input": self._input, "decisions_sha256": decisions_digest(self._decisions), **fields}
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


@dataclass(frozen=True)
class CheckResult:
    """What a log that passed :func:`check` vouches for."""

    path: Path
    lines: int
    input_sha256: str | None
    """The input's SHA-256: a video's or a single picture's; None for a batch of pictures or frames."""
    output_sha256: str | None
    decisions_sha256: str | None
    log_sha256: str
    """SHA-256 of the whole log file: the value to keep elsewhere to anchor the chain."""
    output: Path | None = None
    """The output file (or, for a batch of pictures or frames, the folder) found to match, when one was given."""
    kind: str = "video"
    """``video``, ``picture`` (one picture's log), ``pictures`` (a batch's) or ``frames`` (a frame sequence's)."""
    pictures: int = 0
    """Pictures (or frames) the log accounts for; their outputs were compared when ``output`` was given."""


def check(path: str | Path, output: str | Path | None = None) -> CheckResult:
    """Verify a log's chain line by line, its summary, and, given ``output``, the output's SHA-256.

    Raises :class:`AuditError` naming the first line the log can no longer
    vouch for: a line that is not valid JSON, one whose successor records
    another SHA-256 for it (it was changed, or a line after it was deleted),
    one that follows another line than the one before it (lines moved or
    inserted), a missing summary (a truncated log), lines after the summary other than approvals of it,
    or a summary that disagrees with the header, the decision lines or
    ``output``.  Raises :class:`InputError` when a file cannot be read.

    Picture logs are checked too: one picture's log (a single ``image``
    line), a batch's ``redact-images.audit.jsonl`` and a frame sequence's
    ``redact-frames.audit.jsonl`` (their summaries must count their lines).
    For the last two ``output`` is the output folder, and every picture the
    log names there must match its recorded SHA-256.
    """
    path = Path(path)
    whole = hashlib.sha256()
    prev = GENESIS
    n = 0
    log: _VideoLog | _PictureLog | None = None
    try:
        with open(path, "rb") as f:
            for raw in f:
                n += 1
                whole.update(raw)
                record = _parse(path, n, raw, after_summary=log is not None and log.summary is not None)
                if log is None:
                    log = _VideoLog(path, record) if record["type"] == "header" else _PictureLog(path, record, output)
                stored = record[CHAIN_KEY]
                if stored != prev:
                    raise _chain_broken(path, n, stored)
                log.add(n, record)
                prev = hashlib.sha256(raw).hexdigest()
    except OSError as e:
        raise InputError(f"{path}: cannot read the audit log ({e.strerror or e})") from e
    if log is None:
        raise _broken(path, 1, "missing: the log is empty")
    return log.finish(n, whole.hexdigest(), output)


class _VideoLog:
    """A video's log: header, decisions, frames, summary, approvals."""

    def __init__(self, path: Path, header: dict[str, Any]):
        self.path, self.header = path, _check_header(path, header)
        self.summary: dict[str, Any] | None = None
        self.decisions: list[dict[str, Any]] = []

    def add(self, n: int, record: dict[str, Any]) -> None:
        if self.summary is not None:
            _check_approval(self.path, n, record, self.summary)
        elif n > 1 and record["type"] == "header":
            raise _broken(self.path, n, "a second header: lines of another log were inserted")
        elif record["type"] == "decision":
            if not isinstance(record.get("track"), int):
                raise _broken(self.path, n, "a decision without a track number: the line was changed")
            self.decisions.append(record)
        elif record["type"] == "summary":
            self.summary = record

    def finish(self, n: int, log_sha: str, output: str | Path | None) -> CheckResult:
        path, summary = self.path, self.summary
        if summary is None:
            raise _broken(path, n + 1, f"missing: the log ends after line {n} without its summary (truncated)")
        input_sha, output_sha = _sha(summary, "input"), _sha(summary, "output")
        decisions_sha = summary.get("decisions_sha256")
        if not (input_sha and output_sha and isinstance(decisions_sha, str)):
            raise _broken(path, n, "the summary lacks the input, output or decisions SHA-256")
        if input_sha != _sha(self.header, "input"):
            raise _broken(path, n, "the summary's input SHA-256 differs from the header's")
        if decisions_sha != decisions_digest(self.decisions):
            raise _broken(path, n, "the summary's decisions_sha256 does not match the decision lines")
        checked = None
        if output is not None:
            checked = Path(output)
            recorded = (summary.get("output") or {}).get("file", "the output")
            _compare(path, n, checked, output_sha, f"the summary records {output_sha[:12]}... for {recorded}")
        return CheckResult(path, n, input_sha, output_sha, decisions_sha, log_sha, checked)


class _PictureLog:
    """One picture's log (one ``image`` line), a batch's (``image`` and ``failed`` lines, then a summary), or a
    frame sequence's (a ``sequence`` line, one ``image`` line a frame, then a summary)."""

    def __init__(self, path: Path, first: dict[str, Any], output: str | Path | None):
        if first["type"] not in ("image", "failed", "sequence"):
            raise _broken(path, 1, f"a {first['type']} line, not the header (nor a picture's record): lines before "
                          "it were deleted or moved")
        if first.get(CHAIN_KEY) != GENESIS:
            raise _broken(path, 1, f"{CHAIN_KEY} is not {GENESIS[:8]}... (64 zeros): the line was changed")
        self.path = path
        # A batch's lines name each picture's path in the batch; a single picture's log is its one line.
        if first["type"] == "sequence":
            self.kind = "frames"
        else:
            self.kind = "pictures" if "name" in first else "picture"
        self.folder = None if output is None or self.kind == "picture" else Path(output)
        if self.folder is not None and not self.folder.is_dir():
            raise InputError(f"{self.folder}: give the output folder to check a {self.kind} log against")
        self.summary: dict[str, Any] | None = None
        self.first = first
        self.counts = {"image": 0, "failed": 0, "regions": 0}

    def add(self, n: int, record: dict[str, Any]) -> None:
        kind = record["type"]
        if self.summary is not None:
            raise _broken(self.path, n, "follows the summary: lines were appended")
        if kind == "summary" and self.kind != "picture":
            self.summary = record
            return
        if kind == "sequence" and n == 1:
            return
        if kind not in ("image", "failed") or (self.kind == "picture" and n > 1) or (
                kind == "failed" and self.kind != "pictures"):
            raise _broken(self.path, n, f"a {kind} line in a {self.kind} log: lines of another log were inserted")
        self.counts[kind] += 1
        if kind == "image":
            regions = record.get("regions")
            if not isinstance(regions, list) or not _sha(record, "output") or not record["output"].get("file"):
                raise _broken(self.path, n, "a picture record without its regions or output file and SHA-256: "
                              "it was changed")
            self.counts["regions"] += len(regions)
            if self.folder is not None:
                self._compare_output(n, record)

    def _compare_output(self, n: int, record: dict[str, Any]) -> None:
        file = str(record["output"]["file"])
        picture = self.folder / Path(str(record.get("name") or file)).parent / file  # type: ignore[operator]
        _compare(self.path, n, picture, _sha(record, "output"), f"line {n} records another")  # type: ignore[arg-type]

    def finish(self, n: int, log_sha: str, output: str | Path | None) -> CheckResult:
        path, s, c = self.path, self.summary, self.counts
        if self.kind == "picture":
            record = self.first
            out_sha = _sha(record, "output")
            checked = None
            if output is not None:
                checked = Path(output)
                _compare(path, n, checked, out_sha, "the log records another")  # type: ignore[arg-type]
            return CheckResult(path, n, _sha(record, "input"), out_sha, decisions_digest(record.get("decisions", [])),
                               log_sha, checked, self.kind, 1)
        if s is None:
            raise _broken(path, n + 1, f"missing: the log ends after line {n} without its summary (truncated)")
        counted = s.get("frames") if self.kind == "frames" else s.get("pictures")
        if counted != c["image"] + c["failed"] or s.get("regions") != c["regions"] or (
                self.kind == "pictures" and s.get("failed") != c["failed"]):
            raise _broken(path, n, f"the summary counts other pictures or regions than the lines "
                          f"({c['image'] + c['failed']} pictures, {c['regions']} regions): lines were deleted")
        return CheckResult(path, n, None, None, None, log_sha, self.folder, self.kind, c["image"] + c["failed"])


def _compare(log: Path, n: int, output: Path, expected: str, recorded: str) -> None:
    """Raise an AuditError, on line ``n``, unless ``output``'s SHA-256 is ``expected``."""
    try:
        actual = sha256_file(output)
    except OSError as e:
        raise InputError(f"{output}: cannot read the output to check ({e.strerror or e})") from e
    if actual != expected:
        raise _broken(log, n, f"{output.name} is not the output this log describes (SHA-256 {actual[:12]}..., "
                      f"{recorded})")


def _broken(path: Path, line: int, why: str) -> AuditError:
    return AuditError(f"{path}: line {line}: {why}", line)


def _parse(path: Path, n: int, raw: bytes, after_summary: bool) -> dict[str, Any]:
    if after_summary and not raw.startswith(b'{"type":"approval",'):
        raise _broken(path, n, "follows the summary, which only approvals may follow: lines were appended")
    if not raw.endswith(b"\n"):
        raise _broken(path, n, "cut off before its newline: the log is truncated")
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        raise _broken(path, n, "not valid JSON: the line was changed or cut") from None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise _broken(path, n, "not an audit record (no type): the line was changed")
    if n > 1 and not isinstance(record.get(CHAIN_KEY), str):
        raise _broken(path, n, f"no {CHAIN_KEY}: the line was changed")
    return record


def _check_approval(path: Path, n: int, record: dict[str, Any], summary: dict[str, Any]) -> None:
    """An approval vouches for the render the summary describes: same decisions, same output, a named reviewer."""
    if record["type"] != "approval":
        raise _broken(path, n, "follows the summary, which only approvals may follow: lines were appended")
    if not isinstance(record.get("reviewer"), str) or not record["reviewer"].strip():
        raise _broken(path, n, "an approval without a reviewer's name: the line was changed")
    if record.get("decisions_sha256") != summary.get("decisions_sha256") or _sha(record, "output") != _sha(
        summary, "output"
    ):
        raise _broken(path, n, "an approval of other decisions or another output than the summary's")


def approve(path: str | Path, reviewer: str, note: str = "", **fields: Any) -> CheckResult:
    """Append a reviewer's approval to a finished log, chained like every line, and return the new check.

    The log is checked first (an approval of a broken log would vouch for
    nothing) and rewritten whole under a temporary name, so the log at its
    path is always either the one before or the one after the approval.
    The approval repeats the summary's ``decisions_sha256`` and output, so it
    names exactly what was approved; ``fields`` adds more (the time, the
    review state's hash).
    """
    path = Path(path)
    reviewer = reviewer.strip()
    if not reviewer:
        raise InputError(f"{path}: an approval needs the reviewer's name")
    checked = check(path)
    if checked.kind != "video":
        raise InputError(f"{path}: approvals are for a video's log, and this is a {checked.kind} log")
    data = path.read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"
    summary = next(json.loads(line) for line in reversed(data.splitlines()) if line.startswith(b'{"type":"summary",'))
    record = {"type": "approval", CHAIN_KEY: hashlib.sha256(last).hexdigest(), "reviewer": reviewer, "note": note,
              "decisions_sha256": checked.decisions_sha256, "output": summary["output"], **fields}
    line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
    write_atomic(path, data + line)
    return check(path)


def _check_header(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    if record["type"] != "header":
        raise _broken(path, 1, f"a {record['type']} line, not the header: the lines before it were deleted or moved")
    fmt = record.get("format")
    if not isinstance(fmt, int) or fmt < 2 or CHAIN_KEY not in record:
        raise _broken(path, 1, f"format {fmt} has no chain of custody (it predates format 2); it cannot be checked")
    if record[CHAIN_KEY] != GENESIS:
        raise _broken(path, 1, f"{CHAIN_KEY} is not {GENESIS[:8]}... (64 zeros): the header was changed")
    return record


def _chain_broken(path: Path, n: int, stored: str) -> AuditError:
    """Line ``n`` records a SHA-256 other than that of line ``n - 1``: say which line to distrust."""
    j = _line_with_sha(path, stored)
    if j is not None:
        return _broken(path, n, f"follows line {j}, not line {n - 1}: lines were moved, inserted or duplicated")
    return _broken(path, n - 1, f"changed, or a line after it deleted (line {n} records another SHA-256 for it)")


def _line_with_sha(path: Path, digest: str) -> int | None:
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if hashlib.sha256(raw).hexdigest() == digest:
                return i
    return None


def _sha(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    sha = value.get("sha256") if isinstance(value, dict) else None
    return sha if isinstance(sha, str) else None
