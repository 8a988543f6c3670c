"""The studio's HTTP API: thin handlers over :class:`redact.studio.session.Session`.

``GET /api/state`` is the whole review as JSON (rows, marks, audio ranges,
the needs-a-look list, the render job) without pixels; thumbnails and
frames are fetched one by one as the page shows them, so a long analysis
loads only what is on screen.  Everything slow (decoding, following a
mark, grouping by faces, rendering) runs off the event loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from redact.errors import ConfigError, InputError
from redact.review import crop, pick
from redact.studio import media
from redact.studio.frames import jpeg
from redact.studio.session import Session
from redact.types import Action

THUMBS = 3
MAX_PREVIEW_WIDTH = 1280
"""Frames are sent at most this wide: enough for the player, a third of a 4K frame's bytes."""


def snapshot(s: Session) -> dict:
    """The review as the page draws it; cheap enough to send on every change (no pixels)."""
    info, fps = s.info, s.info.fps
    by_id = {t.id: t for t in s.analysis.tracks}
    with s.lock:
        rows = [_row(s, row, by_id) for row in s.rows]
        marks = [_mark(i, m, t, fps) for i, (m, t) in enumerate(zip(s.review.marks, s.mark_tracks))]
        audio = [{"index": i, "start": r.start, "end": r.end, "action": r.action} for i, r in enumerate(s.review.audio)]
        return {
            "version": s.version,
            "video": {"file": s.input.name, "width": info.width, "height": info.height, "frames": info.frame_count,
                      "fps": [fps.numerator, fps.denominator], "duration": info.frame_count / float(fps),
                      "audio": info.audio is not None},
            "media": media.status(s),
            "grouping": s.grouping,
            "rows": rows,
            "marks": marks,
            "audio": audio,
            "look": s.needs_look(),
            "job": {**{k: v for k, v in s.job.items() if k != "state"},
                    "current": s.job.get("state") == s.state_digest()},
            "output": str(s.output),
        }


def _row(s: Session, row: list[int], by_id) -> dict:
    tracks = [by_id[t] for t in row]
    actions = {s.decisions[t].action for t in row}
    action = actions.pop().value if len(actions) == 1 else "mixed"
    reasons = sorted({str(s.decisions[t].reason) for t in row})
    labels = sorted({s.decisions[t].label for t in row if s.decisions[t].label})
    longest = max(tracks, key=lambda t: len(t.frames))
    if longest.id not in s.picks:
        s.picks[longest.id] = pick(longest, THUMBS)
    spans = [{"track": t.id, "first": t.first, "last": t.last, "kind": str(t.kind),
              "shown": [list(v) for v in s.decisions[t.id].visible] if s.decisions[t.id].action is Action.KEEP else []}
             for t in tracks]
    return {"id": min(row), "tracks": row, "action": action, "reasons": reasons, "labels": labels,
            "detections": sum(len(t.frames) for t in tracks), "spans": spans,
            "thumbs": [[longest.id, k, longest.frames[i]] for k, i in enumerate(s.picks[longest.id])]}


def _mark(i: int, m, t, fps) -> dict:
    return {"index": i, "label": m.label, "mode": m.mode, "first": t.first if t.frames else None,
            "last": t.last if t.frames else None, "whole_frame": m.whole_frame,
            "t": None if m.t is None else round(m.t * fps), "box": None if m.whole_frame else [m.x, m.y, m.w, m.h]}


