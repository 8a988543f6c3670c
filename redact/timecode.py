"""Times as operators write them: ``72.5``, ``01:12.5``, ``1:01:12.5``; spans as ``A-B``."""

from __future__ import annotations

from redact.errors import ConfigError


def parse_time(text: str) -> float:
    """Seconds from ``SS``, ``MM:SS`` or ``HH:MM:SS`` (each part may have decimals only in the last)."""
    raw = text.strip()
    parts = raw.split(":")
    if not raw or len(parts) > 3:
        raise ConfigError(f"{text!r}: expected a time like 72.5, 01:12.5 or 1:01:12.5")
    try:
        *whole, last = parts
        seconds = float(last)
        units = [int(p) for p in whole]
    except ValueError:
        raise ConfigError(f"{text!r}: expected a time like 72.5, 01:12.5 or 1:01:12.5") from None
    if seconds < 0 or any(u < 0 for u in units) or (whole and seconds >= 60) or any(u >= 60 for u in units[1:]):
        raise ConfigError(f"{text!r}: not a valid time")
    total = 0.0
    for u in units:
        total = total * 60 + u
    return total * 60 + seconds if units else seconds


def parse_span(text: str) -> tuple[float, float]:
    """``START-END`` in any form :func:`parse_time` takes; END must come after START."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ConfigError(f"{text!r}: expected a span START-END, e.g. 01:12.5-01:13.4")
    a, b = parse_time(start), parse_time(end)
    if b <= a:
        raise ConfigError(f"{text!r}: the span ends before it starts")
    return a, b
