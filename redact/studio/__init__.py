"""The review studio: check, correct and approve a redaction in the browser (``redact studio``).

Needs the ``studio`` extra (Starlette and uvicorn), imported only by
``redact studio``.  The server (:mod:`.server`, :mod:`.api`) is a thin layer
over a web-free :class:`~redact.studio.session.Session`, which saves every
change as the human-readable files of :mod:`redact.review_state` in the
analysis folder, where ``redact render --analysis`` finds them.
"""

from __future__ import annotations

from pathlib import Path

import redact.store as store
from redact.errors import InputError

__all__ = ["analysis_folder_for", "prepare"]


def analysis_folder_for(video: Path) -> Path:
    """``footage.mp4`` -> ``footage.analysis/`` beside it: where ``redact studio footage.mp4`` keeps its work."""
    return video.with_name(video.stem + ".analysis")


def prepare(target: Path, config=None, people=None, progress: bool = False) -> tuple[Path, Path | None]:
    """The analysis folder to open and the video it is of (None: its recorded path).

    ``target`` is an analysis folder, or a video: then its folder beside it,
    analysed first unless it already holds an analysis of this very file.
    """
    target = Path(target)
    if target.is_dir():
        store.load(target)  # a clear error now if it is not an analysis folder
        return target, None
    if not target.is_file():
        raise InputError(f"{target}: no such video or analysis folder")
    folder = analysis_folder_for(target)
    if (folder / store.FILE).is_file():
        from redact.io.files import sha256_file

        if store.load(folder).input_sha256 == sha256_file(target):
            return folder, target
        raise InputError(f"{folder}: holds the analysis of another video; move it away or open it by its folder")
    from redact.pipeline import analyse_to

    analyse_to(target, folder, config, progress=progress, people=people)
    return folder, target
