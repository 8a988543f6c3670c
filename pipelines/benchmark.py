#!/usr/bin/env python
"""Benchmark redact against a plain re-encode and deface on the shared face-redaction bench.

    python pipelines/benchmark.py [--bench ../shared/bench] [--videos NAME ...] [--out out/bench]
                                  [--skip-deface] [--deface-720] [--keep-outputs]
                                  [--markdown BENCHMARKS_TABLE.md] [--redact-args "--config configs/fast.yaml"]

What it measures, per video of ``<bench>/videos`` (every ``NAME.mp4`` with a
``NAME.gt.json``) and per tool, in ONE run:

* **Wall time**, with the tools run strictly one after another (the bench
  machines have 2 cores: overlapping runs would distort every number).
  Timings start just before the process is spawned and stop when it is
  reaped, so they include interpreter start-up and model loading: what a
  user actually waits for.
* **Peak RSS** from ``os.wait4``: on Linux the rusage of a reaped child is
  ``RUSAGE_BOTH``, i.e. the max of the process itself and of every
  descendant it waited for (redact's ffmpeg subprocesses included).  It is a
  *max over single processes*, not the sum of processes alive at the same
  time, so a redact run whose decoder, Python process and encoder overlap
  uses somewhat more memory than reported.
* **Quality**, from the bench's black-box scorer (``<bench>/score.py``):
  victim leak rate (overall and by face height), longest leak run, frames
  with any leak, over-redaction, keep-visible share, text/plate leaks and
  the output checks.  Scoring is not timed and runs 2 jobs at a time after
  all timings are done.
* **Audit agreement** (redact only, ``--no-audit-check`` to skip): for every
  victim GT instance that the scorer says was *not* leaked, does redact's
  audit log hold a region in that frame overlapping the GT box?  A redacted
  face that the audit log does not account for means the log and the pixels
  disagree (or the face was hidden by luck, e.g. by a neighbour's region).

Tools:

* ``reencode``: ffmpeg (imageio-ffmpeg's binary) with the encoder settings
  redact itself uses (libx264, preset and CRF from redact's resolved config;
  ``-pix_fmt yuv420p -c:a copy``).  It is the floor every tool pays for
  decoding + encoding, and the unit of the ``x_reencode`` column.
* ``redact``: ``python -m redact run IN -o OUT --log OUT.audit.jsonl --quiet``
  plus ``--redact-args`` (``{refs}`` and ``{name}`` in it are replaced by the
  video's ``NAME_refs`` folder and ``NAME``).
* ``deface``: ``deface IN -o OUT`` with its defaults; ``--deface-720`` adds
  ``deface --thresh 0.1 --scale 1280x720 --keep-audio``.

A tool that fails on a video gives a row with its error instead of stopping
the run.  Outputs go to ``--out``: per run ``*.log`` (tool stderr/stdout),
``*.score.json``, the redact audit logs, ``results.json`` (all rows) and, with
``--keep-outputs``, the output videos.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUCKETS = ("<24", "24-48", "48-96", ">96")  # keys of score.py's leak_by_bucket
# score.py's checks: the first four make up checks["ok"]; metadata_stripped is reported beside it
CHECK_KEYS = ("frame_count_match", "resolution_match", "fps_match", "audio_kept", "metadata_stripped")
MARK_KINDS = ("text", "plate")


# ----------------------------------------------------------------------------- data


@dataclass
class Job:
    """One timed tool run on one video."""

    video: str
    tool: str
    cmd: list[str]
    output: Path
    log: Path
    audit: Path | None = None


@dataclass
class Row:
    """One line of the result table: a tool on a video (or the TOTAL of a tool)."""

    video: str
    tool: str
    cmd: str = ""
    seconds: float | None = None
    rc: int | None = None
    peak_rss_mib: float | None = None
    error: str | None = None
    score_json: str | None = None
    metrics: dict = field(default_factory=dict)  # score.py's JSON (without per-instance dumps)
    x_reencode: float | None = None
    audit: dict | None = None  # redacted / accounted / covered_half counts, audit_frames, encode (header)


# ----------------------------------------------------------------------------- set-up


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench",
                    help="bench folder holding score.py and videos/ (default: ../shared/bench from the repo root)")
    ap.add_argument("--videos-dir", type=Path, default=None,
                    help="folder of NAME.mp4 + NAME.gt.json overriding <bench>/videos (score.py still from --bench)")
    ap.add_argument("--videos", nargs="+", metavar="NAME", default=None, help="only these videos (NAME or NAME.mp4)")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench", help="work and result folder")
    ap.add_argument("--skip-redact", action="store_true", help="do not run redact (e.g. while its CLI is not ready)")
    ap.add_argument("--skip-deface", action="store_true", help="do not run deface")
    ap.add_argument("--deface-720", action="store_true",
                    help="also run deface --thresh 0.1 --scale 1280x720 --keep-audio")
    ap.add_argument("--redact-args", default="",
                    help='extra arguments for "redact run", e.g. "--config configs/fast.yaml" (a single flag: '
                         '--redact-args=--flag); {refs} / {name} expand to the video\'s NAME_refs folder / NAME')
    ap.add_argument("--no-audit-check", dest="audit_check", action="store_false",
                    help="do not compare redact's audit log with the scorer's redacted instances")
    ap.add_argument("--keep-outputs", action="store_true",
                    help="keep the output videos (deleted after scoring otherwise)")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table (with its header) to this file")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds after which a tool run is killed")
    ap.add_argument("--score-jobs", type=int, default=2, help="scorer processes run at a time (not timed)")
    return ap.parse_args(argv)


def find_videos(video_dir: Path, only: list[str] | None) -> list[Path]:
    """Every NAME.mp4 with a NAME.gt.json beside it, optionally restricted to `only`."""
    vids = sorted(p for p in video_dir.glob("*.mp4") if p.with_suffix(".gt.json").exists())
    if only:
        wanted = {Path(n).name.removesuffix(".mp4") for n in only}
        missing = wanted - {p.stem for p in vids}
        if missing:
            raise SystemExit(f"no NAME.mp4 + NAME.gt.json in {video_dir} for: {', '.join(sorted(missing))}")
        vids = [p for p in vids if p.stem in wanted]
    if not vids:
        raise SystemExit(f"no NAME.mp4 with a NAME.gt.json in {video_dir}")
    return vids


def encoder_settings(redact_args: list[str]) -> tuple[str, int]:
    """preset and CRF of redact's resolved config, honouring --config, --set, --preset and --crf
    in the redact arguments (redact's precedence: flag > --set > --config > default)."""
    sys.path.insert(0, str(REPO))
    from redact.config import load

    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--preset", default=None)
    ap.add_argument("--crf", type=int, default=None)
    known, _ = ap.parse_known_args(redact_args)
    cfg = load(known.config, known.set)
    return known.preset or cfg.encode.preset, cfg.encode.crf if known.crf is None else known.crf


def machine_info() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    return (f"nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} CPUs), {model}, {platform.platform()}, "
            f"load avg at start {load}")


def warm_up(jobs: list[Job]) -> None:
    """Start each tool once, untimed (--version / --help), so the first timed run does not pay for
    loading its binary and Python packages from a cold disk cache."""
    seen: set[str] = set()
    for job in jobs:
        if job.tool in seen:
            continue
        seen.add(job.tool)
        if job.tool == "redact":
            probe = job.cmd[:4] + ["--help"]  # python -m redact run --help
        else:
            probe = [job.cmd[0], "-version" if job.tool == "reencode" else "--version"]
        subprocess.run(probe, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def plan_jobs(args: argparse.Namespace, videos: list[Path], preset: str, crf: int) -> list[Job]:
    """All timed runs, in execution order (video by video)."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    deface = str(Path(sys.executable).parent / "deface")
    out = args.out
    jobs: list[Job] = []
    for vid in videos:
        n, src = vid.stem, str(vid)

        def job(tool: str, cmd: list[str], audit: bool = False) -> Job:
            return Job(n, tool, cmd, out / f"{n}.{tool}.mp4", out / f"{n}.{tool}.log",  # noqa: B023 - called at once
                       out / f"{n}.{tool}.audit.jsonl" if audit else None)  # noqa: B023

        def dst(tool: str) -> str:
            return str(out / f"{n}.{tool}.mp4")  # noqa: B023 - called at once

        jobs.append(job("reencode", [ffmpeg, "-y", "-loglevel", "error", "-i", src, "-c:v", "libx264",
                                     "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
                                     "-c:a", "copy", dst("reencode")]))
        if not args.skip_redact:
            extra = [a.replace("{refs}", str(vid.parent / f"{n}_refs")).replace("{name}", n)
                     for a in shlex.split(args.redact_args)]
            jobs.append(job("redact", [sys.executable, "-m", "redact", "run", src, "-o", dst("redact"),
                                       "--log", str(out / f"{n}.redact.audit.jsonl"), "--quiet", *extra],
                            audit=True))
        if not args.skip_deface:
            jobs.append(job("deface", [deface, src, "-o", dst("deface")]))
            if args.deface_720:
                jobs.append(job("deface_t01_720p", [deface, src, "-o", dst("deface_t01_720p"), "--thresh", "0.1",
                                                    "--scale", "1280x720", "--keep-audio"]))
    return jobs


# ----------------------------------------------------------------------------- timed runs


def run_timed(cmd: list[str], log: Path, timeout: float) -> tuple[float, int, float, bool]:
    """Run `cmd` alone; return (wall seconds, exit code, peak RSS MiB of it and its reaped descendants, timed out).

    os.wait4 gives the rusage of exactly this child, which Popen.wait cannot; the
    process gets its own session so a timeout kills its subprocesses too."""
    with open(log, "wb") as lf:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            os.killpg(p.pid, signal.SIGKILL)

        killer = threading.Timer(timeout, kill)
        killer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    return wall, p.returncode, ru.ru_maxrss / 1024.0, fired.is_set()  # ru_maxrss is in KiB on Linux


def log_tail(log: Path, n: int = 3) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])[-300:]


def warm_cache(path: Path) -> None:
    """Read the input once so every tool, the first one included, starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def execute(job: Job, timeout: float) -> Row:
    row = Row(job.video, job.tool, cmd=shlex.join(job.cmd))
    job.output.unlink(missing_ok=True)
    try:
        row.seconds, row.rc, row.peak_rss_mib, timed_out = run_timed(job.cmd, job.log, timeout)
    except OSError as e:  # e.g. executable not found
        row.error = f"cannot start: {e}"
        return row
    if timed_out:
        row.error = f"killed after the {timeout:g} s timeout: {log_tail(job.log, 1)}"
    elif row.rc != 0:
        row.error = f"exit {row.rc}: {log_tail(job.log)}"
    elif not job.output.exists() or job.output.stat().st_size == 0:
        row.error = f"no output written ({job.output.name}): {log_tail(job.log)}"
    return row


# ----------------------------------------------------------------------------- scoring


def score(job: Job, row: Row, video: Path, bench: Path, dump_instances: bool) -> dict | None:
    """Run score.py on one output; fills row.metrics / row.error, returns the full JSON."""
    sj = job.output.with_suffix(".score.json")
    cmd = [sys.executable, str(bench / "score.py"), "--input", str(video), "--gt", str(video.with_suffix(".gt.json")),
           "--output", str(job.output), "--json", str(sj), "--seconds", "%.3f" % row.seconds]
    if dump_instances:
        cmd.append("--dump-instances")
    slog = job.output.with_suffix(".score.log")
    with open(slog, "wb") as lf:
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT, cwd=bench).returncode
    if rc != 0 or not sj.exists():
        row.error = f"score.py failed (exit {rc}): {log_tail(slog)}"
        return None
    full = json.loads(sj.read_text())
    row.score_json = str(sj)
    row.metrics = {k: v for k, v in full.items() if k not in ("instances", "mark_instance_records")}
    return full


# ----------------------------------------------------------------------------- audit check


def _inter(a: list[float], b: list[float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def read_audit_regions(path: Path) -> tuple[dict, dict[int, list[list[float]]]]:
    """(header record, frame -> region boxes [x1,y1,x2,y2]) from redact's JSON Lines audit log.

    Expected: {"type":"frame","frame":i,"action":"redact","regions":[{"box":[...]}, ...]}; also
    accepts one record per region ({"frame":i,"box":[...]}) so a format change does not break the
    check.  Header, decision and summary lines and frames whose action is not "redact" are skipped."""
    header: dict = {}
    regions: dict[int, list[list[float]]] = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("type") == "header":
                header = rec
            if "frame" not in rec or rec.get("type", "frame") not in ("frame", "region"):
                continue
            if rec.get("action", "redact") != "redact":
                continue
            items = rec.get("regions", [rec] if "box" in rec else [])
            for r in items:
                box = r.get("box") or r.get("bbox")
                if box:
                    regions.setdefault(int(rec["frame"]), []).append([float(v) for v in box[:4]])
    return header, regions


def audit_check(full_score: dict, gt_path: Path, audit_path: Path) -> dict:
    """Of the victim instances the scorer calls redacted, how many does the audit log account for?

    score.py's per-instance records ("instances", with --dump-instances) carry frame, id, role and
    leaked but no box, so the box comes from the GT by (frame, id)."""
    gt = json.loads(gt_path.read_text())
    boxes = {(fr["frame"], e["id"]): e["box"] for fr in gt["frames"] for e in fr.get("faces", [])
             if e.get("kind", "face") == "face"}
    header, regions = read_audit_regions(audit_path)
    res = dict(redacted=0, accounted=0, covered_half=0, audit_frames=len(regions),
               encode=header.get("config", {}).get("encode"), config_sha256=header.get("config_sha256"))
    for r in full_score.get("instances", []):
        if r.get("role") == "keep" or "leaked" not in r or r["leaked"]:
            continue
        res["redacted"] += 1
        g = boxes[(r["frame"], r["id"])]
        area = max(1e-6, (g[2] - g[0]) * (g[3] - g[1]))
        overlaps = [_inter(g, b) for b in regions.get(r["frame"], [])]
        if any(o > 0 for o in overlaps):
            res["accounted"] += 1
        if overlaps and max(overlaps) >= 0.5 * area:
            res["covered_half"] += 1
    return res


# ----------------------------------------------------------------------------- table


def pct(x: float | None) -> str:
    return "-" if x is None else "%.1f" % (100 * x)


def num(x: float | None, fmt: str = "%.1f") -> str:
    return "-" if x is None else fmt % x


def failing_checks(m: dict) -> list[str]:
    chk = m.get("checks", {})
    return [k for k in CHECK_KEYS if k in chk and not chk[k]]


def marks_cell(m: dict) -> str:
    kinds = m.get("leak_by_kind")
    if not kinds:
        return "-"
    return " / ".join(f"{k[0].upper()} {pct(kinds[k]['leak_rate'])}" for k in MARK_KINDS if k in kinds)


def audit_cell(a: dict | None) -> str:
    if not a:
        return "-"
    if not a["redacted"]:
        return "n/a (0 redacted)"
    return "%.1f (%d/%d; >=half of box: %.1f)" % (100 * a["accounted"] / a["redacted"], a["accounted"], a["redacted"],
                                                   100 * a["covered_half"] / a["redacted"])


def table_row(r: Row) -> list[str]:
    m = r.metrics
    head = [r.video, r.tool]
    tail = [num(r.seconds, "%.2f"), num(r.x_reencode, "%.2f"), num(r.peak_rss_mib, "%.0f")]
    if not m:
        return head + [f"ERROR: {r.error}"] + [""] * (len(HEADER) - len(head) - len(tail) - 2) + tail + [""]
    fails = failing_checks(m)
    checks = "pass" if not fails else "FAIL: " + ", ".join(fails)
    if r.error:
        checks += f" (ERROR: {r.error})"
    fps = (m.get("throughput") or {}).get("fps")
    run = m["longest_leak_run"]
    return head + [
        pct(m["leak_rate"]), *(pct(m["leak_by_bucket"][b]["leak_rate"]) for b in BUCKETS),
        str(run["annotated_frames"]), pct(m["frames_with_any_leak_frac"]), pct(m["over_redaction_frac"]),
        pct(m["keep_visible_frac"]), marks_cell(m), checks, num(fps),
    ] + tail + [audit_cell(r.audit)]


HEADER = ["video", "tool", "leak %", "<24", "24-48", "48-96", ">96", "longest leak run (frames)",
          "frames w/ leak %", "over-red. %", "keep visible %", "text / plate leak %", "checks", "fps",
          "wall s", "x_reencode", "peak RSS MiB", "audit accounts for % of redacted"]

LEGEND = """Columns -> score.py JSON keys: leak % = `leak_rate`; <24 .. >96 = `leak_by_bucket[b].leak_rate` (face
height px); longest leak run = `longest_leak_run.annotated_frames`; frames w/ leak = `frames_with_any_leak_frac`;
over-red. = `over_redaction_frac`; keep visible = `keep_visible_frac`; text / plate =
`leak_by_kind.{text,plate}.leak_rate`;
checks = failing ones of `checks.{frame_count_match,resolution_match,fps_match,audio_kept}` (together `checks.ok`)
and `checks.metadata_stripped` (not part of `checks.ok`); fps = `throughput.fps` (input frames / tool wall time).
x_reencode = wall time / plain re-encode wall time on the same video. Peak RSS = os.wait4 ru_maxrss: max over the tool
process and its reaped subprocesses, not their sum. TOTAL rows: leak and buckets weighted by victim instances
(`victim_instances`, `leak_by_bucket[b].n`), frames w/ leak by `frames_with_victims`, keep by `keep_instances`,
marks by `leak_by_kind[k].n`; over-red. = mean over videos; longest run and RSS = max; wall = sum over the scored
videos; x_reencode = that sum / the re-encode's sum over the same videos. Audit: victim instances the scorer calls
redacted (`instances[].leaked` false) whose frame has an audit region intersecting the GT box (>=half of box: a
region covers at least half of the GT box)."""


def weighted(pairs: list[tuple[float | None, int]]) -> float | None:
    pairs = [(v, n) for v, n in pairs if v is not None and n]
    tot = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / tot if tot else None


def total_row(tool: str, rows: list[Row], reenc: dict[str, Row]) -> Row:
    """Aggregate a tool's scored rows; x_reencode over videos where both it and the re-encode ran."""
    ok = [r for r in rows if r.metrics]
    t = Row("TOTAL", tool)
    timed = [r for r in ok if r.video in reenc]
    t.seconds = sum(r.seconds for r in ok) if ok else None
    t.x_reencode = (sum(r.seconds for r in timed) / sum(reenc[r.video].seconds for r in timed)) if timed else None
    rss = [r.peak_rss_mib for r in ok if r.peak_rss_mib is not None]
    t.peak_rss_mib = max(rss) if rss else None
    failed = [r.video for r in rows if r.error]
    t.error = f"{len(failed)} failed: {', '.join(failed)}" if failed else None
    if not ok:
        return t
    mm = [r.metrics for r in ok]
    frames = sum(m["checks"]["frames_in"] for m in mm if m.get("throughput"))
    secs = sum(m["throughput"]["tool_seconds"] for m in mm if m.get("throughput"))
    over = [m["over_redaction_frac"] for m in mm if m["over_redaction_frac"] is not None]
    runs = [m["longest_leak_run"]["annotated_frames"] for m in mm]
    M = {
        "leak_rate": weighted([(m["leak_rate"], m["victim_instances"]) for m in mm]),
        "leak_by_bucket": {b: {"leak_rate": weighted([(m["leak_by_bucket"][b]["leak_rate"], m["leak_by_bucket"][b]["n"])
                                                      for m in mm])} for b in BUCKETS},
        "longest_leak_run": {"annotated_frames": max(runs)},
        "frames_with_any_leak_frac": weighted([(m["frames_with_any_leak_frac"], m["frames_with_victims"]) for m in mm]),
        "over_redaction_frac": sum(over) / len(over) if over else None,
        "keep_visible_frac": weighted([(m["keep_visible_frac"], m["keep_instances"]) for m in mm]),
        "checks": {k: all(m["checks"].get(k, True) for m in mm) for k in CHECK_KEYS},
        "throughput": {"fps": frames / secs} if secs else None,
        "victim_instances": sum(m["victim_instances"] for m in mm),
    }
    kinds = [m["leak_by_kind"] for m in mm if m.get("leak_by_kind")]
    if kinds:
        M["leak_by_kind"] = {k: {"leak_rate": weighted([(K[k]["leak_rate"], K[k]["n"]) for K in kinds if k in K])}
                             for k in MARK_KINDS}
    t.metrics = M
    audits = [r.audit for r in ok if r.audit]
    if audits:
        t.audit = {k: sum(a[k] for a in audits) for k in ("redacted", "accounted", "covered_half", "audit_frames")}
    return t


def encode_notes(rows: list[Row], preset: str, crf: int) -> list[str]:
    """Warn when redact's audit header shows encoder settings other than the re-encode's (then x_reencode
    compares different encoders), or when redact ran with different configs on different videos (the
    repository changed during the run)."""
    notes = []
    digests = {(r.audit or {}).get("config_sha256") for r in rows if r.audit} - {None}
    if len(digests) > 1:
        notes.append(f"redact ran with {len(digests)} different resolved configs (config_sha256 in the audit "
                     "headers): were the defaults edited during the run? Its rows are not comparable.")
    for r in rows:
        enc = (r.audit or {}).get("encode")
        if enc and (enc.get("preset"), enc.get("crf")) != (preset, crf):
            notes.append(f"{r.video}: redact encoded with preset {enc.get('preset')} crf {enc.get('crf')}, "
                         f"the re-encode with preset {preset} crf {crf}")
    return notes


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in table_row(r)) + " |" for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.bench = args.bench.resolve()
    video_dir = (args.videos_dir or args.bench / "videos").resolve()
    scorer = args.bench / "score.py"
    if not scorer.exists():
        raise SystemExit(f"{scorer} not found: point --bench at the bench folder")
    videos = find_videos(video_dir, args.videos)
    args.out.mkdir(parents=True, exist_ok=True)
    preset, crf = encoder_settings(shlex.split(args.redact_args))

    header = [
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"machine: {machine_info()}",
        f"started: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"videos: {video_dir} ({len(videos)}); scorer: {scorer}",
        f"re-encode: libx264 -preset {preset} -crf {crf} (redact's resolved config)",
    ]
    print("\n".join(header), flush=True)

    jobs = plan_jobs(args, videos, preset, crf)
    by_video = {v.stem: v for v in videos}
    warm_up(jobs)
    rows: list[Row] = []
    for i, job in enumerate(jobs, 1):  # strictly sequential: the timings must not overlap
        print(f"[{i}/{len(jobs)}] {job.video} {job.tool} ...", end=" ", file=sys.stderr, flush=True)
        warm_cache(by_video[job.video])
        row = execute(job, args.timeout)
        print(f"{num(row.seconds, '%.2f')} s, {num(row.peak_rss_mib, '%.0f')} MiB"
              + (f"  ERROR {row.error}" if row.error else ""), file=sys.stderr, flush=True)
        rows.append(row)

    jr = list(zip(jobs, rows))

    def score_one(pair: tuple[Job, Row]) -> None:
        job, row = pair
        want_audit = job.audit is not None and args.audit_check
        full = score(job, row, by_video[job.video], args.bench, dump_instances=want_audit)
        if full is not None and want_audit:
            try:
                row.audit = audit_check(full, by_video[job.video].with_suffix(".gt.json"), job.audit)
            except (OSError, ValueError, KeyError, TypeError) as e:
                row.error = f"audit check failed: {type(e).__name__}: {e}"
        if not args.keep_outputs:
            job.output.unlink(missing_ok=True)

    print(f"scoring {sum(1 for _, r in jr if not r.error)} outputs ({args.score_jobs} at a time) ...",
          file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.score_jobs)) as ex:
        list(ex.map(score_one, [p for p in jr if not p[1].error]))
    if not args.keep_outputs:  # partial outputs of failed runs
        for job, _ in jr:
            job.output.unlink(missing_ok=True)

    reenc = {r.video: r for r in rows if r.tool == "reencode" and r.rc == 0 and r.seconds}
    for r in rows:
        if r.rc == 0 and r.video in reenc:  # a failed run's time means nothing
            r.x_reencode = r.seconds / reenc[r.video].seconds
    notes = encode_notes(rows, preset, crf)
    tools = list(dict.fromkeys(r.tool for r in rows))
    totals = [total_row(t, [r for r in rows if r.tool == t], reenc) for t in tools]

    table = markdown_table(rows + totals)
    print()
    print(table)
    print()
    print(LEGEND)
    for n in notes:
        print(f"NOTE: {n}")
    (args.out / "results.json").write_text(json.dumps(
        {"header": header, "rows": [asdict(r) for r in rows], "totals": [asdict(t) for t in totals]},
        indent=1, default=str))
    if args.markdown:
        args.markdown.write_text("\n\n".join(["```\n" + "\n".join(header) + "\n```", table, LEGEND, *notes]) + "\n")
        print(f"\nwrote {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
