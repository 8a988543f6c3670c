"""redact: anonymise video automatically and leave an audit trail of every redaction.

The library API is :func:`redact.run` (one file), composed in
:mod:`redact.pipeline` from the three stages :func:`redact.analyse.analyse`,
:func:`redact.decide.decide` and :func:`redact.render.render`; the
``redact`` command line only wraps them.
"""

from __future__ import annotations

from redact.version import __version__

__all__ = ["__version__", "run"]


def __getattr__(name: str):
    # Lazy, so `import redact` does not pull in OpenCV, PyAV or the models.
    if name == "run":
        from redact.pipeline import run

        return run
    raise AttributeError(f"module 'redact' has no attribute {name!r}")
