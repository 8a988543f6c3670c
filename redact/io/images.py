"""Still pictures in and out: decoding at full depth, upright, and re-encoding with nothing but pixels.

What goes in is untrusted: a file may be empty, cut short, corrupt, named
with another format's extension, or a decompression bomb (a small file whose
header promises 30,000 x 30,000 pixels).  :func:`read_picture` checks the
header before any pixel is decoded and raises :class:`~redact.errors.InputError`
with one line naming the file and the problem; nothing is written then.

What comes out carries the pixels and nothing else.  The output is always a
*new* image built from the pixel array, so no metadata block of the input
can ride along: EXIF (camera serial, GPS, times, MakerNotes, the embedded
EXIF thumbnail, which shows the unredacted picture), XMP, IPTC, JPEG
comments, PNG text chunks, TIFF tags other than the image structure, and
every further frame or page (an MPO's second picture, HEIF thumbnails).  The
EXIF orientation is applied to the pixels first, so the output is upright
with no tag needed.

Colour profiles (a documented choice): an embedded ICC profile describes a
colour space, not a person, but it can name the device that made it and
carries a date.  An sRGB profile is dropped, since sRGB is what a picture
without one is taken to be.  Any other profile (Display P3 from phones,
Adobe RGB from cameras) is kept with ``image.icc: keep`` (the default),
because dropping it shifts every colour of a wide-gamut picture; ``drop``
removes it always.  16-bit outputs never carry one (their writer cannot).

Formats: JPEG, PNG (with alpha), WebP, TIFF, and HEIF/HEIC where the
``pillow-heif`` package is installed.  8-bit pictures go through Pillow, 16-bit
PNG and TIFF through OpenCV, which keeps all 16 bits of every channel (Pillow
would cut colour to 8).  Output keeps format, size, channels and bit depth;
JPEG, lossy WebP and HEIF are encoded once, at ``image.jpeg_quality``.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from redact.errors import InputError, OutputError
from redact.io.files import atomic

log = logging.getLogger(__name__)

FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".png": "PNG", ".webp": "WEBP",
    ".tif": "TIFF", ".tiff": "TIFF", ".heic": "HEIF", ".heif": "HEIF",
}
"""Suffix -> the format its content must have; a file whose content is another format is refused."""

IMAGE_SUFFIXES = frozenset(FORMATS)

_ALSO = {"JPEG": {"MPO"}}
"""Formats Pillow reports for content a suffix may also hold (an MPO is a JPEG with more pictures after it)."""

_ORIENT = 0x0112


@dataclass
class Picture:
    """One decoded picture, upright, at its own depth.

    ``pixels`` is (H, W) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB or
    (H, W, 4) RGBA, ``uint8`` or ``uint16``: the layout it is written back in.
    """

    path: Path
    format: str
    pixels: np.ndarray
    icc: bytes | None = None
    lossless: bool = False
    """A WebP stored losslessly is written losslessly again."""

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def bits(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    def bgr8(self) -> np.ndarray:
        """The colour channels as BGR ``uint8``: what every detector takes.  Alpha is ignored: pixels
        under a transparent area are still in the file."""
        return to_bgr8(self.pixels)


def to_bgr8(pixels: np.ndarray) -> np.ndarray:
    p = pixels if pixels.dtype == np.uint8 else (pixels >> 8).astype(np.uint8)
    if p.ndim == 2:
        return cv2.cvtColor(p, cv2.COLOR_GRAY2BGR)
    if p.shape[2] == 2:
        return cv2.cvtColor(np.ascontiguousarray(p[:, :, 0]), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(p[:, :, :3]), cv2.COLOR_RGB2BGR)


def heif_available() -> bool:
    """Whether HEIF/HEIC can be read and written (the ``pillow-heif`` package registers itself with Pillow)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def read_picture(path: str | Path, max_pixels: int) -> Picture:
    """Decode ``path`` upright at full depth, after checking size, format and the pixel count.

    Raises :class:`InputError` (one line, naming the file) for an empty,
    truncated, corrupt or misnamed file, an unsupported or multi-frame
    picture, and one with more than ``max_pixels`` pixels.
    """
    from PIL import Image

    path = Path(path)
    expected = FORMATS.get(path.suffix.lower())
    if expected is None:
        raise InputError(f"{path}: not a picture redact reads (expected one of {', '.join(sorted(FORMATS))})")
    if expected == "HEIF" and not heif_available():
        raise InputError(f"{path}: HEIF/HEIC needs the pillow-heif package: pip install pillow-heif")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    if not data:
        raise InputError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise InputError(f"{path}: refused, {e}".rstrip(".") + " (a decompression bomb?)") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for garbage; all mean "not a picture"
        raise InputError(f"{path}: not a readable {expected} picture ({_why(e)})") from None
    try:
        return _decode(path, data, im, expected, max_pixels)
    finally:
        im.close()


