"""The review studio: a real server (``redact studio`` in its own process), real renders, a real browser.

The clip is test_identity's two real people (scikit-image's astronaut top
left, matplotlib's Grace Hopper bottom right).  The session tests drive the
web-free :class:`Session` and check what it saves and renders; the security
tests speak raw HTTP to the running server; the browser test clicks through
the page in Debian's chromium with playwright and checks the output's
pixels and samples, and that ``redact render`` of the saved state gives the
same bytes.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import decode_all, file_sha256

from redact.audit import check
from redact.errors import AuditError, ConfigError, InputError
from redact.io import ffmpeg_exe
from redact.pipeline import analyse_to
from redact.sample import FacePath, make_sample

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from redact.studio.session import Session

CHROMIUM = "/usr/bin/chromium"
PATCH = (300, 140, 360, 200)
"""A piece of plain background no detector marks: the box the tests draw by hand."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("studio") / "two_people.mp4"
    paths = [FacePath((20, 10), (150, 20), 110, person="astronaut"),
             FacePath((470, 200), (390, 190), 100, person="hopper")]
    return make_sample(path, seconds=2.0, paths=paths)


@pytest.fixture(scope="module")
def analysed_once(clip, tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysed") / "two.analysis"
    analyse_to(clip.path, folder)
    return folder


@pytest.fixture
def analysis(analysed_once, tmp_path):
    """A copy of the analysis per test (each test's review starts empty), and an output folder."""
    folder = tmp_path / "two.analysis"
    shutil.copytree(analysed_once, folder)
    (tmp_path / "out").mkdir()
    return folder, tmp_path / "out" / "two.redacted.mp4"


def _track_on(session: Session, sample, person: int) -> int:
    """The track that follows the face drawn by path ``person`` (most frames inside its box)."""
    best: dict[int, int] = {}
    for t in session.analysis.tracks:
        for f, b in zip(t.frames, t.boxes):
            g = sample.boxes[f][person]
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            if g[0] <= cx <= g[2] and g[1] <= cy <= g[3]:
                best[t.id] = best.get(t.id, 0) + 1
    return max(best, key=best.get)


def _audio(path: Path) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", "48000",
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def _cli_render(clip, folder: Path, out: Path) -> Path:
    cli = out.parent / "cli.mp4"
    done = subprocess.run([sys.executable, "-m", "redact", "render", str(clip.path), "--analysis", str(folder),
                           "-o", str(cli), "-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return cli


# --- the session: state files, render, approval --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.models
def test_review_saved_as_files_survives_a_restart_and_renders_the_same_from_the_cli(clip, analysis):
    folder, out = analysis
    s = Session(folder, output=out)
    astronaut = _track_on(s, clip, 0)
    s.decide_row(astronaut, "keep")
    s.add_mark(25, list(PATCH), "patch")
    s.add_audio(0.5, 1.0, "mute")
    s.close()
    review = folder / "review"
    assert f"keep:\n- {astronaut}" in (review / "decisions.yaml").read_text()
    assert "label: patch" in (review / "marks.yaml").read_text()
    assert "action: mute" in (review / "audio.yaml").read_text()
    again = Session(folder, output=out)  # "reopening shows the last saved state"
    assert again.decisions[astronaut].action.value == "keep" and len(again.review.marks) == 1
    assert again.mark_tracks[0].first <= 5 and again.mark_tracks[0].last >= 44
    again.render()
    assert again.job["error"] is None, again.job
    assert file_sha256(_cli_render(clip, folder, out)) == file_sha256(out)
    frames = decode_all(clip.path), decode_all(out)
    x1, y1, x2, y2 = PATCH
    assert np.abs(frames[0][25, y1:y2, x1:x2].astype(int) - frames[1][25, y1:y2, x1:x2]).mean() > 20  # painted
    sound = _audio(out)
    assert np.abs(sound[int(0.55 * 48000):int(0.95 * 48000)]).max() == 0
    assert np.abs(sound[int(1.1 * 48000):int(1.5 * 48000)]).max() > 0.05


@pytest.mark.slow
@pytest.mark.models
def test_approval_needs_a_current_render_and_every_item_checked_and_goes_into_the_audit_log(analysis):
    folder, out = analysis
    s = Session(folder, output=out)
    with pytest.raises(ConfigError, match="render first"):
        s.approve("Ann", "")
    s.render()
    s.suspects = [{"frame": 3, "box": [1, 2, 30, 40], "score": 0.8}]  # as `redact verify` would list one
    with pytest.raises(ConfigError, match="need a look"):
        s.approve("Ann", "")
    s.check("suspect:3:1,2", True)
    s.approve("Ann Reviewer", "checked every face")
    log = Path(s.job["log"])
    last = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert last["type"] == "approval" and last["reviewer"] == "Ann Reviewer" and last["note"] == "checked every face"
    result = check(log, out)
    assert last["decisions_sha256"] == result.decisions_sha256 and last["output"]["sha256"] == result.output_sha256
    # The last line has no successor to chain it: the log's SHA-256, kept by the studio, anchors it.
    assert s.job["approved"]["log_sha256"] == result.log_sha256
    text = log.read_text(encoding="utf-8")
    log.write_text(text.replace(f'"decisions_sha256":"{result.decisions_sha256}","output"', '"decisions_sha256":"'
                                + "0" * 64 + '","output"'), encoding="utf-8")
    with pytest.raises(AuditError, match="an approval of other decisions"):
        check(log)
    # A change after the render makes it stale: approving it would vouch for other decisions.
    s.add_audio(0.1, 0.2, "bleep")
    with pytest.raises(ConfigError, match="render first"):
        s.approve("Ann", "")


@pytest.mark.slow
@pytest.mark.models
def test_split_merge_and_blackout_are_saved(analysis):
    folder, out = analysis
    s = Session(folder, output=out)
    a, b = (t.id for t in s.analysis.tracks[:2])
    s.merge([a, b])
    assert sorted(s.row_of(a)) == sorted([a, b])
    s.split(b)
    assert s.row_of(a) == [a] and s.row_of(b) == [b]
    s.blackout(10, 12)
    s.close()
    again = Session(folder, output=out)
    assert sorted(map(sorted, again.rows)) == [[a], [b]]
    m = again.mark_tracks[0]
    assert (m.first, m.last) == (10, 12) and again.review.marks[0].whole_frame


@pytest.mark.slow
@pytest.mark.models
def test_the_output_may_not_land_in_the_analysis_folder(analysis):
    folder, _ = analysis
    with pytest.raises(Exception, match="analysis folder"):
        Session(folder, output=folder / "out.mp4")


# --- the server: token, Host, Origin --------------------------------------------------------------------


@pytest.fixture
def server(analysis, clip):
    """``redact studio DIR --no-browser`` in its own process; yields its URL (first line of stdout)."""
    folder, out = analysis
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "redact", "studio", str(folder), "--no-browser", "-o", str(out),
                             "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _request(url: str, path: str, headers: dict[str, str], method: str = "GET", body: str | None = None):
    m = re.match(r"http://([^/]+)/\?token=(.+)", url)
    conn = http.client.HTTPConnection(m.group(1), timeout=30)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


@pytest.mark.slow
def test_every_request_needs_the_token_and_this_studios_host_and_origin(server):
    host, token = re.match(r"http://([^/]+)/\?token=(.+)", server).groups()
    good = {"Host": host, "X-Studio-Token": token}
    status, headers, body = _request(server, "/api/state", good)
    assert status == 200 and json.loads(body)["video"]["frames"] == 50
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert _request(server, "/api/state", {"Host": host})[0] == 403  # no token
    assert _request(server, "/api/state", {"Host": host, "X-Studio-Token": token[:-1] + "x"})[0] == 403
    assert _request(server, "/", {"Host": host})[0] == 403
    assert _request(server, "/api/thumb/0/0", {"Host": host})[0] == 403
    port = host.split(":")[1]
    # DNS rebinding: another name that resolves here is another site, token or not.
    assert _request(server, "/api/state", {**good, "Host": f"attacker.example:{port}"})[0] == 403
    assert _request(server, "/api/state", {**good, "Origin": "http://attacker.example"})[0] == 403
    post = {**good, "Content-Type": "application/json"}
    assert _request(server, "/api/checks", {**post, "Origin": f"http://attacker.example:{port}"}, "POST",
                    '{"id": "x", "checked": true}')[0] == 403
    assert _request(server, "/api/checks", {**good, "Content-Type": "text/plain"}, "POST", "{}")[0] == 415
    assert _request(server, "/api/checks", {**post, "Origin": f"http://{host}"}, "POST",
                    '{"id": "x", "checked": true}')[0] == 200
    # The URL's token becomes a strict, script-proof cookie, and leaves the address bar.
    status, headers, _ = _request(server, f"/?token={token}", {"Host": host})
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    name_value = cookie.split(";")[0]
    assert _request(server, "/api/state", {"Host": host, "Cookie": name_value})[0] == 200


# --- the page, in a real browser ------------------------------------------------------------------------


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Debian chromium (.ci/run installs it)")
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.models
def test_keep_one_draw_a_box_mute_a_range_and_render_in_the_browser(server, analysis, clip, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    folder, out = analysis
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server)
        page.wait_for_selector(".row img")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert page.input_value("#frame") == "2"
        page.fill("#timecode", "00:00:01.000")
        page.press("#timecode", "Enter")
        page.wait_for_timeout(300)
        assert page.input_value("#frame") == "25"
        astronaut = _astronaut_row(page, clip, folder)
        page.click(f'.row[data-row="{astronaut}"] button[data-action=keep]')
        page.wait_for_selector(f'.row.keep[data-row="{astronaut}"]')
        _draw(page, PATCH)
        page.wait_for_selector("#marks li button.span-set")
        _drag_timeline(page, 0.25, 0.5)
        page.click("#mute")
        page.wait_for_selector("#audio li:has-text('mute')")
        page.check("input[name=view][value=redacted]")
        page.wait_for_timeout(800)
        page.screenshot(path=str(tmp_path / "studio.png"))
        page.click("#render")
        page.wait_for_selector("input[name=view][value=output]:checked", timeout=120_000)
        assert "rendered" in page.inner_text("#job")
        for _ in range(200):  # polled from here: the page's CSP forbids wait_for_function's eval
            if page.evaluate("document.getElementById('video').readyState >= 2"):
                break
            page.wait_for_timeout(50)
        assert abs(page.evaluate("document.getElementById('video').duration") - 2.0) < 0.1
        assert page.evaluate("document.getElementById('video').currentSrc").endswith("/media/output")
        page.fill("#reviewer", "Ann Reviewer")
        page.fill("#note", "one person kept on purpose")
        page.click("#approve-btn")
        page.wait_for_selector("#approve-status:has-text('approved')")
        browser.close()
    assert errors == []
    _check_output(clip, folder, out)
    approval = json.loads(out.with_name("two.redacted.audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert approval["type"] == "approval" and approval["reviewer"] == "Ann Reviewer"
    assert approval["note"] == "one person kept on purpose"


def _astronaut_row(page, clip, folder) -> int:
    s = Session(folder)
    try:
        track = _track_on(s, clip, 0)
    finally:
        s.close()
    return int(page.get_attribute(f'.row[data-tracks~="{track}"]', "data-row"))


def _draw(page, box) -> None:
    """Press Draw box and drag over ``box`` (video pixels) on the paused frame."""
    page.click("#draw")
    r = page.locator("#overlay").bounding_box()
    scale = min(r["width"] / 640, r["height"] / 360)
    x0, y0 = r["x"] + (r["width"] - 640 * scale) / 2, r["y"] + (r["height"] - 360 * scale) / 2
    page.mouse.move(x0 + box[0] * scale + 1, y0 + box[1] * scale + 1)
    page.mouse.down()
    page.mouse.move(x0 + box[2] * scale - 1, y0 + box[3] * scale - 1, steps=5)
    page.mouse.up()


def _drag_timeline(page, a: float, b: float) -> None:
    r = page.locator("#timeline").bounding_box()
    y = r["y"] + r["height"] / 2
    page.mouse.move(r["x"] + a * r["width"], y)
    page.mouse.down()
    page.mouse.move(r["x"] + b * r["width"], y, steps=5)
    page.mouse.up()


def _check_output(clip, folder: Path, out: Path) -> None:
    """The astronaut shown, Grace Hopper and the drawn patch painted, the selected span silent; and the
    command line's render of the saved state is the same file."""
    src, dst = decode_all(clip.path), decode_all(out)
    diff = np.abs(src.astype(int) - dst.astype(int))
    for f in (10, 25, 40):
        a = [int(v) for v in clip.boxes[f][0]]
        h = [int(v) for v in clip.boxes[f][1]]
        assert diff[f, a[1] + 10:a[3] - 10, a[0] + 10:a[2] - 10].mean() < 6, f"astronaut not shown in frame {f}"
        assert diff[f, h[1] + 10:h[3] - 10, h[0] + 10:h[2] - 10].mean() > 30, f"Hopper not redacted in frame {f}"
        x1, y1, x2, y2 = PATCH
        assert diff[f, y1 + 4:y2 - 4, x1 + 4:x2 - 4].mean() > 20, f"drawn box not painted in frame {f}"
    sound = _audio(out)
    assert np.abs(sound[int(0.55 * 48000):int(0.95 * 48000)]).max() == 0
    assert np.abs(sound[int(1.1 * 48000):int(1.5 * 48000)]).max() > 0.05
    assert file_sha256(_cli_render(clip, folder, out)) == file_sha256(out)


def test_the_page_has_no_inline_script_and_loads_only_its_own_files():
    static = Path(__file__).resolve().parents[1] / "redact" / "studio" / "static"
    html = (static / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="/static/app.js">']
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"
    for f in static.iterdir():
        assert not re.search(r"https?://", f.read_text(encoding="utf-8")), f"{f.name} loads from elsewhere"


@pytest.fixture(scope="module")
def comes_back(tmp_path_factory):
    """3 s: the astronaut top left for the first second, gone for a second, back bottom right for the last,
    with Grace Hopper in the middle throughout.  The tracker cannot link the two sightings (too far
    apart, too long gone); only the face can."""
    import cv2
    from conftest import encode_frames

    from redact.sample import background, person_crop

    root = tmp_path_factory.mktemp("back")
    bg = background(640, 360)
    faces = {p: cv2.resize(person_crop(p)[0], (100, 120)) for p in ("astronaut", "hopper")}

    def frames():
        for i in range(75):
            img = bg.copy()
            img[120:240, 270:370] = faces["hopper"]
            if i < 25:
                img[10:130, 20:120] = faces["astronaut"]
            elif i >= 50:
                img[230:350, 520:620] = faces["astronaut"]
            yield img

    encode_frames(root / "back.mp4", frames(), 640, 360)
    folder = root / "back.analysis"
    analyse_to(root / "back.mp4", folder)
    (root / "out").mkdir()
    return folder, root / "out" / "back.redacted.mp4"


@pytest.mark.slow
@pytest.mark.models
def test_grouping_by_faces_joins_a_person_who_comes_back_and_nobody_else(comes_back):
    folder, out = comes_back
    s = Session(folder, output=out)
    try:
        faces = [t for t in s.analysis.tracks if t.kind == "face"]
        first = next(t.id for t in faces if t.first < 5 and float(t.boxes[0][0]) < 200)
        later = next(t.id for t in faces if t.first >= 45 and float(t.boxes[0][0]) > 400)
        hopper = next(t.id for t in faces if float(t.boxes[0][0]) > 200 and t.first < 5)
        assert s.row_of(first) != s.row_of(later)  # the tracker alone keeps them apart
        s.group_by_faces()
        assert later in s.row_of(first)
        assert hopper not in s.row_of(first)
        assert all(s.decisions[t].action.value == "redact" for t in s.row_of(first))  # grouping decides nothing
        s.decide_row(first, "keep")
        assert all(s.decisions[t].action.value == "keep" for t in s.row_of(first))
        assert s.decisions[hopper].action.value == "redact"
    finally:
        s.close()
    assert "tracks" in (folder / "review" / "people.yaml").read_text()


@pytest.mark.slow
@pytest.mark.models
def test_a_video_the_browser_cannot_play_gets_a_proxy_made_once_with_the_same_frames(clip, tmp_path):
    from redact.io import probe
    from redact.studio import media

    avi = tmp_path / "two.avi"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(clip.path), "-c:v", "mpeg4", "-q:v", "3", "-c:a", "mp3",
                    str(avi)], check=True)
    analyse_to(avi, tmp_path / "avi.analysis")
    s = Session(tmp_path / "avi.analysis", output=tmp_path / "avi.mp4")
    try:
        proxy = media.path(s, "original")
        assert proxy == folder_proxy(tmp_path / "avi.analysis") and probe(proxy).codec == "h264"
        assert probe(proxy).frame_count == s.info.frame_count
        made = proxy.stat().st_mtime_ns
        assert media.path(s, "original").stat().st_mtime_ns == made  # made once
        wave = media.waveform(s)
        assert wave["rate"] == 50 and len(wave["peaks"]) >= 95 and min(wave["peaks"][5:90]) > 10  # the sine, all along
    finally:
        s.close()


def folder_proxy(folder: Path) -> Path:
    return folder / "review" / "proxy.mp4"


@pytest.mark.slow
@pytest.mark.models
def test_a_video_is_analysed_once_beside_itself_and_then_reopened(clip, tmp_path):
    from redact.studio import prepare

    video = tmp_path / "clip.mp4"
    shutil.copy(clip.path, video)
    folder, source = prepare(video)
    assert folder == tmp_path / "clip.analysis" and source == video and (folder / "analysis.json").is_file()
    made = (folder / "analysis.json").stat().st_mtime_ns
    assert prepare(video)[0] == folder and (folder / "analysis.json").stat().st_mtime_ns == made
    assert prepare(folder) == (folder, None)
    other = tmp_path / "other" / "clip.mp4"
    other.parent.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-t", "1", str(other)], check=True)
    (other.parent / "clip.analysis").mkdir()
    shutil.copy(folder / "analysis.json", other.parent / "clip.analysis" / "analysis.json")
    with pytest.raises(InputError, match="another video"):
        prepare(other)


@pytest.mark.slow
@pytest.mark.models
def test_the_preview_plans_as_a_fresh_render_would_after_clicks_and_seeks_back(analysis):
    from redact.render import RegionPlanner

    folder, out = analysis
    s = Session(folder, output=out)
    try:
        s.add_mark(20, list(PATCH))
        order = [30, 31, 5, 45, 0]
        for step in range(2):
            if step:
                s.decide_row(s.analysis.tracks[0].id, "keep")  # new decisions, same tracks: redecided
            fresh = [RegionPlanner(s.tracks, s.decisions, s.config.render, 640, 360, 50).regions_at(f) for f in order]
            assert [s.preview.regions_at(f) for f in order] == fresh
    finally:
        s.close()


@pytest.mark.slow
def test_another_address_than_127_0_0_1_is_warned_about_loudly(analysis):
    folder, out = analysis
    proc = subprocess.Popen([sys.executable, "-m", "redact", "studio", str(folder), "--no-browser", "-o", str(out),
                             "--host", "127.0.0.2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.2:")
        warning = "".join(proc.stderr.readline() for _ in range(3))
        assert "WARNING" in warning and "UNREDACTED" in warning
        host, token = re.match(r"http://([^/]+)/\?token=(.+)", url).groups()
        assert _request(url, "/api/state", {"Host": host, "X-Studio-Token": token})[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")


@pytest.mark.skipif(FIREFOX is None, reason="no Debian firefox-esr (.ci/run installs it)")
@pytest.mark.browser
@pytest.mark.slow
def test_the_page_works_in_firefox(server):
    """Debian's Firefox, driven over WebDriver BiDi (built into Firefox; playwright would need its own build):
    the rows, their thumbnails, the video and the redacted preview all load, and no script error is logged."""
    pytest.importorskip("websockets")
    import asyncio

    from bidi import firefox

    checks = {
        "rows": "document.querySelectorAll('.row').length",
        "thumbs": "[...document.querySelectorAll('.row img')].filter(i => i.complete && i.naturalWidth).length",
        "video": "document.getElementById('video').readyState",
        "saved": "document.getElementById('saved').textContent",
    }
    preview = ("(() => { const s = document.getElementById('still');"
               " return s.hidden ? -1 : (s.complete ? s.naturalWidth : 0); })()")
    got, errors = asyncio.run(firefox(FIREFOX, server, checks, "document.querySelector("
                                      "'input[name=view][value=redacted]').click()", preview))
    assert got["rows"] == 2 and got["thumbs"] == 6 and got["video"] >= 2 and got["saved"] == "all changes saved"
    assert got["preview"] == 640, "the redacted preview did not show in Firefox"
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["basic", "ntsc", "rot90"])
def test_any_frame_in_any_order_is_the_frame_the_passes_decode(clips, name):
    """Thumbnails and previews seek; the passes decode in order: frame i must be the same picture."""
    from redact.io import probe
    from redact.studio.frames import FrameSource

    path = clips[name].path
    frames = decode_all(path)
    source = FrameSource(probe(path))
    n = len(frames)
    try:
        for i in (n // 2, n // 2 + 1, 5, 6, n - 1, 0, n - 2, 12):
            got = source.get(i).astype(int)
            diffs = [np.abs(got - frames[j]).mean() for j in range(len(frames))]
            assert int(np.argmin(diffs)) == i and diffs[i] < 2, f"frame {i}: nearest is {int(np.argmin(diffs))}"
    finally:
        source.close()


@pytest.mark.slow
@pytest.mark.models
def test_a_mark_is_cut_and_extended_to_a_span_and_held_where_the_tracker_let_go(analysis):
    folder, out = analysis
    s = Session(folder, output=out)
    try:
        s.add_mark(25, list(PATCH))
        s.change_mark(0, 10, 20)  # cut
        t = s.mark_tracks[0]
        assert (t.first, t.last) == (10, 20) and "held" not in t.detectors
        s.change_mark(0, 30, 49)  # moved past the frame it was drawn on: drawn again at the span's start
        t = s.mark_tracks[0]
        assert (t.first, t.last) == (30, 49)
        s.blackout(0, 2)
        s.delete_mark(0)
        assert len(s.review.marks) == 1 and s.review.marks[0].whole_frame
        with pytest.raises(ConfigError):
            s.change_mark(0, 40, 60)  # past the end
    finally:
        s.close()
    again = Session(folder, output=out)
    assert [(t.first, t.last) for t in again.mark_tracks] == [(0, 2)]
    again.close()


@pytest.mark.slow
@pytest.mark.models
def test_verify_finds_the_kept_face_and_approval_waits_until_it_is_ticked_even_after_a_restart(clip, analysis):
    folder, out = analysis
    s = Session(folder, output=out)
    s.decide_row(_track_on(s, clip, 0), "keep")
    s.render()
    assert s.verify() > 0  # the astronaut is kept, so `redact verify` sees a face: the reviewer must look
    assert (folder / "review" / "verify.json").is_file() and sorted(p.name for p in out.parent.iterdir()) == [
        "two.redacted.audit.jsonl", "two.redacted.mp4"]  # nothing beside the published output
    s.close()
    again = Session(folder, output=out)
    items = [i for i in again.needs_look() if i["id"].startswith("suspect:")]
    assert items and not any(i["checked"] for i in items)
    with pytest.raises(ConfigError, match="need a look"):
        again.approve("Ann", "")
    for i in items:
        again.check(i["id"], True)
    assert again.approve("Ann", "the astronaut is kept on purpose")["reviewer"] == "Ann"
    again.close()


def test_a_mark_is_held_to_the_ends_of_its_span_where_the_tracker_let_go():
    from fractions import Fraction

    from redact.config import MarkedRegion
    from redact.review_state import HELD, _held
    from redact.types import Track, VideoInfo

    info = VideoInfo(Path("clip.mp4"), 640, 360, Fraction(25), 50, 2.0)
    followed = Track(7, "region")
    for f in range(20, 31):
        followed.add(f, np.array([10 + f, 10, 50 + f, 40], np.float32), 0.9, "csrt")
    mark = MarkedRegion(label="tattoo", t=1.0, x=30, y=10, w=40, h=30, start=0.4, end=1.6)
    held = _held(info, mark, followed)
    assert (held.first, held.last) == (10, 40) and held.detectors[0] == held.detectors[-1] == HELD
    assert held.boxes[0].tolist() == followed.boxes[0].tolist() and held.boxes[-1].tolist() == followed.boxes[-1].tolist()
    assert held.frames[1:-1] == followed.frames
    open_ended = MarkedRegion(label="tattoo", t=1.0, x=30, y=10, w=40, h=30)
    assert _held(info, open_ended, followed) is followed  # no span given: only what was followed
