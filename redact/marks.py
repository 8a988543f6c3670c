"""What the operator marks by hand: regions to redact, areas to protect, audio ranges to cut.

The command line (``--region``, ``--protect``, ``--audio-range``), a regions
file and a config file all end in the same validated config objects
(:mod:`redact.config`), so one set of rules checks every source.  Following a
marked region through the video is analysis (:mod:`redact.analyse.regions`);
cutting the audio is rendering (:mod:`redact.render.audio`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from redact.config import AudioRange, MarkedRegion, ProtectedRegion, _build, read_yaml
from redact.errors import ConfigError
from redact.timecode import parse_span, parse_time

_REGION_KEYS = ("t", "x", "y", "w", "h", "label", "mode", "start", "end")
_PROTECT_KEYS = ("x", "y", "w", "h", "start", "end", "label")
_TIME_KEYS = ("t", "start", "end")
_BOX_KEYS = ("x", "y", "w", "h")
_MODES = ("track", "static")
AUDIO_ACTIONS = ("disguise", "bleep", "mute")

def parse_region(spec: str) -> MarkedRegion:
    """A region from the command-line form ``t=12.4,x=100,y=80,w=40,h=60,label=tattoo``.

    Keys: t, x, y, w, h, label, mode, start, end; times as 72.5, 01:12.5 or
    1:01:12.5.  Without ``mode`` a region with ``t`` is tracked and one
    without is static, so ``start=10,end=12`` alone blacks out the whole
    frame for those two seconds.
    """
    where = f"--region {spec!r}"
    values = _pairs(spec, _REGION_KEYS, where)
    return build_region(_typed(values, where), where)


def parse_protect(spec: str) -> ProtectedRegion:
    """A protected area from ``x=..,y=..,w=..,h=..[,start=..,end=..,label=..]`` (the box is required)."""
    where = f"--protect {spec!r}"
    values = _pairs(spec, _PROTECT_KEYS, where)
    return build_protect(_typed(values, where), where)


def build_region(values: dict[str, Any], where: str) -> MarkedRegion:
    """A validated :class:`MarkedRegion` from typed values, with the mode inferred when it is not given.

    Goes through :mod:`redact.config`'s own builder, so a region from the
    command line, a regions file or a config file is checked by one set of rules.
    """
    values = dict(values)
    if "mode" not in values:
        values["mode"] = "track" if values.get("t") is not None else "static"
    return _build(MarkedRegion, values, where)


def build_protect(values: dict[str, Any], where: str) -> ProtectedRegion:
    missing = [k for k in _BOX_KEYS if values.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: a protected region needs x, y, w and h (missing {', '.join(missing)})")
    return _build(ProtectedRegion, values, where)


def load_regions_file(path: str | Path) -> tuple[list[MarkedRegion], list[ProtectedRegion]]:
    """Regions and protected areas from a YAML file: ``regions: [...]`` and ``protect: [...]``.

    Each item has the keys of the command-line form (times may be strings
    like ``"01:12.5"``).  A file that is only a list is read as ``regions``.
    """
    path = Path(path)
    data = read_yaml(path, "regions file") or {}
    if isinstance(data, list):
        data = {"regions": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with regions and protect, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in ("regions", "protect"))
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown key (valid: protect, regions)")
    regions = [build_region(item, where) for item, where in _items(data, "regions", path)]
    protect = [build_protect(item, where) for item, where in _items(data, "protect", path)]
    return regions, protect


def _items(data: dict, key: str, path: Path) -> list[tuple[dict, str]]:
    """The items under ``key`` with times parsed, each with the place to name in its errors."""
    items = data.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"{path}: {key}: expected a list, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        where = f"{path}: {key}.{i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping like {{t: 12.4, x: 100, ...}}, got {type(item).__name__}")
        out.append(({k: _time_value(k, v, where) for k, v in item.items()}, where))
    return out


def _time_value(key: str, value: Any, where: str) -> Any:
    """A time written as text (``"01:12.5"``) in seconds; anything else is left for the builder to check."""
    if key not in _TIME_KEYS or not isinstance(value, str):
        return value
    try:
        return parse_time(value)
    except ConfigError as e:
        raise ConfigError(f"{where}.{key}: {e}") from None


def _pairs(spec: str, keys: tuple[str, ...], where: str) -> dict[str, str]:
    """``k=v,k=v`` into a dict of raw strings; unknown, repeated or empty keys are errors."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key or not value:
            raise ConfigError(f"{where}: expected KEY=VALUE pairs separated by commas, got {part.strip()!r}")
        if key not in keys:
            raise ConfigError(f"{where}: {key}: unknown key (valid: {', '.join(keys)})")
        if key in out:
            raise ConfigError(f"{where}: {key} is given twice")
        out[key] = value
    return out


def _typed(values: dict[str, str], where: str) -> dict[str, Any]:
    """Times through :func:`parse_time`, box values as numbers, the rest as text."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in _TIME_KEYS:
            try:
                out[key] = parse_time(value)
            except ConfigError as e:
                raise ConfigError(f"{where}: {key}: {e}") from None
        elif key in _BOX_KEYS:
            try:
                out[key] = float(value)
            except ValueError:
                raise ConfigError(f"{where}: {key}: expected a number of pixels, got {value!r}") from None
            if not math.isfinite(out[key]):
                raise ConfigError(f"{where}: {key}: expected a number of pixels, got {value!r}")
        elif key == "mode" and value not in _MODES:
            raise ConfigError(f"{where}: mode: {value!r} is not one of {', '.join(_MODES)}")
        else:
            out[key] = value
    return out


def parse_audio_range(spec: str) -> AudioRange:
    """``START-END=ACTION[:LABEL]`` as the command line takes it, e.g. ``01:12.5-01:13.4=bleep:name spoken``."""
    span, sep, rest = spec.partition("=")
    if not sep:
        raise ConfigError(f"--audio-range {spec!r}: expected START-END=ACTION[:LABEL], e.g. 01:12.5-01:13.4=bleep")
    action, _, label = rest.partition(":")
    action = action.strip()
    if action not in AUDIO_ACTIONS:
        raise ConfigError(f"--audio-range {spec!r}: action {action!r} is not one of {', '.join(sorted(AUDIO_ACTIONS))}")
    try:
        start, end = parse_span(span)
    except ConfigError as e:
        raise ConfigError(f"--audio-range {spec!r}: {e}") from None
    return AudioRange(start=start, end=end, action=action, label=label.strip())  # type: ignore[arg-type]
