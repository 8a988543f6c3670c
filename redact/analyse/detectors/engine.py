"""Where the ONNX models (CenterFace, PP-OCR text, NudeNet) run: OpenVINO or onnxruntime, on the CPU.

Both read the model files the registry packages ship; neither downloads
anything.  OpenVINO is the default because it is much faster on the CPUs
these jobs run on (``pipelines/compare_engines.py`` on the 2-core Xeon of
docs/benchmarks-history.md at ``b98b2a3``: one thread, one 720p frame, a whole ``detect()``
call with its resize and decoding):

======================  ===========  ===============  ================
model, input            onnxruntime  OpenVINO f32     OpenVINO bf16
======================  ===========  ===============  ================
CenterFace 512 x 288    14.3 ms      14.2 ms          7.1 ms
CenterFace 1280 x 736   99 ms        102 ms           43 ms
PP-OCRv4 det 960 x 544  126 ms       62 ms            30 ms
NudeNet 320 x 320       14.3 ms      13.5 ms          5.7 ms
======================  ===========  ===============  ================

and two OpenVINO models on two worker threads run 1.7-2x as fast as one,
where two onnxruntime sessions gained only 1.4x.  bfloat16 is used only
where the CPU computes it natively (AMX or AVX-512 BF16; OpenVINO reports
``BF16``), elsewhere the same code runs in float32.  bf16 keeps 8 bits of
mantissa: on every 4th frame of the bench, CenterFace found the same
ground-truth faces within two either way per video at each scale
(docs/benchmarks-history.md, ``pipelines/compare_engines.py``).  ``precision: f32`` is
there for runs whose numbers should not depend on the CPU's instruction set.

OpenVINO compiles a model for one input shape at a time (a dynamic shape
runs ~25 % slower), so each :class:`OnnxModel` keeps the few shapes a video
needs (whole frame, scaled frame, refinement windows) compiled, each in
~0.15 s on first use.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from redact.errors import DetectorError

log = logging.getLogger(__name__)

Engine = Literal["openvino", "onnxruntime"]
Precision = Literal["auto", "f32"]
ENGINES: tuple[str, ...] = ("openvino", "onnxruntime")
PRECISIONS: tuple[str, ...] = ("auto", "f32")
MAX_SHAPES = 6
"""Compiled shapes kept per model; a video needs two or three, tiles a few more."""


@dataclass(frozen=True)
class Runtime:
    """How a plug-in runs its model; the pipeline sets it from ``detect.engine`` / ``detect.precision``."""

    engine: Engine = "openvino"
    precision: Precision = "auto"
    """auto: bfloat16 where the CPU computes it natively (OpenVINO only), float32 elsewhere."""
    threads: int | None = None
    """Threads for one model run; None = REDACT_THREADS or up to 4 cores.  The pipeline
    sets 1 when it runs one copy of every model per core, each on its own frames."""
    cache_dir: str | None = None
    """Where OpenVINO keeps compiled models between runs (see :func:`compile_cache`); None = compile every run."""


def compile_cache() -> str | None:
    """The folder for OpenVINO's compiled models, or None where it cannot be written.

    Compiling a model for one input shape takes ~0.15 s, and a run compiles
    each model once per worker and shape (nine times under publish.yaml):
    ~0.6 s a video, 6 % of a short clip's run time.  OpenVINO keys each blob
    by the model, the shape, its settings and its own version, and compiles
    afresh when a blob is missing or truncated.  The blobs hold only the
    public models' compiled weights (~40 MB in all), never footage.
    ``REDACT_CACHE_DIR`` moves the folder (``off`` disables it); the default
    is ``$XDG_CACHE_HOME/redact`` or ``~/.cache/redact``.
    """
    base = os.environ.get("REDACT_CACHE_DIR", "")
    if base == "off":
        return None
    try:
        if not base:
            base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "redact")
        folder = Path(base) / "openvino"
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError) as e:  # RuntimeError: a service account with no home folder
        log.debug("no compile cache under %r (%s)", base, e)
        return None
    return str(folder) if os.access(folder, os.W_OK) else None


def default_threads() -> int:
    env = os.environ.get("REDACT_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(4, os.cpu_count() or 1))


def import_openvino():
    """Import openvino with its telemetry switched off.

    Importing openvino sets up its model converter, which sends a usage event
    to Google Analytics (with a client id it keeps in ``~/intel``) on every
    import, unless the user opted out or a CI variable is set.  Whoever
    redacts footage of abuse must not announce it.  With the telemetry
    package blocked, openvino falls back to its own no-op stub; redact never
    converts models, so nothing else changes.
    """
    if "openvino" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import fails -> openvino's stub
    import openvino

    return openvino


class OnnxModel:
    """One ONNX model with one float32 input, run on the CPU by the chosen engine.

    With ``bgr_input``, :meth:`run` takes the picture as it comes from the
    decoder, uint8 (N, H, W, 3) BGR, for a model trained on float32 (N, 3,
    H, W) RGB 0-255 (CenterFace).  OpenVINO then converts inside the
    compiled model (its PrePostProcessor): the caller fills a quarter of
    the bytes, and CenterFace's ``detect()`` is ~9 % faster on a 720p frame
    (47.6 to 43.2 ms at full size, one thread, bf16; docs/benchmarks-history.md).
    onnxruntime converts in numpy first, as the plug-in used to.

    Not thread-safe: every worker thread owns its own instance (and so its
    own compiled models and buffers).
    """

    def __init__(
        self,
        name: str,
        model: bytes | Path,
        runtime: Runtime,
        outputs: Sequence[str] | None = None,
        bgr_input: bool = False,
    ) -> None:
        if runtime.engine not in ENGINES:
            raise DetectorError(f"{name}: unknown engine {runtime.engine!r}; valid: {', '.join(ENGINES)}")
        if runtime.precision not in PRECISIONS:
            raise DetectorError(f"{name}: unknown precision {runtime.precision!r}; valid: {', '.join(PRECISIONS)}")
        self.name = name
        self.runtime = runtime
        self._threads = runtime.threads or default_threads()
        self._outputs = list(outputs) if outputs else None
        self._bgr_input = bgr_input
        self._planar: np.ndarray | None = None  # onnxruntime's float32 NCHW copy of a BGR input
        self._compiled: dict[tuple[int, ...], tuple[Any, Any]] = {}
        self._session: Any = None
        self._model: Any = None
        try:
            if runtime.engine == "openvino":
                self._load_openvino(model)
            else:
                self._load_onnxruntime(model)
        except DetectorError:
            raise
        except Exception as e:  # both engines raise their own untyped errors
            raise DetectorError(f"{name}: cannot load the model with {runtime.engine} ({e})") from e
        log.debug("%s runs on %s", name, self.description)

    @property
    def description(self) -> str:
        """E.g. ``openvino bf16``: what the audit log records as the engine used."""
        if self.runtime.engine == "openvino":
            return f"openvino {self._precision}"
        return "onnxruntime f32"

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """The model's outputs (those named at construction, in that order, else all) for one input."""
        try:
            if self._session is not None:
                return self._session.run(self._outputs, {self._input: self._float_planes(blob)})
            compiled, request = self._for_shape(blob.shape)
            result = request.infer({0: blob})
            ports = self._outputs or [o.any_name for o in compiled.outputs]
            return [result[compiled.output(n)] for n in ports]
        except DetectorError:
            raise
        except Exception as e:
            raise DetectorError(f"{self.name}: inference failed on a {blob.shape} input ({e})") from e

    def _float_planes(self, blob: np.ndarray) -> np.ndarray:
        """A BGR uint8 NHWC input as the model's float32 NCHW RGB (for onnxruntime); others unchanged."""
        if not self._bgr_input:
            return blob
        n, h, w, _ = blob.shape
        if self._planar is None or self._planar.shape != (n, 3, h, w):
            self._planar = np.empty((n, 3, h, w), np.float32)
        for c in range(3):
            self._planar[:, c] = blob[..., 2 - c]
        return self._planar

    def close(self) -> None:
        self._planar = None
        if self._session is not None and _arena_registered:
            _shrink_arena(self._session, self._input, self.name)
        self._session = None
        for key, (compiled, _request) in self._compiled.items():
            _POOL.give(self._pool_key(key), compiled)
        self._compiled.clear()
        self._model = None

    # --- OpenVINO --------------------------------------------------------------------------

    def _load_openvino(self, model: bytes | Path) -> None:
        try:
            ov = import_openvino()
        except ImportError as e:
            raise DetectorError(
                f"{self.name}: engine openvino needs the openvino package (pip install openvino), "
                "or set detect.engine: onnxruntime"
            ) from e
        # OpenVINO's bindings set up their numpy bridge on first use (a pybind11 call_once
        # that takes the GIL): two worker threads making their first inference at the same
        # moment deadlocked, one run in ten.  Touch it here, in the loading thread.
        ov.Tensor(np.zeros(1, np.float32))
        self._core = ov.Core()
        if self.runtime.cache_dir:
            self._core.set_property({"CACHE_DIR": self.runtime.cache_dir})
        self._model = self._core.read_model(model, b"") if isinstance(model, bytes) else self._core.read_model(model)
        self._digest = hashlib.blake2b(model if isinstance(model, bytes) else str(model).encode(), digest_size=16).digest()
        if len(self._model.inputs) != 1:
            raise DetectorError(f"{self.name}: expected a model with one input, found {len(self._model.inputs)}")
        self._input = self._model.inputs[0].any_name
        native_bf16 = "BF16" in self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        self._precision = "bf16" if self.runtime.precision == "auto" and native_bf16 else "f32"

    def _for_shape(self, shape: tuple[int, ...]) -> tuple[Any, Any]:
        key = tuple(shape)
        hit = self._compiled.get(key)
        if hit is not None:
            return hit
        if len(self._compiled) >= MAX_SHAPES:
            oldest = next(iter(self._compiled))  # shapes rarely change mid-video
            _POOL.give(self._pool_key(oldest), self._compiled.pop(oldest)[0])
        compiled = _POOL.take(self._pool_key(key))
        if compiled is None:
            compiled = self._compile_shape(key)
        self._compiled[key] = hit = (compiled, compiled.create_infer_request())
        return hit

    def _pool_key(self, shape: tuple[int, ...]) -> tuple:
        # The cache folder too, so that a model never skips the cache it was told to use.
        return (self._digest, shape, self._precision, self._threads, self._bgr_input, self.runtime.cache_dir)

    def _compile_shape(self, key: tuple[int, ...]):
        model = self._model.clone()
        if self._bgr_input:
            n, h, w, _ = key
            model.reshape({self._input: [n, 3, h, w]})
            model = _bgr_to_rgb_planes(model)
        else:
            model.reshape({self._input: list(key)})
        config = {
            "INFERENCE_NUM_THREADS": self._threads,
            "NUM_STREAMS": 1,
            "INFERENCE_PRECISION_HINT": self._precision,
            # Pinning would tie every worker's thread to the first cores it sees;
            # the pipeline already runs one single-threaded model per core.
            "ENABLE_CPU_PINNING": False,
        }
        with _compile_lock(self._pool_key(key)):
            return self._compile(model, config)

    def _compile(self, model, config: dict[str, Any]):
        """Compile, through the cache when there is one; if the cache fails, compile without it.

        OpenVINO's cache writes a blob and then sets its permissions.  When
        another writer of the same blob finds it half-written, it deletes it
        and the first one fails ("cannot set permissions: No such file or
        directory").  The sweep workers start on the same shapes at the same
        moment, and on a fresh cache that failed a job now and then (four
        threads compiling one shape: 2 rounds in 40);
        :func:`_compile_lock` now makes them take turns.  Two batch processes
        share the folder but no lock, hence the retry.  A cache only saves
        time, so it must never fail a job.
        """
        try:
            return self._core.compile_model(model, "CPU", config)
        except Exception as e:  # noqa: BLE001 - OpenVINO raises untyped errors; a real fault fails again below
            if not self.runtime.cache_dir:
                raise
            why = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            log.info("%s: compile cache failed (%s); compiling without it", self.name, why)
            return self._core.compile_model(model, "CPU", {**config, "CACHE_DIR": ""})

    # --- onnxruntime -----------------------------------------------------------------------

    def _load_onnxruntime(self, model: bytes | Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise DetectorError(f"{self.name}: engine onnxruntime needs onnxruntime: pip install onnxruntime") from e
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3  # exporters' harmless warnings would flood the log
        if _shared_arena(ort):
            opts.add_session_config_entry("session.use_env_allocators", "1")
        source = model if isinstance(model, bytes) else str(model)
        self._session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name


class _CompiledPool:
    """Compiled models of closed :class:`OnnxModel` s, kept for the next one that needs the same shape.

    A batch worker redacts file after file in one process, and each file's
    pass 1 loads its models afresh; compiling (or reading back from the
    disk cache) each shape for each worker took 0.1-0.4 s (eight set-ups
    on the bench's pub02, 1.3 s in all, while the sweeps wait for them).
    Handing the compiled models on skips that for every file after the
    first of a size.  Each is lent to one model at a
    time: two infer requests of one single-stream compiled model do not run
    in parallel, so sharing one between the sweep workers would halve their
    throughput.  Given back, a compiled model frees its intermediate
    buffers (``release_memory``, ~120 MB for a 1080p frame at full size)
    and keeps its weights (a few MB); the oldest go beyond ``limit``.
    """

    def __init__(self, limit: int = 12):
        self.limit = limit
        self._lock = threading.Lock()
        self._free: collections.OrderedDict[tuple, list[Any]] = collections.OrderedDict()

    def take(self, key: tuple) -> Any | None:
        with self._lock:
            models = self._free.get(key)
            if not models:
                return None
            compiled = models.pop()
            if not models:
                del self._free[key]
            return compiled

    def give(self, key: tuple, compiled: Any) -> None:
        try:
            compiled.release_memory()
        except Exception as e:  # noqa: BLE001 - an OpenVINO without it: not worth keeping
            log.debug("cannot release a compiled model's buffers (%s); not kept", e)
            return
        with self._lock:
            self._free.setdefault(key, []).append(compiled)
            self._free.move_to_end(key)
            while sum(len(v) for v in self._free.values()) > self.limit:
                oldest = next(iter(self._free))
                self._free[oldest].pop(0)
                if not self._free[oldest]:
                    del self._free[oldest]

    def clear(self) -> None:
        with self._lock:
            self._free.clear()


_POOL = _CompiledPool()


_COMPILE_LOCKS: dict[tuple, threading.Lock] = {}
_COMPILE_LOCKS_GUARD = threading.Lock()


def _compile_lock(key: tuple) -> threading.Lock:
    """One lock per model, shape and settings: the same blob is compiled (and cached) by one thread at a time.

    Different shapes still compile at once; the second worker to ask for a
    shape waits for the first and then reads the blob it wrote.
    """
    with _COMPILE_LOCKS_GUARD:
        return _COMPILE_LOCKS.setdefault(key, threading.Lock())


def _bgr_to_rgb_planes(model):
    """``model`` (float32 NCHW RGB input) made to take uint8 NHWC BGR, the conversion compiled in."""
    from openvino import Layout, Type
    from openvino import preprocess as pre

    ppp = pre.PrePostProcessor(model)
    tensor = ppp.input().tensor()
    tensor.set_element_type(Type.u8).set_layout(Layout("NHWC")).set_color_format(pre.ColorFormat.BGR)
    ppp.input().preprocess().convert_element_type(Type.f32).convert_color(pre.ColorFormat.RGB)
    ppp.input().model().set_layout(Layout("NCHW"))
    return ppp.build()


class OnnxPlugin:
    """What every detector plug-in that runs one ONNX model shares: its runtime, loading, closing.

    Subclasses set ``name``, optionally ``outputs`` (the output names wanted,
    in order), and implement :meth:`model` (the bytes or path of the model a
    registry package ships); :meth:`infer` runs it.
    """

    name: str
    outputs: list[str] | None = None
    bgr_input = False
    """True: :meth:`infer` takes uint8 (N, H, W, 3) BGR for a float32 NCHW RGB model (see :class:`OnnxModel`)."""

    def __init__(self) -> None:
        self.runtime = Runtime()
        """Engine, precision and threads; the pipeline sets them from the config before load()."""
        self._model: OnnxModel | None = None

    def model(self) -> bytes | Path:
        raise NotImplementedError

    def load(self) -> None:
        if self._model is None:
            self._model = OnnxModel(self.name, self.model(), self.runtime, self.outputs, self.bgr_input)

    @property
    def engine(self) -> str:
        """What runs the model once loaded (``openvino bf16``, ``onnxruntime f32``), for the audit log."""
        return self._model.description if self._model is not None else ""

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
        self._model = None

    def infer(self, blob: np.ndarray) -> list[np.ndarray]:
        if self._model is None:
            raise DetectorError(f"{self.name}: detect() called before load()")
        return self._model.run(blob)


_ARENA_LOCK = threading.Lock()
_arena_registered: bool | None = None


def _shared_arena(ort) -> bool:
    """Register, once per process, one onnxruntime CPU memory arena for every session.

    By default each session grows its own arena in powers of two and never
    returns it: with a full-size and a small sweep per worker, two workers
    and a window refiner, that was ~1.9 GB on a 1080p video, most of it
    idle.  One shared arena that grows only by what is requested holds the
    peak of the runs actually in flight (~0.8 GB measured), at the same
    speed.  Process-wide by nature (onnxruntime's environment), and harmless
    to sessions that do not opt in.
    """
    global _arena_registered
    with _ARENA_LOCK:
        if _arena_registered is None:
            try:
                info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
                # max_mem 0 = unlimited, extend strategy 1 = kSameAsRequested, defaults otherwise.
                ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))
                _arena_registered = True
            except Exception as e:  # noqa: BLE001 - an onnxruntime without the API: per-session arenas still work
                log.debug("no shared onnxruntime arena (%s)", e)
                _arena_registered = False
        return _arena_registered


def _shrink_arena(session, input_name: str, name: str) -> None:
    """Hand the shared arena's free memory back: pass 2 (decoder, encoder) should not sit on pass 1's buffers."""
    try:
        import onnxruntime as ort

        shrink = ort.RunOptions()
        shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        # Symbolic sides become 32, which every model here accepts (CenterFace needs multiples of 32).
        dims = session.get_inputs()[0].shape
        shape = [1] + [d if isinstance(d, int) and d > 0 else 32 for d in dims[1:]]
        session.run(None, {input_name: np.zeros(shape, np.float32)}, shrink)
    except Exception as e:  # noqa: BLE001 - only memory is at stake
        log.debug("%s: arena shrink failed (%s)", name, e)
