#!/usr/bin/env python
"""Show that redact's peak memory stays flat as videos get longer.

    python pipelines/memory.py [--clip pub05_group_1080p] [--minutes 5] [--short-seconds 30] [--out out/memory]
                               [--redact-args "--config configs/fast.yaml"] [--markdown FILE] [--interval 0.5]

Why: redact streams frames through ffmpeg processes and keeps only a few in
flight, so memory should not depend on a video's length; but whatever it
does keep per frame (tracks, regions, audit state) grows with length, and a
leak there only shows on long inputs.  The bench clips are 8-12 s, so this
script makes longer ones by looping a clip and measures the real pipeline
on them.

What it does:

1. Loops ``--clip`` (a bench video name or a path) with imageio-ffmpeg's
   ffmpeg, ``-stream_loop N -c copy`` into MP4, to about ``--short-seconds``
   and about ``--minutes`` minutes.  Whole loops only, so nothing is cut in
   the middle of a group of pictures; lengths that round to the same number
   of loops are run once.
2. Runs ``python -m redact run`` on each, one after another, while sampling
   every ``--interval`` seconds the VmRSS of redact's Python process and the
   sum over its whole process tree (the ffmpeg decoder and encoder
   included), with the same runner as ``pipelines/benchmark.py``.
3. Prints one row per length: length, frames, wall time, fps, peak RSS of
   the Python process (its VmHWM), peak of the tree (sampled), the largest
   single process (``ru_maxrss``), and the tree's RSS at 10 / 50 / 90 % of
   the run; then whether the longest video's tree peak stays within
   ``--flat-tolerance`` of the shortest's, and under 1.5 GiB.  The whole RSS
   timeline goes to ``<out>/rss_timeline.csv``; ``--markdown`` writes the
   table to a file.

The looped inputs and redacted outputs are deleted afterwards unless
``--keep-videos``; the audit logs and tool logs stay in ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import REPO, Measured, larger, log_tail, machine_info, num, run_timed, warm_cache

BENCH_VIDEOS = REPO.parent / "shared" / "bench" / "videos"
MEMORY_LIMIT_MIB = 1.5 * 1024
RUN_FRACTIONS = (0.1, 0.5, 0.9)


@dataclass
class Result:
    """redact on one looped video."""

    video: Path
    loops: int
    seconds: float  # length of the video
    frames: int
    run: Measured

    @property
    def peak_mib(self) -> float:
        """What the machine had to hold (see benchmark.larger)."""
        return larger(self.run.tree_peak_mib, self.run.max_process_mib)

    @property
    def python_peak_mib(self) -> float | None:
        return larger(self.run.root_peak_mib, max((s.root_mib for s in self.run.samples), default=None))

    def tree_at(self, frac: float) -> float | None:
        """The tree's RSS in the sample nearest to `frac` of the run's wall time."""
        if not self.run.samples:
            return None
        return min(self.run.samples, key=lambda s: abs(s.t - frac * self.run.seconds)).tree_mib


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="pub05_group_1080p",
                    help=f"video to loop: a path, or a NAME in {BENCH_VIDEOS} (default: pub05_group_1080p)")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the long video (default 5)")
    ap.add_argument("--short-seconds", type=float, default=30.0,
                    help="length of the short video (default 30; 0: only the long one)")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "memory", help="work and result folder")
    ap.add_argument("--redact-args", default="", help='extra arguments for "redact run", e.g. "--config FILE"')
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between memory samples")
    ap.add_argument("--flat-tolerance", type=float, default=0.10,
                    help="largest relative growth of the tree peak, shortest to longest video, still called flat")
    ap.add_argument("--timeout", type=float, default=3 * 3600.0, help="seconds after which a run is killed")
    ap.add_argument("--keep-videos", action="store_true", help="keep the looped inputs and redacted outputs")
    return ap.parse_args(argv)


def resolve_clip(clip: str) -> Path:
    path = Path(clip)
    if not path.exists():
        path = BENCH_VIDEOS / f"{clip.removesuffix('.mp4')}.mp4"
    if not path.exists():
        raise SystemExit(f"--clip {clip}: no such file, nor a video of that name in {BENCH_VIDEOS}")
    return path.resolve()


def probe(path: Path) -> tuple[float, int]:
    """(length in seconds, frame count) as redact's own prober sees them."""
    sys.path.insert(0, str(REPO))
    from redact.io.probe import probe as redact_probe

    info = redact_probe(path)
    return info.frame_count / float(info.fps), info.frame_count


def loop_counts(clip_seconds: float, targets: list[float]) -> list[int]:
    """Whole numbers of loops that come closest to each target length, each once, shortest first."""
    return sorted({max(1, round(t / clip_seconds)) for t in targets if t > 0})


