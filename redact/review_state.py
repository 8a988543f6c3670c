"""A reviewer's work on an analysis, saved as human-readable files in the analysis folder.

``redact studio`` writes them; ``redact render --analysis DIR`` applies them,
so a render from the command line is byte for byte the render the studio made.
They live in ``DIR/review/`` and each is written atomically on every change:

``decisions.yaml``
    Overrides by track id, in the format ``redact render --decisions`` reads
    (``keep: [ids]``, ``redact: [ids]``).  Only what the reviewer changed is
    listed: a track kept automatically stays shown only on its confirmed
    frames, whereas an operator's keep shows the whole track.
``people.yaml``
    Which tracks are one person (the studio's rows); grouping only, it
    decides nothing.
``marks.yaml``
    Regions the reviewer drew or blacked out, in the format of
    ``redact analyse --regions`` (``regions: [{t, x, y, w, h, label, start, end}]``).
``marks.tracks.json``
    The boxes each mark was followed to: derived data, kept so a render does
    not decode again to follow them.  A mark whose entry is missing or stale
    (its spec or the tracker settings changed) is followed again, the same way.
``audio.yaml``
    Audio ranges to mute or bleep (``ranges: [{start, end, action, label}]``).
``checked.yaml``
    The items of the needs-a-look list the reviewer has ticked off.

A mark with both ``start`` and ``end`` covers exactly that span: the tracker
follows it as far as it can inside the span, and where it lets go the last
box it had is held to the span's end (detector ``held``), so an operator
who extends a mark gets it painted over the whole span.  When unsure, redact.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from redact.config import AudioRange, Config, MarkedRegion, RegionsConfig, _build
from redact.errors import ConfigError
from redact.io.files import write_atomic
from redact.marks import load_regions_file
from redact.types import Action, Analysis, Track, VideoInfo

log = logging.getLogger(__name__)

FOLDER = "review"
DECISIONS, PEOPLE, MARKS, MARK_TRACKS, AUDIO, CHECKED = (
    "decisions.yaml", "people.yaml", "marks.yaml", "marks.tracks.json", "audio.yaml", "checked.yaml")
HELD = "held"
"""Detector name of a mark's box held where the tracker let go, to the end of the span the reviewer set."""


@dataclass
class Review:
    """Everything a reviewer saved; empty when the studio was never opened on the analysis."""

    overrides: dict[int, Action] = field(default_factory=dict)
    people: list[list[int]] | None = None
    marks: list[MarkedRegion] = field(default_factory=list)
    audio: list[AudioRange] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not (self.overrides or self.marks or self.audio)


def folder_of(analysis_dir: str | Path) -> Path:
    return Path(analysis_dir) / FOLDER


def load(analysis_dir: str | Path, track_ids: set[int]) -> Review:
    """The saved review, or an empty one.  A damaged file is an error, never ignored: it may hold a redaction."""
    import redact.store as store

    where = folder_of(analysis_dir)
    review = Review()
    if (where / DECISIONS).is_file():
        review.overrides = store.load_decisions(where / DECISIONS, track_ids)
    if (where / PEOPLE).is_file():
        review.people = _people(where / PEOPLE, track_ids)
    if (where / MARKS).is_file():
        review.marks, _ = load_regions_file(where / MARKS)
    if (where / AUDIO).is_file():
        review.audio = _audio(where / AUDIO)
    if (where / CHECKED).is_file():
        data = _yaml(where / CHECKED) or {}
        review.checked = {str(x) for x in (data.get("checked") or [])}
    return review


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: unreadable ({e})") from e


def _people(path: Path, track_ids: set[int]) -> list[list[int]]:
    data = _yaml(path) or {}
    rows = data.get("people") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("tracks"), list) for r in rows):
        raise ConfigError(f"{path}: expected `people:` as a list of {{tracks: [ids]}}")
    out = [[int(t) for t in r["tracks"]] for r in rows]
    unknown = sorted({t for r in out for t in r} - track_ids)
    if unknown:
        raise ConfigError(f"{path}: track {unknown[0]} is not in the analysis")
    return out


