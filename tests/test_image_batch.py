"""Batches of pictures, mixed with a video: jobs, resume, manifests, the summary and the one audit log.

Real worker processes, real models, small pictures of real faces.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import file_sha256, read_audit
from PIL import Image
from skimage import data

from redact.batch import SUMMARY_NAME
from redact.batch.images import LOG_NAME
from redact.batch.plan import iter_jobs, plan
from redact.cli import main
from redact.io import probe
from redact.sample import make_sample
from tests.doubles import ray_head_cluster

pytestmark = [pytest.mark.models, pytest.mark.slow]

FACE = (178, 65, 272, 175)


def _pictures(root: Path) -> dict[str, Path]:
    rgb = data.astronaut()
    small = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_AREA)
    files = {
        "a.jpg": lambda p: Image.fromarray(rgb).save(p, quality=90),
        "a.png": lambda p: Image.fromarray(np.dstack([small, np.full((256, 256), 255, np.uint8)])).save(p),
        "sub/b.webp": lambda p: Image.fromarray(small).save(p, quality=90),
        "sub/c.tiff": lambda p: cv2.imwrite(str(p), cv2.cvtColor(small, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257),
        "broken.jpg": lambda p: p.write_bytes(b"\xff\xd8\xff\xe0 not really"),
    }
    out = {}
    for name, write in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        out[name] = path
    return out


@pytest.fixture()
def mixed(tmp_path) -> Path:
    root = tmp_path / "dataset"
    _pictures(root)
    make_sample(root / "sub" / "clip.mp4", seconds=0.5, fps=20, size=(192, 144))
    return root


def test_a_mixed_folder_with_two_jobs_then_a_resume(mixed, tmp_path, capsys):
    out = tmp_path / "anonymised"
    assert main(["run", str(mixed), "-o", str(out), "--jobs", "2", "-q"]) == 3  # broken.jpg fails, the rest is done
    summary = json.loads((out / SUMMARY_NAME).read_text())
    status = {f["name"]: f["status"] for f in summary["files"]}
    assert status == {"a.jpg": "done", "a.png": "done", "broken.jpg": "failed", "sub/b.webp": "done",
                      "sub/c.tiff": "done", "sub/clip.mp4": "done"}
    assert summary["workers"] == 2 and summary["totals"]["failed"] == 1
    # Pictures keep their format; a.jpg and a.png do not collide, nor do their manifests.
    for name in ("a.jpg", "a.png", "sub/b.webp", "sub/c.tiff"):
        assert Image.open(out / name).format == Image.open(mixed / name).format
        manifest = json.loads((out / (name + ".redact.json")).read_text())
        assert manifest["output_sha256"] == file_sha256(out / name)
        assert manifest["input_sha256"] == file_sha256(mixed / name)
    assert cv2.imread(str(out / "sub/c.tiff"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert (out / "sub" / "clip.manifest.json").is_file() and probe(out / "sub" / "clip.mp4").frame_count == 10
    assert not (out / "broken.jpg").exists()
    # One audit log for the batch's pictures: a record per picture, the failure included, and a summary.
    records = read_audit(out / LOG_NAME)
    by_name = {r["name"]: r for r in records if "name" in r}
    assert set(by_name) == {"a.jpg", "a.png", "broken.jpg", "sub/b.webp", "sub/c.tiff"}
    assert by_name["broken.jpg"]["type"] == "failed" and "not a readable JPEG" in by_name["broken.jpg"]["reason"]
    rec = by_name["a.jpg"]
    assert rec["input"]["sha256"] == file_sha256(mixed / "a.jpg") and rec["output"]["sha256"] == file_sha256(out / "a.jpg")
    assert any(r["kind"] == "face" and r["reason"] == "redact-all" and r["box"][0] <= FACE[0] and r["box"][1] <= FACE[1]
               and r["box"][2] >= FACE[2] and r["box"][3] >= FACE[3] for r in rec["regions"]), "the face is covered"
    assert records[-1]["type"] == "summary" and records[-1]["done"] == 4 and records[-1]["failed"] == 1
    assert not [p for p in out.rglob("*") if "partial" in p.name]

    # A rerun redoes nothing and still logs every picture; a changed picture alone is redone.
    Image.fromarray(data.astronaut()[::-1].copy()).save(mixed / "a.jpg", quality=90)
    assert main(["run", str(mixed), "-o", str(out), "--jobs", "2", "-q"]) == 3
    status = {f["name"]: f["status"] for f in json.loads((out / SUMMARY_NAME).read_text())["files"]}
    assert status["a.jpg"] == "done" and status["a.png"] == status["sub/clip.mp4"] == "skipped"
    records = {r["name"]: r for r in read_audit(out / LOG_NAME) if "name" in r}
    assert records["a.png"]["status"] == "skipped" and records["a.png"]["regions"]
    assert records["a.jpg"]["input"]["sha256"] == file_sha256(mixed / "a.jpg")

    # `redact audit check` vouches for the batch's log and, given the folder, for every picture in it.
    capsys.readouterr()
    assert main(["audit", "check", str(out / LOG_NAME), "--output", str(out)]) == 0
    assert "5 pictures with their summary; every output in" in capsys.readouterr().out
    (out / "sub" / "b.webp").write_bytes((out / "a.png").read_bytes())  # an output swapped after the fact
    assert main(["audit", "check", str(out / LOG_NAME), "--output", str(out)]) == 1
    assert "b.webp is not the output this log describes" in capsys.readouterr().err
    lines = (out / LOG_NAME).read_bytes().splitlines(keepends=True)
    (out / LOG_NAME).write_bytes(b"".join(lines[:2] + lines[3:]))  # a picture's line deleted
    assert main(["audit", "check", str(out / LOG_NAME)]) == 1
    assert "line 2: changed, or a line after it deleted" in capsys.readouterr().err


def test_discovery_streams_a_large_folder(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(3000):
        (folder / f"img{i:05d}.jpg").touch()
    (folder / "notes.txt").touch()
    t0 = time.perf_counter()
    first = list(itertools.islice(iter_jobs([folder], tmp_path / "out"), 3))
    assert [j.name for j in first] == ["img00000.jpg", "img00001.jpg", "img00002.jpg"]
    assert time.perf_counter() - t0 < 2.0
    jobs = iter_jobs([folder], tmp_path / "out")
    assert not isinstance(jobs, list) and sum(1 for _ in jobs) == 3000
    assert [j.name for j in plan([folder], tmp_path / "out")][:2] == ["img00000.jpg", "img00001.jpg"]


def test_pictures_named_alike_get_distinct_outputs_and_manifests(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x.jpg", "x.JPG", "x.png", "x.mov"):
        (folder / name).touch()
    jobs = plan([folder], tmp_path / "out")
    names = sorted(j.name for j in jobs)
    assert names == ["x-2.jpg", "x.jpg", "x.mp4", "x.png"]
    derived = [p for j in jobs for p in (j.output, j.manifest)]
    assert len({str(p).casefold() for p in derived}) == len(derived)


def test_a_batch_of_pictures_with_a_failing_input_only(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "zero.png").write_bytes(b"")
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 1
    assert "zero.png: " in capsys.readouterr().err
    (record, summary) = read_audit(tmp_path / "out" / LOG_NAME)
    assert record["type"] == "failed" and "empty file" in record["reason"] and summary["failed"] == 1


@pytest.fixture()
def ray_head():
    """A one-node Ray cluster of our own, stopped afterwards (not imported here: redact sets ray's auth mode first)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs the ray extra")
    with ray_head_cluster() as address:
        yield address


@pytest.mark.ray
def test_pictures_in_a_batch_on_ray(mixed, tmp_path, ray_head):
    from redact.batch import run_batch
    from redact.config import load

    shutil.rmtree(mixed / "sub")
    s = run_batch([mixed], tmp_path / "out", load(), executor="ray", address=ray_head)
    assert {r.name: r.status for r in s.results} == {"a.jpg": "done", "a.png": "done", "broken.jpg": "failed"}
    assert len([r for r in read_audit(tmp_path / "out" / LOG_NAME) if r["type"] == "image"]) == 2
