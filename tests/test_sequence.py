"""``redact run frames/ --as-video``: a folder of numbered frames tracked like a video.

The frames show the astronaut's face moving right; on one frame a grey bar
hides most of it, so no detector finds it there, and only tracking (the
box carried between the frames before and after) covers what is still
visible of it.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from conftest import decode_all, file_sha256, read_audit
from PIL import Image
from skimage import data

from redact.cli import main
from redact.errors import InputError
from redact.io import probe
from redact.sequence import LOG_NAME, numbered_frames

pytestmark = pytest.mark.models

HIDDEN = 6
"""The frame on which the bar hides the face."""


def _face_box(i: int) -> tuple[int, int, int, int]:
    x = 20 + 10 * i
    return x, 60, x + 120, 200


@pytest.fixture()
def frames(tmp_path):
    face = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[40:200, 150:300], (120, 140))
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(14):
        img = np.full((288, 384, 3), 100, np.uint8)
        x1, y1, x2, y2 = _face_box(i)
        img[y1:y2, x1:x2] = face
        if i == HIDDEN:
            img[y1 + 45 : y2, x1:x2] = 100  # the eyes, nose and mouth hidden: only the hair and brow show
        # Numbered from 1, with a gap in the numbering: the order is what counts, not the numbers.
        cv2.imwrite(str(folder / f"cam_{(i + 1) * 2:05d}.png"), img)
    (folder / "notes.txt").write_text("not a frame")
    return folder


@pytest.mark.slow
def test_frames_to_an_mp4_are_tracked_through_a_hidden_frame(frames, tmp_path):
    out = tmp_path / "out.mp4"
    assert main(["run", str(frames), "-o", str(out), "--as-video", "--fps", "10", "-q"]) == 0
    info = probe(out)
    assert info.frame_count == 14 and info.fps == 10 and (info.width, info.height) == (384, 288)
    records = read_audit(tmp_path / "out.audit.jsonl")
    # The header's input is the intermediate video, gone now; its source ties the log to the frames themselves.
    listing = "".join(f"{file_sha256(p)}  {p.name}\n" for p in numbered_frames(frames))
    assert records[0]["source"] == {"type": "frames", "folder": "frames", "frames": 14, "first": "cam_00002.png",
                                    "last": "cam_00028.png", "fps": "10/1",
                                    "frames_sha256": hashlib.sha256(listing.encode()).hexdigest()}
    lines = [r for r in records if r["type"] == "frame"]
    assert [r["frame"] for r in lines] == list(range(14)), "a region on every frame"
    hidden = next(r for r in lines if r["frame"] == HIDDEN)["regions"]
    assert any(r["source"] != "detected" for r in hidden), "the hidden frame is covered by tracking"
    video = decode_all(out)
    x1, y1, x2, _y2 = _face_box(HIDDEN)
    brow = video[HIDDEN, y1 + 10 : y1 + 40, x1 + 30 : x2 - 30].astype(float)
    assert brow.std(axis=(0, 1)).max() < 6, "what is visible of the face is painted over"


@pytest.mark.slow
def test_frames_to_a_folder_keep_names_format_and_untouched_background(frames, tmp_path):
    out = tmp_path / "redacted"
    assert main(["run", str(frames), "-o", str(out), "--as-video", "--fps", "10", "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([p.name for p in frames.glob("*.png")] + [LOG_NAME])
    records = read_audit(out / LOG_NAME)
    assert records[0]["type"] == "sequence" and records[-1]["type"] == "summary"
    images = [r for r in records if r["type"] == "image"]
    assert [r["input"]["file"] for r in images] == [p.name for p in numbered_frames(frames)]
    assert all(r["regions"] for r in images)
    for i, path in enumerate(numbered_frames(frames)):
        before, after = cv2.imread(str(path)), cv2.imread(str(out / path.name))
        assert Image.open(out / path.name).format == "PNG"
        assert np.array_equal(before[240:], after[240:]), "pixels away from the face are exactly the input's"
        x1, y1, x2, _y2 = _face_box(i)
        assert not np.array_equal(before[y1:y1 + 40, x1:x2], after[y1:y1 + 40, x1:x2])
    # The folder appears complete or not at all: a second run refuses to mix into it.
    assert main(["run", str(frames), "-o", str(out), "--as-video", "-q"]) == 1
    # Its log vouches for every frame written.
    assert main(["audit", "check", str(out / LOG_NAME), "--output", str(out)]) == 0
    first = numbered_frames(frames)[0].name
    (out / first).write_bytes((frames / first).read_bytes())  # the unredacted frame put back
    assert main(["audit", "check", str(out / LOG_NAME), "--output", str(out)]) == 1


def test_sequence_rules(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").touch()
    with pytest.raises(InputError, match="needs a number"):
        numbered_frames(tmp_path / "a")
    (tmp_path / "b").mkdir()
    for name in ("f1.png", "f2.jpg"):
        (tmp_path / "b" / name).touch()
    with pytest.raises(InputError, match="several formats"):
        numbered_frames(tmp_path / "b")
    (tmp_path / "c").mkdir()
    for name in ("f10.png", "f9.png", "g010.png"):
        (tmp_path / "c" / name).touch()
    with pytest.raises(InputError, match="share a number"):
        numbered_frames(tmp_path / "c")
    (tmp_path / "c" / "g010.png").unlink()
    assert [p.name for p in numbered_frames(tmp_path / "c")] == ["f9.png", "f10.png"]
