"""The manifest: a small JSON file beside each output that vouches for it.

A rerun trusts an output only through its manifest, and the manifest is
written last, atomically, after the video and the audit log are in place and
flushed to disk.  So an output without a matching manifest (a killed run, an
input that changed, another config) is redone, never reused.  The manifest
holds hashes, counts and names: no pixels, crops or embeddings.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from redact.io.files import sha256_file, write_atomic
from redact.version import __version__

FORMAT = "redact-manifest/1"


@dataclass(frozen=True)
class Manifest:
    input_name: str
    input_sha256: str
    input_bytes: int
    settings_hash: str
    """SHA-256 of the resolved config and the reference photos: what, besides the input, decides the output."""
    output_sha256: str
    audit_sha256: str
    frames: int
    redact_version: str = __version__
    finished: str = ""
    format: str = FORMAT

    def write(self, path: Path) -> None:
        """Atomically, and durably: a manifest that survives a crash must describe files that did too."""
        record = asdict(self)
        record["finished"] = record["finished"] or datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_atomic(path, json.dumps(record, indent=1, ensure_ascii=False), durable=True)


def read(path: Path) -> Manifest | None:
    """The manifest at ``path``, or None when it is missing, unreadable or of another format."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = {f.name for f in fields(Manifest)}
    if not isinstance(record, dict) or record.get("format") != FORMAT or set(record) != names:
        return None
    return Manifest(**record)


def vouches_for(manifest: Manifest | None, input_sha256: str, settings_hash: str, output: Path, audit: Path) -> bool:
    """Whether the files on disk are exactly what this input under these settings produced."""
    if manifest is None or manifest.input_sha256 != input_sha256 or manifest.settings_hash != settings_hash:
        return False
    if not output.is_file() or not audit.is_file():
        return False
    return sha256_file(output) == manifest.output_sha256 and sha256_file(audit) == manifest.audit_sha256


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
