"""Generate a short test video with real faces, and its exact ground truth.

Used by ``redact sample`` (the README's first command needs a clip to work
on) and by the tests.  The faces are the astronaut photo that ships inside
scikit-image and, for a second person, the Grace Hopper photo in matplotlib's
sample data, so nothing is downloaded; it is pasted at known positions and
sizes onto a textured background, so every face box of every frame is known.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from redact.io.files import ffmpeg_exe

# The astronaut's face in skimage.data.astronaut() (512 x 512), found with
# BlazeFace, and a square crop around it with hair and shoulders for context.
_CROP = (124, 18, 328, 222)
_FACE_IN_CROP = (50, 50, 154, 154)

SENSITIVE_TAGS = {
    "creation_time": "2024-05-01T10:00:00Z",
    "location": "+48.8584+002.2945/",
    "comment": "Cell block C, camera 4",
    "title": "incident 0412",
    "artist": "Officer J. Doe",
}
"""Container tags a leaked recording typically carries; the output must lose them all."""


@dataclass
class FacePath:
    """A face moving linearly from ``start`` to ``end`` (top-left corners) at ``height`` px."""

    start: tuple[float, float]
    end: tuple[float, float]
    height: int
    flip: bool = False
    person: str = "astronaut"
    """Whose photo: ``astronaut`` (scikit-image) or ``hopper`` (matplotlib's sample data)."""
    angle: float = 0.0
    """In-plane turn of the face, degrees counter-clockwise (180 = upside down, a person lying on the floor)."""


@dataclass
class Mark:
    """Text drawn on the picture: a name ``badge``, a licence ``plate``, or an ``overlay`` (a camera timestamp).

    Moves linearly from ``start`` to ``end`` (top-left corners); a badge
    with ``follow`` set hangs below that face path instead.  Drawn with
    OpenCV's Hershey font, so Latin only; the text detector does not care
    about the script.
    """

    kind: str
    text: str
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] | None = None
    height: int = 16
    """Cap height of the characters, px."""
    follow: int | None = None
    """Index of the face path a badge is pinned below."""


@dataclass
class Sample:
    path: Path
    fps: Fraction
    width: int
    height: int
    frames: int
    boxes: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
    """Per upright frame, the face boxes (x1, y1, x2, y2) as drawn."""
    marks: list[list[tuple[str, tuple[int, int, int, int]]]] = field(default_factory=list)
    """Per upright frame, (kind, box) of every mark drawn."""


def astronaut_crop() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The BGR face crop and the face box inside it."""
    from skimage import data

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    x1, y1, x2, y2 = _CROP
    return img[y1:y2, x1:x2].copy(), _FACE_IN_CROP


# Grace Hopper in matplotlib's bundled grace_hopper.jpg (512 x 600), found with CenterFace.
_HOPPER_CROP = (110, 60, 422, 372)
_HOPPER_FACE_IN_CROP = (65, 72, 247, 276)


def hopper_crop() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A second real person, so identity tests can tell two people apart (needs matplotlib)."""
    import matplotlib.cbook

    img = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    x1, y1, x2, y2 = _HOPPER_CROP
    return img[y1:y2, x1:x2].copy(), _HOPPER_FACE_IN_CROP