def routes(s: Session) -> list[Route]:
    thumbs: OrderedDict[tuple[int, int], bytes] = OrderedDict()
    lock = threading.Lock()

    async def state(request: Request) -> Response:
        return JSONResponse(snapshot(s), headers={"cache-control": "no-store"})

    def _thumb(track: int, k: int) -> bytes:
        with lock:
            if (track, k) in thumbs:
                return thumbs[track, k]
        t = next((t for t in s.analysis.tracks if t.id == track), None)
        picks = pick(t, THUMBS) if t is not None else []
        if not 0 <= k < len(picks):
            raise ConfigError(f"no thumbnail {k} of track {track}")
        data = jpeg(crop(s.frames.get(t.frames[picks[k]]), t.boxes[picks[k]]))
        with lock:
            thumbs[track, k] = data
            while len(thumbs) > 2000:
                thumbs.popitem(last=False)
        return data

    async def thumb(request: Request) -> Response:
        data = await run_in_threadpool(_thumb, int(request.path_params["track"]), int(request.path_params["k"]))
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    def _frame(index: int, redacted: bool) -> bytes:
        image = s.preview.paint(s.frames, index) if redacted else s.frames.get(index)
        h, w = image.shape[:2]
        if w > MAX_PREVIEW_WIDTH:
            size = (MAX_PREVIEW_WIDTH, round(h * MAX_PREVIEW_WIDTH / w))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return jpeg(image, 88)

    async def frame(request: Request) -> Response:
        redacted = request.query_params.get("view", "redacted") != "original"
        data = await run_in_threadpool(_frame, int(request.path_params["index"]), redacted)
        return Response(data, media_type="image/jpeg", headers={"cache-control": "no-store"})

    async def video(request: Request) -> Response:
        which = request.path_params["which"]
        path = await run_in_threadpool(media.path, s, which)  # the first call may make the proxy: minutes
        if path is None:
            raise InputError(f"no {which} video yet")
        return FileResponse(path, media_type="video/mp4", headers={"cache-control": "no-store"})

    async def waveform(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(media.waveform, s))

    return [
        Route("/api/state", state),
        Route("/api/thumb/{track:int}/{k:int}", thumb),
        Route("/api/frame/{index:int}", frame),
        Route("/media/{which}", video),
        Route("/api/waveform", waveform),
        *_changes(s),
    ]


def _changes(s: Session) -> list[Route]:
    """The POST/PATCH/DELETE routes: each runs one session method and answers with the new state."""

    def handler(method):
        async def run(request: Request) -> Response:
            body = await request.json() if request.method != "DELETE" else {}
            if not isinstance(body, dict):
                raise ConfigError("expected a JSON object")
            result = await run_in_threadpool(method, body, request.path_params)
            return JSONResponse({"result": result, "state": snapshot(s)})

        return run

    def render(body, params):
        s.start_render()

    table = [
        ("/api/rows/{track:int}/decision", "POST", lambda b, p: s.decide_row(p["track"], str(b["action"]))),
        ("/api/rows/{track:int}/split", "POST", lambda b, p: s.split(p["track"])),
        ("/api/rows/merge", "POST", lambda b, p: s.merge([int(t) for t in b["tracks"]])),
        ("/api/rows/group", "POST", lambda b, p: s.group_by_faces()),
        ("/api/marks", "POST", lambda b, p: s.add_mark(int(b["frame"]), [float(v) for v in b["box"]],
                                                       str(b.get("label", "mark")))),
        ("/api/marks/{i:int}", "PATCH", lambda b, p: s.change_mark(p["i"], int(b["first"]), int(b["last"]))),
        ("/api/marks/{i:int}", "DELETE", lambda b, p: s.delete_mark(p["i"])),
        ("/api/blackouts", "POST", lambda b, p: s.blackout(int(b["first"]), int(b["last"]))),
        ("/api/audio", "POST", lambda b, p: s.add_audio(float(b["start"]), float(b["end"]), str(b["action"]))),
        ("/api/audio/{i:int}", "DELETE", lambda b, p: s.delete_audio(p["i"])),
        ("/api/checks", "POST", lambda b, p: s.check(str(b["id"]), bool(b["checked"]))),
        ("/api/render", "POST", render),
        ("/api/verify", "POST", lambda b, p: s.verify()),
        ("/api/approve", "POST", lambda b, p: s.approve(str(b.get("reviewer", "")), str(b.get("note", "")))),
    ]
    return [Route(path, handler(fn), methods=[method]) for path, method, fn in table]
