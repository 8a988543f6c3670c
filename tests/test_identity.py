"""Keeping chosen people visible, with real faces: two real people in one generated video.

The people are the astronaut photo in scikit-image and Grace Hopper's photo in
matplotlib's sample data; no second photo of either ships offline, so each
reference photo is a *different image* made from the same source: another
crop, turned 7 degrees, scaled, relit, mirrored and JPEG-compressed, never the
pixels pasted into the video.  The benchmark checks references that are truly
different photos (the bench's ``NAME_refs``).
"""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from conftest import decode_all, read_audit

from redact.analyse import analyse
from redact.analyse.identity import load_people
from redact.analyse.identity.scan import scan
from redact.cli import main
from redact.config import load
from redact.decide.policy import decide
from redact.errors import ConfigError, InputError
from redact.io import probe
from redact.pipeline import analyse_to, render_from, run
from redact.sample import FacePath, make_sample, person_crop
from redact.types import Action, IdentitySample


def reference_photo(person: str, angle: float, gamma: float, flip: bool) -> np.ndarray:
    """A new image of ``person``: wider canvas, turned, relit, maybe mirrored, JPEG round-tripped."""
    crop, _ = person_crop(person)
    h, w = crop.shape[:2]
    canvas = cv2.copyMakeBorder(crop, h // 3, h // 3, w // 3, w // 3, cv2.BORDER_REFLECT)
    ch, cw = canvas.shape[:2]
    m = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, 1.15)
    out = cv2.warpAffine(canvas, m, (cw, ch), borderMode=cv2.BORDER_REFLECT)
    out = np.clip(255 * (out / 255.0) ** gamma, 0, 255).astype(np.uint8)
    if flip:
        out = out[:, ::-1]
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """``--keep`` layout: one sub-folder per person, folder name = label."""
    root = tmp_path_factory.mktemp("refs")
    for person, angle, gamma, flip in (("astronaut", 7, 1.25, True), ("hopper", -7, 0.8, True)):
        (root / person).mkdir()
        cv2.imwrite(str(root / person / "ref.jpg"), reference_photo(person, angle, gamma, flip))
    return root


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    """2 s, 640x360: the astronaut moves right in the top left, Grace Hopper left in the bottom right.

    They never come close, so no redaction region of one can touch the other's face.
    """
    path = tmp_path_factory.mktemp("two") / "two_people.mp4"
    paths = [
        FacePath((20, 10), (150, 20), 110, person="astronaut"),
        FacePath((470, 200), (390, 190), 100, person="hopper"),
    ]
    return make_sample(path, seconds=2.0, paths=paths)


@pytest.fixture(scope="module")
def analysed(two_people):
    """Pass 1 once; each test scores the same tracks against its own reference people."""
    config = load()
    return config, analyse(probe(two_people.path), config)


def _track_of(analysis, sample, person_index: int) -> int:
    """The id of the longest track following the face drawn by path ``person_index``."""
    hits: dict[int, int] = {}
    for t in analysis.tracks:
        for f, b in zip(t.frames, t.boxes):
            g = sample.boxes[f][person_index]
            ix = max(0, min(b[2], g[2]) - max(b[0], g[0])) * max(0, min(b[3], g[3]) - max(b[1], g[1]))
            if ix > 0.5 * (g[2] - g[0]) * (g[3] - g[1]):
                hits[t.id] = hits.get(t.id, 0) + 1
    assert hits, f"no track on person {person_index}"
    return max(hits, key=hits.get)


def _decisions(analysis, config, people):
    identities, _ = scan(analysis.video, analysis.tracks, people.gallery, config.identity)
    return identities, decide(analysis.tracks, config, identities, people.mode)


