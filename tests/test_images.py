"""Still pictures: formats and depth, metadata and thumbnails, orientation, hostile files, fail-closed, end to end.

Every picture is built here from real faces (scikit-image's astronaut,
matplotlib's Grace Hopper) and goes through the real detectors; the EXIF
block of the metadata test is written byte by byte, so the test knows
exactly what a camera would have left in the file.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from redact.analyse.still import StillAnalyser
from redact.analyse.sweep import DetectorSlot
from redact.cli import main
from redact.config import load
from redact.errors import DetectorError, InputError
from redact.io.images import heif_available, read_picture, upright
from redact.still import run_image
from redact.types import Detections

FACE = (178, 65, 272, 175)
"""The astronaut's face in her 512 x 512 picture (x1, y1, x2, y2)."""

pytestmark = pytest.mark.models


def astronaut_rgb() -> np.ndarray:
    return data.astronaut().copy()


def core(pixels: np.ndarray, box=FACE, frac: float = 0.6) -> np.ndarray:
    x1, y1, x2, y2 = box
    mx, my = int((x2 - x1) * (1 - frac) / 2), int((y2 - y1) * (1 - frac) / 2)
    return pixels[y1 + my : y2 - my, x1 + mx : x2 - mx].astype(np.float64)


def redacted(before: np.ndarray, after: np.ndarray, box=FACE) -> bool:
    """The face's core no longer shows the face: flat (a fill has no texture) and unlike the original."""
    a, b = core(before, box), core(after, box)
    scale = 257.0 if before.dtype == np.uint16 else 1.0
    flat = b.reshape(-1, b.shape[-1]).std(axis=0).max() if b.ndim == 3 else b.std()
    return flat / scale < 3 and np.abs(a - b).mean() / scale > 10


def outside(pixels: np.ndarray, record: dict) -> np.ndarray:
    """The pixels of the picture that no audited region's shape can touch (the regions' windows left out)."""
    from redact.render.styles import shape_window

    keep = np.ones(pixels.shape[:2], bool)
    for r in record["regions"]:
        x1, y1, x2, y2 = shape_window(tuple(r["box"]), r["shape"] == "ellipse", pixels.shape[:2])
        keep[y1:y2, x1:x2] = False
    assert keep.mean() > 0.5, "most of the picture lies outside the regions"
    return pixels[keep]


@pytest.fixture(scope="module")
def config():
    return load()


@pytest.fixture(scope="module")
def analyser(config):
    a = StillAnalyser(config)
    yield a
    a.close()


# --- formats and depth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tiff"])
@pytest.mark.slow
def test_each_format_keeps_format_size_and_mode_and_loses_the_face(tmp_path, config, analyser, suffix):
    src, out = tmp_path / f"a{suffix}", tmp_path / f"a.out{suffix}"
    Image.fromarray(astronaut_rgb()).save(src)
    result = run_image(src, out, config, analyser=analyser)
    before, after = Image.open(src), Image.open(out)
    assert (after.format, after.size, after.mode) == (before.format, before.size, before.mode)
    a, b = np.asarray(before), np.asarray(after)
    assert redacted(a, b)
    lossy = suffix in (".jpg", ".webp")
    assert np.abs(outside(a, result.record).astype(int) - outside(b, result.record)).max() <= (40 if lossy else 0)
    assert result.regions >= 1 and result.audit_log.is_file()


