"""The needs-a-look list: the places where an automatic decision is weakest, for a human to check.

Approval is refused while any item is unticked (:meth:`redact.studio.session.Session.approve`).
Each item has a stable id (so a tick survives a restart) and a frame to jump to:

* ``failed:A-B``: frames blacked out because decoding or a detector failed on them;
* ``few:T``: a face track with fewer than ``FEW`` detections (a false alarm, or a
  face the detectors barely saw and may have missed around);
* ``small:T``: a face never taller than ``SMALL`` px, near the smallest the detectors find;
* ``limit:T``: a kept track with samples near the identity limits (under
  ``NEAR`` times ``identity.min_face`` tall, or turned past ``NEAR_YAW`` of
  ``identity.max_yaw``), where a descriptor is least sure who it is;
* ``suspect:F:X,Y``: a face ``redact verify`` still finds in the studio's render.
"""

from __future__ import annotations

import numpy as np

from redact.config import Config
from redact.types import FACE_KINDS, Action, Analysis, Decision

FEW = 5
SMALL = 16
NEAR = 1.25
NEAR_YAW = 0.8


def fixed(analysis: Analysis) -> list[dict]:
    """The items that no decision changes (failed frames, few detections, small faces): computed once."""
    out = [_item(f"failed:{a}-{b}", a, f"frames {a}-{b} blacked out: decoding or a detector failed there")
           for a, b in _runs(sorted(analysis.failed_frames))]
    for t in analysis.tracks:
        if t.kind not in FACE_KINDS or not t.frames:
            continue
        if len(t.frames) < FEW:
            out.append(_item(f"few:{t.id}", t.first, f"track {t.id}: only {len(t.frames)} detection(s)"))
        boxes = np.stack(t.boxes)
        tallest = float((boxes[:, 3] - boxes[:, 1]).max())
        if tallest < SMALL:
            out.append(_item(f"small:{t.id}", t.first, f"track {t.id}: a face never over {tallest:.0f} px tall"))
    return out


def items(analysis: Analysis, decisions: dict[int, Decision], config: Config, suspects: list[dict],
          checked: set[str], known: list[dict] | None = None) -> list[dict]:
    """Every item, ``known`` being :func:`fixed`'s (computed here when not given), each with ``checked``."""
    out = [dict(i) for i in (fixed(analysis) if known is None else known)]
    cfg = config.identity
    for t in analysis.tracks:
        d = decisions.get(t.id)
        if t.kind in FACE_KINDS and d is not None and d.action is Action.KEEP:
            near = [s for s in analysis.identities.get(t.id, [])
                    if s.height < NEAR * cfg.min_face or s.yaw > NEAR_YAW * cfg.max_yaw]
            if near:
                out.append(_item(f"limit:{t.id}", near[0].frame,
                                 f"track {t.id} is kept, but {len(near)} sample(s) are near the size or angle limit"))
    for s in suspects:
        x1, y1 = s["box"][:2]
        out.append(_item(f"suspect:{s['frame']}:{x1},{y1}", s["frame"],
                         f"frame {s['frame']}: `redact verify` finds a face still visible (score {s['score']})"))
    for i in out:
        i["checked"] = i["id"] in checked
    return out


def _item(id: str, frame: int, what: str) -> dict:
    return {"id": id, "frame": int(frame), "what": what}


def _runs(frames: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    return runs
