"""The ``redact`` command line: argument parsing and error reporting over the library API.

Exit codes: 0 success, 1 failure (bad input, failed encode, ...), 2 usage
(bad arguments or config), 4 ``redact verify`` found suspects (faces that
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

from redact import __version__
from redact.errors import ConfigError, RedactError

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


# flag name -> config key; flags win over --set and --config.
_FLAG_KEYS = {"style": "render.style", "shape": "render.shape", "crf": "encode.crf", "preset": "encode.preset"}


def _resolve_config(args: argparse.Namespace):
    from redact.config import load

    overrides = list(args.overrides)
    for flag, key in _FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    return load(args.config, overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redact", description="Anonymise faces in video, with an audit log.")
    parser.add_argument("--version", action="version", version=f"redact {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="redact one video", description="Redact every face in INPUT and write OUTPUT (MP4).")
    run.add_argument("input", type=Path, metavar="INPUT")
    run.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT")
    run.add_argument("--log", type=Path, metavar="AUDIT.jsonl", help="audit log path (default: OUTPUT's name with .audit.jsonl)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    run.add_argument("--print-config", action="store_true", help="print the resolved config before running")
    _config_args(run)

    cfg = sub.add_parser("config", help="print the resolved config as YAML", description="Print the config a run would use.")
    _config_args(cfg)

    smp = sub.add_parser("sample", help="write a short demo clip with faces", description="Write a demo video with real faces (from scikit-image) to try redact on.")
    smp.add_argument("output", type=Path, metavar="OUTPUT")
    smp.add_argument("--seconds", type=float, default=4.0)

    sub.add_parser("detectors", help="list the detector plug-ins")

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
    ver.add_argument("--report", type=Path, metavar="PATH", help="JSON report (default: OUTPUT's name with .verify.json)")
    ver.add_argument(
        "--sheet", type=Path, metavar="PATH",
        help="contact sheet PNG of the suspects, written only if there are any (default: OUTPUT's name with .verify.png)",
    )
    ver.add_argument("-q", "--quiet", action="store_true", help="no progress bar; print only when suspects are found")
    return parser


def main(argv: list[str] | None = None) -> int:
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
        from redact.detect.base import available

        print("\n".join(available()))
        return EXIT_OK
    if args.command == "sample":
        from redact.sample import make_sample

        s = make_sample(args.output, seconds=args.seconds)
        print(f"wrote {s.path} ({s.width}x{s.height}, {s.frames} frames, {sum(map(len, s.boxes))} face instances)")
        return EXIT_OK
    if args.command == "verify":
        return _verify(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from redact.pipeline import run

    config = _resolve_config(args)
    if args.print_config:
        sys.stdout.write(config.to_yaml())
    result = run(args.input, args.output, config, audit_log=args.log, progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        t = result.timings
        print(
            f"wrote {result.output} ({result.frames} frames, {result.tracks} tracks, {result.regions} regions "
            f"redacted, {t.get('total', 0):.1f} s); audit log {result.audit_log}",
            file=sys.stderr,
        )
    return EXIT_OK


def _verify(args: argparse.Namespace, listed: int = 5) -> int:
    from redact.verify import verify

    r = verify(
        args.output, args.against, every=args.every, report=args.report, sheet=args.sheet,
        progress=not args.quiet and sys.stderr.isatty(),
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
            where = f"box {list(s.box)}, {s.detector} score {s.score:.2f} in the {s.side}{sim}"
            print(f"  frame {s.frame} ({s.time:.2f} s): {where}")
        if len(r.suspects) > listed:
            print(f"  ... {len(r.suspects) - listed} more in the report")
    return EXIT_SUSPECTS