def test_png_alpha_is_kept_and_made_opaque_over_a_face(tmp_path, config, analyser):
    rgba = np.dstack([astronaut_rgb(), np.full((512, 512), 255, np.uint8)])
    rgba[FACE[1] : FACE[3], FACE[0] : FACE[2], 3] = 0  # a transparent hole that still holds the face's colours
    rgba[:40, :40, 3] = 7
    src, out = tmp_path / "cut.png", tmp_path / "cut.out.png"
    Image.fromarray(rgba).save(src)
    run_image(src, out, config, analyser=analyser)
    got = np.asarray(Image.open(out))
    assert Image.open(out).mode == "RGBA"
    assert redacted(rgba[..., :3], got[..., :3])
    assert (core(got[..., 3:4].squeeze(-1)) == 255).all(), "no outline of the face may survive in the alpha"
    assert (got[:40, :40, 3] == 7).all() and (got[:40, :40] == rgba[:40, :40]).all()


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.slow
def test_16_bit_pictures_stay_16_bit_to_the_last_bit(tmp_path, config, analyser, suffix, grey):
    rgb16 = astronaut_rgb().astype(np.uint16) * 257 + np.random.default_rng(1).integers(0, 200, (512, 512, 3),
                                                                                       dtype=np.uint16)
    pixels = cv2.cvtColor(rgb16, cv2.COLOR_RGB2GRAY) if grey else rgb16
    src, out = tmp_path / f"deep{suffix}", tmp_path / f"deep.out{suffix}"
    cv2.imwrite(str(src), pixels if grey else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    record = run_image(src, out, config, analyser=analyser).record
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    want = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16 and got.shape == want.shape
    assert np.array_equal(outside(got, record), outside(want, record)), "pixels outside the regions keep all 16 bits"
    assert (outside(got, record) & 0xFF).any(), "the low byte is real data, not a scaled 8-bit copy"
    assert redacted(want, got)


@pytest.mark.skipif(not heif_available(), reason="pillow-heif is not installed")
@pytest.mark.slow
def test_heif_round_trip(tmp_path, config, analyser):
    src, out = tmp_path / "a.heic", tmp_path / "a.out.heic"
    Image.fromarray(astronaut_rgb()).save(src, format="HEIF", quality=90)
    run_image(src, out, config, analyser=analyser)
    after = Image.open(out)
    assert after.format == "HEIF" and after.size == (512, 512)
    assert redacted(np.asarray(Image.open(src).convert("RGB")), np.asarray(after.convert("RGB")))


def test_a_jpeg_is_encoded_once_at_the_configured_quality(tmp_path, analyser):
    src = tmp_path / "q.jpg"
    Image.fromarray(astronaut_rgb()).save(src, quality=95)
    sizes = {}
    for q in (40, 95):
        out = tmp_path / f"q{q}.jpg"
        record = run_image(src, out, load(overrides=[f"image.jpeg_quality={q}"]), analyser=analyser).record
        sizes[q] = out.stat().st_size
        # One encode from the decoded input: away from the face, as close to the input as one encode at q allows.
        direct = io.BytesIO()
        Image.open(src).save(direct, format="JPEG", quality=q)
        a, b = np.asarray(Image.open(out)).astype(int), np.asarray(Image.open(direct)).astype(int)
        assert np.abs(outside(a, record) - outside(b, record)).mean() < 1.0
    assert sizes[40] < sizes[95] * 0.6


# --- metadata, thumbnail, orientation --------------------------------------------------------------------------

SERIAL = b"SN-31415926535"
GPS_DEGREES = (48, 51, 29)


def exif_block(orientation: int, thumbnail: bytes) -> bytes:
    """A camera's EXIF (APP1 payload): orientation, body serial, GPS latitude and an IFD1 JPEG thumbnail."""
    entries = {
        "ifd0": [(0x010F, 2, b"PhoneMaker\0"), (0x0112, 3, struct.pack("<H", orientation)), (0x8769, 4, None),
                 (0x8825, 4, None)],
        "exif": [(0x9003, 2, b"2024:05:01 12:34:56\0"), (0xA431, 2, SERIAL + b"\0")],
        "gps": [(0x0001, 2, b"N\0"), (0x0002, 5, b"".join(struct.pack("<II", v, 1) for v in GPS_DEGREES))],
        "ifd1": [(0x0103, 3, struct.pack("<H", 6)), (0x0201, 4, None), (0x0202, 4, struct.pack("<I", len(thumbnail)))],
    }
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8}
    order = ["ifd0", "exif", "gps", "ifd1"]
    # Layout: header, then each IFD followed by its out-of-line values, then the thumbnail.
    offsets, pos = {}, 8
    for name in order:
        offsets[name] = pos
        pos += 2 + 12 * len(entries[name]) + 4
        pos += sum(len(v) for _, _, v in entries[name] if v is not None and len(v) > 4)
    offsets["thumb"] = pos
    pointers = {0x8769: offsets["exif"], 0x8825: offsets["gps"], 0x0201: offsets["thumb"]}
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for i, name in enumerate(order):
        items = entries[name]
        extra = offsets[name] + 2 + 12 * len(items) + 4
        head, tail = struct.pack("<H", len(items)), b""
        for tag, kind, value in items:
            value = struct.pack("<I", pointers[tag]) if value is None else value
            count = len(value) // sizes[kind]
            if len(value) <= 4:
                head += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
            else:
                head += struct.pack("<HHII", tag, kind, count, extra + len(tail))
                tail += value
        nxt = offsets["ifd1"] if name == "ifd0" else 0
        out += head + struct.pack("<I", nxt) + tail
    return b"Exif\0\0" + bytes(out) + thumbnail


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def markers(jpeg: bytes) -> list[int]:
    """The JPEG's marker segments up to the image data."""
    found, i = [], 2
    while i < len(jpeg) - 4:
        assert jpeg[i] == 0xFF
        m = jpeg[i + 1]
        found.append(m)
        if m == 0xDA:
            break
        i += 2 + struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
    return found


