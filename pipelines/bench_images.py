"""Still-image benchmark: every 5th frame of the bench's public videos as PNG, redact and deface on them.

    python pipelines/benchmark.py --images [--bench ../shared/bench] [--videos-dir DIR] [--out out/bench_images] [--every 5]
                                  [--limit N] [--jobs 1 2] [--skip-deface] [--memory-images 2000]
                                  [--redact-args "--config configs/fast.yaml"] [--markdown FILE]

1. Extracts every ``--every``-th frame of each public video (``<bench>/videos``, or
   ``--videos-dir``: a random set, ``make_bench.py --random N --seed S``,
   decoded with OpenCV as the bench's scorer decodes) to
   ``OUT/images/NAME/frame_NNNNN.png`` with that frame's ground truth
   (``OUT/images.gt.json``).  ``--limit N`` keeps the first N frames in that order
   (spread over the videos), for a quicker run.
2. Runs ``redact run OUT/images -o OUT/redact_jN --jobs N`` for each ``--jobs``
   value, and deface (its defaults, one process per video's folder, on a hard-linked
   copy, since it writes ``*_anonymized.png`` beside its inputs) on the same
   pictures, one after another, timed as ``benchmark.py`` times video runs
   (wall time from spawn to reap, peak memory of the process tree).
3. Scores each output picture by the bench scorer's victim leak rule (reusing
   ``<bench>/score.py``'s functions): a victim face leaks if a quadrant of its
   core still matches the input (SSIM >= 0.75, mean difference <= 10, texture
   left) or BlazeFace finds it in the output at score >= 0.8.  Over-redaction
   is the scorer's too (:func:`over_redaction`), on every picture, as a mean.
4. ``--memory-images N``: one more redact run (2 jobs) over N pictures (the
   extracted set repeated under other names), reporting the workers' resident
   memory after their first and last pictures (the batch summary's
   ``rss_mib``): flat means nothing accumulates.

Writes ``OUT/images_results.json`` and prints a Markdown table (also to ``--markdown``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "pipelines"))
BUCKETS = (("<24", 0, 24), ("24-48", 24, 48), ("48-96", 48, 96), (">96", 96, 1e9))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``benchmark.py --images`` (the rest of benchmark.py's options are ignored)."""
    g = ap.add_argument_group("still images (--images)")
    g.add_argument("--images", action="store_true", help="run the still-image benchmark instead of the video one")
    g.add_argument("--every", type=int, default=5, help="--images: extract every N-th frame (default 5)")
    g.add_argument("--limit", type=int, default=None, help="--images: only the first N extracted pictures")
    g.add_argument("--jobs", type=int, nargs="*", default=[1, 2],
                   help="--images: redact --jobs values to time (none: only the --memory-images run)")
    g.add_argument("--memory-images", type=int, default=0, metavar="N",
                   help="--images: also run 2 jobs over N pictures and report the workers' memory over the run")


def run(args: argparse.Namespace) -> int:
    import benchmark as bm

    out = Path(args.out if args.out != bm.REPO / "out" / "bench" else REPO / "out" / "bench_images").resolve()
    out.mkdir(parents=True, exist_ok=True)
    # --videos-dir: pictures from other videos with a GT (a random set), to judge a change on unseen ones.
    videos = Path(args.videos_dir) if args.videos_dir else Path(args.bench) / "videos"
    images, gt = extract(videos, out / "images", args.every, args.limit)
    (out / "images.gt.json").write_text(json.dumps(gt))
    print(f"{len(gt)} pictures in {images}", file=sys.stderr)
    rows = []
    extra = shlex.split(args.redact_args)
    for jobs in args.jobs:
        dst = out / f"redact_j{jobs}"
        shutil.rmtree(dst, ignore_errors=True)
        cmd = [sys.executable, "-m", "redact", "run", str(images), "-o", str(dst), "--jobs", str(jobs), "-q", *extra]
        rows.append(timed(f"redact --jobs {jobs}", cmd, out, args, dst, "{}"))
    if not args.skip_deface:
        src = out / "deface_in"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(images, src, copy_function=os.link)
        rows.append(timed_each("deface (defaults)", [bm.deface_exe()], sorted(p for p in src.iterdir() if p.is_dir()),
                               out, args, src, "{}_anonymized"))
    with ProcessPoolExecutor(args.score_jobs) as pool:
        scores = list(pool.map(score_tool, [r["folder"] for r in rows], [r["pattern"] for r in rows],
                               [str(images)] * len(rows), [str(out / "images.gt.json")] * len(rows),
                               [str(args.bench)] * len(rows)))
    for row, s in zip(rows, scores):
        row.update(s)
    memory = memory_run(images, out, args) if args.memory_images else None
    result = {"machine": bm.machine_info(), "pictures": len(gt), "every": args.every, "rows": rows,
              "videos": str(videos) if args.videos_dir else "the public videos",
              "memory": memory, "command": shlex.join(sys.argv)}
    (out / "images_results.json").write_text(json.dumps(result, indent=1))
    text = table(result)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