def person_crop(person: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    crops = {"astronaut": astronaut_crop, "hopper": hopper_crop}
    if person not in crops:
        raise ValueError(f"unknown sample person {person!r} (known: {', '.join(crops)})")
    return crops[person]()


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth, textured, face-free background (gradients plus soft blobs)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack(
        [60 + 80 * xx / max(1, width), 90 + 60 * yy / max(1, height), 120 + 40 * np.sin(xx / 37.0) * np.cos(yy / 53.0)],
        axis=-1,
    )
    noise = cv2.GaussianBlur(rng.normal(0, 25, (height, width, 3)).astype(np.float32), (0, 0), 6)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def default_paths(width: int, height: int) -> list[FacePath]:
    h = max(40, height // 3)
    return [
        FacePath((0.05 * width, 0.15 * height), (0.55 * width, 0.25 * height), h),
        FacePath((0.75 * width, 0.55 * height), (0.45 * width, 0.45 * height), int(h * 0.7), flip=True),
    ]


def default_marks(width: int, height: int) -> list[Mark]:
    """A badge on the first person, a passing plate, and a timestamp overlay in the top-left corner."""
    cap = max(10, height // 30)
    return [
        Mark("badge", "J. DOE 4471", height=cap, follow=0),
        Mark("plate", "A123BC 77", (0.62 * width, 0.82 * height), (0.3 * width, 0.8 * height), height=cap + 2),
        Mark("overlay", "2024-05-01 10:00:00 CAM 4", (8, 8), height=max(8, cap - 2)),
    ]


def draw_mark(img: np.ndarray, mark: Mark, x: int, y: int) -> tuple[int, int, int, int]:
    """Draw ``mark`` with its top-left corner at (x, y); return its box (x1, y1, x2, y2), unclipped."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = mark.height / 22.0
    thick = max(1, round(mark.height / 8))
    (tw, th), base = cv2.getTextSize(mark.text, font, scale, thick)
    pad = max(3, mark.height // 3)
    x2, y2 = x + tw + 2 * pad, y + th + base + 2 * pad
    if mark.kind == "overlay":
        cv2.putText(img, mark.text, (x + pad, y + pad + th), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    else:
        paper = (40, 210, 240) if mark.kind == "plate" else (245, 245, 245)
        cv2.rectangle(img, (x, y), (x2, y2), paper, -1)
        cv2.rectangle(img, (x, y), (x2, y2), (20, 20, 20), max(1, thick // 2))
        cv2.putText(img, mark.text, (x + pad, y + pad + th), font, scale, (20, 20, 20), thick, cv2.LINE_AA)
    return x, y, x2, y2


def render_frames(width: int, height: int, frames: int, paths: list[FacePath], seed: int = 0,
                  marks: list[Mark] | None = None):
    """Yield (upright BGR frame, face boxes, mark (kind, box) list) for each frame."""
    crops = {p.person: person_crop(p.person) for p in paths}
    bg = background(width, height, seed)
    for i in range(frames):
        a = i / max(1, frames - 1)
        img = bg.copy()
        boxes = []
        for p in paths:
            crop, (fx1, fy1, fx2, fy2) = crops[p.person]
            s = p.height / (fy2 - fy1)
            tile = cv2.resize(crop, (round(crop.shape[1] * s), round(crop.shape[0] * s)), interpolation=cv2.INTER_AREA)
            if p.flip:
                tile = tile[:, ::-1]
            if p.angle:
                # The crops are square around the face, so the turn keeps it in the tile's middle.
                turn = cv2.getRotationMatrix2D((tile.shape[1] / 2, tile.shape[0] / 2), p.angle, 1.0)
                tile = cv2.warpAffine(tile, turn, (tile.shape[1], tile.shape[0]), borderMode=cv2.BORDER_REFLECT)
            x = round(p.start[0] + (p.end[0] - p.start[0]) * a)
            y = round(p.start[1] + (p.end[1] - p.start[1]) * a)
            # Paste with clipping at the frame edges.
            tx1, ty1 = max(0, x), max(0, y)
            tx2, ty2 = min(width, x + tile.shape[1]), min(height, y + tile.shape[0])
            if tx2 <= tx1 or ty2 <= ty1:
                continue
            img[ty1:ty2, tx1:tx2] = tile[ty1 - y : ty2 - y, tx1 - x : tx2 - x]
            bx1 = x + (tile.shape[1] - round(fx2 * s) if p.flip else round(fx1 * s))
            bx2 = bx1 + round((fx2 - fx1) * s)
            by1, by2 = y + round(fy1 * s), y + round(fy2 * s)
            if p.angle:  # the turned face's bounds, about the tile's centre
                cx, cy, r = x + tile.shape[1] / 2, y + tile.shape[0] / 2, np.deg2rad(p.angle)
                hw = ((bx2 - bx1) * abs(np.cos(r)) + (by2 - by1) * abs(np.sin(r))) / 2
                hh = ((bx2 - bx1) * abs(np.sin(r)) + (by2 - by1) * abs(np.cos(r))) / 2
                bx1, by1, bx2, by2 = round(cx - hw), round(cy - hh), round(cx + hw), round(cy + hh)
            box = (max(0, bx1), max(0, by1), min(width, bx2), min(height, by2))
            if box[2] > box[0] and box[3] > box[1]:
                boxes.append(box)
        drawn = []
        for m in marks or []:
            if m.follow is not None:
                p = paths[m.follow]
                x = round(p.start[0] + (p.end[0] - p.start[0]) * a)
                y = round(p.start[1] + (p.end[1] - p.start[1]) * a) + round(p.height * 1.6)
            else:
                end = m.end or m.start
                x = round(m.start[0] + (end[0] - m.start[0]) * a)
                y = round(m.start[1] + (end[1] - m.start[1]) * a)
            x1, y1, x2, y2 = draw_mark(img, m, x, y)
            box = (max(0, x1), max(0, y1), min(width, x2), min(height, y2))
            if box[2] > box[0] and box[3] > box[1]:
                drawn.append((m.kind, box))
        yield img, boxes, drawn


def make_sample(
    path: str | Path,
    *,
    seconds: float = 3.0,
    fps: Fraction | int = 25,
    size: tuple[int, int] = (640, 360),
    paths: list[FacePath] | None = None,
    audio: bool = True,
    metadata: bool = True,
    rotation: int = 0,
    extra_streams: bool = False,
    seed: int = 0,
    marks: list[Mark] | bool = False,
) -> Sample:
    """Write an H.264 MP4 with faces, a tone, identifying tags and optional extras.

    ``rotation`` (0/90/180/270) stores the pixels turned so that a player,
    applying the display-matrix tag, shows them upright again: the returned
    boxes are always for the upright picture.  ``extra_streams`` adds what a
    leaked file may carry besides picture and sound: a subtitle track, a
    timecode data track and cover art.  ``marks`` draws text on the
    picture (``True``: :func:`default_marks`: a name badge, a plate and a
    timestamp overlay).
    """
    path = Path(path)
    fps = Fraction(fps)
    width, height = size
    frames = max(1, round(seconds * fps))
    paths = default_paths(width, height) if paths is None else paths
    marks = default_marks(width, height) if marks is True else (marks or [])
    sample = Sample(path, fps, width, height, frames)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "video.mp4"
        k = {0: 0, 90: -1, 180: 2, 270: 1}[rotation]
        sw, sh = (height, width) if rotation in (90, 270) else (width, height)
        # Stored size must be even for yuv420p; the odd-size tests pad here and
        # crop back with the container-independent 'crop' filter below.
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{sw}x{sh}", "-framerate", f"{fps.numerator}/{fps.denominator}"]
        cmd += ["-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv444p" if (sw % 2 or sh % 2) else "yuv420p"]
        cmd += [str(video)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        for img, boxes, drawn in render_frames(width, height, frames, paths, seed, marks):
            sample.boxes.append(boxes)
            sample.marks.append(drawn)
            proc.stdin.write(np.ascontiguousarray(np.rot90(img, k)).tobytes())
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("ffmpeg failed to write the sample video")
        _finish(video, path, seconds=frames / fps, audio=audio, metadata=metadata, rotation=rotation, extra=extra_streams, tmp=Path(tmp))
    return sample


def make_batch(
    folder: str | Path, count: int, *, seconds: float = 0.5, size: tuple[int, int] = (192, 144), distinct: int = 4
) -> dict[str, Sample]:
    """``count`` short clips with faces under ``folder``, spread over sub-folders, for batch tests and load runs.

    Only ``distinct`` clips are encoded (different backgrounds); the rest are
    copies, each in its own place in the tree, so a few hundred files cost a
    few seconds to make.  Returns each file's path relative to ``folder``
    with the sample it copies (its face boxes are the ground truth; its own file is gone).
    """
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        originals = [
            make_sample(Path(tmp) / f"clip{i}.mp4", seconds=seconds, fps=20, size=size, seed=i)
            for i in range(min(distinct, count))
        ]
        made = {}
        for n in range(count):
            rel = f"camera {n % 7:02d}/clip {n:04d}.mp4"
            (folder / rel).parent.mkdir(exist_ok=True)
            shutil.copyfile(originals[n % len(originals)].path, folder / rel)
            made[rel] = originals[n % len(originals)]
    return made


def _finish(video: Path, out: Path, *, seconds: Fraction, audio: bool, metadata: bool, rotation: int, extra: bool, tmp: Path) -> None:
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if rotation:
        # The display matrix turns counter-clockwise; pixels were stored turned clockwise.
        cmd += ["-display_rotation", str(rotation)]
    cmd += ["-i", str(video)]
    maps = ["-map", "0:v"]
    n = 1
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={float(seconds):.6f}"]
        maps += ["-map", f"{n}:a"]
        n += 1
    if extra:
        srt = tmp / "subs.srt"
        srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nPrisoner 4471, Ivan Petrov\n", encoding="utf-8")
        cover = tmp / "cover.png"
        cv2.imwrite(str(cover), np.full((64, 64, 3), 200, np.uint8))
        cmd += ["-i", str(srt), "-i", str(cover)]
        maps += ["-map", f"{n}:s", "-map", f"{n + 1}:v"]
    cmd += maps + ["-c:v", "copy", "-c:a", "aac", "-b:a", "96k"]
    if extra:
        cmd += ["-c:s", "mov_text", "-c:v:1", "png", "-disposition:v:1", "attached_pic", "-timecode", "01:02:03:04"]
    if metadata:
        for k, v in SENSITIVE_TAGS.items():
            cmd += ["-metadata", f"{k}={v}"]
        cmd += ["-metadata:s:v:0", "handler_name=Axon Body 3 camera X81234"]
    cmd += [str(out)]
    subprocess.run(cmd, check=True)
