"""What the studio works on: one analysis, the reviewer's changes to it, and its renders.

Web-free, so every action the page offers is a plain method here and is
tested without a browser.  Each change is saved at once, atomically, as the
human-readable files of :mod:`redact.review_state`; killing the page or the
server loses nothing that was acknowledged.  Decisions are always derived
the way ``redact render --analysis`` derives them (:func:`redact.decide.decide`
over the analysis' tracks, the marks' tracks and the saved overrides), so
what the page shows, what the studio renders and what the command line
renders are one thing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import redact.review_state as review_state
import redact.store as store
from redact.audit import approve, canonical_json, decisions_digest
from redact.config import AudioRange, MarkedRegion
from redact.decide import decide
from redact.errors import ConfigError, InputError, OutputError
from redact.io import probe
from redact.io.files import sha256_file, write_atomic
from redact.studio import look, people
from redact.studio.frames import FrameSource, Preview
from redact.types import Action, Decision, Track

log = logging.getLogger(__name__)

RENDER_FILE = "render.json"
"""The last render from the studio (output, log, the state it was made of), so a reopened studio knows it."""


class Session:
    """One open analysis.  Methods are called from the server's worker threads; one lock guards the state."""

    def __init__(self, folder: Path, input: Path | None = None, output: Path | None = None):
        self.folder = Path(folder)
        self.saved = store.load(self.folder)
        self.input = Path(input) if input is not None else self.saved.input_path
        if not self.input.is_file():
            raise InputError(f"{self.input}: the analysed video is not there; pass it with --input")
        info = probe(self.input)
        if sha256_file(self.input) != self.saved.input_sha256:
            raise InputError(f"{self.input}: not the video analysed in {self.folder}; pass that one with --input")
        self.config = self.saved.config
        self.analysis = self.saved.analysis(info)
        self.info = self.analysis.video
        self.output = Path(output) if output is not None else self.input.with_name(self.input.stem + ".redacted.mp4")
        check_output_place(self.output, self.folder)
        ids = {t.id for t in self.analysis.tracks}
        self.review = review_state.load(self.folder, ids)
        self.lock = threading.RLock()
        self.version = 0
        self.frames = FrameSource(self.info)
        self.preview = Preview(self.info, self.config)
        self.auto = decide(self.analysis.tracks, self.config, self.analysis.identities, self.analysis.mode)
        self.rows = self.review.people or people.by_tracker(self.analysis.tracks, self.config).rows()
        self.grouping = "saved" if self.review.people else "tracker"
        self.mark_tracks = review_state.mark_tracks(self.folder, self.info, self.config, self.review.marks,
                                                    self.analysis.tracks)
        self.job: dict = _read_json(self.where / RENDER_FILE) or {}
        self.job.pop("running", None)
        self.suspects: list[dict] = list(self.job.get("suspects", []))
        """What `redact verify` found in the last render: kept with it, so a restart cannot forget them."""
        self._fixed_items = look.fixed(self.analysis)
        self.picks: dict[int, list[int]] = {}
        """Thumbnail detections per track (tracks never change, so neither do they)."""
        self._refresh()

    @property
    def where(self) -> Path:
        return review_state.folder_of(self.folder)

    def close(self) -> None:
        self.frames.close()

    # --- derived state ----------------------------------------------------------------------------------

    @property
    def tracks(self) -> list[Track]:
        return self.analysis.tracks + self.mark_tracks

    def _refresh(self) -> None:
        """Decisions as the render will take them, and the preview planned from them; bumps the version."""
        self.decisions: dict[int, Decision] = decide(
            self.tracks, self.config, self.analysis.identities, self.analysis.mode, self.review.overrides)
        self.preview.update(self.tracks, self.decisions, set(self.analysis.failed_frames))
        self.version += 1

    def state_digest(self) -> str:
        """What a render is made of: the decisions, the marks and the audio ranges."""
        marks = [review_state.mark_spec(m) for m in self.review.marks]
        audio = [dataclasses.asdict(r) for r in self.review.audio]
        body = {"decisions": decisions_digest(self.decisions.values()), "marks": marks, "audio": audio}
        return hashlib.sha256(canonical_json(body)).hexdigest()

    def needs_look(self) -> list[dict]:
        return look.items(self.analysis, self.decisions, self.config, self.suspects, self.review.checked,
                          self._fixed_items)

    # --- people -----------------------------------------------------------------------------------------

    def row_of(self, track_id: int) -> list[int]:
        for row in self.rows:
            if track_id in row:
                return row
        raise ConfigError(f"track {track_id} is in no row")

    def decide_row(self, track_id: int, action: str) -> None:
        """Keep or redact every track of the row holding ``track_id``; an override only where it differs
        from the automatic decision, so a track kept on its confirmed frames stays so."""
        act = Action(action)
        with self.lock:
            for t in self.row_of(track_id):
                if self.auto[t].action is act:
                    self.review.overrides.pop(t, None)
                else:
                    self.review.overrides[t] = act
            review_state.save_overrides(self.folder, self.review.overrides)
            self._refresh()

    def split(self, track_id: int) -> None:
        """Take ``track_id`` out of its row into a row of its own."""
        with self.lock:
            row = self.row_of(track_id)
            if len(row) > 1:
                row.remove(track_id)
                self.rows.append([track_id])
                self._save_rows()

    def merge(self, track_ids: list[int]) -> None:
        """One row of the rows holding these tracks (each track keeps its decision until the row is clicked)."""
        with self.lock:
            rows = {id(r): r for r in (self.row_of(t) for t in track_ids)}
            if len(rows) > 1:
                merged = sorted(t for r in rows.values() for t in r)
                self.rows = [r for r in self.rows if id(r) not in rows] + [merged]
                self._save_rows()

    def _save_rows(self) -> None:
        self.rows.sort(key=min)
        review_state.save_people(self.folder, self.rows)
        self.grouping = "saved"
        self.version += 1

    def group_by_faces(self) -> None:
        """Regroup by face descriptors (slow: a dlib descriptor per picked face); replaces the rows."""
        from redact.analyse.identity.embed import FaceEmbedder

        embedder = FaceEmbedder()
        rows = people.group(self.analysis.tracks, self.config,
                            lambda t: people.descriptor(t, self.frames.get, embedder, self.config))
        embedder.close()
        with self.lock:
            self.rows = rows
            self._save_rows()
            self.grouping = "faces"

    # --- marks, blackouts, audio, checks ----------------------------------------------------------------

    def add_mark(self, frame: int, box: list[float], label: str = "mark") -> int:
        """Follow a box drawn on ``frame`` both ways; the mark's span is then set to where it was followed."""
        x1, y1, x2, y2 = box
        fps = float(self.info.fps)
        mark = MarkedRegion(label=label or "mark", mode="track", t=frame / fps, x=round(x1, 1), y=round(y1, 1),
                            w=round(x2 - x1, 1), h=round(y2 - y1, 1))
        (track,) = review_state.follow(self.info, self.config, [mark])
        mark = dataclasses.replace(mark, start=track.first / fps, end=track.last / fps)
        with self.lock:
            self.review.marks.append(mark)
            self.mark_tracks.append(track)
            self._save_marks()
        return len(self.review.marks) - 1

    def change_mark(self, index: int, start: int, end: int) -> None:
        """Cut or extend a mark to frames ``start``-``end`` (inclusive): followed again inside, held beyond."""
        fps = float(self.info.fps)
        with self.lock:
            mark = self._mark(index)
        if not 0 <= start <= end < self.info.frame_count:
            raise ConfigError(f"frames {start}-{end} are not a span of this video (0-{self.info.frame_count - 1})")
        new = dataclasses.replace(mark, start=start / fps, end=end / fps)
        if mark.mode == "track" and not start / fps <= (mark.t or 0) <= end / fps:
            new = dataclasses.replace(new, t=start / fps if (mark.t or 0) < start / fps else end / fps)
        (track,) = review_state.follow(self.info, self.config, [new])
        with self.lock:
            self.review.marks[index] = new
            self.mark_tracks[index] = track
            self._save_marks()

    def delete_mark(self, index: int) -> None:
        with self.lock:
            self._mark(index)
            del self.review.marks[index]
            del self.mark_tracks[index]
            self._save_marks()

    def blackout(self, start: int, end: int) -> int:
        """Black out whole frames ``start``-``end`` (a static mark without a box)."""
        fps = float(self.info.fps)
        if not 0 <= start <= end < self.info.frame_count:
            raise ConfigError(f"frames {start}-{end} are not a span of this video")
        mark = MarkedRegion(label="blackout", mode="static", start=start / fps, end=end / fps)
        (track,) = review_state.follow(self.info, self.config, [mark])
        with self.lock:
            self.review.marks.append(mark)
            self.mark_tracks.append(track)
            self._save_marks()
        return len(self.review.marks) - 1

    def _mark(self, index: int) -> MarkedRegion:
        if not 0 <= index < len(self.review.marks):
            raise ConfigError(f"there is no mark {index}")
        return self.review.marks[index]

    def _save_marks(self) -> None:
        first = review_state.first_mark_id(self.analysis.tracks)
        # As the render will read them back (boxes rounded as saved), so the preview shows what it paints.
        self.mark_tracks = [Track.from_json({**t.to_json(), "id": first + k}) for k, t in enumerate(self.mark_tracks)]
        review_state.save_marks(self.folder, self.review.marks)
        review_state.save_mark_tracks(self.folder, self.config, self.review.marks, self.mark_tracks)
        self._refresh()

    def add_audio(self, start: float, end: float, action: str, label: str = "") -> None:
        if action not in ("mute", "bleep"):
            raise ConfigError(f"audio action {action!r}: the studio mutes or bleeps")
        if not 0 <= start < end:
            raise ConfigError(f"audio range {start}-{end}: the end must come after the start")
        with self.lock:
            self.review.audio.append(AudioRange(start=float(start), end=float(end), action=action, label=label))
            review_state.save_audio(self.folder, self.review.audio)
            self._refresh()

    def delete_audio(self, index: int) -> None:
        with self.lock:
            if not 0 <= index < len(self.review.audio):
                raise ConfigError(f"there is no audio range {index}")
            del self.review.audio[index]
            review_state.save_audio(self.folder, self.review.audio)
            self._refresh()

    def check(self, item: str, checked: bool) -> None:
        with self.lock:
            (self.review.checked.add if checked else self.review.checked.discard)(item)
            review_state.save_checked(self.folder, self.review.checked)
            self.version += 1

    # --- render, verify, approve ------------------------------------------------------------------------

    def render(self) -> None:
        """Render exactly as ``redact render INPUT --analysis FOLDER -o OUTPUT`` does; progress in ``job``."""
        self._render(self._begin_render())

    def start_render(self) -> None:
        """Mark a render running now, so the answer to the page's request already says so, and run it on a
        thread (a short clip renders before the page's first poll, which then never saw it running)."""
        digest = self._begin_render()
        threading.Thread(target=self._render, args=(digest,), name="studio-render", daemon=True).start()

    def _begin_render(self) -> str:
        with self.lock:
            if self.job.get("running"):
                raise ConfigError("a render is already running")
            self.job = {"running": True, "done": 0, "total": self.info.frame_count, "error": None}
            self.version += 1
            return self.state_digest()

    def _render(self, digest: str) -> None:
        from redact.pipeline import render_from

        def progress(stage: str, done: int, total: int) -> None:
            self.job.update(done=done, total=total)

        try:
            result = render_from(self.input, self.folder, self.output, progress=progress)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - shown on the page; the output is atomic, so nothing half-written
            log.warning("render failed: %s", e)
            with self.lock:
                self.job = {"running": False, "error": str(e)}
                self.version += 1
            return
        with self.lock:
            # A change saved while it ran may or may not be in it: then it vouches for no state at all.
            state = digest if self.state_digest() == digest else None
            self.job = {"running": False, "error": None, "output": str(result.output), "log": str(result.audit_log),
                        "state": state, "done": result.frames, "total": result.frames, "approved": None}
            self._save_job()
            self.suspects = []
            self.version += 1

    def verify(self) -> int:
        """``redact verify`` on the studio's render; its suspects join the needs-a-look list.  Its report stays
        in the analysis folder, never beside the published output."""
        from redact.verify import verify

        output = self._rendered()
        r = verify(output, self.input, report=self.where / "verify.json", sheet=self.where / "verify.png",
                   on_decode_error=self.config.detect.on_decode_error)
        with self.lock:
            self.suspects = [{"frame": s.frame, "box": list(s.box), "score": round(s.score, 3)} for s in r.suspects]
            self.job["suspects"] = self.suspects
            self._save_job()
            self.version += 1
        return len(self.suspects)

    def _save_job(self) -> None:
        self.where.mkdir(exist_ok=True)
        write_atomic(self.where / RENDER_FILE, json.dumps(self.job))

    def _rendered(self) -> Path:
        if not self.job.get("output") or self.job.get("state") != self.state_digest():
            raise ConfigError("render first: the last render is not of the review as it is now")
        return Path(self.job["output"])

    def approve(self, reviewer: str, note: str) -> dict:
        """Append the reviewer's approval to the render's audit log; refused while something is unchecked."""
        with self.lock:
            output = self._rendered()
            open_items = [i for i in self.needs_look() if not i["checked"]]
            if open_items:
                raise ConfigError(f"{len(open_items)} item(s) still need a look (first: {open_items[0]['what']})")
            if not reviewer.strip():
                raise ConfigError("approval needs the reviewer's name")
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            result = approve(self.job["log"], reviewer, note, time=stamp, review_sha256=self.state_digest())
            self.job["approved"] = {"reviewer": reviewer.strip(), "time": stamp, "log_sha256": result.log_sha256}
            self._save_job()
            self.version += 1
            log.info("%s approved %s (audit log SHA-256 %s)", reviewer, output, result.log_sha256)
            return self.job["approved"]


def check_output_place(output: Path, folder: Path) -> None:
    """The published output must not land in the analysis folder, which holds unredacted material."""
    out_dir, ana = output.resolve().parent, folder.resolve()
    if out_dir == ana or ana in out_dir.parents:
        raise OutputError(f"{output}: inside the analysis folder {folder}, which holds unredacted material; "
                          "write the output elsewhere")
    if not out_dir.is_dir():
        raise OutputError(f"{output}: folder {out_dir} does not exist")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
