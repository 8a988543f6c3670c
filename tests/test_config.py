"""Config loading and validation, and the presets in ``configs/``.

Fast and video-free.  The point of strict validation is that a typo never
falls back silently to a default (which could leave a face visible), so most
tests check that the error names the exact key path a user has to fix.
``configs/default.yaml`` states every key; the other presets hold only the
keys they change (deltas), and the tests here keep them so.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from redact.cli import main
from redact.config import AudioRange, Config, DetectorConfig, MarkedRegion, ProtectedRegion, Range, from_dict, load
from redact.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
PRESETS = sorted(CONFIGS.glob("*.yaml"))
DELTAS = [p for p in PRESETS if p.name != "default.yaml"]


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(data: dict) -> str:
    with pytest.raises(ConfigError) as e:
        from_dict(data)
    return str(e.value)


# --- defaults ---------------------------------------------------------------


def test_defaults_load():
    cfg = load()
    assert cfg == Config()
    assert cfg.digest() == from_dict({}).digest()
    assert cfg.render.style == "fill"
    assert [(d.name, d.scale, d.every, d.rotations) for d in cfg.detect.detectors] == [
        ("centerface", 1.0, 6, [0]), ("centerface", 0.4, 1, [0]), ("centerface", 1.0, 12, [90, 180, 270])]
    assert cfg.detect.refine.detector == "centerface"


# --- presets ----------------------------------------------------------------


def test_configs_folder_has_presets():
    # Parametrizing over an empty glob would skip silently; fail loudly instead.
    assert PRESETS, f"no *.yaml presets in {CONFIGS}"
    assert CONFIGS / "default.yaml" in PRESETS


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_loads_and_validates(path: Path):
    cfg = load(path)
    assert isinstance(cfg, Config)
    assert len(cfg.digest()) == 64


def _schema_keys(obj) -> object:
    """The nested key structure of a config: dicts of keys, lists of item structures."""
    if isinstance(obj, dict):
        return {k: _schema_keys(v) for k, v in obj.items()}
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        return [_schema_keys(v) for v in obj]
    return None


def test_default_yaml_states_every_key():
    """default.yaml is the reference: it spells out every key, and every detector with every detector key."""
    raw = yaml.safe_load((CONFIGS / "default.yaml").read_text(encoding="utf-8"))
    expected = _schema_keys(Config().to_dict())
    detector_keys = {f.name for f in dataclasses.fields(DetectorConfig)}
    got = _schema_keys(raw)
    for i, det in enumerate(got["detect"]["detectors"]):
        assert set(det) == detector_keys, f"default.yaml: detect.detectors.{i}"
    expected["detect"]["detectors"] = got["detect"]["detectors"]
    assert got == expected


def _not_deltas(raw: dict, cls: type, default: dict, resolved: dict, where: str = "") -> list[str]:
    """Keys of a preset's ``raw`` tree that are not in the schema, or that only restate a default.

    A leaf (a list included) is compared, as resolved, with the built-in default.
    An item of a restated list of sections starts from its own type's defaults
    (``DetectorConfig()``, not the default list's item), so an item key equal
    to those is noise too; the plug-in's ``name`` is always given.
    """
    problems = []
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in hints:
            problems.append(f"{path}: not in the schema")
            continue
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            problems += _not_deltas(value, hint, default[key], resolved[key], path)
            continue
        if resolved[key] == default[key]:
            problems.append(f"{path}: equals the default")
        (item_type,) = typing.get_args(hint) if typing.get_origin(hint) is list else (None,)
        if dataclasses.is_dataclass(item_type):
            item_default = dataclasses.asdict(item_type())
            for i, item in enumerate(value):
                for k in item:
                    if k not in item_default:
                        problems.append(f"{path}.{i}.{k}: not in the schema")
                    elif k != "name" and resolved[key][i][k] == item_default[k]:
                        problems.append(f"{path}.{i}.{k}: equals {item_type.__name__}'s own default")
    return problems


@pytest.mark.parametrize("path", DELTAS, ids=lambda p: p.name)
def test_preset_holds_only_what_it_changes(path: Path):
    """A preset is a delta over the defaults: every key it names exists and changes something."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems = _not_deltas(raw, Config, Config().to_dict(), load(path).to_dict())
    assert not problems, f"{path.name}: {problems}"


def test_delta_check_catches_a_restated_default(tmp_path):
    # The check above must not pass vacuously.
    raw = {"render": {"padding": 0.2, "style": "solid"}, "detect": {"detectors": [{"name": "centerface", "tiles": 1}]}}
    path = write(tmp_path, yaml.safe_dump(raw))
    problems = _not_deltas(raw, Config, Config().to_dict(), load(path).to_dict())
    assert problems == [
        "render.padding: equals the default",
        "detect.detectors.0.tiles: equals DetectorConfig's own default",
    ]
    same = {"detect": {"detectors": [dataclasses.asdict(d) for d in Config().detect.detectors]}}
    problems = _not_deltas(same, Config, Config().to_dict(), from_dict(same).to_dict())
    assert problems[0] == "detect.detectors: equals the default"


def test_presets_are_what_their_headers_say():
    """publish keeps the default's face sweeps; dataset is fast plus the text detector."""
    default = Config()
    publish = load(CONFIGS / "publish.yaml")
    assert publish.detect.detectors[:3] == default.detect.detectors
    assert [d.name for d in publish.detect.detectors[3:]] == ["text", "nudenet"]
    fast, dataset = load(CONFIGS / "fast.yaml"), load(CONFIGS / "dataset.yaml")
    assert dataset.detect.detectors[:-1] == fast.detect.detectors and dataset.detect.detectors[-1].name == "text"
    dataset.detect.detectors.pop()
    assert dataset == fast
    assert load(CONFIGS / "faces.yaml") == default


# A key line, block or flow style: "key:", "- key:" or "- {key: ...}".
_KEY_LINE = re.compile(r"^\s*(?:- )?(?:\{\s*)?[A-Za-z_][\w]*\s*:")


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_comments_every_key(path: Path):
    """Each key has a comment on its line or on the line just above it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    uncommented = []
    for i, line in enumerate(lines):
        if not _KEY_LINE.match(line) or "#" in line:
            continue
        above = lines[i - 1].strip() if i else ""
        if not above.startswith("#"):
            uncommented.append(f"line {i + 1}: {line.strip()}")
    assert not uncommented, f"{path.name}: keys without a comment: {uncommented}"


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_detectors_are_registered(path: Path, capsys):
    # Detector names are not checked by the config schema, only when a run
    # creates them; catch a misspelt preset here rather than mid-batch.
    # `redact detectors` lists them, wherever the registry module lives.
    assert main(["detectors"]) == 0
    available = set(capsys.readouterr().out.split())
    detect = load(path).detect
    names = {d.name for d in detect.detectors} | {detect.refine.detector, detect.refine.fallback} - {"none"}
    assert names <= available


def test_default_preset_equals_builtin_defaults():
    cfg = load(CONFIGS / "default.yaml")
    assert cfg.digest() == load().digest()
    assert cfg == Config()


def test_presets_differ_where_they_should():
    fast = load(CONFIGS / "fast.yaml")
    thorough = load(CONFIGS / "thorough.yaml")
    default = load()
    assert fast.digest() != default.digest() != thorough.digest()
    assert len(fast.detect.detectors) <= len(default.detect.detectors)
    assert max(d.tiles for d in thorough.detect.detectors) > max(d.tiles for d in default.detect.detectors)
    assert thorough.render.padding > default.render.padding
    assert thorough.render.style in ("fill", "solid")  # the irreversible styles


# --- unknown keys -------------------------------------------------------------


def test_unknown_top_level_key_names_it_and_lists_valid():
    msg = config_error({"rendr": {}})
    assert msg.startswith("rendr: unknown key")
    for section in ("detect", "track", "render", "encode"):
        assert section in msg


def test_unknown_nested_key_names_full_path():
    msg = config_error({"render": {"paddin": 0.3}})
    assert msg.startswith("render.paddin: unknown key")
    assert "padding" in msg  # the valid keys are listed


def test_unknown_key_in_list_item_names_index():
    msg = config_error({"detect": {"detectors": [{"name": "centerface"}, {"bogus": 1}]}})
    assert msg.startswith("detect.detectors.1.bogus: unknown key")


def test_unknown_key_in_yaml_file(tmp_path):
    path = write(tmp_path, "detect:\n  detectors:\n    - name: centerface\n      bogus: 1\n")
    with pytest.raises(ConfigError, match=r"^detect\.detectors\.0\.bogus: unknown key"):
        load(path)


# --- types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"encode": {"crf": "20"}}, "encode.crf: expected an integer"),
        ({"encode": {"crf": 20.5}}, "encode.crf: expected an integer"),
        ({"encode": {"crf": True}}, "encode.crf: expected an integer"),
        ({"render": {"padding": True}}, "render.padding: expected a number"),
        ({"render": {"padding": "0.2"}}, "render.padding: expected a number"),
        ({"track": {"max_coast": None}}, "track.max_coast: expected an integer"),
        ({"render": {"color": 5}}, "render.color: expected a list"),
        ({"render": {"color": [0, "x", 0]}}, "render.color.1: expected an integer"),
        ({"detect": {"detectors": {"name": "centerface"}}}, "detect.detectors: expected a list"),
        ({"detect": {"detectors": ["centerface"]}}, "detect.detectors.0: expected a mapping"),
        ({"detect": {"detectors": [{"name": 5}]}}, "detect.detectors.0.name: expected a string"),
        ({"encode": {"audio_bitrate": 160000}}, "encode.audio_bitrate: expected a string"),
        ({"render": "fill"}, "render: expected a mapping"),
    ],
)
def test_wrong_type_names_path(data, expected):
    assert config_error(data).startswith(expected)


def test_int_is_accepted_for_float_and_normalised():
    a = from_dict({"render": {"padding": 1}, "detect": {"detectors": [{"threshold": 1}]}})
    b = from_dict({"render": {"padding": 1.0}, "detect": {"detectors": [{"threshold": 1.0}]}})
    assert isinstance(a.render.padding, float)
    assert a.digest() == b.digest()


# --- choices and ranges ----------------------------------------------------------


def test_literal_violation_lists_choices():
    msg = config_error({"render": {"style": "gaussian"}})
    assert msg.startswith("render.style: 'gaussian' is not one of")
    for choice in ("fill", "solid", "pixelate", "blur"):
        assert choice in msg


@pytest.mark.parametrize(
    ("data", "path", "choices"),
    [
        ({"encode": {"preset": "turbo"}}, "encode.preset", ("ultrafast", "veryfast", "medium", "veryslow")),
        ({"encode": {"audio": "mp3"}}, "encode.audio", ("copy", "aac", "drop")),
        ({"detect": {"on_error": "ignore"}}, "detect.on_error", ("fail", "blackout")),
        ({"render": {"shape": "circle"}}, "render.shape", ("ellipse", "box")),
    ],
)
def test_other_literals_list_choices(data, path, choices):
    msg = config_error(data)
    assert msg.startswith(f"{path}: ")
    for choice in choices:
        assert choice in msg


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"encode": {"crf": 99}}, "encode.crf: 99 is outside [0, 51]"),
        ({"encode": {"crf": -1}}, "encode.crf: -1 is outside [0, 51]"),
        ({"detect": {"detectors": [{"threshold": 1.5}]}}, "detect.detectors.0.threshold: 1.5 is outside [0.0, 1.0]"),
        ({"detect": {"detectors": [{}, {"tiles": 0}]}}, "detect.detectors.1.tiles: 0 is outside [1, 8]"),
        ({"detect": {"detectors": [{"scale": 0}]}}, "detect.detectors.0.scale: 0.0 is outside"),
        ({"detect": {"detectors": [{"every": 0}]}}, "detect.detectors.0.every: 0 is outside"),
        ({"detect": {"detectors": [{"tile_overlap": 0.9}]}}, "detect.detectors.0.tile_overlap: 0.9 is outside"),
        ({"render": {"padding": -0.1}}, "render.padding: -0.1 is outside"),
        ({"track": {"max_coast": -1}}, "track.max_coast: -1 is outside"),
        ({"render": {"color": [0, 0, 256]}}, "render.color: expected three values 0-255"),
        ({"render": {"color": [0, 0]}}, "render.color: expected three values 0-255"),
        ({"detect": {"detectors": []}}, "detect.detectors: at least one detector is required"),
        ({"detect": {"detectors": [{"rotations": []}]}}, "detect.detectors.0.rotations: expected one or more angles"),
        ({"detect": {"detectors": [{}, {"rotations": [360]}]}}, "detect.detectors.1.rotations: expected one or more"),
        ({"detect": {"refine": {"turns": [0]}}}, "detect.refine.turns: expected angles in (0, 360)"),
        ({"detect": {"refine": {"slow": 0.6}}}, "detect.refine.slow: 0.6 is outside [0.0, 0.5]"),
        ({"render": {"text": {"color": [0, 0, -1]}}}, "render.text.color: expected three values 0-255"),
        ({"render": {"body": {"padding": 6}}}, "render.body.padding: 6.0 is outside [0.0, 5.0]"),
        ({"identity": {"min_face": 10}}, "identity.min_face: 10 is outside [24, 100000]"),
        ({"audio": {"pitch": 3}}, "audio.pitch: 3.0 is outside [0.5, 2.0]"),
        ({"regions": {"min_overlap": 2}}, "regions.min_overlap: 2.0 is outside [0.0, 1.0]"),
    ],
)
def test_out_of_range_names_path(data, expected):
    assert config_error(data).startswith(expected)


def _sections(cls: type = Config) -> set[type]:
    """Every dataclass in the schema, list items included."""
    found = {cls}
    for hint in typing.get_type_hints(cls).values():
        for t in (hint, *typing.get_args(hint)):
            if dataclasses.is_dataclass(t):
                found |= _sections(t)
    return found


def test_every_number_field_declares_its_range_beside_it():
    """A reader sees a number's valid range where the field is declared, and the validator reads it there.

    Region boxes and time spans are the exception: their numbers are checked
    together (w > 0 only with a box, end after start)."""
    missing = []
    for cls in _sections() - {MarkedRegion, ProtectedRegion, AudioRange}:
        for name, hint in typing.get_type_hints(cls, include_extras=True).items():
            base, *marks = typing.get_args(hint) if typing.get_origin(hint) is typing.Annotated else (hint,)
            if base in (int, float) and not any(isinstance(m, Range) for m in marks):
                missing.append(f"{cls.__name__}.{name}")
    assert not missing, f"number fields without Range(...) in their annotation: {sorted(missing)}"


def test_nan_is_out_of_range():
    assert config_error({"render": {"padding": float("nan")}}).startswith("render.padding: nan is outside")


# --- --set overrides -------------------------------------------------------------


def test_override_parses_float():
    cfg = load(overrides=["render.padding=0.3"])
    assert cfg.render.padding == 0.3
    assert isinstance(cfg.render.padding, float)


def test_override_parses_string_and_int_and_list():
    cfg = load(
        overrides=["render.style=solid", "encode.crf=25", "render.color=[255, 0, 0]", "encode.audio_bitrate=128k"]
    )
    assert cfg.render.style == "solid"
    assert cfg.encode.crf == 25 and isinstance(cfg.encode.crf, int)
    assert cfg.render.color == [255, 0, 0]
    assert cfg.encode.audio_bitrate == "128k"


def test_override_indexes_into_list():
    cfg = load(overrides=["detect.detectors.1.tiles=3"])
    default = Config()
    assert cfg.detect.detectors[1].tiles == 3
    assert cfg.detect.detectors[1].name == "centerface" and cfg.detect.detectors[1].scale == 0.4
    assert cfg.detect.detectors[0] == default.detect.detectors[0]
    assert len(cfg.detect.detectors) == len(default.detect.detectors)


def test_override_replaces_whole_list():
    cfg = load(overrides=["detect.detectors=[{name: blazeface_short, tiles: 2}]"])
    assert [(d.name, d.tiles) for d in cfg.detect.detectors] == [("blazeface_short", 2)]


def test_override_out_of_range_index_errors_clearly():
    with pytest.raises(ConfigError) as e:
        load(overrides=["detect.detectors.5.tiles=3"])
    msg = str(e.value)
    assert msg.startswith("detect.detectors.5: index 5 out of range")
    assert "3 items" in msg


def test_override_non_numeric_index_errors():
    with pytest.raises(ConfigError, match=r"^detect\.detectors\.x: expected a list index"):
        load(overrides=["detect.detectors.x.tiles=3"])


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("render.paddin=0.3", "render.paddin: unknown key"),
        ("nope.x=1", "nope: unknown key"),
        ("nope=1", "nope: unknown key"),
        ("detect.detectors.0.bogus=1", "detect.detectors.0.bogus: unknown key"),
        ("encode.crf=high", "encode.crf: expected an integer"),
        ("encode.crf=99", "encode.crf: 99 is outside"),
        ("render.style=gaussian", "render.style: 'gaussian' is not one of"),
    ],
)
def test_override_errors_name_key(item, expected):
    with pytest.raises(ConfigError) as e:
        load(overrides=[item])
    assert str(e.value).startswith(expected)


@pytest.mark.parametrize("item", ["render.padding", "=0.3", " =1"])
def test_override_without_key_or_equals(item):
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        load(overrides=[item])


def test_later_override_wins():
    assert load(overrides=["encode.crf=10", "encode.crf=30"]).encode.crf == 30


def test_override_beats_file_and_file_beats_defaults(tmp_path):
    path = write(tmp_path, "render:\n  style: solid\n  padding: 0.25\nencode:\n  crf: 18\n")
    cfg = load(path, ["render.padding=0.4"])
    assert cfg.render.padding == 0.4  # --set over file
    assert cfg.render.style == "solid"  # file over default, same section kept
    assert cfg.encode.crf == 18  # file over default
    assert cfg.render.shape == Config().render.shape  # untouched default
    assert cfg.track == Config().track  # section absent from the file


def test_override_indexes_into_list_from_file(tmp_path):
    path = write(tmp_path, "detect:\n  detectors:\n    - name: blazeface_short\n    - name: centerface\n")
    cfg = load(path, ["detect.detectors.0.threshold=0.2"])
    assert [d.name for d in cfg.detect.detectors] == ["blazeface_short", "centerface"]
    assert cfg.detect.detectors[0].threshold == 0.2


# --- files ------------------------------------------------------------------------


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as e:
        load(path)
    assert str(path) in str(e.value)
    assert "cannot read" in str(e.value)


def test_invalid_yaml_names_file(tmp_path):
    path = write(tmp_path, "render:\n  padding: [0.2\n")
    with pytest.raises(ConfigError) as e:
        load(path)
    assert str(e.value).startswith(f"{path}: not valid YAML")
    assert "\n" not in str(e.value)  # one line for the CLI


@pytest.mark.parametrize("text", ["- render\n- encode\n", "just a string\n", "42\n"])
def test_top_level_not_a_mapping_names_file(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load(path)
    assert str(e.value).startswith(f"{path}: top level must be a mapping")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file_gives_defaults(tmp_path, text):
    assert load(write(tmp_path, text)).digest() == load().digest()


# --- digest and YAML round trip ------------------------------------------------------------


def test_digest_is_stable():
    assert load().digest() == load().digest() == Config().digest()
    assert re.fullmatch(r"[0-9a-f]{64}", load().digest())


def test_digest_changes_with_any_value():
    base = load().digest()
    assert load(overrides=["render.padding=0.21"]).digest() != base
    assert load(overrides=["detect.detectors.1.every=2"]).digest() != base
    assert load(overrides=["encode.audio_bitrate=128k"]).digest() != base


@pytest.mark.parametrize(
    "cfg",
    [Config(), load(overrides=["render.style=solid", "render.color=[10, 20, 30]", "detect.detectors.0.tiles=4"])]
    + [load(p) for p in PRESETS],
    ids=["defaults", "overridden"] + [p.name for p in PRESETS],
)
def test_to_yaml_round_trips(cfg: Config):
    again = from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again.digest() == cfg.digest()
    assert again == cfg


# --- CLI --------------------------------------------------------------------------


def test_cli_precedence_flag_over_set_over_file(tmp_path, capsys):
    path = write(tmp_path, "encode:\n  crf: 18\nrender:\n  style: pixelate\n")

    def crf(*extra: str) -> dict:
        assert main(["config", "--config", str(path), *extra]) == 0
        return yaml.safe_load(capsys.readouterr().out)

    assert crf()["encode"]["crf"] == 18
    assert crf("--set", "encode.crf=30")["encode"]["crf"] == 30
    out = crf("--set", "encode.crf=30", "--crf", "25")
    assert out["encode"]["crf"] == 25
    assert out["render"]["style"] == "pixelate"  # from the file, untouched by the flags
    assert crf("--set", "render.style=solid", "--style", "blur")["render"]["style"] == "blur"


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_cli_config_prints_each_preset_resolved(path: Path, capsys):
    """`redact config --config PRESET` prints the whole resolved tree, not the few keys a delta preset holds."""
    assert main(["config", "--config", str(path)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == load(path).to_dict()
    assert _schema_keys(printed)["track"] == _schema_keys(Config().to_dict())["track"]  # sections a preset omits


def test_cli_config_subprocess_indexes_a_restated_list():
    # The real entry point, with --set into the list a delta preset restates.
    argv = ["config", "--config", str(CONFIGS / "fast.yaml"), "--set", "detect.detectors.1.every=4"]
    p = subprocess.run(
        [sys.executable, "-m", "redact", *argv], capture_output=True, text=True, check=False, timeout=120
    )
    assert p.returncode == 0, p.stderr
    printed = yaml.safe_load(p.stdout)
    assert [d["every"] for d in printed["detect"]["detectors"]] == [2, 4]
    assert printed["encode"]["preset"] == "superfast" and printed["encode"]["crf"] == Config().encode.crf


def test_cli_config_prints_loadable_yaml(capsys):
    assert main(["config"]) == 0
    assert from_dict(yaml.safe_load(capsys.readouterr().out)).digest() == load().digest()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["config", "--set", "nope.x=1"], "nope"),
        (["config", "--config", "/nonexistent/redact.yaml"], "/nonexistent/redact.yaml"),
        (["config", "--crf", "99"], "encode.crf"),
    ],
)
def test_cli_config_error_is_one_line_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("redact: error:")
    assert needle in lines[0]
    assert captured.out == ""


# --- --set edge cases: indices into the loaded lists, paths below leaves, bad encodings ---


def test_override_index_past_shorter_file_list_is_config_error(tmp_path):
    path = write(tmp_path, "detect:\n  detectors:\n    - name: centerface\n")
    with pytest.raises(ConfigError, match=r"detect\.detectors\.1"):
        load(path, ["detect.detectors.1.tiles=3"])


def test_override_index_into_longer_file_list(tmp_path):
    text = "detect:\n  detectors:\n    - name: centerface\n    - name: blazeface_full\n    - name: blazeface_short\n"
    path = write(tmp_path, text)
    assert load(path, ["detect.detectors.2.tiles=2"]).detect.detectors[2].tiles == 2


def test_override_assigning_past_list_end_is_config_error():
    with pytest.raises(ConfigError, match=r"detect\.detectors\.5"):
        load(overrides=["detect.detectors.5={name: centerface}"])


def test_override_below_a_leaf_is_config_error():
    with pytest.raises(ConfigError, match=r"render\.padding"):
        load(overrides=["render.padding.x=1"])


def test_override_into_non_mapping_file_section_is_config_error(tmp_path):
    path = write(tmp_path, "render: 5\n")
    with pytest.raises(ConfigError, match=r"^render"):
        load(path, ["render.padding=0.3"])


def test_non_utf8_file_is_config_error(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00render")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load(path)
