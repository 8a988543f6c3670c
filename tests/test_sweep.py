"""Sweep workers: which detectors each worker copies, which one copy serves them all, and the malloc arena limit."""

from __future__ import annotations

import platform
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from redact.analyse import analyse
from redact.analyse.detectors.base import Shared, create
from redact.analyse.sweep import SweepPool, detector_sets
from redact.config import load
from redact.io import probe
from redact.memory import limit_malloc_arenas
from redact.sample import make_sample
from redact.types import FACE_KINDS

PUBLISH = Path(__file__).resolve().parent.parent / "configs" / "publish.yaml"


def test_sparse_mark_detectors_and_the_turned_sweep_are_one_copy_that_every_worker_shares():
    config = load(PUBLISH)
    sets = detector_sets(config.detect, workers=2, model_threads=1)
    kinds = [s.detector.kind for s in sets[0]]
    assert "text" in kinds and "body" in kinds and "face" in kinds
    turned = [d.rotations != [0] for d in config.detect.detectors]
    assert any(turned)
    for first, second, is_turned in zip(*sets, turned, strict=True):
        assert first.every == second.every and first.label == second.label
        if first.detector.kind in FACE_KINDS and not is_turned:
            assert first.detector is not second.detector
        else:
            assert first.every > 1
            assert first.detector is second.detector and isinstance(first.detector, Shared)
    copies = sum(k in FACE_KINDS and not t for k, t in zip(kinds, turned))
    assert len(SweepPool(sets).models) == 2 * copies + (len(kinds) - copies)


def test_a_mark_detector_on_every_frame_or_a_single_worker_gets_no_lock():
    config = load(PUBLISH)
    text = next(d for d in config.detect.detectors if d.name == "text")
    text.every = 1
    sets = detector_sets(config.detect, workers=2, model_threads=1)
    i = next(i for i, s in enumerate(sets[0]) if s.detector.kind == "text")
    assert sets[0][i].detector is not sets[1][i].detector
    assert not any(isinstance(s.detector, Shared) for s in detector_sets(load(PUBLISH).detect, workers=1)[0])


def test_every_centerface_sweep_checks_its_huge_unsure_boxes_and_other_models_do_not():
    from redact.analyse.detectors.confirm import HugeChecked
    from redact.analyse.sweep import build_detectors

    def wrappers(det):
        while det is not None:
            yield det
            det = getattr(det, "inner", None)

    thorough = load(Path(PUBLISH).with_name("thorough.yaml")).detect
    for config in (load(PUBLISH).detect, thorough):
        for slot, dc in zip(build_detectors(config), config.detectors, strict=True):
            checked = any(isinstance(w, HugeChecked) for w in wrappers(slot.detector))
            assert checked == (dc.name == "centerface"), dc.name


@pytest.mark.models
def test_a_shared_detector_gives_each_thread_what_it_would_get_alone():
    from skimage import data

    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    shared = Shared(create("centerface", threshold=0.5, scale=0.5))
    shared.load()
    try:
        alone = shared.detect(image)
        assert len(alone) == 1
        results: list = []

        def work() -> None:
            results.extend(shared.detect(image) for _ in range(4))

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        shared.close()
    assert len(results) == 12
    for r in results:
        np.testing.assert_allclose(r.xyxy, alone.xyxy, atol=1e-3)
        np.testing.assert_allclose(r.score, alone.score, atol=1e-5)


@pytest.mark.slow
@pytest.mark.models
def test_marks_found_with_a_shared_text_model_do_not_depend_on_the_number_of_workers(tmp_path, monkeypatch):
    sample = make_sample(tmp_path / "marks.mp4", seconds=1.0, fps=10, size=(640, 360), marks=True, audio=False)
    info = probe(sample.path)
    config = load(PUBLISH)
    for d in config.detect.detectors:
        if d.name in ("text", "nudenet"):
            d.every = 2  # both workers ask for the shared copies
    found = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("REDACT_THREADS", workers)
        a = analyse(info, config)
        assert {"centerface", "text", "nudenet"} <= set(a.engines)  # the shared copies were loaded
        found[workers] = sorted(
            (t.kind, t.frames[0], t.frames[-1], np.round(np.stack(t.boxes), 2).tolist()) for t in a.tracks
        )
    assert any(kind == "text" for kind, *_ in found["1"])
    assert found["1"] == found["2"]


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_the_arena_limit_applies_unless_the_environment_chose(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_malloc_arenas() is False