@pytest.fixture(scope="module")
def camera_jpeg(tmp_path_factory):
    """A phone JPEG stored sideways (orientation 6) with GPS, serial, XMP, IPTC, a comment and a face thumbnail."""
    up = astronaut_rgb()[:384]  # 512 wide, 384 tall as it should be shown
    stored = np.ascontiguousarray(np.rot90(up, 1))  # as the sensor wrote it: a viewer turns it 90 degrees clockwise
    thumb = io.BytesIO()
    Image.fromarray(cv2.resize(up, (160, 120))).save(thumb, format="JPEG", quality=90)
    body = io.BytesIO()
    Image.fromarray(stored).save(body, format="JPEG", quality=95)
    jpeg = body.getvalue()
    xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description photoshop:City='Geneva'/></x:xmpmeta>"
    iptc = b"Photoshop 3.0\x008BIM\x04\x04\0\0\0\0\0\x0c\x1c\x02\x5a\x00\x06Geneva\0\0"
    extra = (segment(0xE1, exif_block(6, thumb.getvalue())) + segment(0xE1, xmp) + segment(0xED, iptc)
             + segment(0xFE, b"shot by J. Doe"))
    path = tmp_path_factory.mktemp("camera") / "IMG_0001.jpg"
    path.write_bytes(jpeg[:2] + extra + jpeg[2:])
    return path, up, thumb.getvalue()


def test_the_fixture_is_what_a_camera_writes(camera_jpeg):
    path, _up, thumb = camera_jpeg
    im = Image.open(path)
    exif = im.getexif()
    assert exif[0x0112] == 6 and exif.get_ifd(0x8825)[2] == GPS_DEGREES
    assert exif.get_ifd(0x8769)[0xA431] == SERIAL.decode()
    assert thumb in path.read_bytes() and "xmp" in im.info and im.info.get("comment") == b"shot by J. Doe"


