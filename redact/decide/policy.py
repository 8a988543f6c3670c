"""Decide, per whole track, whether it is redacted or kept: a pure function of the evidence.

Without reference photos every track is redacted.  With them, each face
track's scored samples (:mod:`redact.analyse.identity.scan`) decide, and everything
fails closed:

* keep mode (``--keep``): a track is kept only when enough usable samples
  exist, the median similarity to one person clears the threshold, most
  samples agree, and that person beats the runner-up by a margin.  Even then
  the face is shown only between two consecutive samples that both confirm
  it (``confirm``, at most ``max_bridge`` frames apart; samples too small,
  blurred or turned to be scored in between are passed over): a part of the
  track that was not confirmed (a longer stretch too small, blurred or
  turned, or a different person after two people crossed) stays redacted.
  The track-level tests read each sample's pooled similarity and the
  confirmation its one-sided pools (:mod:`redact.analyse.identity.pool`); samples
  scored without a pool read their own.  Where the track was alone (no other
  face within reach, no coasting: :func:`lone_stretches`) it
  cannot have passed to someone else, so there a sample under ``confirm``
  that is not a stranger's score (``distinct`` or more) does not break the
  stretch, as long as the stretch has a confirmed sample of its own: a face
  half behind a pole for two seconds stays shown.
* only-redact mode (``--only-redact``): a track is left visible only when it
  is confidently *none* of the listed people (below ``distinct``, well under
  the keep threshold, by its own similarity and by its pools alike), and
  again only between two consecutive samples that confirmed it; anything
  unscorable is redacted.

Operator overrides (``decisions.yaml``) win over both, and say so in the
audit log.
"""

from __future__ import annotations

import statistics

import numpy as np

from redact.config import Config, IdentityConfig
from redact.types import Action, Decision, IdentitySample, Kind, Reason, Track


def decide(
    tracks: list[Track],
    config: Config,
    identities: dict[int, list[IdentitySample]] | None = None,
    mode: str | None = None,
    overrides: dict[int, Action] | None = None,
) -> dict[int, Decision]:
    """Map track id -> Decision.  Pure: same tracks, scores, config and overrides, same decisions."""
    overrides = overrides or {}
    out = {}
    for t in tracks:
        if t.id in overrides:
            action = overrides[t.id]
            visible = ((t.first, t.last),) if action is Action.KEEP else ()
            out[t.id] = Decision(t.id, action, Reason.OPERATOR, visible=visible)
        elif mode is None or identities is None:
            out[t.id] = Decision(t.id, Action.REDACT, Reason.DEFAULT)
        elif t.kind != Kind.FACE:
            out[t.id] = Decision(t.id, Action.REDACT, Reason.NOT_FACE)
        elif mode == "keep":
            out[t.id] = _keep_mode(t, identities.get(t.id, []), config.identity, tracks)
        elif mode == "only-redact":
            out[t.id] = _only_redact_mode(t.id, identities.get(t.id, []), config.identity)
        else:
            raise ValueError(f"unknown identity mode {mode!r}")
    return out


def _scored(track_id: int, samples: list[IdentitySample], cfg: IdentityConfig):
    """A redact Decision when the track cannot be scored, else (usable samples, best median, its label, ranking)."""
    usable = [s for s in samples if s.usable]
    if not usable:
        big = any(s.height >= cfg.min_face for s in samples)
        return Decision(track_id, Action.REDACT, Reason.UNSCORABLE if big else Reason.BELOW_SIZE)
    if len(usable) < cfg.min_samples:
        return Decision(track_id, Action.REDACT, Reason.FEW)
    labels = usable[0].scores
    ranked = sorted(((statistics.median(s.track_scores[k] for s in usable), k) for k in labels), reverse=True)
    return usable, ranked[0][0], ranked[0][1], ranked


def _keep_mode(track: Track, samples: list[IdentitySample], cfg: IdentityConfig, tracks: list[Track]) -> Decision:
    track_id = track.id
    scored = _scored(track_id, samples, cfg)
    if isinstance(scored, Decision):
        return scored
    usable, best, label, ranked = scored
    if best < cfg.threshold:
        return Decision(track_id, Action.REDACT, Reason.UNKNOWN, score=best)
    share = sum(s.track_scores[label] >= cfg.threshold for s in usable) / len(usable)
    if share < cfg.agree:
        return Decision(track_id, Action.REDACT, Reason.INCONSISTENT, label=label, score=best)
    if len(ranked) > 1 and best - ranked[1][0] < cfg.margin:
        return Decision(track_id, Action.REDACT, Reason.AMBIGUOUS, label=label, score=best)
    confirmed = [s.usable and s.confirm_scores[label] >= cfg.confirm and _best(s) == label for s in samples]
    visible = _bracketed(samples, confirmed, cfg.max_bridge)
    visible = _union(visible, _held_open(samples, confirmed, lone_stretches(track, tracks, cfg.min_face), label, cfg))
    return Decision(track_id, Action.KEEP, Reason.MATCHED, label=label, score=best, visible=visible)