def extract(videos: Path, dst: Path, every: int, limit: int | None) -> tuple[Path, dict]:
    """Every ``every``-th frame of each video with a GT as PNG; ``limit`` keeps the first N in round-robin order."""
    plan = []
    for gt_path in sorted(videos.glob("*.gt.json")):
        name = gt_path.name.removesuffix(".gt.json")
        gt = json.loads(gt_path.read_text())
        faces = {fr["frame"]: [e for e in fr.get("faces", []) if e.get("kind", "face") == "face"] for fr in gt["frames"]}
        # Marks (text, plates) only as zones left out of the over-redaction count, as score.py does.
        marks = {fr["frame"]: [{"kind": "mark", "box": e["box"]} for e in fr.get("faces", []) + fr.get("marks", [])
                               if e.get("kind", "face") != "face"] for fr in gt["frames"]}
        roles = {k: v.get("role", "victim") for k, v in gt.get("identities", {}).items()}
        for i, f in enumerate(sorted(f for f in faces if f % every == 0)):
            entries = [{**e, "role": e.get("role") or roles.get(e["id"], "victim")} for e in faces[f]]
            plan.append((i, name, f, entries + marks.get(f, [])))
    plan.sort(key=lambda p: (p[0], p[1]))  # round-robin over the videos, so a limit samples all of them
    plan = plan[:limit] if limit else plan
    wanted: dict[str, dict[int, list]] = {}
    for _, name, f, entries in plan:
        wanted.setdefault(name, {})[f] = entries
    gt_out = {}
    for name, frames in wanted.items():
        (dst / name).mkdir(parents=True, exist_ok=True)
        cap = cv2.VideoCapture(str(videos / f"{name}.mp4"))
        f = 0
        while frames and f <= max(frames):
            ok, img = cap.read()
            if not ok:
                break
            if f in frames:
                rel = f"{name}/frame_{f:05d}.png"
                if not (dst / rel).exists():
                    cv2.imwrite(str(dst / rel), img)
                gt_out[rel] = frames[f]
            f += 1
        cap.release()
    return dst, gt_out


def timed(label: str, cmd: list[str], out: Path, args, folder: Path, pattern: str) -> dict:
    import benchmark as bm

    log = out / (label.split()[0] + "_" + label.split()[-1].strip("()") + ".log")
    m = bm.run_timed(cmd, log, args.timeout, args.rss_interval)
    return {"tool": label, "cmd": shlex.join(cmd), "seconds": round(m.seconds, 2), "rc": m.rc,
            "peak_process_mib": round(m.max_process_mib, 1),
            "tree_peak_mib": None if m.tree_peak_mib is None else round(m.tree_peak_mib, 1),
            "folder": str(folder), "pattern": pattern, "log": str(log)}