def _decode(path: Path, data: bytes, im, expected: str, max_pixels: int) -> Picture:
    found = im.format or "unknown"
    if found != expected and found not in _ALSO.get(expected, ()):
        raise InputError(f"{path}: the file holds a {found} picture, not the {expected} its name says; "
                         "rename it to its real format")
    w, h = im.size
    if w * h > max_pixels:
        raise InputError(f"{path}: {w} x {h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                         "(image.max_pixels); a decompression bomb, or raise the limit")
    if w < 1 or h < 1:
        raise InputError(f"{path}: the picture has no pixels ({w} x {h})")
    if found not in _ALSO.get(expected, ()) and getattr(im, "n_frames", 1) > 1:
        raise InputError(f"{path}: {im.n_frames} frames or pages; only single pictures are redacted "
                         "(split it, or convert an animation to a video)")
    orientation = _orientation(im)
    icc = im.info.get("icc_profile") or None
    try:
        if _sixteen_bit(im, data, found):
            pixels = _decode_16(data, path)
        else:
            pixels = _decode_8(im)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated or corrupt pixel data
        raise InputError(f"{path}: cannot decode the {found} picture ({_why(e)}); truncated or corrupt?") from None
    if pixels.shape[:2] != (h, w):
        raise InputError(f"{path}: decoded {pixels.shape[1]} x {pixels.shape[0]}, the header says {w} x {h}")
    lossless = found == "WEBP" and data[12:16] == b"VP8L"
    return Picture(path, expected, upright(pixels, orientation), icc, lossless)


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def _orientation(im) -> int:
    try:
        value = im.getexif().get(_ORIENT, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block says nothing usable about orientation
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _sixteen_bit(im, data: bytes, found: str) -> bool:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return True
    if found == "PNG":
        return len(data) > 24 and data[24] == 16  # IHDR bit depth (Pillow reads 16-bit colour as 8-bit)
    if found == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(bits) > 8
    return False


def _decode_8(im) -> np.ndarray:
    im.load()  # raises for a truncated file: Pillow never fills a cut-off picture with grey
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(im).copy()
    if mode == "1":
        return np.asarray(im.convert("L")).copy()
    if mode in ("P", "PA"):
        alpha = "transparency" in im.info or mode == "PA"
        return np.asarray(im.convert("RGBA" if alpha else "RGB")).copy()
    if mode == "La":
        return np.asarray(im.convert("LA")).copy()
    if mode == "RGBa":
        return np.asarray(im.convert("RGBA")).copy()
    return np.asarray(im.convert("RGB")).copy()  # CMYK, YCbCr, LAB, HSV: written back as RGB


def _decode_16(data: bytes, path: Path) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # ignores EXIF orientation
    if pixels is None:
        raise InputError(f"{path}: cannot decode the 16-bit picture; truncated or corrupt?")
    if pixels.dtype != np.uint16:
        pixels = pixels.astype(np.uint16) * 257 if pixels.dtype == np.uint8 else pixels
    if pixels.dtype != np.uint16:
        raise InputError(f"{path}: {pixels.dtype} samples are not supported (8 or 16-bit integers only)")
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    return pixels


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to the pixels, as a viewer would before showing them."""
    ops = {
        2: lambda p: p[:, ::-1],
        3: lambda p: p[::-1, ::-1],
        4: lambda p: p[::-1],
        5: lambda p: np.swapaxes(p, 0, 1),
        6: lambda p: np.rot90(p, -1),
        7: lambda p: np.swapaxes(p, 0, 1)[::-1, ::-1],
        8: lambda p: np.rot90(p, 1),
    }
    op = ops.get(orientation)
    return pixels if op is None else np.ascontiguousarray(op(pixels))


def write_picture(path: str | Path, picture: Picture, pixels: np.ndarray, quality: int, icc: str = "keep") -> None:
    """Write ``pixels`` (the picture's layout and depth) to ``path`` in the picture's format, atomically.

    Nothing of the input but the pixels reaches the file (see the module
    docstring for the colour profile).
    """
    path = Path(path)
    data = encode_picture(picture, pixels, quality, icc)
    try:
        with atomic(path) as temp:
            temp.write_bytes(data)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from e


def encode_picture(picture: Picture, pixels: np.ndarray, quality: int, icc: str = "keep") -> bytes:
    """The bytes of a fresh file of ``picture.format`` holding ``pixels`` and nothing else."""
    if pixels.dtype == np.uint16:
        return _encode_16(picture.format, pixels)
    from PIL import Image

    if picture.format == "HEIF" and not heif_available():
        raise OutputError(f"{picture.path}: writing HEIF needs the pillow-heif package: pip install pillow-heif")
    im = Image.fromarray(np.ascontiguousarray(pixels))  # a new image: its info holds nothing of the input
    options: dict = {}
    profile = keep_profile(picture.icc) if icc == "keep" else None
    if profile:
        options["icc_profile"] = profile
    if picture.format == "JPEG":
        if im.mode == "LA":
            im = im.convert("L")
        elif im.mode == "RGBA":
            im = im.convert("RGB")
        options.update(quality=quality, optimize=False)
    elif picture.format == "WEBP":
        options.update(lossless=True) if picture.lossless else options.update(quality=quality, method=4)
    elif picture.format == "TIFF":
        options.update(compression="tiff_lzw")
    elif picture.format == "HEIF":
        options.update(quality=quality)
    elif picture.format == "PNG":
        options.update(compress_level=1)  # as fast as OpenCV's default; level 6 took 3x as long for ~15 % less
    buf = io.BytesIO()
    im.save(buf, format=picture.format, **options)
    return buf.getvalue()


def _encode_16(fmt: str, pixels: np.ndarray) -> bytes:
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    elif pixels.ndim == 3 and pixels.shape[2] == 2:
        raise OutputError("16-bit grey + alpha cannot be written at full depth")
    ext = {"PNG": ".png", "TIFF": ".tiff"}.get(fmt)
    if ext is None:
        raise OutputError(f"{fmt} cannot hold 16-bit samples")
    ok, buf = cv2.imencode(ext, pixels)
    if not ok:
        raise OutputError(f"could not encode a 16-bit {fmt}")
    return buf.tobytes()


def keep_profile(profile: bytes | None) -> bytes | None:
    """The ICC profile to write: None for none or for sRGB (the default anyway), else the profile."""
    if not profile:
        return None
    try:
        from PIL import ImageCms

        name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile)))
    except Exception:  # noqa: BLE001 - an unreadable profile is no use to a viewer either
        return None
    return None if "srgb" in name.lower() else profile