def _held_open(
    samples: list[IdentitySample],
    confirmed: list[bool],
    stretches: list[tuple[int, int]],
    label: str,
    cfg: IdentityConfig,
) -> tuple[tuple[int, int], ...]:
    """The parts of lone stretches shown although some of their samples failed ``confirm``.

    Inside a stretch where the track was alone (:func:`lone_stretches`)
    it cannot have passed to another face, so a sample there that scores under
    ``confirm`` is the same person seen badly (half behind a pole, a grimace,
    grain), not a swap: it counts like a confirmed one, but only inside the
    stretch, only when the stretch has a confirmed sample of its own, and only
    when no usable sample of the stretch scores under ``distinct`` (confidently
    someone else) or best matches another person.  Across the stretch's ends,
    where another face was near, only confirmed samples join (``_bracketed``).
    """
    ranges: list[tuple[int, int]] = []
    for a, b in stretches:
        scored = [i for i, s in enumerate(samples) if a <= s.frame <= b and s.usable]
        inside = [samples[i] for i in scored]
        if not any(confirmed[i] for i in scored):
            continue
        if any(s.track_scores[label] < cfg.distinct or _best(s) != label for s in inside):
            continue
        ranges += _bracketed(inside, [True] * len(inside), cfg.max_bridge)
    return tuple(ranges)


def _union(*parts: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """Inclusive frame ranges merged where they overlap or touch."""
    merged: list[list[int]] = []
    for a, b in sorted(r for part in parts for r in part):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


def _best(sample: IdentitySample) -> str:
    scores = sample.confirm_scores
    return max(scores, key=scores.__getitem__)


def _closest(sample: IdentitySample) -> float:
    """Only-redact mode: the highest similarity to any listed person, alone or pooled (fail closed)."""
    return max(max(d.values()) for d in (sample.scores, sample.pooled or sample.scores))


def _only_redact_mode(track_id: int, samples: list[IdentitySample], cfg: IdentityConfig) -> Decision:
    scored = _scored(track_id, samples, cfg)
    if isinstance(scored, Decision):
        return scored
    usable, _, label, _ = scored
    best = statistics.median(_closest(s) for s in usable)  # the closest person per sample: stricter than per label
    matching = sum(_closest(s) >= cfg.distinct for s in usable) / len(usable)
    if best >= cfg.distinct or matching > 1 - cfg.agree:
        return Decision(track_id, Action.REDACT, Reason.MATCHED, label=label, score=best)
    confirmed = [s.usable and _closest(s) < cfg.distinct for s in samples]
    visible = _bracketed(samples, confirmed, cfg.max_bridge)
    return Decision(track_id, Action.KEEP, Reason.NOT_LISTED, label=label, score=best, visible=visible)


def _bracketed(samples: list[IdentitySample], confirmed: list[bool], max_bridge: int) -> tuple[tuple[int, int], ...]:
    """Frame ranges between consecutive confirmed samples (and each confirmed sample itself).

    "Consecutive" skips samples that could not be scored (too small, blurred or
    turned for a descriptor): they are no evidence either way, so a brief turn
    of the head between two confirmations, ``max_bridge`` frames at most, does
    not break the stretch.  A sample that was scored and failed always breaks it.
    """
    ranges: list[list[int]] = []
    previous = None  # the last scored sample's frame, if it confirmed
    for ok, s in zip(confirmed, samples):
        if not s.usable:
            continue
        if not ok:
            previous = None
            continue
        start = previous if previous is not None and s.frame - previous <= max_bridge else s.frame
        if ranges and start <= ranges[-1][1]:
            ranges[-1][1] = s.frame
        else:
            ranges.append([start, s.frame])
        previous = s.frame
    return tuple((a, b) for a, b in ranges)


REACH = 0.25
"""How far (a fraction of its size, each side) another face must stay from a track for it to count as alone."""

MAX_GAP = 3
"""Frames between two detections of a track beyond which it may have coasted onto someone else."""


def lone_stretches(track: Track, tracks: list[Track], min_height: float) -> list[tuple[int, int]]:
    """Inclusive frame ranges over which ``track`` cannot have passed from one face to another.

    The tracker hands a track on only to a detection of the same kind that
    overlaps its predicted box (:meth:`Tracker.update`).  So while the track
    is seen at least every ``MAX_GAP`` frames and no other track of its kind
    comes within ``REACH`` of where it was, just before or just after, it
    follows one face: a swap needs a second face at hand.  Faces shorter than
    ``min_height`` end a stretch too: they are never shown in a kept track.
    """
    if not track.frames:
        return []
    frames = np.asarray(track.frames)
    boxes = np.stack(track.boxes)
    before = np.concatenate([boxes[:1], boxes[:-1]])
    after = np.concatenate([boxes[1:], boxes[-1:]])
    reach = np.concatenate(
        [
            np.minimum.reduce([before[:, :2], boxes[:, :2], after[:, :2]]),
            np.maximum.reduce([before[:, 2:], boxes[:, 2:], after[:, 2:]]),
        ],
        axis=1,
    )
    size = boxes[:, 2:] - boxes[:, :2]
    reach = reach + np.concatenate([-size, size], axis=1) * REACH
    alone = size[:, 1] >= min_height
    for other in tracks:
        if other.id == track.id or other.kind != track.kind or not other.frames:
            continue
        during = (frames >= other.first) & (frames <= other.last)
        if not during.any():
            continue
        theirs = np.stack(other.boxes)
        at = np.stack([np.interp(frames[during], other.frames, theirs[:, c]) for c in range(4)], axis=1)
        mine = reach[during]
        near = (np.minimum(mine[:, 2], at[:, 2]) > np.maximum(mine[:, 0], at[:, 0])) & (
            np.minimum(mine[:, 3], at[:, 3]) > np.maximum(mine[:, 1], at[:, 1])
        )
        alone[np.flatnonzero(during)[near]] = False
    stretches: list[tuple[int, int]] = []
    start = None
    for k, f in enumerate(track.frames):
        if alone[k] and start is not None and f - track.frames[k - 1] <= MAX_GAP:
            continue
        if start is not None:
            stretches.append((track.frames[start], track.frames[k - 1]))
        start = k if alone[k] else None
    if start is not None:
        stretches.append((track.frames[start], track.frames[-1]))
    return stretches
