"""The analysis folder: pass 1's results saved once, so decisions can be reviewed and re-rendered.

``redact analyse IN --out DIR`` writes ``DIR/analysis.json``: the input's
name, path and SHA-256, the resolved config, every track (its real
detections only), each track's identity samples (similarity numbers and
quality facts; never descriptors or pixels), the automatic decisions, and
stage timings.  ``redact render IN --analysis DIR`` reads it back and renders
without running a detector.  The operator's overrides live in a separate,
hand-written ``decisions.yaml``, so the analysis itself is never edited.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import yaml

from redact.config import Config, from_dict
from redact.errors import ConfigError, InputError
from redact.io.files import write_atomic
from redact.types import Action, Analysis, Decision, IdentitySample, Track, VideoInfo
from redact.version import __version__

FORMAT = 1
FILE = "analysis.json"


def save(folder: str | Path, analysis: Analysis, config: Config, input_sha256: str,
         decisions: dict[int, Decision]) -> Path:
    """Write ``folder/analysis.json`` atomically (the folder is created if needed)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{folder}: cannot create the analysis folder ({e.strerror or e})") from e
    info = analysis.video
    record = {
        "format": FORMAT,
        "tool": "redact",
        "version": __version__,
        "input": {"path": str(info.path.resolve()), "file": info.path.name, "sha256": input_sha256},
        "video": info.to_json(),
        "config": config.to_dict(),
        "config_sha256": config.digest(),
        "people": analysis.people,
        "failed_frames": analysis.failed_frames,
        "timings": {k: round(v, 3) for k, v in analysis.timings.items()},
        "engines": analysis.engines,
        "tracks": [t.to_json() for t in analysis.tracks],
        "identities": {str(k): [s.to_json() for s in v] for k, v in sorted(analysis.identities.items())},
        "decisions": [d.to_json() for _, d in sorted(decisions.items())],
    }
    path = folder / FILE
    write_atomic(path, json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return path


class Saved:
    """An analysis folder read back: the raw record plus typed views of it."""

    def __init__(self, folder: Path, record: dict):
        self.folder = folder
        self.record = record
        self.config: Config = from_dict(record["config"])
        self.tracks = [Track.from_json(t) for t in record["tracks"]]
        self.identities = {int(k): [IdentitySample.from_json(s) for s in v] for k, v in record["identities"].items()}

    @property
    def input_path(self) -> Path:
        return Path(self.record["input"]["path"])

    @property
    def input_sha256(self) -> str:
        return self.record["input"]["sha256"]

    @property
    def frame_count(self) -> int:
        return int(self.record["video"]["frame_count"])

    @property
    def fps(self) -> Fraction:
        return Fraction(self.record["video"]["fps"])

    @property
    def decisions(self) -> list[dict]:
        return self.record["decisions"]

    def analysis(self, info: VideoInfo) -> Analysis:
        """The saved pass-1 result attached to a freshly probed input (frame count as decoded then)."""
        from dataclasses import replace

        return Analysis(
            video=replace(info, frame_count=self.frame_count),
            tracks=self.tracks,
            failed_frames=list(self.record["failed_frames"]),
            timings={},
            identities=self.identities,
            people=self.record["people"],
            engines=dict(self.record.get("engines", {})),  # absent from analyses saved before engines
        )


def load(folder: str | Path) -> Saved:
    folder = Path(folder)
    path = folder / FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InputError(f"{folder}: no {FILE} here; run `redact analyse INPUT --out {folder}` first") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable analysis ({e})") from e
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("tool") != "redact":
        raise InputError(f"{path}: not a redact analysis (format {FORMAT})")
    try:
        return Saved(folder, record)
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{path}: damaged analysis ({e!r})") from e


def load_decisions(path: str | Path, track_ids: set[int]) -> dict[int, Action]:
    """Read an operator's ``decisions.yaml``: ``keep: [ids]`` and/or ``redact: [ids]``.

    Every id must be a track of the analysis and appear once: a typo that
    silently matched nothing could leave a victim visible or a decision unmade.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read decisions ({e.strerror or e})") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with `keep:` and/or `redact:` lists of track ids")
    unknown = set(data) - {"keep", "redact"}
    if unknown:
        raise ConfigError(f"{path}: unknown key {min(map(str, unknown))!r} (valid: keep, redact)")
    out: dict[int, Action] = {}
    for key, action in (("keep", Action.KEEP), ("redact", Action.REDACT)):
        ids = data.get(key) or []
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ConfigError(f"{path}: `{key}` must be a list of track ids (integers)")
        for i in ids:
            if i not in track_ids:
                raise ConfigError(f"{path}: track {i} is not in the analysis")
            if i in out:
                raise ConfigError(f"{path}: track {i} is listed more than once")
            out[i] = action
    return out
