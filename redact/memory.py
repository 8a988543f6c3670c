"""Process-wide memory policy: fewer glibc malloc arenas.

glibc gives each thread that finds the heap busy an arena of its own (up
to eight per core) and keeps what is freed there for that arena's reuse.
redact's threads (decoder feed, sweep workers, model threads, encoder
feed) allocate frame-sized buffers all the time, so those arenas hold tens
of megabytes of slack each.  Two arenas lowered the peak of the redact
process on the 1080p bench video from 1,065 to 1,005 MiB with the default
config and from ~1,285 to ~1,225 MiB with ``publish.yaml``; the threads
spend their time in model and codec code rather than in malloc, and the
wall time moved by 1-2 % (pub01, three runs each way), about the noise
between runs.

The CLI and the batch workers call :func:`limit_malloc_arenas` first
thing; a program that uses the library directly may call it too, before
starting threads.  ``MALLOC_ARENA_MAX`` in the environment wins.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8
"""mallopt's parameter number for the arena limit (glibc's malloc.h)."""


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Ask glibc for at most ``arenas`` arenas; False where that is not possible or the environment chose."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # libc's symbols, as the interpreter links them
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1
