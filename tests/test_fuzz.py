"""Bounded, deterministic fuzzing of the two things a user hands us: a video file and a config file.

Whatever the bytes, ``probe`` raises ``InputError`` or describes a video, and a
run either fails with a ``RedactError`` leaving nothing behind or writes a
valid output; whatever the YAML, ``config.load`` raises ``ConfigError`` or
returns a config.  Any other exception is a crash a user would see as an
internal error.  ``derandomize`` and no example database keep CI repeatable.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redact.config import Config, load
from redact.errors import ConfigError, InputError, RedactError
from redact.io import ffmpeg_exe, probe
from redact.pipeline import run
from redact.sample import make_sample

FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def mp4s(tmp_path_factory) -> dict[str, bytes]:
    """A 0.4 s clip with faces, as cameras write it (index last) and as uploads are (index first)."""
    import subprocess

    root = tmp_path_factory.mktemp("fuzz")
    last = make_sample(root / "last.mp4", seconds=0.4, size=(96, 64), metadata=False).path
    first = root / "first.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(last), "-map", "0", "-c", "copy",
                    "-movflags", "+faststart", str(first)], check=True)
    return {"last": last.read_bytes(), "first": first.read_bytes()}


@st.composite
def damaged(draw, mp4s: dict[str, bytes]) -> bytes:
    """One of the clips, cut short and/or with bytes overwritten, mostly in the headers."""
    data = bytearray(mp4s[draw(st.sampled_from(["first", "last"]))])
    moov = data.find(b"moov") - 4
    for _ in range(draw(st.integers(0, 6))):
        # Half the hits land in the index, where one byte changes sizes, counts and offsets.
        at = draw(st.one_of(st.integers(moov, len(data) - 1), st.integers(0, len(data) - 1)))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.slow
def test_probe_raises_input_error_or_describes_a_video(mp4s):
    @settings(FUZZ, max_examples=400)
    @given(st.data())
    def check(data):
        blob = data.draw(damaged(mp4s))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fuzzed.mp4"
            path.write_bytes(blob)
            try:
                info = probe(path)
            except InputError:
                return
            assert info.width > 0 and info.height > 0 and info.fps > 0

    check()


@pytest.mark.slow
@pytest.mark.models
def test_run_fails_cleanly_or_writes_a_valid_output(mp4s):
    """For damaged files that still probe, the whole job either fails closed or produces a playable video."""
    outcomes = []

    @settings(FUZZ, max_examples=12)
    @given(st.data())
    def check(data):
        blob = data.draw(damaged(mp4s))
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "fuzzed.mp4", Path(tmp) / "out" / "out.mp4"
            src.write_bytes(blob)
            out.parent.mkdir()
            try:
                probe(src)
            except InputError:
                outcomes.append("unreadable")
                return
            try:
                result = run(src, out)
            except RedactError:
                assert list(out.parent.iterdir()) == [], "a failed job left files behind"
                outcomes.append("failed")
                return
            got = probe(out)
            assert got.frame_count == result.frames > 0
            assert sorted(p.name for p in out.parent.iterdir()) == ["out.audit.jsonl", "out.mp4"]
            outcomes.append("written")

    check()
    assert "unreadable" in outcomes and len(set(outcomes)) >= 2, outcomes


# --- config files ----------------------------------------------------------------------------


def _key_names(tree, out: set[str]) -> set[str]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.add(k)
            _key_names(v, out)
    elif isinstance(tree, list):
        for v in tree:
            _key_names(v, out)
    return out


KEYS = sorted(_key_names(Config().to_dict(), set()))
SECTIONS = sorted(Config().to_dict())

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["fail", "blackout", "fill", "centerface", "1e999", "nan", "-1", ""]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(-3, 3))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
# Mostly well-shaped documents (real sections, real key names, junk values), some junk of any shape.
documents = st.one_of(
    st.dictionaries(st.sampled_from(SECTIONS), st.dictionaries(st.sampled_from(KEYS), values, max_size=4), max_size=4),
    st.dictionaries(keys, values, max_size=4),
    values,
)


def _load_text(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        return load(path)


@pytest.mark.slow
@settings(FUZZ, max_examples=300)
@given(documents)
def test_config_file_raises_config_error_or_loads(doc):
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    _loads_or_config_error(text)


@settings(FUZZ, max_examples=150)
@given(st.text(max_size=60))
def test_any_text_as_config_raises_config_error_or_loads(text):
    _loads_or_config_error(text)


def _loads_or_config_error(text: str) -> None:
    try:
        config = _load_text(text)
    except ConfigError:
        return
    assert isinstance(config, Config)


@settings(FUZZ, max_examples=150)
@given(st.lists(st.sampled_from(SECTIONS) | st.sampled_from(KEYS) | st.sampled_from(["0", "1", "-1", "x"]),
                min_size=1, max_size=4), values)
def test_set_override_raises_config_error_or_loads(path, value):
    item = ".".join(path) + "=" + yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    try:
        config = load(None, [item])
    except ConfigError:
        return
    assert isinstance(config, Config)
