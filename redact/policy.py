"""Decide, per whole track, whether it is redacted or kept: a pure function.

Everything not positively kept is redacted.  Until identity matching exists
(reference photos of people to keep), no track can be kept, so every track is
redacted with the reason recorded for the audit log.
"""

from __future__ import annotations

from redact.config import Config
from redact.types import Action, Decision, Track

REASON_DEFAULT = "redact-all"
"""No keep list was given: every detected object is redacted."""


def decide(tracks: list[Track], config: Config) -> dict[int, Decision]:
    """Map track id -> Decision.  Pure: same tracks and config, same decisions."""
    del config  # the keep-list options will live here; nothing else changes the outcome yet
    return {t.id: Decision(track_id=t.id, action=Action.REDACT, reason=REASON_DEFAULT) for t in tracks}
