"""The command line: exit codes, one-line errors, default audit path, config printing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from redact.cli import main
from tests.conftest import read_audit


def _redact(*args, **kw):
    return subprocess.run([sys.executable, "-m", "redact", *args], capture_output=True, text=True, **kw)


@pytest.mark.slow
@pytest.mark.models
def test_run_writes_output_and_default_audit_log(clips, tmp_path):
    out = tmp_path / "clip.redacted.mp4"
    p = _redact("run", str(clips["basic"].path), "-o", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    log = tmp_path / "clip.redacted.audit.jsonl"
    assert out.exists() and log.exists()
    assert read_audit(log)[-1]["type"] == "summary"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["clip.redacted.audit.jsonl", "clip.redacted.mp4"]


def test_bad_input_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "broken clip.mp4"
    bad.write_bytes(b"\x00" * 100)
    p = _redact("run", str(bad), "-o", str(tmp_path / "out.mp4"))
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("redact:")]
    assert len(lines) == 1 and "broken clip.mp4" in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_debug_env_shows_traceback(tmp_path):
    p = _redact("run", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4"), env={"REDACT_DEBUG": "1", "PATH": ""})
    assert p.returncode == 1 and "Traceback" in p.stderr


def test_bad_config_is_usage_error(clips, tmp_path, capsys):
    code = main(["run", str(clips["basic"].path), "-o", str(tmp_path / "o.mp4"), "--set", "render.paddin=1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["redact: error: render.paddin: unknown key (valid: body, bridge_gap, bridge_speed, color, extend_after, extend_before, hold_after, hold_detections, padding, plate, region, shape, style, text)"]


def test_missing_arguments_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2


def test_config_command_prints_resolved_yaml(capsys):
    assert main(["config", "--style", "solid", "--set", "encode.crf=30"]) == 0
    text = capsys.readouterr().out
    assert "style: solid" in text and "crf: 30" in text


def test_detectors_lists_plugins(capsys):
    assert main(["detectors"]) == 0
    names = capsys.readouterr().out.split()
    assert {"centerface", "blazeface_full", "blazeface_short"} <= set(names)