@pytest.mark.slow
def test_nothing_identifying_survives_and_the_picture_is_upright(camera_jpeg, tmp_path, config, analyser):
    path, up, thumb = camera_jpeg
    out = tmp_path / "IMG_0001.redacted.jpg"
    record = run_image(path, out, config, analyser=analyser).record
    raw = out.read_bytes()
    assert set(markers(raw)) <= {0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xDA}, "only JFIF, tables, frame and scan"
    for needle in (SERIAL, b"Exif", b"GPS", b"xmpmeta", b"Photoshop", b"8BIM", b"J. Doe", b"PhoneMaker", b"2024:05",
                   thumb[20:60]):
        assert needle not in raw
    assert raw.count(b"\xff\xd8") == 1, "no second JPEG (the thumbnail) inside"
    im = Image.open(out)
    assert len(im.getexif()) == 0 and not {"xmp", "comment", "exif", "icc_profile"} & set(im.info)
    assert im.size == (512, 384), "orientation applied: stored 384 x 512, shown 512 x 384"
    got = np.asarray(im)
    assert redacted(up, got)
    assert np.abs(outside(got, record).astype(int) - outside(up, record)).mean() < 4, "upright, not turned or mirrored"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_undone_as_pillow_does(orientation, tmp_path):
    from PIL import ImageOps

    stored = np.arange(12 * 3, dtype=np.uint8).reshape(3, 4, 3) * 7
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format="PNG", exif=exif.tobytes())
    viewer = np.asarray(ImageOps.exif_transpose(Image.open(buf)))
    assert np.array_equal(upright(stored, orientation), viewer)
    (tmp_path / "o.png").write_bytes(buf.getvalue())
    assert np.array_equal(read_picture(tmp_path / "o.png", 10**6).pixels, viewer)


@pytest.mark.slow
def test_a_non_srgb_colour_profile_is_kept_and_srgb_is_dropped(tmp_path, config, analyser):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # stands in for a wide-gamut profile
    for name, profile, kept in (("s", srgb, False), ("w", lab, True)):
        src, out = tmp_path / f"{name}.jpg", tmp_path / f"{name}.out.jpg"
        Image.fromarray(astronaut_rgb()).save(src, icc_profile=profile)
        run_image(src, out, config, analyser=analyser)
        assert (Image.open(out).info.get("icc_profile") == profile) is kept
    run_image(tmp_path / "w.jpg", tmp_path / "d.jpg", load(overrides=["image.icc=drop"]), analyser=analyser)
    assert "icc_profile" not in Image.open(tmp_path / "d.jpg").info