def timed_each(label: str, cmd: list[str], folders: list[Path], out: Path, args, src: Path, pattern: str) -> dict:
    """``cmd FOLDER`` once per folder, the wall times summed and the peaks the largest.

    deface's default backend (OpenCV's DNN, where onnx is not installed) slows about
    30-fold once its input size has changed twice in one process: after a 1080p folder,
    each 720p picture took 13 s instead of 0.4 s. One process per folder (one picture
    size each) measures deface as a user feeding it one video's frames would see it."""
    rows = [timed(f"{label.split()[0]} {f.name}", [*cmd, str(f)], out, args, src, pattern) for f in folders]
    peaks = [r["tree_peak_mib"] for r in rows if r["tree_peak_mib"] is not None]
    return {**rows[0], "tool": label, "cmd": shlex.join([*cmd, "FOLDER"]) + f"  (once per folder, {len(rows)} folders)",
            "seconds": round(sum(r["seconds"] for r in rows), 2), "rc": max(r["rc"] for r in rows),
            "peak_process_mib": max(r["peak_process_mib"] for r in rows), "tree_peak_mib": max(peaks) if peaks else None}


def score_tool(folder: str, pattern: str, images: str, gt_file: str, bench: str) -> dict:
    """Victim instances leaked by the bench scorer's rule, in total, by face height, and the worst pictures."""
    sys.path.insert(0, bench)
    import score as sc

    det = sc.Detector(0.3)
    gt = json.loads(Path(gt_file).read_text())
    n = leaked = missing = 0
    by_bucket = {b: [0, 0] for b, _, _ in BUCKETS}
    leaks, over = [], []
    for rel, faces in sorted(gt.items()):
        src = cv2.imread(str(Path(images) / rel))
        path = Path(folder) / Path(rel).parent / (pattern.format(Path(rel).stem) + ".png")
        dst = cv2.imread(str(path))
        if dst is None or dst.shape != src.shape:
            missing += 1
            dst = src  # a picture the tool did not write shows every face
        gin = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gout = cv2.cvtColor(dst, cv2.COLOR_BGR2GRAY).astype(np.float32)
        over.append(over_redaction(gin, gout, faces))
        for e in faces:
            if e.get("kind") == "mark" or e["role"] == "keep":
                continue
            hit = victim_leaked(sc, det, gin, gout, dst, e)
            if hit is None:
                continue
            h = e["box"][3] - e["box"][1]
            bucket = next(b for b, lo, hi in BUCKETS if lo <= h < hi)
            n += 1
            by_bucket[bucket][1] += 1
            if hit:
                leaked += 1
                by_bucket[bucket][0] += 1
                leaks.append(f"{rel} {e['id']} h={h:.0f}")
    return {"victims": n, "leaked": leaked, "leak_rate": leaked / n if n else None, "missing_outputs": missing,
            "by_bucket": by_bucket, "leaks": leaks[:50], "over_redaction": float(np.mean(over)) if over else None}


def over_redaction(gin: np.ndarray, gout: np.ndarray, entries: list[dict]) -> float:
    """Share of the picture's pixels away from every face and mark that the tool changed: score.py's rule
    for a video frame (grey change over 24 after a sigma-1 blur; faces' boxes grown to 1.8 times their larger
    side, 2 times tall, and marks' by 0.6 of their height, left out)."""
    changed = np.abs(cv2.GaussianBlur(gin, (0, 0), 1.0) - cv2.GaussianBlur(gout, (0, 0), 1.0)) > 24.0
    valid = np.ones(changed.shape, bool)
    h, w = changed.shape
    for e in entries:
        x1, y1, x2, y2 = e["box"]
        if e.get("kind") == "mark":
            g = 0.6 * (y2 - y1) + 4
            valid[int(max(0, y1 - g)):int(min(h, y2 + g)), int(max(0, x1 - g)):int(min(w, x2 + g))] = False
        else:
            cx, cy, s = (x1 + x2) / 2, (y1 + y2) / 2, 0.9 * max(x2 - x1, y2 - y1)
            valid[int(max(0, cy - s * 1.1)):int(min(h, cy + s * 1.1)), int(max(0, cx - s)):int(min(w, cx + s))] = False
    return float(changed[valid].sum() / valid.sum()) if valid.any() else 0.0


