"""redact: anonymise video automatically and leave an audit trail of every redaction.

The library API is :func:`redact.run` (one file) plus the stage functions in
:mod:`redact.pipeline`; the ``redact`` command line only wraps them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "run"]


def __getattr__(name: str):
    # Lazy, so `import redact` does not pull in OpenCV, PyAV or the models.
    if name == "run":
        from redact.pipeline import run

        return run
    raise AttributeError(f"module 'redact' has no attribute {name!r}")