# --- hostile files ---------------------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR promising ``width`` x ``height`` pixels, and a tiny IDAT."""
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def hostile(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = io.BytesIO()
    Image.fromarray(astronaut_rgb()).save(good, format="JPEG")
    png = io.BytesIO()
    Image.fromarray(astronaut_rgb()).save(png, format="PNG")
    files = {
        "truncated": ("t.jpg", good.getvalue()[: len(good.getvalue()) // 2], "truncated"),
        "truncated png": ("t.png", png.getvalue()[: len(png.getvalue()) // 2], "truncated"),
        "corrupt": ("c.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "not a readable PNG"),
        "zero-byte": ("z.jpg", b"", "empty file"),
        "wrong extension": ("w.jpg", png.getvalue(), "holds a PNG picture"),
        "bomb": ("b.png", png_header(30_000, 30_000), "bomb"),
    }
    out = {}
    for what, (name, payload, message) in files.items():
        (tmp_path / name).write_bytes(payload)
        out[what] = (tmp_path / name, message)
    return out


@pytest.mark.allow_error_log
def test_hostile_pictures_give_one_line_and_no_output(tmp_path, capsys):
    for what, (path, message) in hostile(tmp_path).items():
        out = tmp_path / f"out-{path.name}"
        code = main(["run", str(path), "-o", str(out), "-q"])
        err = capsys.readouterr().err.strip()
        assert code == 1, what
        assert len(err.splitlines()) == 1 and message in err and str(path) in err, (what, err)
        assert not out.exists() and not list(tmp_path.glob(".*partial*")), what
        assert not out.with_name(out.stem + ".audit.jsonl").exists(), what


def test_the_pixel_limit_is_configurable_and_checked_before_decoding(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(astronaut_rgb()).save(src)
    with pytest.raises(InputError, match="262,144 pixels is over the limit of 100,000"):
        read_picture(src, max_pixels=100_000)
    assert read_picture(src, max_pixels=512 * 512).width == 512


def test_animations_and_multi_page_files_are_refused(tmp_path):
    frames = [Image.fromarray(astronaut_rgb()), Image.fromarray(astronaut_rgb()[::-1])]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="2 frames or pages"):
        read_picture(tmp_path / "anim.webp", max_pixels=10**8)


# --- fail closed -----------------------------------------------------------------------------------------------


class Exploding:
    """A detector plug-in whose model fails on the picture (an OpenVINO error, an out-of-memory)."""

    name, kind = "exploding", "face"

    def load(self) -> None:
        pass

    def detect(self, image: np.ndarray) -> Detections:
        raise RuntimeError("inference failed")

    def close(self) -> None:
        pass


def test_a_failed_detector_fails_the_picture_and_writes_nothing(tmp_path, config, analyser):
    src, out = tmp_path / "a.jpg", tmp_path / "a.out.jpg"
    Image.fromarray(astronaut_rgb()).save(src)
    broken = StillAnalyser(config, slots=[*analyser.slots, DetectorSlot(Exploding(), 1, label="9.exploding")])
    broken.loaded = True
    with pytest.raises(DetectorError, match="exploding.*inference failed"):
        run_image(src, out, config, analyser=broken)
    assert not out.exists() and not out.with_name("a.out.audit.jsonl").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


# --- end to end ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_redacts_the_astronaut_photo_with_an_audit_record(tmp_path):
    from conftest import file_sha256, read_audit

    src, out = tmp_path / "photo.jpg", tmp_path / "photo.redacted.jpg"
    Image.fromarray(astronaut_rgb()).save(src, quality=95)
    proc = subprocess.run([sys.executable, "-m", "redact", "run", str(src), "-o", str(out)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stderr
    assert redacted(astronaut_rgb(), np.asarray(Image.open(out)))
    (record,) = read_audit(tmp_path / "photo.redacted.audit.jsonl")
    assert record["input"]["sha256"] == file_sha256(src) and record["output"]["sha256"] == file_sha256(out)
    covering = [r for r in record["regions"] if r["kind"] == "face" and r["box"][0] <= FACE[0] and r["box"][1] <= FACE[1]
                and r["box"][2] >= FACE[2] and r["box"][3] >= FACE[3]]
    assert len(covering) == 1, "one padded box covers the face"
    assert covering[0]["reason"] == "redact-all" and covering[0]["style"] == "fill" and covering[0]["shape"] == "ellipse"
    check = [sys.executable, "-m", "redact", "audit", "check", str(tmp_path / "photo.redacted.audit.jsonl"),
             "--output"]
    proc = subprocess.run([*check, str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "one picture's record; photo.redacted.jpg matches" in proc.stdout, proc.stderr
    proc = subprocess.run([*check, str(src)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and "photo.jpg is not the output this log describes" in proc.stderr


@pytest.mark.slow
def test_a_face_lying_down_and_a_small_face_are_found(tmp_path, config, analyser):
    canvas = np.full((720, 1280, 3), 120, np.uint8)
    face = astronaut_rgb()[40:200, 150:300]
    canvas[100:250, 100:260] = np.rot90(face, 1)[:150, :160]  # lying on its side
    small = cv2.resize(face, (24, 26), interpolation=cv2.INTER_AREA)
    canvas[500:526, 900:924] = small  # ~18 px face
    src, out = tmp_path / "scene.png", tmp_path / "scene.out.png"
    Image.fromarray(canvas).save(src)
    run_image(src, out, config, analyser=analyser)
    got = np.asarray(Image.open(out))
    assert np.abs(got[140:210, 140:220].astype(int) - canvas[140:210, 140:220]).mean() > 10
    assert np.abs(got[505:521, 905:919].astype(int) - canvas[505:521, 905:919]).mean() > 10


@pytest.mark.slow
def test_keep_a_person_by_reference_photo_and_redact_the_other(tmp_path, config):
    from redact.analyse.identity import load_people
    from redact.sample import person_crop

    astro, _ = person_crop("astronaut")
    hopper, (fx1, fy1, fx2, fy2) = person_crop("hopper")
    h = max(astro.shape[0], hopper.shape[0])
    canvas = np.full((h + 40, astro.shape[1] + hopper.shape[1] + 120, 3), 128, np.uint8)
    canvas[20 : 20 + astro.shape[0], 20 : 20 + astro.shape[1]] = astro
    x = 100 + astro.shape[1]
    canvas[20 : 20 + hopper.shape[0], x : x + hopper.shape[1]] = hopper
    src, out, ref = tmp_path / "two.png", tmp_path / "two.out.png", tmp_path / "hopper_ref.jpg"
    cv2.imwrite(str(src), canvas)
    ref_img = cv2.resize(hopper, None, fx=1.3, fy=1.3)
    cv2.imwrite(str(ref), cv2.copyMakeBorder(ref_img, 40, 40, 40, 40, cv2.BORDER_REFLECT))
    people = load_people("keep", inline=[f"hopper={ref}"])
    result = run_image(src, out, config, people=people)
    got = cv2.imread(str(out))
    kept = [d for d in result.record["decisions"] if d["action"] == "keep"]
    assert [d["label"] for d in kept] == ["hopper"]
    face = (slice(20 + fy1, 20 + fy2), slice(x + fx1, x + fx2))
    assert np.array_equal(got[face], canvas[face]), "the kept person's face is untouched"
    assert not np.array_equal(got[:, : x - 40], canvas[:, : x - 40]), "the other face is redacted"


@pytest.mark.slow
def test_text_marks_via_a_preset(tmp_path):
    canvas = np.full((360, 640, 3), 235, np.uint8)
    cv2.putText(canvas, "JOHN SMITH 0457", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 4)
    src, out = tmp_path / "badge.png", tmp_path / "badge.out.png"
    cv2.imwrite(str(src), canvas)
    config = load(Path(__file__).parents[1] / "configs" / "publish.yaml")
    result = run_image(src, out, config)
    assert any(r["kind"] == "text" for r in result.record["regions"])
    got = cv2.imread(str(out))
    assert (got[160:200, 60:560] < 30).mean() > 0.9, "the text is under a solid box"


def test_a_large_picture_is_searched_in_tiles_with_bounded_model_inputs(tmp_path, analyser):
    """With a 1 MP input limit a 1600 x 1200 picture is tiled for every sweep; its faces are still found."""
    config = load(overrides=["image.tile_pixels=1000000"])
    canvas = np.full((1200, 1600, 3), 110, np.uint8)
    face = astronaut_rgb()[40:200, 150:300]
    canvas[100:260, 1300:1450] = face  # big, near a corner
    canvas[900:940, 700:738] = cv2.resize(face, (38, 40), interpolation=cv2.INTER_AREA)  # small, mid-picture
    src, out = tmp_path / "big.png", tmp_path / "big.out.png"
    Image.fromarray(canvas).save(src)
    seen = []
    slots = [DetectorSlot(_Recording(s.detector, seen), 1, label=s.label) for s in analyser.slots]
    run_image(src, out, config, analyser=StillAnalyser(config, slots=slots))
    assert max(seen) <= 1_000_000 + 64 * 1200, "no model input over the limit (rounding aside)"
    got = np.asarray(Image.open(out))
    for y1, y2, x1, x2 in ((140, 220, 1340, 1410), (910, 930, 710, 728)):
        assert np.abs(got[y1:y2, x1:x2].astype(int) - canvas[y1:y2, x1:x2]).mean() > 10


class _Recording:
    """Passes detection on to a real plug-in, noting how many pixels its model was given."""

    def __init__(self, inner, seen: list):
        self.inner, self.seen = inner, seen
        self.name, self.kind = inner.name, inner.kind

    def load(self) -> None:
        self.inner.load()

    def close(self) -> None:
        pass

    @property
    def scale(self) -> float:
        d = self.inner
        while not hasattr(d, "scale") and hasattr(d, "inner"):
            d = d.inner
        return d.scale

    def detect(self, image: np.ndarray):
        self.seen.append(image.shape[0] * image.shape[1] * self.scale**2)
        return self.inner.detect(image)