def victim_leaked(sc, det, gin, gout, fout, e) -> bool | None:
    """score.py's victim rule for one instance; None where the scorer skips it (too small, mostly occluded)."""
    b = e["box"]
    ci, bi = sc.crop_resize(gin, sc.core_box(b), 32)
    co, _ = sc.crop_resize(gout, sc.core_box(b), 32)
    if ci is None:
        return None
    m = sc.occ_mask(bi, e.get("occluders"), 32)
    if m.mean() < 0.3:
        return None
    sm, ad = sc.ssim_map(ci, co), np.abs(ci - co)
    for ys in (slice(0, 16), slice(16, 32)):
        for xs in (slice(0, 16), slice(16, 32)):
            mq = m[ys, xs] > 0
            if mq.mean() >= 0.3 and float(sm[ys, xs][mq].mean()) >= 0.75 and float(ad[ys, xs][mq].mean()) <= 10 \
                    and float(co[ys, xs][mq].std()) >= 2.0:
                return True
    return det.hit(fout, b) >= 0.8


def memory_run(images: Path, out: Path, args) -> dict:
    """2 jobs over ``--memory-images`` pictures (the set repeated as hard links); workers' RSS first vs last."""
    src = out / "memory_in"
    shutil.rmtree(src, ignore_errors=True)
    pictures = sorted(images.rglob("*.png"))
    for i in range(args.memory_images):
        p = pictures[i % len(pictures)]
        dst = src / f"r{i // len(pictures)}" / p.parent.name / p.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(p, dst)
    dst = out / "memory_out"
    shutil.rmtree(dst, ignore_errors=True)
    cmd = [sys.executable, "-m", "redact", "run", str(src), "-o", str(dst), "--jobs", "2", "-q",
           *shlex.split(args.redact_args)]
    row = timed("redact memory", cmd, out, args, dst, "{}")
    files = json.loads((dst / "redact-batch.json").read_text())["files"]
    by_worker: dict[str, list] = {}
    for f in sorted(files, key=lambda f: f["finished"]):
        by_worker.setdefault(f["worker"], []).append(f["rss_mib"])
    tenth = max(1, len(files) // 20)
    return {**row, "pictures": len(files), "failed": sum(f["status"] == "failed" for f in files),
            "workers": {w: {"first": round(float(np.mean(r[:tenth])), 1), "last": round(float(np.mean(r[-tenth:])), 1),
                            "max": max(r), "pictures": len(r)} for w, r in by_worker.items()}}


def table(result: dict) -> str:
    rows, n = result["rows"], result["pictures"]
    source = result.get("videos", "the public videos")
    lines = [f"{n} pictures (every {result['every']}th frame of {source}); {result['machine']}", "",
             ("| tool | wall s | pictures/s | peak MiB (tree) | victims | leaked | leak % | <24 | 24-48 | 48-96 | >96 "
              "| over-red. % |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["by_bucket"]
        cells = [f"{b[k][0]}/{b[k][1]}" for k in ("<24", "24-48", "48-96", ">96")]
        rate = "n/a" if r["leak_rate"] is None else f"{100 * r['leak_rate']:.2f}"
        lines.append(f"| {r['tool']} | {r['seconds']:.1f} | {n / r['seconds']:.2f} | {r['tree_peak_mib']} | "
                     f"{r['victims']} | {r['leaked']} | {rate} | " + " | ".join(cells)
                     + f" | {100 * r['over_redaction']:.2f} |")
    m = result.get("memory")
    if m:
        lines += ["", f"Memory over {m['pictures']} pictures, 2 jobs ({m['seconds']:.0f} s, tree peak "
                  f"{m['tree_peak_mib']} MiB): worker RSS after the first / last 5 % of its pictures: "
                  + "; ".join(f"{v['first']} / {v['last']} MiB (max {v['max']}, {v['pictures']} pictures)"
                              for v in m["workers"].values())]
    return "\n".join(lines)