@pytest.mark.slow
@pytest.mark.models
def test_keep_one_person_and_redact_the_other(refs, two_people, analysed):
    config, analysis = analysed
    people = load_people("keep", inline=[f"astronaut={refs / 'astronaut' / 'ref.jpg'}"])
    _, decisions = _decisions(analysis, config, people)
    kept = _track_of(analysis, two_people, 0)
    other = _track_of(analysis, two_people, 1)
    d = decisions[kept]
    assert d.action is Action.KEEP and d.label == "astronaut" and d.score >= config.identity.threshold
    # Shown across nearly the whole clip: only the stretch before the first sample is unconfirmed.
    shown = sum(b - a + 1 for a, b in d.visible)
    assert shown >= 0.9 * two_people.frames
    assert decisions[other].action is Action.REDACT and decisions[other].reason == "unknown"
    assert all(dd.action is Action.REDACT for tid, dd in decisions.items() if tid != kept)


@pytest.mark.slow
@pytest.mark.models
def test_an_unknown_face_is_never_kept(refs, two_people, analysed):
    """The reference is a third real person (scikit-image's cameraman): nobody in the video may be kept."""
    from skimage import data

    config, analysis = analysed
    cam = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    cam = cv2.resize(cam, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    path = refs.parent / "cameraman.png"
    cv2.imwrite(str(path), cam)
    people = load_people("keep", inline=[f"cameraman={path}"])
    identities, decisions = _decisions(analysis, config, people)
    assert all(d.action is Action.REDACT for d in decisions.values())
    scored = [s for samples in identities.values() for s in samples if s.usable]
    assert scored and max(s.scores["cameraman"] for s in scored) < config.identity.threshold


@pytest.mark.slow
@pytest.mark.models
def test_only_redact_mode_redacts_the_listed_person_and_leaves_the_other(refs, two_people, analysed):
    config, analysis = analysed
    people = load_people("only-redact", inline=[f"hopper={refs / 'hopper'}"])
    _, decisions = _decisions(analysis, config, people)
    listed = _track_of(analysis, two_people, 1)
    free = _track_of(analysis, two_people, 0)
    assert decisions[listed].action is Action.REDACT and decisions[listed].reason == "matched"
    assert decisions[listed].label == "hopper"
    assert decisions[free].action is Action.KEEP and decisions[free].reason == "not-listed"


@pytest.mark.slow
@pytest.mark.models
def test_run_keeps_the_reference_person_in_the_pixels(refs, two_people, tmp_path):
    out = tmp_path / "out.mp4"
    people = load_people("keep", inline=[f"astronaut={refs / 'astronaut'}"])
    result = run(two_people.path, out, load(), people=people)
    src, dst = decode_all(two_people.path), decode_all(out)
    audit = read_audit(result.audit_log)
    kept = [r for r in audit if r["type"] == "decision" and r["action"] == "keep"]
    assert len(kept) == 1 and kept[0]["label"] == "astronaut" and kept[0]["reason"] == "matched"
    assert audit[0]["people"]["mode"] == "keep" and audit[0]["people"]["people"][0]["label"] == "astronaut"
    assert "embedding" not in json.dumps(audit) and "vector" not in json.dumps(audit)
    (a, b), = kept[0]["visible"]
    for f in range(two_people.frames):
        astro, hopper = two_people.boxes[f]
        diff_astro = _mean_diff(src[f], dst[f], astro)
        diff_hopper = _mean_diff(src[f], dst[f], hopper)
        assert diff_hopper > 25, f"frame {f}: Grace Hopper left visible"
        if a <= f <= b:
            assert diff_astro < 6, f"frame {f}: the kept astronaut was redacted"
        else:
            assert diff_astro > 25, f"frame {f}: unconfirmed frame of the kept track not redacted"


def _mean_diff(a: np.ndarray, b: np.ndarray, box) -> float:
    x1, y1, x2, y2 = box
    return float(np.abs(a[y1:y2, x1:x2].astype(np.int16) - b[y1:y2, x1:x2]).mean())


@pytest.mark.slow
@pytest.mark.models
def test_analyse_once_render_twice_with_operator_overrides(refs, two_people, tmp_path):
    folder = tmp_path / "analysis"
    people = load_people("keep", [refs])
    path, analysis, decisions = analyse_to(two_people.path, folder, load(), people=people)
    saved = json.loads(path.read_text())
    assert "vector" not in path.read_text() and saved["people"]["people"][0]["photos"][0]["sha256"]
    kept = [d.track_id for d in decisions.values() if d.action is Action.KEEP]
    assert len(kept) == 2  # both people are in the keep set here
    hopper = _track_of(analysis, two_people, 1)

    # Render 1: as decided.  Render 2: the operator redacts the Hopper track after review.
    first = render_from(two_people.path, folder, tmp_path / "auto.mp4")
    (tmp_path / "decisions.yaml").write_text(f"redact: [{hopper}]\n")
    second = render_from(two_people.path, folder, tmp_path / "edited.mp4", tmp_path / "decisions.yaml")
    for result in (first, second):
        assert not any(k.startswith(("detect", "analyse", "refine")) for k in result.timings), result.timings
    log = read_audit(second.audit_log)
    d = next(r for r in log if r["type"] == "decision" and r["track"] == hopper)
    assert d["action"] == "redact" and d["reason"] == "operator"
    mid = two_people.frames // 2
    box = two_people.boxes[mid][1]
    src, auto, edited = (decode_all(p)[mid] for p in (two_people.path, first.output, second.output))
    assert _mean_diff(src, auto, box) < 6 and _mean_diff(src, edited, box) > 25


@pytest.mark.slow
@pytest.mark.models
def test_render_refuses_another_video_and_bad_decisions(refs, two_people, clips, tmp_path):
    folder = tmp_path / "analysis"
    analyse_to(two_people.path, folder, load())
    with pytest.raises(InputError, match="not the video that was analysed"):
        render_from(clips["basic"].path, folder, tmp_path / "x.mp4")
    bad = tmp_path / "bad.yaml"
    for text, message in (("keep: [9999]\n", "not in the analysis"), ("keep: [0]\nredact: [0]\n", "more than once"),
                          ("kepe: [0]\n", "unknown key")):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            render_from(two_people.path, folder, tmp_path / "x.mp4", bad)
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.models
@pytest.mark.slow
def test_reference_photos_must_show_exactly_one_face(refs, tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    with pytest.raises(InputError, match="no face"):
        load_people("keep", inline=[f"x={blank}"])
    a = cv2.imread(str(refs / "astronaut" / "ref.jpg"))
    b = cv2.resize(cv2.imread(str(refs / "hopper" / "ref.jpg")), (a.shape[1], a.shape[0]))
    pair = tmp_path / "pair.jpg"
    cv2.imwrite(str(pair), np.hstack([a, b]))
    with pytest.raises(InputError, match="2 faces"):
        load_people("keep", inline=[f"x={pair}"])
    loose = tmp_path / "loose"
    loose.mkdir()
    cv2.imwrite(str(loose / "a.jpg"), a)
    with pytest.raises(InputError, match="one sub-folder per person"):
        load_people("keep", [loose])
    with pytest.raises(InputError, match="more than once"):
        load_people("keep", [refs], [f"astronaut={refs / 'astronaut' / 'ref.jpg'}"])


def test_cli_keep_and_only_redact_do_not_mix(refs, two_people, tmp_path, capsys):
    code = main(["run", str(two_people.path), "-o", str(tmp_path / "o.mp4"), "--keep", str(refs),
                 "--only-redact", str(refs)])
    assert code == 2 and "cannot be combined" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


# ---- the decision rule alone, on hand-made scores: every way a keep can go wrong ----


def _samples(scores: list[dict[str, float]], usable=True, height=100.0, step=5):
    return [IdentitySample(i * step, height, 50.0, 0.05, usable, s) for i, s in enumerate(scores)]


def _one(samples, mode="keep", others=(), **overrides):
    """The decision on a track at (0, 0, 100, 100) seen on every frame of its samples' span; ``others`` share the video."""
    from redact.types import Track

    config = load(overrides=[f"identity.{k}={v}" for k, v in overrides.items()])
    t = Track(0, "face")
    for f in range(samples[0].frame, samples[-1].frame + 1):
        t.add(f, np.array([0, 0, 100, 100], np.float32), 0.9, "test")
    return decide([t, *others], config, {0: samples}, mode)[0]


def test_a_look_alike_just_under_the_threshold_is_redacted():
    d = _one(_samples([{"a": 0.944}] * 20))
    assert d.action is Action.REDACT and d.reason == "unknown"


def test_the_median_not_the_best_frame_decides():
    # Three lucky frames over the threshold do not keep a track whose typical frame is a stranger.
    d = _one(_samples([{"a": 0.97}] * 3 + [{"a": 0.90}] * 7))
    assert d.action is Action.REDACT


def test_two_people_in_one_track_show_only_the_confirmed_part():
    # Person a for 12 samples, then a different person for 8 (a tracker swap after a crossing).
    samples = _samples([{"a": 0.96}] * 12 + [{"a": 0.85}] * 8)
    d = _one(samples)
    assert d.action is Action.KEEP
    assert d.visible == ((0, 55),)  # up to the last matching sample; the swap onwards stays redacted
    assert not d.shown_at(56) and not d.shown_at(95)


def test_an_even_split_between_people_is_not_kept():
    d = _one(_samples([{"a": 0.96}] * 10 + [{"a": 0.85}] * 10))
    assert d.action is Action.REDACT


def test_ambiguous_between_two_references_is_redacted():
    d = _one(_samples([{"a": 0.96, "b": 0.955}] * 10))
    assert d.action is Action.REDACT and d.reason == "ambiguous"


def test_small_blurred_or_few_samples_are_redacted():
    assert _one(_samples([{}] * 10, usable=False, height=30)).reason == "below-size"
    assert _one(_samples([{"a": 0.97}] * 10, usable=False)).reason == "unscorable"
    assert _one(_samples([{"a": 0.97}] * 2)).reason == "too-few-samples"


def test_a_gap_longer_than_max_bridge_is_not_shown():
    samples = _samples([{"a": 0.97}] * 3, step=5) + [IdentitySample(200 + i * 5, 100, 50, 0.05, True, {"a": 0.97})
                                                       for i in range(3)]
    d = _one(samples, max_bridge=50)
    assert d.visible == ((0, 10), (200, 210))


def test_a_brief_turn_of_the_head_does_not_break_the_shown_stretch_but_a_failed_match_does():
    good = _samples([{"a": 0.97}] * 7)
    turned = IdentitySample(15, 100.0, 50.0, 0.6, False, {"a": 0.86})  # too turned to be scored: no evidence
    stranger = IdentitySample(15, 100.0, 50.0, 0.05, True, {"a": 0.85})  # scored, and not the person
    assert _one(good[:3] + [turned] + good[4:]).visible == ((0, 30),)
    assert _one(good[:3] + [stranger] + good[4:]).visible == ((0, 10), (20, 30))


def test_only_redact_mode_redacts_anything_close_to_a_listed_person():
    assert _one(_samples([{"a": 0.93}] * 10), mode="only-redact").action is Action.REDACT  # within the margin
    d = _one(_samples([{"a": 0.80}] * 10), mode="only-redact")
    assert d.action is Action.KEEP and d.reason == "not-listed"
    assert _one(_samples([{"a": 0.80}] * 10, usable=False), mode="only-redact").action is Action.REDACT


def test_a_true_match_hovering_near_the_threshold_stays_shown_until_a_swap():
    # Infrared footage: the kept person scores 0.93-0.96 (median above the threshold), then a swap.
    scores = [0.955, 0.94, 0.95, 0.93, 0.948, 0.952, 0.935, 0.95, 0.946, 0.95, 0.951, 0.949] + [0.86, 0.84]
    d = _one(_samples([{"a": v} for v in scores]))
    assert d.action is Action.KEEP and d.visible == ((0, 55),)


def _passer_by(frames, x: float, kind: str = "face"):
    """Another track, ``x`` px right of the kept face's box, over ``frames``."""
    from redact.types import Track

    t = Track(1, kind)
    for f in frames:
        t.add(f, np.array([x, 0, x + 100, 100], np.float32), 0.9, "test")
    return t


def test_a_badly_seen_stretch_stays_shown_while_no_one_else_is_near():
    # Half behind a pole from frame 25 to 50: scored 0.90-0.91, under confirm but not a stranger's score.
    scores = [0.96] * 5 + [0.91, 0.90, 0.905, 0.91, 0.90, 0.91] + [0.96] * 5
    samples = _samples([{"a": v} for v in scores])
    assert _one(samples).visible == ((0, 75),)
    # The same scores while another face passes within reach: a swap was possible, the pole stretch is not shown.
    near = _one(samples, others=[_passer_by(range(25, 51), 110)])
    assert near.visible == ((0, 20), (55, 75))
    # Far enough away (more than a quarter of a box), or not a face: no swap was possible.
    assert _one(samples, others=[_passer_by(range(25, 51), 130)]).visible == ((0, 75),)
    assert _one(samples, others=[_passer_by(range(25, 51), 110, kind="text")]).visible == ((0, 75),)


def test_a_stranger_score_or_no_confirmation_in_a_lone_stretch_holds_nothing_open():
    pole = [0.96] * 5 + [0.91, 0.90, 0.905, 0.91, 0.90, 0.91] + [0.96] * 5
    # One sample of the stretch scores like someone else: the under-confirm samples no longer hold it open.
    stranger = _samples([{"a": v} for v in pole[:7] + [0.85] + pole[8:]])
    assert _one(stranger).visible == ((0, 20), (55, 75))
    # A stretch cut off by a passer-by at frame 25 and 55 with no confirmed sample of its own shows nothing.
    samples = _samples([{"a": v} for v in pole])
    cut = _one(samples, others=[_passer_by([25], 110), _passer_by([55], 110)])
    assert cut.visible == ((0, 20), (55, 75))


def test_under_confirm_samples_do_not_bridge_the_frames_where_someone_passed():
    # Lone from 0 to 20 and from 25 on, each with confirmed samples; someone passes on frames 21-24, between
    # two under-confirm samples: those frames stay redacted (a swap was possible there).
    samples = _samples([{"a": v} for v in [0.96] * 3 + [0.91] * 3 + [0.96] * 5])
    d = _one(samples, others=[_passer_by(range(21, 25), 110)])
    assert d.visible == ((0, 20), (25, 50))
    assert not any(d.shown_at(f) for f in range(21, 25))


# ---- pooling: noise averages out, a swap does not hide in a pool ----


def _gallery(ref: np.ndarray):
    from redact.analyse.identity.gallery import Gallery, Person

    return Gallery((Person("a", (), ref[None]),))


def _near(ref: np.ndarray, cos: float, direction: np.ndarray) -> np.ndarray:
    """The unit vector at cosine ``cos`` from ``ref``, leaning towards ``direction`` (orthogonal to ``ref``)."""
    return cos * ref + np.sqrt(1 - cos**2) * direction


def _pooled_track(vectors: list[np.ndarray], gallery, reach: int = 2) -> list[IdentitySample]:
    from redact.analyse.identity.pool import pool

    samples = [IdentitySample(i * 5, 100.0, 50.0, 0.05, True, gallery.scores(v)) for i, v in enumerate(vectors)]
    return pool(samples, vectors, gallery, reach)


def test_pooling_keeps_a_true_match_whose_single_samples_hover_under_the_threshold():
    # Noisy footage: every sample of the reference person sits at 0.935, each off in its own direction.
    rng = np.random.default_rng(1)
    ref = np.eye(128, dtype=np.float32)[0]
    noise = rng.normal(size=(20, 128)).astype(np.float32)
    noise[:, 0] = 0
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    gallery = _gallery(ref)
    samples = _pooled_track([_near(ref, 0.935, n) for n in noise], gallery)
    alone = [dataclasses.replace(s, pooled={}, sided={}) for s in samples]
    assert _one(alone).reason == "unknown"
    assert min(s.pooled["a"] for s in samples) > 0.95
    d = _one(samples)
    assert d.action is Action.KEEP and d.visible == ((0, 95),)


def test_a_pool_straddling_a_swap_does_not_confirm_the_newcomer():
    # 12 samples of the reference person, then 8 of someone at 0.86 (a typical bench victim).
    ref, other = np.eye(128, dtype=np.float32)[:2]
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(12, 128)).astype(np.float32)
    noise[:, :2] = 0
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    gallery = _gallery(ref)
    samples = _pooled_track([_near(ref, 0.97, n) for n in noise] + [_near(ref, 0.86, other)] * 8, gallery)
    first_after = samples[12]
    assert first_after.pooled["a"] >= 0.92  # a two-sided pool still looks like the first person ...
    assert first_after.sided["a"] < 0.92  # ... the pool that starts at the newcomer does not
    d = _one(samples)
    assert d.action is Action.KEEP and d.shown_at(0) and d.shown_at(45)
    assert not any(d.shown_at(f) for f in range(56, 100))


def test_pooled_scores_survive_the_analysis_file_and_old_files_still_load():
    s = IdentitySample(5, 80.0, 30.0, 0.1, True, {"a": 0.93}, {"a": 0.951}, {"a": 0.948})
    back = IdentitySample.from_json(json.loads(json.dumps(s.to_json())))
    assert back.pooled == {"a": 0.951} and back.sided == {"a": 0.948} and back.track_scores == {"a": 0.951}
    old = {k: v for k, v in s.to_json().items() if k not in ("pooled", "sided")}
    assert IdentitySample.from_json(old).track_scores == {"a": 0.93}



def _booked(tracks, config):
    """The sampler's bookkeeping alone: which detections are samples, and whose chips each stacks."""
    from redact.analyse.identity.scan import IdentitySampler

    sampler = IdentitySampler(gallery=None, config=config, dead_after=1 << 30)  # type: ignore[arg-type]
    chip = (np.zeros((150, 150, 3), np.uint8), None)
    for f in sorted({f for t in tracks for f in t.frames}):
        for t in tracks:
            if f in t.frames:
                i = t.frames.index(f)
                sampler.add(t.id, f, t.boxes[i], t.placed[i], chip)
    out = {}
    for t in tracks:
        state = sampler.tracks.get(t.id)
        if state is None:
            continue
        samples = list(state.open)
        if state.tail is not None and state.tail not in samples and (state.count - 1) % state.stride:
            samples.append(state.tail)
        out.update({(t.id, s.index): [t.frames[m] for m in s.members] for s in samples})
    return out


def test_samples_stack_neighbours_of_the_same_track_within_reach():
    from redact.config import IdentityConfig
    from redact.types import Track

    t = Track(7, "face")
    for f in (*range(12), 30, 31):  # a gap of 18 frames before the last two detections
        t.add(f, np.array([0, 0, 80, 80] if f != 10 else [0, 0, 30, 30]), 0.9, "centerface")
    stacks = _booked([t], IdentityConfig(sample_every=5, stack=2))
    # samples at detections 0, 5, 10 and the last one (13); 10 is below min_face and stacks nothing
    assert stacks == {(7, 0): [0, 1, 2], (7, 5): [3, 4, 5, 6, 7], (7, 10): [], (7, 13): [30, 31]}  # not across the gap
    alone = _booked([t], IdentityConfig(sample_every=5, stack=0))
    assert {k: len(v) for k, v in alone.items()} == {(7, 0): 1, (7, 5): 1, (7, 10): 0, (7, 13): 1}


def test_boxes_only_placed_on_a_face_are_neither_samples_nor_stacked():
    """A second model's box, redrawn at the size last seen, is where a face is, not its outline:
    a chip aligned on it is a misframed face (on the bench it cost the kept person)."""
    from redact.config import IdentityConfig
    from redact.types import Track

    t = Track(7, "face")
    for f in range(12):
        t.add(f, np.array([0, 0, 80, 80]), 0.9, "blazeface_short" if f in (4, 5, 11) else "centerface",
              placed=f in (4, 5, 11))
    config = IdentityConfig(sample_every=5, stack=2)
    # outlined detections 0-3, 6-10: every 5th of them (0, 7) and the last outlined one (10)
    stacks = _booked([t], config)
    assert sorted(stacks) == [(7, 0), (7, 7), (7, 10)]
    assert stacks[(7, 7)] == [6, 7, 8, 9]
    only_placed = Track(8, "face")
    only_placed.add(0, np.array([0, 0, 80, 80]), 0.6, "blazeface_short", placed=True)
    assert _booked([only_placed], config) == {}


@pytest.mark.models
@pytest.mark.slow
def test_a_median_stack_of_grainy_frames_looks_more_like_the_person_than_a_typical_frame():
    # The infrared-noise case: fresh grain on each frame hides the face from one frame's descriptor.
    from redact.analyse.identity.embed import FaceEmbedder

    crop, face = person_crop("astronaut")
    embedder = FaceEmbedder()
    reference = embedder.embed(crop, np.array([face], np.float32))[0].vector
    rng = np.random.default_rng(3)
    grey = cv2.cvtColor(cv2.resize(crop, None, fx=0.4, fy=0.4), cv2.COLOR_BGR2GRAY).astype(np.float32)
    box = np.array([face], np.float32) * 0.4
    chips = []
    for _ in range(5):
        frame = np.clip(grey + rng.normal(0, 24, grey.shape), 0, 255).astype(np.uint8)
        chips.append(embedder.align(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), box)[0][0])
    singles = embedder.describe(chips) @ reference
    stacked = embedder.describe([np.median(np.stack(chips), axis=0).astype(np.uint8)])[0] @ reference
    assert stacked > np.median(singles) + 0.003, (stacked, singles)  # the median frame is what the policy reads


@pytest.mark.slow
@pytest.mark.models
def test_stacking_changes_the_descriptors_but_not_which_samples_are_taken(refs, two_people, analysed):
    config, analysis = analysed
    people = load_people("keep", inline=[f"astronaut={refs / 'astronaut' / 'ref.jpg'}"])
    alone_cfg = dataclasses.replace(config.identity, stack=0)
    stacked, _ = scan(analysis.video, analysis.tracks, people.gallery, config.identity)
    alone, _ = scan(analysis.video, analysis.tracks, people.gallery, alone_cfg)
    assert stacked.keys() == alone.keys()
    def facts(samples):
        return [(s.frame, s.usable, s.sharpness, s.yaw) for s in samples]

    for tid in stacked:
        assert facts(stacked[tid]) == facts(alone[tid])
    both = [
        (s.scores["astronaut"], t.scores["astronaut"])
        for tid in stacked
        for s, t in zip(stacked[tid], alone[tid])
        if s.usable
    ]
    assert both and any(abs(x - y) > 1e-4 for x, y in both)  # the stacks were described, not the single chips
    kept = _track_of(analysis, two_people, 0)
    assert decide(analysis.tracks, config, stacked, "keep")[kept].action is Action.KEEP
