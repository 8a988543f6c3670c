"""Typed errors: each says what went wrong, with which file, and what to do.

The CLI prints ``str(error)`` as one line; everything else is a bug and shows a
traceback only with ``REDACT_DEBUG=1``.
"""

from __future__ import annotations


class RedactError(Exception):
    """Base class of every error the tool expects and reports to the user."""


class ConfigError(RedactError):
    """A config file or override is invalid; the message names the key path."""


class InputError(RedactError):
    """The input cannot be read as a video (missing, empty, corrupt, no video stream)."""


class DecodeError(InputError):
    """Decoding stopped before the end of the video."""


class EncodeError(RedactError):
    """ffmpeg failed to write the output."""


class DetectorError(RedactError):
    """A detector failed to load or to run; the pipeline fails closed."""


class OutputError(RedactError):
    """The output path cannot be written."""


class AuditError(RedactError):
    """An audit log fails its check; ``line`` is the first line (from 1) it can no longer vouch for."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line
