"""The I420 render path: painting around regions only, reading and writing YUV, and the input's colours kept."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from redact import pipeline
from redact.config import RenderConfig, load
from redact.io import VideoWriter, ffmpeg_exe, i420, probe
from redact.io.frames import decode
from redact.render.styles import Painter, region_mask
from redact.render.yuv import clusters, paint_i420
from redact.types import Region, Source

W, H = 320, 240
KINDS = ("face", "text", "plate")


def _frame(seed: int) -> np.ndarray:
    """A textured I420 frame: smooth colour gradients plus noise, so every conversion error shows."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    bgr = np.dstack([(xx * 255 / W), (yy * 255 / H), ((xx + yy) * 127 / (W + H) + 64)])
    bgr = np.clip(bgr + rng.normal(0, 20, bgr.shape), 0, 255).astype(np.uint8)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)


def _regions(rng: np.random.Generator, n: int) -> list[Region]:
    """Random boxes of random kinds, odd corners, overlapping and touching the borders."""
    out = []
    for _ in range(n):
        w, h = rng.integers(4, 90, 2)
        x1, y1 = rng.integers(-w // 2, W - w // 2), rng.integers(-h // 2, H - h // 2)
        box = (max(0, int(x1)), max(0, int(y1)), min(W, int(x1 + w)), min(H, int(y1 + h)))
        out.append(Region(box, str(rng.choice(KINDS)), None, Source.DETECTED, None, None, "test"))
    return out


def _painter(face_style: str) -> Painter:
    """Faces in ``face_style``, text and plates solid boxes (the defaults), painted before faces."""
    return Painter(RenderConfig(style=face_style))


def painted_mask(painter: Painter, regions: list[Region], shape: tuple[int, int]) -> np.ndarray:
    """Every pixel some region's shape covers, drawn independently of the painter."""
    mask = np.zeros(shape, np.uint8)
    for r in regions:
        mask |= region_mask(shape, [r.box], painter.style_of(r.kind)[0].shape == "ellipse")
    return mask


def _chroma_touched(mask: np.ndarray) -> np.ndarray:
    return mask.reshape(H // 2, 2, W // 2, 2).any(axis=(1, 3))


@pytest.mark.parametrize("style", ["fill", "solid", "pixelate", "blur"])
@pytest.mark.parametrize("seed", range(12))
def test_paints_what_the_bgr_path_paints_and_nothing_else(style, seed):
    """Outside the regions every Y and every untouched chroma sample is the input's, bit for bit;
    inside, the picture is the BGR painter's on the same frame (up to 4:2:0 rounding)."""
    rng = np.random.default_rng(seed)
    image, regions = _frame(seed), _regions(rng, int(rng.integers(1, 9)))
    image.flags.writeable = False  # the decoder's frames are read-only; painting must copy
    painter = _painter(style)
    out = paint_i420(painter, image, regions)
    mask = painted_mask(painter, regions, (H, W)) > 0
    y_in, u_in, v_in = i420.planes(image)
    y_out, u_out, v_out = i420.planes(out)
    assert np.array_equal(y_out[~mask], y_in[~mask])
    touched = _chroma_touched(mask)
    assert np.array_equal(u_out[~touched], u_in[~touched]) and np.array_equal(v_out[~touched], v_in[~touched])
    assert (y_out[mask] != y_in[mask]).mean() > 0.5, "regions were painted"
    if style in ("fill", "solid"):
        # Flat colours: the BGR painter on the decoded frame gives the same colour wherever a 2x2
        # block (one chroma sample) lies wholly inside one region's colour.
        reference = _painter(style).paint(cv2.cvtColor(image, cv2.COLOR_YUV2BGR_I420), regions)
        got = cv2.cvtColor(out, cv2.COLOR_YUV2BGR_I420)
        blocks = reference.reshape(H // 2, 2, W // 2, 2, 3).astype(int)
        flat = (blocks == blocks[:, :1, :, :1]).all(axis=(1, 3, 4))
        whole = mask.reshape(H // 2, 2, W // 2, 2).all(axis=(1, 3)) & flat
        inner = np.repeat(np.repeat(whole, 2, 0), 2, 1)
        assert inner.any()
        # fill on the planes reads chroma only from samples wholly outside the regions (the BGR
        # painter's ring pixels at the inner edge show chroma shared with inside pixels): a few
        # levels apart (at most 4 over 200 seeds).
        assert np.abs(got[inner].astype(int) - reference[inner]).max() <= 6


@pytest.mark.parametrize("style", ["fill", "solid"])
@pytest.mark.parametrize("seed", range(8))
def test_nothing_from_inside_a_region_reaches_the_output(style, seed):
    """Two frames differing only in what lies inside the regions (their luma, and every chroma
    sample a region's pixel shares, which also carries the colour of pixels beside it) redact
    to the same bytes."""
    rng = np.random.default_rng(100 + seed)
    a, regions = _frame(seed), _regions(rng, int(rng.integers(1, 9)))
    painter = _painter(style)
    mask = painted_mask(painter, regions, (H, W)) > 0
    b = a.copy()
    y, u, v = i420.planes(b)
    y[mask] = rng.integers(0, 256, int(mask.sum()), dtype=np.uint8)
    inside = _chroma_touched(mask)
    u[inside] = rng.integers(0, 256, int(inside.sum()), dtype=np.uint8)
    v[inside] = rng.integers(0, 256, int(inside.sum()), dtype=np.uint8)
    assert np.array_equal(paint_i420(painter, a, regions), paint_i420(_painter(style), b, regions))


def test_clusters_keep_far_regions_apart_and_cover_every_shape():
    painter = _painter("fill")
    far = [Region((10, 10, 30, 40), "face", 1, Source.DETECTED, None, None, ""),
           Region((250, 170, 290, 220), "face", 2, Source.DETECTED, None, None, "")]
    groups = clusters(painter, far, W, H)
    assert len(groups) == 2
    near = far + [Region((28, 38, 60, 70), "text", 3, Source.DETECTED, None, None, "")]
    groups = clusters(painter, near, W, H)
    assert sorted(len(m) for _, m in groups) == [1, 2]
    for (x1, y1, x2, y2), members in groups:
        assert x1 % 2 == y1 % 2 == x2 % 2 == y2 % 2 == 0
        shapes = painted_mask(painter, members, (H, W))
        outside = shapes.copy()
        outside[y1:y2, x1:x2] = 0
        assert not outside.any(), "a shape reaches outside its cluster's rectangle"


def test_nothing_to_paint_passes_the_frame_through():
    image = _frame(0)
    assert paint_i420(_painter("fill"), image, []) is image


@pytest.mark.parametrize("clip", ["basic", "rot90"])
def test_reader_yuv_frames_match_bgr_frames_and_pyav_matches_ffmpeg(clips, clip):
    info = probe(clips[clip].path)
    with decode(info) as r:
        bgr = [f.image for f in r]
    with decode(info, pix_fmt="yuv420p") as r:
        yuv = [f.image for f in r]
    with decode(info, pix_fmt="yuv420p", on_damage="blackout") as r:
        pyav = [f.image for f in r]
    assert len(bgr) == len(yuv) == len(pyav) == info.frame_count
    assert yuv[0].shape == (info.height * 3 // 2, info.width)
    assert all(np.array_equal(a, b) for a, b in zip(yuv, pyav)), "the two decoders disagree"
    for a, b in zip(bgr[::7], yuv[::7]):
        assert np.abs(cv2.cvtColor(b, cv2.COLOR_YUV2BGR_I420).astype(int) - a).mean() < 3


def test_odd_sizes_are_refused_in_yuv(clips):
    info = probe(clips["odd"].path)
    with pytest.raises(ValueError, match="odd size"):
        decode(info, pix_fmt="yuv420p")
    with pytest.raises(ValueError, match="odd size"):
        VideoWriter(info, "unused.mp4", load().encode, pix_fmt="yuv420p")


def _tagged_clip(path, *vf_and_tags: str) -> None:
    """Two seconds of colour bars with no faces, encoded with the given colour description."""
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "smptehdbars=s=320x240:d=1:r=25", *vf_and_tags,
         "-c:v", "libx264", "-crf", "12", "-y", str(path)],
        check=True,
    )


@pytest.mark.parametrize(
    "tags, matrix",
    [
        (["-vf", "format=yuv420p", "-bsf:v", "h264_metadata=matrix_coefficients=1:colour_primaries=1:"
          "transfer_characteristics=1"], 1),
        (["-vf", "scale=out_range=pc,format=yuv420p", "-color_range", "pc"], 5),
        (["-vf", "format=yuv420p", "-bsf:v", "h264_metadata=matrix_coefficients=2"], 2),
    ],
    ids=["bt709", "full-range", "unspecified"],
)
@pytest.mark.models
@pytest.mark.slow
def test_a_run_keeps_the_inputs_colours(tmp_path, tags, matrix):
    """Passed through unconverted, YUV must be labelled as the input's was: BT.709 footage read
    as BT.601 would shift every colour, full-range footage read as limited would lose contrast."""
    source, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _tagged_clip(source, *tags)
    info = probe(source)
    assert info.colour.matrix == matrix
    result = pipeline.run(source, out, load())
    assert result.regions == 0
    assert probe(out).colour == info.colour
    with decode(info) as a, decode(probe(out)) as b:
        for fa, fb in zip(a, b):
            assert np.abs(fa.image.astype(int) - fb.image).mean() < 2.5, f"frame {fa.index} changed colour"