def _audio(path: Path) -> list[AudioRange]:
    data = _yaml(path) or {}
    items = data.get("ranges", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected `ranges:` as a list of {{start, end, action, label}}")
    return [_build(AudioRange, item, f"{path}: ranges.{i}") for i, item in enumerate(items)]


# --- writing ----------------------------------------------------------------------------------------------

_HEAD = "# Written by `redact studio`; `redact render --analysis {dir}` applies it. Edit with care.\n"


def _write(analysis_dir: Path, name: str, data: Any) -> None:
    where = folder_of(analysis_dir)
    where.mkdir(exist_ok=True)
    text = _HEAD.format(dir=analysis_dir) + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    write_atomic(where / name, text)


def save_overrides(analysis_dir: Path, overrides: dict[int, Action]) -> None:
    keep = sorted(t for t, a in overrides.items() if a is Action.KEEP)
    redact = sorted(t for t, a in overrides.items() if a is Action.REDACT)
    _write(analysis_dir, DECISIONS, {"keep": keep, "redact": redact})


def save_people(analysis_dir: Path, rows: list[list[int]]) -> None:
    _write(analysis_dir, PEOPLE, {"people": [{"tracks": sorted(r)} for r in rows]})


def save_marks(analysis_dir: Path, marks: list[MarkedRegion]) -> None:
    _write(analysis_dir, MARKS, {"regions": [mark_spec(m) for m in marks]})


def save_audio(analysis_dir: Path, ranges: list[AudioRange]) -> None:
    _write(analysis_dir, AUDIO, {"ranges": [dataclasses.asdict(r) for r in ranges]})


def save_checked(analysis_dir: Path, checked: set[str]) -> None:
    _write(analysis_dir, CHECKED, {"checked": sorted(checked)})


def mark_spec(m: MarkedRegion) -> dict:
    """The mark as its YAML entry: only the keys that are set, so the file reads like the command line."""
    # Numbers as floats, so a mark read back from YAML (x: 300) keys the same as the one drawn (300.0).
    return {k: float(v) if isinstance(v, int) else v for k, v in dataclasses.asdict(m).items() if v is not None}


# --- applying ---------------------------------------------------------------------------------------------


def apply(
    analysis_dir: Path, analysis: Analysis, config: Config, overrides: dict[int, Action] | None
) -> tuple[Config, dict[int, Action] | None]:
    """Add the saved review to a render: the marks as region tracks of ``analysis``, the audio ranges to
    ``config``; the decisions unless the caller has its own (``--decisions``).  Returns the config and
    overrides to render with."""
    review = load(analysis_dir, {t.id for t in analysis.tracks})
    if review.empty:
        return config, overrides
    log.info("applying the studio review in %s: %d override(s), %d mark(s), %d audio range(s)",
             folder_of(analysis_dir), len(review.overrides), len(review.marks), len(review.audio))
    analysis.tracks.extend(mark_tracks(analysis_dir, analysis.video, config, review.marks, analysis.tracks))
    if review.audio:
        config = dataclasses.replace(
            config, audio=dataclasses.replace(config.audio, ranges=[*config.audio.ranges, *review.audio]))
    return config, overrides if overrides is not None else review.overrides


def first_mark_id(tracks: list[Track]) -> int:
    return max((t.id for t in tracks), default=-1) + 1


def mark_tracks(analysis_dir: Path, info: VideoInfo, config: Config, marks: list[MarkedRegion],
                tracks: list[Track]) -> list[Track]:
    """One region track per mark, ids after the analysis' own; cached boxes where still valid."""
    cache = _read_cache(analysis_dir)
    settings = _settings(config.regions)
    out: list[Track | None] = []
    todo: list[tuple[int, MarkedRegion]] = []
    for i, m in enumerate(marks):
        hit = cache.get(_key(m, settings))
        out.append(Track.from_json(hit) if hit is not None else None)
        if hit is None:
            todo.append((i, m))
    if todo:
        for (i, _), t in zip(todo, follow(info, config, [m for _, m in todo])):
            out[i] = t
    first = first_mark_id(tracks)
    result = []
    for k, t in enumerate(out):
        assert t is not None
        t.id = first + k
        result.append(t)
    return result


def follow(info: VideoInfo, config: Config, marks: list[MarkedRegion]) -> list[Track]:
    """Follow ``marks`` in one decode, each held to the ends of its span (see the module docstring)."""
    from redact.analyse.regions import follow_regions

    cfg = dataclasses.replace(config.regions, redact=list(marks), protect=[])
    tracks = follow_regions(info, cfg, 0, on_damage=config.detect.on_decode_error)
    return [_held(info, m, t) for m, t in zip(marks, tracks)]


def _held(info: VideoInfo, m: MarkedRegion, t: Track) -> Track:
    if m.mode == "static" or m.start is None or m.end is None or not t.frames:
        return t
    last = info.frame_count - 1
    lo = max(0, math.floor(m.start * info.fps + 1e-6))
    hi = min(last, math.floor(m.end * info.fps + 1e-6))
    out = Track(t.id, t.kind, label=t.label)
    if lo < t.first:
        out.add(lo, t.boxes[0], 0.0, HELD)
    for f, b, s, d in zip(t.frames, t.boxes, t.scores, t.detectors):
        out.add(f, b, s, d)
    if hi > t.last:
        out.add(hi, t.boxes[-1], 0.0, HELD)
    return out


def save_mark_tracks(analysis_dir: Path, config: Config, marks: list[MarkedRegion], tracks: list[Track]) -> None:
    settings = _settings(config.regions)
    entries = [{"key": _key(m, settings), "track": t.to_json()} for m, t in zip(marks, tracks)]
    where = folder_of(analysis_dir)
    where.mkdir(exist_ok=True)
    write_atomic(where / MARK_TRACKS, json.dumps({"marks": entries}, separators=(",", ":")))


def _settings(cfg: RegionsConfig) -> dict:
    return {"tracker": cfg.tracker, "max_seconds": cfg.max_seconds, "min_overlap": cfg.min_overlap}


def _key(m: MarkedRegion, settings: dict) -> str:
    return json.dumps({"mark": mark_spec(m), **settings}, sort_keys=True)


def _read_cache(analysis_dir: Path) -> dict[str, dict]:
    path = folder_of(analysis_dir) / MARK_TRACKS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {e["key"]: e["track"] for e in data["marks"]}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s: unreadable (%s); the marks are followed again", path, e)
        return {}
