"""Stage 2, decide: a pure function from whole tracks and their identity scores to one decision per track.

Everything not positively kept is redacted (:mod:`redact.decide.policy`).
"""

from redact.decide.policy import decide

__all__ = ["decide"]
