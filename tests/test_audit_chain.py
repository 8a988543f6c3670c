"""The audit log's chain of custody: each line holds the SHA-256 of the line before it.

A real log from the real pipeline must pass ``redact audit check``, and every
kind of tampering (a changed byte, a deleted or moved line, a cut-off log,
another output file) must fail it, naming the line.  The chain rule is
re-implemented here from the module docstring, as an outside tool would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from redact.audit import (
    DECISION_KEYS,
    FORMAT_VERSION,
    GENESIS,
    AuditLog,
    check,
    decisions_digest,
)
from redact.cli import main
from redact.config import load
from redact.errors import AuditError, InputError
from redact.pipeline import run
from redact.types import Action, Decision, VideoInfo

# --- the documented rules, written independently of redact.audit ---------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chain(records: list[dict]) -> bytes:
    """A log as the docstring defines it: ``prev_sha256`` = SHA-256 of the previous line's bytes with its newline."""
    out, prev = [], "0" * 64
    for r in records:
        line = (json.dumps({"type": r["type"], "prev_sha256": prev, **r}, separators=(",", ":"),
                           ensure_ascii=False) + "\n").encode("utf-8")
        out.append(line)
        prev = _sha(line)
    return b"".join(out)


def _decisions_sha(decision_lines: list[dict]) -> str:
    keys = ("track", "action", "reason", "label", "score", "visible")
    ds = sorted(({k: d[k] for k in keys} for d in decision_lines), key=lambda d: d["track"])
    return _sha(json.dumps(ds, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def _flip_digit(line: bytes, after: bytes) -> bytes:
    """Flip the lowest bit of the first digit after ``after``: one changed byte, still valid JSON."""
    i = line.index(after) + len(after)
    while not chr(line[i]).isdigit():
        i += 1
    return line[:i] + bytes([line[i] ^ 1]) + line[i + 1:]


def _broken(path: Path, output: Path | None = None) -> AuditError:
    with pytest.raises(AuditError) as e:
        check(path, output)
    assert str(e.value).startswith(f"{path}: line {e.value.line}: "), str(e.value)
    assert "\n" not in str(e.value)
    return e.value


# --- a hand-made small log ------------------------------------------------------------------------------------

IN_SHA, OUT_BYTES = "ab" * 32, b"not really a video"
DECISIONS = [
    {"track": 2, "action": "keep", "reason": "matched", "label": "Zoë", "score": 0.9312, "visible": [[3, 9]]},
    {"track": 1, "action": "redact", "reason": "default", "label": None, "score": None, "visible": []},
]


def _small_records() -> list[dict]:
    return [
        {"type": "header", "format": 2, "input": {"file": "in.mp4", "sha256": IN_SHA}},
        *({"type": "decision", **d, "kind": "face", "first_frame": 0, "last_frame": 9} for d in DECISIONS),
        {"type": "frame", "frame": 0, "t": 0.0, "regions": [{"box": [10, 20, 30, 40], "track": 1}]},
        {"type": "frame", "frame": 1, "t": 0.04, "regions": [{"box": [11, 21, 31, 41], "track": 1}]},
        {"type": "summary", "regions": 2, "input": {"file": "in.mp4", "sha256": IN_SHA},
         "decisions_sha256": _decisions_sha(DECISIONS), "output": {"file": "out.mp4", "sha256": _sha(OUT_BYTES)}},
    ]


@pytest.fixture
def small(tmp_path) -> tuple[Path, Path]:
    out = tmp_path / "out.mp4"
    out.write_bytes(OUT_BYTES)
    return _write(tmp_path / "small.audit.jsonl", [_chain(_small_records())]), out


def test_hand_made_log_passes_and_reports_its_hashes(small):
    log, out = small
    r = check(log, out)
    assert (r.lines, r.input_sha256, r.output_sha256) == (6, IN_SHA, _sha(OUT_BYTES))
    assert r.decisions_sha256 == _decisions_sha(DECISIONS) == decisions_digest(DECISIONS)
    assert r.log_sha256 == _sha(log.read_bytes()) and r.output == out
    assert check(log).output is None


@pytest.mark.parametrize(
    "tamper, line, words",
    [
        (lambda ls: ls[:3] + [_flip_digit(ls[3], b'"box":')] + ls[4:], 4, "changed"),  # still valid JSON
        (lambda ls: ls[:3] + [ls[3].replace(b"{", b"[", 1)] + ls[4:], 4, "not valid JSON"),
        (lambda ls: ls[:3] + ls[4:], 3, "deleted"),  # line 4 removed: line 3 no longer chains on
        (lambda ls: ls[:3] + [ls[4], ls[3]] + ls[5:], 4, "moved"),  # lines 4 and 5 swapped
        (lambda ls: ls[:4] + [ls[3]] + ls[4:], 5, "duplicated"),
        (lambda ls: ls[1:], 1, "not the header"),
        (lambda ls: ls[:-1], 6, "without its summary"),
        (lambda ls: ls[:-1] + [ls[-1][:40]], 6, "truncated"),
        (lambda ls: ls + [ls[3]], 7, "appended"),
        (lambda ls: [], 1, "empty"),
    ],
    ids=["byte", "json", "deleted", "swapped", "duplicated", "no-header", "no-summary", "cut", "appended", "empty"],
)
def test_hand_made_log_tampering_names_the_line(small, tamper, line, words):
    log, _ = small
    _write(log, tamper(_lines(log)))
    e = _broken(log)
    assert e.line == line and words in str(e), str(e)


def test_summary_must_agree_with_header_decisions_and_output(tmp_path, small):
    _, out = small
    for key, value, words in [("input", {"file": "in.mp4", "sha256": "cd" * 32}, "input SHA-256"),
                              ("decisions_sha256", "ef" * 32, "decision lines")]:
        records = _small_records()
        records[-1][key] = value  # rechained: only the cross-check can see it
        log = _write(tmp_path / f"{key}.jsonl", [_chain(records)])
        e = _broken(log)
        assert e.line == 6 and words in str(e)
    other = tmp_path / "other.mp4"
    other.write_bytes(OUT_BYTES + b"!")
    e = _broken(small[0], other)
    assert e.line == 6 and "other.mp4 is not the output this log describes" in str(e)
    with pytest.raises(InputError):
        check(small[0], tmp_path / "missing.mp4")
    with pytest.raises(InputError):
        check(tmp_path / "missing.jsonl")


def test_a_log_without_the_chain_is_refused_by_name(tmp_path):
    log = tmp_path / "old.jsonl"
    log.write_text('{"type":"header","format":1}\n{"type":"summary"}\n')
    e = _broken(log)
    assert e.line == 1 and "format 1" in str(e)


def test_decisions_digest_covers_exactly_what_a_decision_records():
    d = Decision(7, Action.KEEP, "matched", "Zoë", 0.93121, ((3, 9),))
    assert tuple(sorted(d.to_json())) == tuple(sorted(DECISION_KEYS)), "a new Decision field must be hashed too"
    line = {"type": "decision", "prev_sha256": GENESIS, **d.to_json(), "kind": "face", "first_frame": 3}
    assert decisions_digest([d]) == decisions_digest([line]) == _decisions_sha([d.to_json()])
    other = Decision(7, Action.REDACT, "operator", "Zoë", 0.93121, ((3, 9),))
    assert decisions_digest([d]) != decisions_digest([other])


def test_the_writer_chains_as_documented(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(OUT_BYTES)
    info = VideoInfo(tmp_path / "in.mp4", 64, 48, Fraction(25), 2, 0.08)
    decisions = [Decision(2, Action.REDACT, "default"), Decision(1, Action.KEEP, "matched", "Ann", 0.9, ((0, 1),))]
    with AuditLog(tmp_path / "out.audit.jsonl") as audit:
        audit.header(info, load(), IN_SHA, (64, 48))
        for d in decisions:
            audit.decision(d, 0, 1, 2, "face")
        audit.write({"type": "frame", "frame": 0, "regions": []})
        audit.summary(output={"file": out.name, "sha256": _sha(OUT_BYTES)})
        audit.commit()
    raw = _lines(audit.path)
    records = [json.loads(x) for x in raw]
    assert records[0]["format"] == FORMAT_VERSION == 2 and records[0]["prev_sha256"] == "0" * 64
    assert all(r["prev_sha256"] == _sha(p) for p, r in zip(raw, records[1:]))
    assert all(list(r)[:2] == ["type", "prev_sha256"] for r in records)
    assert records[-1]["input"] == {"file": "in.mp4", "sha256": IN_SHA}
    assert records[-1]["decisions_sha256"] == decisions_digest(decisions)
    assert check(audit.path, out).lines == 5


# --- a real log from the real pipeline ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("chain") / "silent.redacted.mp4"
    result = run(clips["silent"].path, out, load())
    return clips["silent"], result


@pytest.fixture
def copy(real, tmp_path) -> Path:
    """A copy of the real log to tamper with."""
    return Path(shutil.copy(real[1].audit_log, tmp_path / "copy.audit.jsonl"))


def _middle_frame_line(log: Path) -> int:
    """1-based number of a frame line with frame lines on both sides."""
    frames = [i for i, x in enumerate(_lines(log), 1) if b'"type":"frame"' in x]
    assert len(frames) >= 5, "the clip should have faces in most frames"
    return frames[len(frames) // 2]


@pytest.mark.slow
@pytest.mark.models
def test_real_log_passes_and_its_summary_holds_the_three_hashes(real):
    sample, result = real
    raw = _lines(result.audit_log)
    records = [json.loads(x) for x in raw]
    # The chain, recomputed from the documented rule.
    assert records[0]["prev_sha256"] == "0" * 64
    assert all(r["prev_sha256"] == _sha(p) for p, r in zip(raw, records[1:]))
    summary = records[-1]
    assert summary["input"]["sha256"] == records[0]["input"]["sha256"] == _sha(sample.path.read_bytes())
    assert summary["output"]["sha256"] == _sha(result.output.read_bytes())
    decisions = [r for r in records if r["type"] == "decision"]
    assert decisions and summary["decisions_sha256"] == _decisions_sha(decisions)
    r = check(result.audit_log, result.output)
    assert r.lines == len(raw) and r.output == result.output


@pytest.mark.models
@pytest.mark.slow
def test_real_log_one_flipped_byte_in_a_middle_line_names_that_line(copy):
    m = _middle_frame_line(copy)
    lines = _lines(copy)
    lines[m - 1] = _flip_digit(lines[m - 1], b'"box":')
    e = _broken(_write(copy, lines))
    assert e.line == m and f"line {m}: changed" in str(e)


@pytest.mark.models
@pytest.mark.slow
def test_real_log_deleted_moved_and_cut_lines_fail(copy):
    m = _middle_frame_line(copy)
    lines = _lines(copy)
    assert _broken(_write(copy, lines[:m - 1] + lines[m:])).line == m - 1  # line m deleted
    assert _broken(_write(copy, lines[:m - 1] + [lines[m], lines[m - 1]] + lines[m + 1:])).line == m  # swapped
    e = _broken(_write(copy, lines[:-1]))  # the summary is gone
    assert e.line == len(lines) and "truncated" in str(e)
    assert _broken(_write(copy, lines[:m - 1] + [lines[m - 1][:-30]])).line == m  # cut inside line m


@pytest.mark.models
@pytest.mark.slow
def test_real_log_another_output_file_fails(real, copy):
    sample, result = real
    e = _broken(copy, sample.path)  # the unredacted input is not the output
    assert e.line == len(_lines(copy)) and "is not the output this log describes" in str(e)


@pytest.mark.models
@pytest.mark.slow
def test_cli_audit_check_exit_codes(real, copy, capsys):
    sample, result = real
    assert main(["audit", "check", str(result.audit_log), "--output", str(result.output)]) == 0
    out = capsys.readouterr().out.strip()
    assert "chain intact" in out and "matches" in out and len(out.splitlines()) == 1
    assert main(["audit", "check", str(result.audit_log)]) == 0
    assert "output not checked" in capsys.readouterr().out

    assert main(["audit", "check", str(result.audit_log), "--output", str(sample.path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("redact: error: ") and len(err.splitlines()) == 1

    m = _middle_frame_line(copy)
    lines = _lines(copy)
    _write(copy, lines[:m - 1] + [_flip_digit(lines[m - 1], b'"box":')] + lines[m:])
    assert main(["audit", "check", str(copy)]) == 1
    captured = capsys.readouterr()
    assert f"line {m}:" in captured.err and not captured.out

    assert main(["audit", "check", str(copy.with_name("missing.jsonl"))]) == 1
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["audit", "check"])
    assert usage.value.code == 2
