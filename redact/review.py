"""The review report: one self-contained HTML page for confirming or overriding per-track decisions.

An operator reads it between ``redact analyse`` and ``redact render``: a
timeline of how many faces are shown or hidden, and one row per track with
its decision, the evidence behind it and a few thumbnails.  The thumbnails are
crops of the *original* frames, because a reviewer must see who was kept to
judge the decision: the page therefore holds unredacted faces.  It is written
beside the analysis (never beside a published video), says so in a banner at
the top, embeds everything (images as data URIs, CSS inline) so it is never
half-loaded from elsewhere, and forbids scripts and external loads through a
Content-Security-Policy, so an unescaped label could not run anything either.
"""

from __future__ import annotations

import html
import logging
import shlex
import statistics
from base64 import b64encode
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from tqdm.contrib.logging import logging_redirect_tqdm

import redact.store as store
from redact.errors import InputError, OutputError
from redact.io.files import check_output, sha256_file, write_atomic
from redact.io.frames import decode
from redact.io.probe import probe
from redact.types import Track

log = logging.getLogger(__name__)

THUMB_HEIGHT = 96
GROW = 1.3
"""Thumbnails show the box grown by 30 %: enough hair and context to recognise a person."""
MAX_BARS = 300
_STEPS = (0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
"""Timeline bucket lengths in seconds; the shortest giving at most MAX_BARS bars is used."""

REASONS = {
    "matched": "matched a reference person (kept in keep mode, redacted in only-redact mode)",
    "not-listed": "confidently none of the listed people",
    "unknown": "scored, but matched no reference person well enough",
    "below-size": "never large enough to score",
    "unscorable": "large enough, but every sample was blurred or turned away",
    "too-few-samples": "too few usable samples to decide",
    "inconsistent": "the samples disagree (maybe two people in one track)",
    "ambiguous": "two reference people score too close to tell apart",
    "operator": "an operator override from a decisions file",
    "redact-all": "no reference photos: everything is redacted",
    "not-a-face": "identity applies to faces only",
}
MODES = {None: "redact everyone", "keep": "keep listed people", "only-redact": "only redact listed people"}


def write_report(
    folder: str | Path,
    input: str | Path | None = None,
    output: str | Path | None = None,
    thumbs: int = 4,
    progress: bool = False,
) -> Path:
    """Write the review page for the analysis in ``folder`` and return its path.

    ``input`` defaults to the path recorded in the analysis; its SHA-256 must
    match, or the thumbnails would show another video's people.  ``output``
    defaults to ``folder/review.html``; the page is written under a temporary
    name and renamed, so a report at the final path is always complete.
    """
    saved = store.load(folder)
    folder = saved.folder
    input = Path(input) if input is not None else saved.input_path
    output = Path(output) if output is not None else folder / "review.html"
    if not input.is_file():
        raise InputError(f"{input}: the analysed video is not there; pass it with --input")
    info = probe(input)
    if sha256_file(input) != saved.input_sha256:
        raise InputError(
            f"{input}: not the video this analysis is of ({saved.record['input']['file']}, "
            f"SHA-256 {saved.input_sha256[:12]}...); pass the analysed file with --input"
        )
    check_output(output, input)
    if output.resolve() == (folder / store.FILE).resolve():
        raise OutputError(f"{output}: would overwrite the analysis")
    published = _redacted_output_in(output.parent)
    if published is not None:
        raise OutputError(
            f"{output}: {published.name} shows that this folder holds redacted output, and the report shows "
            f"unredacted faces; write it beside the analysis (the default, {folder / 'review.html'})"
        )
    images = _thumbnails(info, saved.tracks, thumbs, progress, saved.config.detect.on_decode_error)
    page = _page(saved, input, images)
    try:
        write_atomic(output, page)
    except OSError as e:
        raise OutputError(f"{output}: cannot write the report ({e.strerror or e})") from e
    return output


def pick(track: Track, n: int) -> list[int]:
    """Detection indices for ``n`` thumbnails: the largest box of each of ``n`` equal slices of the track.

    Spread over the track so a reviewer sees all of it (a track that swaps
    people after a crossing shows both), largest so each face is legible.
    """
    if n <= 0 or not track.frames:
        return []
    areas = np.array([(b[2] - b[0]) * (b[3] - b[1]) for b in track.boxes])
    chunks = np.array_split(np.arange(len(track.frames)), min(n, len(track.frames)))
    return [int(c[np.argmax(areas[c])]) for c in chunks]


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A square-ish crop around ``box`` grown by ``GROW``, clipped to the frame, ``THUMB_HEIGHT`` px high."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1, 1.0) * GROW
    a = min(max(round(cx - side / 2), 0), w - 1)
    b = min(max(round(cx + side / 2), a + 1), w)
    c = min(max(round(cy - side / 2), 0), h - 1)
    d = min(max(round(cy + side / 2), c + 1), h)
    part = image[c:d, a:b]
    width = max(1, round(part.shape[1] * THUMB_HEIGHT / part.shape[0]))
    interp = cv2.INTER_AREA if part.shape[0] > THUMB_HEIGHT else cv2.INTER_CUBIC
    return cv2.resize(part, (width, THUMB_HEIGHT), interpolation=interp)


def _redacted_output_in(folder: Path) -> Path | None:
    """A file that only a finished redaction writes (audit log, batch manifest or summary), if ``folder`` has one."""
    for pattern in ("*.audit.jsonl", "*.manifest.json", "redact-batch.json"):
        hit = next(folder.glob(pattern), None)
        if hit is not None:
            return hit
    return None


def _thumbnails(
    info, tracks: list[Track], n: int, progress: bool, on_damage: str = "fail"
) -> dict[int, list[tuple[int, str | None]]]:
    """Track id -> [(frame, JPEG data URI or None if that frame never decoded)], in one decode pass."""
    picks = {t.id: pick(t, n) for t in tracks}
    wanted: dict[int, list[tuple[Track, int]]] = {}
    for t in tracks:
        for i in picks[t.id]:
            wanted.setdefault(t.frames[i], []).append((t, i))
    got: dict[tuple[int, int], str] = {}
    if wanted:
        last = max(wanted)
        with (
            logging_redirect_tqdm(),
            decode(info, "review", progress, on_damage=on_damage, stop_after=last, total=last + 1) as frames,
        ):
            for frame in frames:
                for t, i in wanted.get(frame.index, ()):
                    ok, jpeg = cv2.imencode(".jpg", crop(frame.image, t.boxes[i]), [cv2.IMWRITE_JPEG_QUALITY, 85])
                    if ok:
                        got[t.id, i] = "data:image/jpeg;base64," + b64encode(jpeg.tobytes()).decode("ascii")
    missing = sum(len(v) for v in wanted.values()) - len(got)
    if missing:
        log.warning("%s: %d thumbnail frame(s) could not be decoded", info.path, missing)
    return {t.id: [(t.frames[i], got.get((t.id, i))) for i in picks[t.id]] for t in tracks}


def bucket_frames(frame_count: int, fps: Fraction) -> int:
    """Frames per timeline bar: the shortest round duration that keeps the bar count readable."""
    for step in _STEPS:
        size = max(1, round(step * fps))
        if frame_count / size <= MAX_BARS:
            return size
    return -(-frame_count // MAX_BARS)


def timeline(tracks: list[Track], decisions: dict[int, dict], frame_count: int, size: int):
    """Per bucket: tracks shown (inside a keep decision's ``visible`` ranges) and tracks redacted.

    A track shown for part of a bucket and redacted for the rest counts in
    both, so a brief redaction inside a kept stretch stays visible here.
    """
    n = max(1, -(-frame_count // size))
    kept, redacted = np.zeros(n, int), np.zeros(n, int)
    for t in tracks:
        span = np.arange(t.first, t.last + 1)
        shown = np.zeros(len(span), bool)
        d = decisions.get(t.id, {})
        if d.get("action") == "keep":
            for a, b in d.get("visible", []):
                shown[max(a - t.first, 0) : max(b - t.first + 1, 0)] = True
        for mask, counts in ((shown, kept), (~shown, redacted)):
            idx = np.unique(span[mask] // size)
            counts[idx[idx < n]] += 1
    return kept, redacted


def _t(frame: int, fps: Fraction) -> str:
    """mm:ss.s, rounded once so 59.96 s reads 01:00.0, not 00:60.0."""
    tenths = round(frame / fps * 10)
    m, tenths = divmod(tenths, 600)
    return f"{m:02d}:{tenths / 10:04.1f}"


def _svg(saved: store.Saved, decisions: dict[int, dict]) -> str:
    fps, count = saved.fps, saved.frame_count
    size = bucket_frames(count, fps)
    kept, redacted = timeline(saved.tracks, decisions, count, size)
    failed = {f // size for f in saved.record["failed_frames"]}
    x0, width, mid, half = 90, 870, 80, 66
    bw, top = width / len(kept), max(int(kept.max()), int(redacted.max()), 1)
    out = [
        '<svg viewBox="0 0 1000 190" role="img" aria-label="timeline">',
        f'<text x="82" y="20" class="ax">{top} shown</text><text x="82" y="150" class="ax">{top} redacted</text>',
    ]
    for i, (k, r) in enumerate(zip(kept, redacted)):
        first, last = i * size, min((i + 1) * size, count) - 1
        x, w = x0 + i * bw, bw * (0.85 if bw > 3 else 1)
        tip = f"{_t(first, fps)}–{_t(last + 1, fps)}: {r} redacted, {k} shown" + (
            ", FAILED FRAMES" if i in failed else ""
        )
        out.append(
            f'<g data-first="{first}" data-last="{last}" data-kept="{k}" data-redacted="{r}" '
            f'data-failed="{int(i in failed)}"><title>{tip}</title>'
            f'<rect x="{x:.1f}" y="10" width="{bw:.1f}" height="150" fill-opacity="0"/>'
        )
        if k:
            out.append(
                f'<rect class="keep" x="{x:.1f}" y="{mid - k / top * half:.1f}" width="{w:.1f}" height="{k / top * half:.1f}"/>'
            )
        if r:
            out.append(
                f'<rect class="redact" x="{x:.1f}" y="{mid + 2}" width="{w:.1f}" height="{r / top * half:.1f}"/>'
            )
        if i in failed:
            out.append(f'<rect class="failed" x="{x:.1f}" y="152" width="{max(w, 2):.1f}" height="8"/>')
        out.append("</g>")
    out.append(f'<line x1="{x0}" x2="{x0 + width}" y1="{mid + 1}" y2="{mid + 1}" class="axis"/>')
    seconds = count / fps
    step = next((s for s in _STEPS if seconds / s <= 10), _STEPS[-1])
    for k in range(int(seconds / step) + 1):
        x = x0 + float(k * step * fps / count) * width
        out.append(f'<text x="{x:.1f}" y="180" class="tick">{_t(round(k * step * fps), fps)}</text>')
    return "\n".join(out) + "</svg>"


def _identity(samples, label: str | None) -> str:
    if not samples:
        return "—"
    usable = [s for s in samples if s.usable]
    text = f"{len(usable)}/{len(samples)} usable"
    scores = [s.track_scores[label] for s in usable if label in s.track_scores]
    pooled = " pooled" if any(s.pooled for s in usable) else ""
    return text + (f", median{pooled} {statistics.median(scores):.3f}" if scores else "")


def _row(t: Track, d: dict, samples, images, fps: Fraction) -> str:
    e = html.escape
    action = d.get("action", "redact")
    score = "" if d.get("score") is None else f"{d['score']:.3f}"
    visible = ", ".join(f"{_t(a, fps)}–{_t(b, fps)}" for a, b in d.get("visible", [])) if action == "keep" else "never"
    imgs = "".join(
        f'<img src="{uri}" height="{THUMB_HEIGHT}" alt="track {t.id} frame {f}" title="frame {f}, {_t(f, fps)}">'
        if uri
        else f'<span class="missing" title="frame {f}">not decoded</span>'
        for f, uri in images
    )
    reason = d.get("reason", "no decision")
    return (
        f'<tr id="track-{t.id}"><td class="num">{t.id}</td><td>{e(t.kind)}</td>'
        f'<td class="nw">{t.first}–{t.last}<br><small>{_t(t.first, fps)}–{_t(t.last, fps)}</small></td>'
        f'<td class="num">{len(t.frames)}</td><td class="{e(action)}">{e(action)}</td>'
        f'<td class="nw" title="{e(REASONS.get(reason, ""))}">{e(reason)}</td><td>{e(d.get("label") or "")}</td>'
        f'<td class="num">{score}</td><td>{e(_identity(samples, d.get("label")))}</td>'
        f'<td>{visible}</td><td class="thumbs">{imgs}</td></tr>'
    )


def _page(saved: store.Saved, input: Path, images: dict[int, list[tuple[int, str | None]]]) -> str:
    e, rec, fps = html.escape, saved.record, saved.fps
    decisions = {int(d["track"]): d for d in saved.decisions}
    keep_ids = [t.id for t in saved.tracks if decisions.get(t.id, {}).get("action") == "keep"]
    redact_ids = [t.id for t in saved.tracks if t.id not in keep_ids]
    people = rec["people"]
    mode = people["mode"] if people else None
    labels = ", ".join(p["label"] for p in people["people"]) if people else "none"
    rate = f"{float(fps):.3f}".rstrip("0").rstrip(".") + ("" if fps.denominator == 1 else f" ({fps})")
    failed = rec["failed_frames"]
    rows = "\n".join(
        _row(t, decisions.get(t.id, {}), saved.identities.get(t.id), images.get(t.id, []), fps) for t in saved.tracks
    )
    command = (
        f"redact render {shlex.quote(str(input))} --analysis {shlex.quote(str(saved.folder))} "
        f"--decisions decisions.yaml -o OUTPUT.mp4"
    )
    facts = [
        ("Input", rec["input"]["file"]),
        ("SHA-256", rec["input"]["sha256"]),
        ("Duration", f"{_t(saved.frame_count, fps)} ({rec['video']['duration']:.2f} s)"),
        ("Frames", f"{saved.frame_count} at {rate} fps"),
        ("Mode", MODES.get(mode, str(mode))),
        ("Reference people", labels),
        ("Tracks", f"{len(saved.tracks)}: {len(keep_ids)} kept visible, {len(redact_ids)} redacted"),
        ("Failed frames", f"{len(failed)} (the detector failed; blacked out in the render)" if failed else "none"),
    ]
    summary = "".join(f"<tr><th>{k}</th><td>{e(v)}</td></tr>" for k, v in facts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="robots" content="noindex"><title>UNREDACTED review: {e(rec["input"]["file"])}</title>
<style>{_CSS}</style></head><body>
<div class="banner"><strong>Contains unredacted faces.</strong> The thumbnails below are crops of the original
video. Do not publish, share or upload this file; keep it with the analysis and delete it after review.</div>
<h1>Review: {e(rec["input"]["file"])}</h1>
<table class="facts">{summary}</table>
<h2>Timeline</h2><p class="legend"><span class="sw keep"></span> faces shown
<span class="sw redact"></span> faces redacted <span class="sw failed"></span> failed frames
(per bar of {_t(bucket_frames(saved.frame_count, fps), fps)}; a track shown for part of a bar counts in both)</p>
{_svg(saved, decisions)}
<h2>Tracks</h2>
<table class="tracks"><thead><tr><th>Track</th><th>Kind</th><th>Frames / time</th><th>Detections</th>
<th>Decision</th><th>Reason</th><th>Label</th><th>Score</th><th>Identity samples</th><th>Shown</th>
<th>Thumbnails (original frames)</th></tr></thead><tbody>
{rows}
</tbody></table>
<h2>How to override</h2>
<p>Write <code>decisions.yaml</code> (the automatic decisions are filled in; move ids between the lists),
then render. A track kept by the operator is shown on <em>every</em> frame of its span, so check all its thumbnails.</p>
<pre>keep: [{", ".join(map(str, keep_ids))}]
redact: [{", ".join(map(str, redact_ids))}]</pre>
<pre>{e(command)}</pre>
</body></html>
"""


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 24px 40px;color:#1b1f24}
.banner{background:#b00020;color:#fff;padding:14px 18px;margin:0 -24px 16px;font-size:16px}
h1{font-size:22px;margin:12px 0}h2{font-size:17px;margin:24px 0 8px}
table{border-collapse:collapse}th,td{padding:4px 8px;text-align:left;vertical-align:top}
.facts th{color:#555;font-weight:600}.facts td{font-family:ui-monospace,monospace;word-break:break-all}
.tracks{width:100%}.tracks thead th{background:#eef0f3;position:sticky;top:0}
.tracks td{border-top:1px solid #dde1e6}.num{text-align:right;font-variant-numeric:tabular-nums}
td.keep{background:#d7f5dd;color:#116329;font-weight:700}td.redact{background:#fde2e1;color:#a40e26;font-weight:700}
.thumbs{white-space:nowrap}.thumbs img{margin:0 4px 4px 0;border-radius:3px;vertical-align:top}
.missing{display:inline-block;width:96px;height:96px;background:#eee;color:#777;font-size:12px;text-align:center;line-height:96px}
svg{width:100%;max-width:1200px;height:auto;display:block}
rect.keep,.sw.keep{fill:#2da44e;background:#2da44e}rect.redact,.sw.redact{fill:#cf222e;background:#cf222e}
rect.failed,.sw.failed{fill:#111;background:#111}.axis{stroke:#888}
.ax{font-size:12px;text-anchor:end;fill:#555}.tick{font-size:12px;text-anchor:middle;fill:#555}
.sw{display:inline-block;width:12px;height:12px;vertical-align:-1px;margin-left:10px}
.nw{white-space:nowrap}.legend{color:#555;margin:0}pre{background:#f4f5f7;padding:10px 14px;overflow-x:auto}
"""