def make_looped(clip: Path, loops: int, dst: Path) -> Path:
    """`clip` played `loops` times, stream-copied (no re-encode: seconds even for 5 minutes of 1080p)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-stream_loop", str(loops - 1),
           "-i", str(clip), "-c", "copy", "-movflags", "+faststart", str(dst)]
    p = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"ffmpeg could not loop {clip} {loops} times: {p.stderr.strip()[-300:]}")
    return dst


def measure(video: Path, loops: int, args: argparse.Namespace) -> Result:
    """redact on `video`, alone, with its memory sampled."""
    out = args.out / f"{video.stem}.redacted.mp4"
    cmd = [sys.executable, "-m", "redact", "run", str(video), "-o", str(out),
           "--log", str(args.out / f"{video.stem}.audit.jsonl"), "--quiet", *shlex.split(args.redact_args)]
    log = args.out / f"{video.stem}.log"
    seconds, frames = probe(video)
    warm_cache(video)
    print(f"{video.name}: {seconds:.0f} s, {frames} frames ...", end=" ", file=sys.stderr, flush=True)
    run = run_timed(cmd, log, args.timeout, args.interval)
    print(f"{run.seconds:.1f} s, exit {run.rc}", file=sys.stderr, flush=True)
    if run.rc != 0:
        print(f"  redact failed: {log_tail(log)}", file=sys.stderr)
    if not args.keep_videos:
        out.unlink(missing_ok=True)
    return Result(video, loops, seconds, frames, run)


def write_timeline(results: list[Result], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "video_seconds", "t_s", "run_frac", "redact_rss_mib", "tree_rss_mib", "processes"])
        for r in results:
            for s in r.run.samples:
                w.writerow([r.video.name, f"{r.seconds:.2f}", f"{s.t:.2f}", f"{s.t / r.run.seconds:.3f}",
                            f"{s.root_mib:.1f}", f"{s.tree_mib:.1f}", s.processes])


def table(results: list[Result]) -> str:
    at = [f"tree RSS at {round(100 * f)} % MiB" for f in RUN_FRACTIONS]
    titles = ["video", "length s", "frames", "wall s", "fps", "exit", "redact process peak MiB", "tree peak MiB",
              "largest process MiB", *at, "samples"]
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for r in results:
        cells = [f"{r.video.name} ({r.loops}x)", f"{r.seconds:.1f}", str(r.frames), f"{r.run.seconds:.1f}",
                 f"{r.frames / r.run.seconds:.1f}", str(r.run.rc), num(r.python_peak_mib, "%.0f"),
                 num(r.run.tree_peak_mib, "%.0f"), f"{r.run.max_process_mib:.0f}",
                 *(num(r.tree_at(f), "%.0f") for f in RUN_FRACTIONS), str(len(r.run.samples))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(results: list[Result], tolerance: float) -> list[str]:
    """Flat with length (longest vs shortest) and under the 1.5 GiB target, judged from the measurements."""
    ok = [r for r in results if r.run.rc == 0]
    lines = []
    if len(ok) != len(results):
        lines.append(f"- **FAIL** {len(results) - len(ok)} run(s) failed; see the logs in the output folder")
    if len(ok) >= 2:
        short, long_ = ok[0], ok[-1]
        growth = long_.peak_mib - short.peak_mib
        rel = growth / short.peak_mib
        verdict = "**PASS**" if rel <= tolerance else "**FAIL**"
        lines.append(f"- {verdict} flat with length: peak {short.peak_mib:.0f} MiB at {short.seconds:.0f} s, "
                     f"{long_.peak_mib:.0f} MiB at {long_.seconds:.0f} s ({growth:+.0f} MiB, {100 * rel:+.1f} %; "
                     f"tolerance {100 * tolerance:.0f} %)")
        first, last = long_.tree_at(RUN_FRACTIONS[0]), long_.tree_at(RUN_FRACTIONS[-1])
        if first is not None and last is not None:  # growth inside one run does not depend on the code being the same
            lines.append(f"- drift within the longest run: tree RSS {first:.0f} MiB at "
                         f"{round(100 * RUN_FRACTIONS[0])} % of its wall time, {last:.0f} MiB at "
                         f"{round(100 * RUN_FRACTIONS[-1])} % ({last - first:+.0f} MiB)")
    else:
        lines.append("- n/a flat with length: fewer than two lengths measured")
    if ok:
        worst = max(ok, key=lambda r: r.peak_mib)
        verdict = "**PASS**" if worst.peak_mib < MEMORY_LIMIT_MIB else "**FAIL**"
        lines.append(f"- {verdict} peak RSS < 1.5 GiB: max {worst.peak_mib:.0f} MiB ({worst.video.name})")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    clip = resolve_clip(args.clip)
    clip_seconds, _ = probe(clip)
    counts = loop_counts(clip_seconds, [args.short_seconds, 60 * args.minutes])
    if not counts:
        raise SystemExit("nothing to run: give --minutes and/or --short-seconds above 0")
    header = [
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"machine: {machine_info()}",
        f"started: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"clip: {clip} ({clip_seconds:.2f} s), looped {', '.join(f'{n}x' for n in counts)}",
        f"redact args: {args.redact_args or '(none)'}; memory sampled every {args.interval:g} s",
    ]
    print("\n".join(header), flush=True)

    results = []
    for n in counts:
        video = make_looped(clip, n, args.out / f"{clip.stem}.x{n}.mp4")
        results.append(measure(video, n, args))
        if not args.keep_videos:
            video.unlink(missing_ok=True)

    timeline = args.out / "rss_timeline.csv"
    write_timeline(results, timeline)
    legend = (f"RSS timeline: {timeline}. Tree = summed VmRSS of redact and every descendant alive at the same "
              f"moment (shared pages once per process); the tree peak and the 10/50/90 % values are samples "
              f"{args.interval:g} s apart; the redact process peak is its VmHWM; the largest process is os.wait4's "
              f"ru_maxrss. Verdicts use the larger of the tree peak and the largest process.")
    body = [table(results), "\n".join(verdicts(results, args.flat_tolerance)), legend]
    print("\n\n" + "\n\n".join(body))
    if args.markdown:
        args.markdown.write_text("\n\n".join(["```\n" + "\n".join(header) + "\n```", *body]) + "\n")
        print(f"\nwrote {args.markdown}", file=sys.stderr)
    return 0 if all(r.run.rc == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
