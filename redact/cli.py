"""The ``redact`` command line: argument parsing and error reporting over the library API.

Exit codes: 0 success, 1 failure (bad input, failed encode, an audit log that fails
``redact audit check``, ...; in a batch:
every file failed), 2 usage (bad arguments, config or decisions file), 3 a
batch where some files failed, 4 ``redact verify`` found suspects (faces that
still seem visible in the output).  Errors print as one line naming the file
and the problem; ``REDACT_DEBUG=1`` prints the traceback as well.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from redact.errors import ConfigError, RedactError
from redact.memory import limit_malloc_arenas
from redact.version import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_SUSPECTS = 4

log = logging.getLogger("redact")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config or preset (see configs/)")
    p.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
        help="override one config key, e.g. --set render.padding=0.3 (repeatable)",
    )
    p.add_argument("--style", choices=["fill", "solid", "pixelate", "blur"], help="redaction style (render.style)")
    p.add_argument("--shape", choices=["ellipse", "box"], help="region shape (render.shape)")
    p.add_argument("--crf", type=int, help="x264 quality, 0-51 (encode.crf)")
    p.add_argument("--preset", help="x264 preset (encode.preset)")


def _people_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("people (reference photos; without these everyone is redacted)")
    g.add_argument(
        "--keep", type=Path, action="append", default=[], metavar="DIR",
        help="keep these people visible: DIR has one sub-folder of photos per person (folder name = label)",
    )
    g.add_argument(
        "--keep-person", action="append", default=[], metavar="LABEL=PHOTO[,PHOTO...]",
        help="keep one person visible, from these photos or folders of photos (repeatable)",
    )
    g.add_argument(
        "--only-redact", type=Path, action="append", default=[], metavar="DIR",
        help="the opposite: redact only these people (same folder layout) and leave everyone else",
    )


def _marks_args(p: argparse.ArgumentParser, regions: bool = True) -> None:
    g = p.add_argument_group("marked regions and audio (added to the config's regions and audio sections)")
    if regions:
        g.add_argument(
            "--region", action="append", default=[], metavar="SPEC",
            help='redact an area the detectors do not know (a tattoo), followed both ways from time t: '
            '"t=12.4,x=600,y=300,w=80,h=60,label=tattoo"; "mode=static,start=..,end=..,x=..,y=..,w=..,h=.." '
            'fixes it in place; "start=10,end=12" alone blacks out the whole frame (repeatable)',
        )
        g.add_argument(
            "--protect", action="append", default=[], metavar="SPEC",
            help='keep the text in this area (a timestamp overlay): "x=0,y=0,w=420,h=40[,start=..,end=..]"; '
            "faces inside are still redacted (repeatable)",
        )
        g.add_argument("--regions", type=Path, metavar="YAML", help="a file with `regions:` and `protect:` lists")
    g.add_argument("--audio", choices=["keep", "mute", "bleep", "disguise"], help="whole soundtrack (audio.action)")
    g.add_argument(
        "--audio-range", action="append", default=[], metavar="START-END=ACTION[:LABEL]",
        help='mute, bleep or disguise a time range, e.g. "01:12.5-01:13.4=bleep:name spoken" (repeatable)',
    )


def _batch_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("batches (several inputs, a folder or a glob; OUTPUT is then a folder)")
    g.add_argument("--jobs", type=int, metavar="N", help="files redacted at once (default: one per core, fewer if memory is short)")
    g.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local worker processes, or tasks on a Ray cluster (needs redact[ray])")
    g.add_argument("--address", metavar="ADDR", help="Ray cluster to join, e.g. 10.0.0.5:6379 (default: RAY_ADDRESS, "
                   "or a Ray instance started for this batch)")
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="times a job is retried when its worker dies (default 2); failing inputs are not retried")
    g.add_argument("--summary", type=Path, metavar="JSON", help="batch summary path (default: OUTPUT/redact-batch.json)")


def _image_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pictures and frame sequences (JPEG, PNG, WebP, TIFF, HEIF; see the image config section)")
    g.add_argument("--as-video", action="store_true",
                   help="INPUT is a folder of numbered frames: redact it as one video (tracking fills gaps); "
                   "OUTPUT is an MP4, or a folder for the same numbered frames")
    g.add_argument("--fps", type=float, default=25.0, metavar="FPS", help="frame rate of --as-video frames (default 25)")
    g.add_argument("--jpeg-quality", type=int, metavar="Q", help="quality of re-encoded JPEG/WebP/HEIF, 1-100 "
                   "(image.jpeg_quality)")


def _apply_marks(config, args: argparse.Namespace):
    """Add the regions and audio ranges given on the command line to ``config`` (already validated)."""
    from redact.marks import load_regions_file, parse_audio_range, parse_protect, parse_region

    if getattr(args, "regions", None):
        redact, protect = load_regions_file(args.regions)
        config.regions.redact.extend(redact)
        config.regions.protect.extend(protect)
    config.regions.redact.extend(parse_region(s) for s in getattr(args, "region", []))
    config.regions.protect.extend(parse_protect(s) for s in getattr(args, "protect", []))
    config.audio.ranges.extend(parse_audio_range(s) for s in getattr(args, "audio_range", []))
    return config


def _people(args: argparse.Namespace):
    """Load the reference people the flags name, or None; keep and only-redact do not mix."""
    keep = args.keep or args.keep_person
    if keep and args.only_redact:
        raise ConfigError("--keep/--keep-person and --only-redact cannot be combined")
    if not keep and not args.only_redact:
        return None
    from redact.analyse.identity import load_people

    if keep:
        return load_people("keep", args.keep, args.keep_person)
    return load_people("only-redact", args.only_redact)


# flag name -> config key; flags win over --set and --config.
_FLAG_KEYS = {
    "style": "render.style", "shape": "render.shape", "crf": "encode.crf", "preset": "encode.preset",
    "audio": "audio.action", "jpeg_quality": "image.jpeg_quality",
}


def _resolve_config(args: argparse.Namespace, base=None):
    from redact.config import load

    overrides = list(args.overrides)
    for flag, key in _FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    return _apply_marks(load(args.config, overrides, base=base), args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redact", description="Anonymise faces in video, with an audit log.")
    parser.add_argument("--version", action="version", version=f"redact {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="redact one video or picture, or a batch of them",
        description="Redact every face in INPUT and write OUTPUT (MP4 for a video; a picture keeps its format).  "
        "With several inputs, a folder or a glob (videos and pictures mixed), "
        "OUTPUT is a folder: the input tree is mirrored there, finished files are skipped on a rerun, and a "
        "summary is written (exit 0 all done, 3 some failed, 1 none done).",
    )
    run.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="a video or a picture; or folders, globs, several of them")
    run.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT", help="output video, or folder")
    run.add_argument("--log", type=Path, metavar="AUDIT.jsonl", help="audit log path (default: OUTPUT's name with .audit.jsonl)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    run.add_argument("--print-config", action="store_true", help="print the resolved config before running")
    _config_args(run)
    _people_args(run)
    _marks_args(run)
    _batch_args(run)
    _image_args(run)

    ana = sub.add_parser(
        "analyse", help="detect, track and score identities once; save for review and render",
        description="Run pass 1 on INPUT and save tracks, identity scores and automatic decisions to a folder "
        "that `redact review` and `redact render` read. Writes no video.",
    )
    ana.add_argument("input", type=Path, metavar="INPUT")
    ana.add_argument("--out", type=Path, required=True, metavar="ANALYSIS_DIR")
    ana.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    _config_args(ana)
    _people_args(ana)
    _marks_args(ana)

    _review_render_args(sub)

    cfg = sub.add_parser("config", help="print the resolved config as YAML", description="Print the config a run would use.")
    _config_args(cfg)

    smp = sub.add_parser("sample", help="write a short demo clip with faces", description="Write a demo video with real faces (from scikit-image) to try redact on.")
    smp.add_argument("output", type=Path, metavar="OUTPUT")
    smp.add_argument("--seconds", type=float, default=4.0)
    smp.add_argument("--marks", action="store_true", help="also draw a name badge, a licence plate and a timestamp overlay")

    sub.add_parser("detectors", help="list the detector plug-ins")

    _verify_args(sub)
    _audit_args(sub)
    _studio_args(sub)
    return parser


def _review_render_args(sub) -> None:
    rev = sub.add_parser(
        "review", help="write an HTML report of an analysis (it shows unredacted faces)",
        description="Write ANALYSIS_DIR/review.html: one row per track with thumbnails, decision and reason, and "
        "a timeline. It contains crops of unredacted faces: keep it with the analysis, never publish it.",
    )
    rev.add_argument("analysis", type=Path, metavar="ANALYSIS_DIR")
    rev.add_argument("--input", type=Path, metavar="INPUT", help="the analysed video (default: its recorded path)")
    rev.add_argument("-o", "--output", type=Path, metavar="HTML", help="report path (default: ANALYSIS_DIR/review.html)")
    rev.add_argument("-q", "--quiet", action="store_true")

    ren = sub.add_parser(
        "render", help="render a saved analysis, with overrides, without detecting again",
        description="Redact INPUT from a saved analysis and the operator's decisions (keep: [ids], redact: [ids]).",
    )
    ren.add_argument("input", type=Path, metavar="INPUT")
    ren.add_argument("--analysis", type=Path, required=True, metavar="ANALYSIS_DIR")
    ren.add_argument("--decisions", type=Path, metavar="YAML", help="operator overrides by track id")
    ren.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT")
    ren.add_argument("--log", type=Path, metavar="AUDIT.jsonl", help="audit log path (default: OUTPUT's name with .audit.jsonl)")
    ren.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    _config_args(ren)
    _marks_args(ren, regions=False)


def _verify_args(sub) -> None:
    ver = sub.add_parser(
        "verify", help="check a redacted output for faces still visible",
        description="Re-scan a redacted OUTPUT with a more sensitive detector setup and report every place where "
        "a face still seems visible. Exit code 4 if any.",
    )
    ver.add_argument("output", type=Path, metavar="OUTPUT")
    ver.add_argument(
        "--against", type=Path, metavar="INPUT",
        help="the original video: compare frame by frame, and also look for its faces left unchanged in OUTPUT",
    )
    ver.add_argument("--every", type=int, default=1, metavar="N", help="scan every N-th frame (default 1: all)")
    ver.add_argument(
        "--no-rotations", dest="rotations", action="store_false",
        help="scan the frames only as they are, not also turned 90, 180 and 270 degrees for faces lying sideways or "
        "upside down (about half the time, and blind to those faces)",
    )
    ver.add_argument(
        "--on-decode-error", choices=("fail", "blackout"), default="fail",
        help="how to read a damaged INPUT, as the run read it (detect.on_decode_error): blackout reads its damaged "
        "frames as black, as they were written (default: fail)",
    )
    ver.add_argument("--report", type=Path, metavar="PATH", help="JSON report (default: OUTPUT's name with .verify.json)")
    ver.add_argument(
        "--sheet", type=Path, metavar="PATH",
        help="contact sheet PNG of the suspects, written only if there are any (default: OUTPUT's name with .verify.png)",
    )
    ver.add_argument("-q", "--quiet", action="store_true", help="no progress bar; print only when suspects are found")


def _audit_args(sub) -> None:
    aud = sub.add_parser("audit", help="check an audit log's chain of custody",
                         description="Commands on audit logs.")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    chk = aud_sub.add_parser(
        "check", help="verify that no line was changed, deleted, moved or cut off",
        description="Verify LOG's chain (each line holds the SHA-256 of the line before it) and its summary; "
        "with --output, also that FILE is the video (or picture) the log describes. A batch's picture log "
        "(redact-images.audit.jsonl) or a frame sequence's (redact-frames.audit.jsonl) takes the output FOLDER, "
        "and every picture it names there is compared. Exit 0 and one line if all holds, "
        "1 and the first broken line otherwise.",
    )
    chk.add_argument("log", type=Path, metavar="LOG")
    chk.add_argument("--output", type=Path, metavar="FILE",
                     help="the redacted video or picture (or, for a picture batch or frame sequence, its folder): "
                     "compare SHA-256s with the log's")


def _studio_args(sub) -> None:
    st = sub.add_parser(
        "studio", help="check, correct and approve a redaction in the browser (needs redact[studio])",
        description="Open TARGET (a video, analysed first if needed, or an analysis folder) in the review studio. "
        "The first line printed is the URL with its token. The page shows UNREDACTED faces.",
    )
    st.add_argument("target", type=Path, metavar="VIDEO|ANALYSIS_DIR")
    st.add_argument("--input", type=Path, metavar="INPUT", help="the analysed video, when it has moved")
    st.add_argument("-o", "--output", type=Path, metavar="OUTPUT",
                    help="where renders from the page go (default: INPUT's name with .redacted.mp4, beside it)")
    st.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    st.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    st.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    st.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    _config_args(st)
    _people_args(st)
    _marks_args(st)


def _studio(args: argparse.Namespace) -> int:
    try:
        from redact.studio.server import serve
    except ImportError as e:
        raise RedactError(f"the studio needs its extra: pip install 'redact-video[studio]' ({e})") from e
    from redact.studio import prepare
    from redact.studio.session import Session

    folder, video = prepare(args.target, _resolve_config(args), _people(args), progress=_progress(args))
    session = Session(folder, args.input or video, args.output)
    serve(session, args.host, args.port, open_browser=not args.no_browser)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="redact: %(message)s")
    try:
        return _dispatch(args)
    except ConfigError as e:
        return _fail(e, EXIT_USAGE)
    except RedactError as e:
        return _fail(e, EXIT_FAILURE)
    except KeyboardInterrupt:
        print("redact: interrupted; no output was written", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - last resort: one line, traceback on request
        return _fail(e, EXIT_FAILURE, unexpected=True)


def _fail(e: BaseException, code: int, unexpected: bool = False) -> int:
    prefix = "internal error: " if unexpected else ""
    print(f"redact: error: {prefix}{e}", file=sys.stderr)
    if os.environ.get("REDACT_DEBUG"):
        traceback.print_exc()
    elif unexpected:
        print("redact: set REDACT_DEBUG=1 for the traceback", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "config":
        sys.stdout.write(_resolve_config(args).to_yaml())
        return EXIT_OK
    if args.command == "detectors":
        from redact.analyse.detectors.base import available

        print("\n".join(available()))
        return EXIT_OK
    if args.command == "sample":
        from redact.sample import make_sample

        s = make_sample(args.output, seconds=args.seconds, marks=args.marks)
        marks = f", {sum(map(len, s.marks))} mark instances" if args.marks else ""
        print(f"wrote {s.path} ({s.width}x{s.height}, {s.frames} frames, {sum(map(len, s.boxes))} face instances{marks})")
        return EXIT_OK
    if args.command == "verify":
        return _verify(args)
    if args.command == "analyse":
        return _analyse(args)
    if args.command == "review":
        return _review(args)
    if args.command == "render":
        return _render(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "studio":
        return _studio(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from redact.batch import is_batch

    config = _resolve_config(args)
    if args.print_config:
        sys.stdout.write(config.to_yaml())
    if args.as_video:
        return _run_sequence(args, config)
    if is_batch(args.inputs, args.output):
        return _run_batch(args, config)
    if args.jobs is not None or args.executor != "local" or args.summary is not None:
        raise ConfigError("--jobs, --executor and --summary are for batches: give a folder, a glob or several inputs")
    from redact.still import is_image

    people = _people(args)
    if is_image(args.inputs[0]):
        from redact.still import run_image

        result = run_image(args.inputs[0], args.output, config, audit_log=args.log, people=people)
    else:
        from redact.pipeline import run

        result = run(args.inputs[0], args.output, config, audit_log=args.log, progress=_progress(args), people=people)
    _report_written(args, result)
    return EXIT_OK


def _run_sequence(args: argparse.Namespace, config) -> int:
    from redact.sequence import run_sequence

    if len(args.inputs) != 1 or args.jobs is not None or args.executor != "local":
        raise ConfigError("--as-video takes one folder of numbered frames (no --jobs or --executor)")
    result = run_sequence(args.inputs[0], args.output, config, fps=args.fps, audit_log=args.log,
                          progress=_progress(args), people=_people(args))
    _report_written(args, result)
    return EXIT_OK


def _run_batch(args: argparse.Namespace, config) -> int:
    from redact.batch import SUMMARY_NAME, PeopleSpec, run_batch

    if args.log is not None:
        raise ConfigError("--log names one audit log; a batch writes one beside each output")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: must be at least 1")
    if args.retries < 0:
        raise ConfigError(f"--retries {args.retries}: must be 0 or more")
    people = None
    if _people(args) is not None:  # loaded once here so that bad reference photos fail before any job starts
        keep = bool(args.keep or args.keep_person)
        people = PeopleSpec("keep" if keep else "only-redact", tuple(args.keep if keep else args.only_redact),
                            tuple(args.keep_person))
    summary = run_batch(
        args.inputs, args.output, config, people=people, jobs=args.jobs, executor=args.executor,
        address=args.address, retries=args.retries, progress=_progress(args), summary=args.summary,
    )
    if not args.quiet or summary.exit_code:
        print(summary.table(), file=sys.stderr)
        where = args.summary or args.output / SUMMARY_NAME
        print(f"summary {where}", file=sys.stderr)
    return summary.exit_code


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _report_written(args: argparse.Namespace, result) -> None:
    if not args.quiet:
        t = result.timings
        print(
            f"wrote {result.output} ({result.frames} frames, {result.tracks} tracks, {result.regions} regions "
            f"redacted, {t.get('total', 0):.1f} s); audit log {result.audit_log}",
            file=sys.stderr,
        )


def _analyse(args: argparse.Namespace) -> int:
    from redact.pipeline import analyse_to

    config = _resolve_config(args)
    people = _people(args)
    path, analysis, decisions = analyse_to(args.input, args.out, config, progress=_progress(args), people=people)
    if not args.quiet:
        kept = [d.track_id for d in decisions.values() if d.action.value == "keep"]
        print(
            f"wrote {path} ({len(analysis.tracks)} tracks, {len(kept)} kept visible: {kept}); next: "
            f"`redact review {args.out}` to check, `redact render {args.input} --analysis {args.out} -o OUTPUT`",
            file=sys.stderr,
        )
    return EXIT_OK


def _review(args: argparse.Namespace) -> int:
    from redact.review import write_report

    path = write_report(args.analysis, input=args.input, output=args.output, progress=_progress(args))
    if not args.quiet:
        print(f"wrote {path}: it shows unredacted faces; keep it with the analysis and never publish it")
    return EXIT_OK


def _render(args: argparse.Namespace) -> int:
    import redact.store as store
    from redact.pipeline import render_from

    config = _resolve_config(args, base=store.load(args.analysis).config)
    result = render_from(
        args.input, args.analysis, args.output, args.decisions, config, audit_log=args.log, progress=_progress(args)
    )
    _report_written(args, result)
    return EXIT_OK


def _verify(args: argparse.Namespace, listed: int = 5) -> int:
    from redact.verify import VerifySettings, verify

    settings = VerifySettings() if args.rotations else VerifySettings().upright()
    r = verify(
        args.output, args.against, every=args.every, report=args.report, sheet=args.sheet,
        progress=not args.quiet and sys.stderr.isatty(), on_decode_error=args.on_decode_error, settings=settings,
    )
    scanned = f"{r.frames_scanned} of {r.frames}" if r.frames_scanned != r.frames else f"{r.frames}"
    scanned += f" frames scanned, {r.timings['total']:.1f} s"
    if r.clean:
        if not args.quiet:
            print(f"{r.output}: clean, no face found still visible ({scanned}); report {r.report}")
        return EXIT_OK
    frames = r.suspect_frames
    print(
        f"{r.output}: {len(r.suspects)} suspect(s) in {len(frames)} frame(s) ({scanned}); "
        f"report {r.report}; contact sheet {r.sheet} (it shows the faces visible in this output: do not share it)"
    )
    if not args.quiet:
        for s in r.suspects[:listed]:
            sim = "" if s.similarity is None else f", similarity {s.similarity:.2f}"
            turn = f" turned {s.angle:g} degrees" if s.angle else ""
            where = f"box {list(s.box)}, {s.detector} score {s.score:.2f} in the {s.side}{turn}{sim}"
            print(f"  frame {s.frame} ({s.time:.2f} s): {where}")
        if len(r.suspects) > listed:
            print(f"  ... {len(r.suspects) - listed} more in the report")
    return EXIT_SUSPECTS


def _audit(args: argparse.Namespace) -> int:
    """``redact audit check``: a broken log raises AuditError, printed as one line with exit code 1."""
    from redact.audit import check

    r = check(args.log, args.output)
    if r.kind in ("video", "picture"):
        what = f"{r.output.name} matches the output SHA-256" if r.output else "output not checked (give --output FILE)"
        lines = f"{r.lines} lines from header to summary" if r.kind == "video" else "one picture's record"
    else:
        what = (f"every output in {r.output} matches its SHA-256" if r.output
                else "outputs not checked (give --output FOLDER)")
        lines = f"{r.lines} lines, {r.pictures} {r.kind} with their summary"
    print(f"{r.path}: chain intact, {lines}; {what}")
    return EXIT_OK
