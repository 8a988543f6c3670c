"""How the studio holds up on a long analysis: a synthetic one of N tracks over a real long video.

Detecting an hour of video takes an hour, and the studio never looks at
pixels to show its rows: so the analysis is synthesised (tracks of random
length and place, every frame detected, all redacted) over a real video
made with ffmpeg's test source, which the studio must still decode for
thumbnails and previews.  Prints the timings BENCHMARKS.md's "Studio"
section quotes.

    python pipelines/studio_scale.py --video long.mp4 --tracks 2000 --work /tmp/scale
    (make the video: ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=25:duration=3600 -f lavfi
     -i sine=frequency=440:duration=3600 -c:v libx264 -preset ultrafast -crf 35 -g 50 -c:a aac -shortest long.mp4)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from redact.config import load
from redact.decide import decide
from redact.io import probe
from redact.io.files import sha256_file
from redact.store import save
from redact.types import Analysis, Track


def synthesise(video: Path, folder: Path, n: int, seed: int = 0) -> None:
    info = probe(video)
    rng = np.random.default_rng(seed)
    tracks = []
    for i in range(n):
        length = int(rng.integers(25, 500))
        first = int(rng.integers(0, info.frame_count - length))
        h = float(rng.uniform(20, 200))
        x, y = float(rng.uniform(0, info.width - h)), float(rng.uniform(0, info.height - h))
        dx, dy = rng.uniform(-1, 1, 2)
        t = Track(i, "face")
        for k in range(length):
            cx, cy = min(max(x + dx * k, 0), info.width - h), min(max(y + dy * k, 0), info.height - h)
            t.add(first + k, np.array([cx, cy, cx + h * 0.8, cy + h], np.float32), 0.8, "centerface")
        tracks.append(t)
    config = load()
    analysis = Analysis(info, tracks)
    save(folder, analysis, config, sha256_file(video), decide(tracks, config, {}, None))


def measure_session(folder: Path, video: Path, out: Path) -> dict:
    from redact.studio.api import snapshot
    from redact.studio.session import Session

    r: dict = {}
    t = time.perf_counter()
    s = Session(folder, video, out)
    r["open_s"] = time.perf_counter() - t
    t = time.perf_counter()
    body = json.dumps(snapshot(s), separators=(",", ":"))
    r["state_s"], r["state_kb"] = time.perf_counter() - t, len(body) / 1024
    thumbs = []
    for track in s.analysis.tracks[:: max(1, len(s.analysis.tracks) // 20)][:20]:
        t = time.perf_counter()
        s.frames.get(track.frames[len(track.frames) // 2])
        thumbs.append(time.perf_counter() - t)
    r["random_frame_ms"] = 1000 * float(np.median(thumbs))
    t = time.perf_counter()
    at = s.analysis.tracks[0].frames[0]
    s.preview.paint(s.frames, at)
    r["preview_cold_ms"] = 1000 * (time.perf_counter() - t)
    steps = []
    for k in range(1, 26):
        t = time.perf_counter()
        s.preview.paint(s.frames, at + k)
        steps.append(time.perf_counter() - t)
    r["preview_next_ms"] = 1000 * float(np.median(steps))
    t = time.perf_counter()
    s.preview.paint(s.frames, at // 2)
    r["preview_seek_back_ms"] = 1000 * (time.perf_counter() - t)
    t = time.perf_counter()
    s.decide_row(s.rows[len(s.rows) // 2][0], "keep")
    r["keep_click_s"] = time.perf_counter() - t
    t = time.perf_counter()
    s.preview.paint(s.frames, at)
    r["preview_after_click_ms"] = 1000 * (time.perf_counter() - t)
    r["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s.close()
    return r


def measure_page(folder: Path, video: Path, out: Path, chromium: str) -> dict:
    """Open the real page in chromium; time until the first rows show and until every row is built."""
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen([sys.executable, "-m", "redact", "studio", str(folder), "--input", str(video),
                             "-o", str(out), "--no-browser", "-q"], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        r = {"preview_http_fps": _preview_fps(url, 100)}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector(".row img")
            r["page_rows_shown_s"] = time.perf_counter() - t
            _until(page, "document.querySelectorAll('.row').length > 0 && `(${document.querySelectorAll('.row')"
                   ".length})` === document.getElementById('row-count').textContent")
            r["rows"] = page.evaluate("document.querySelectorAll('.row').length")
            r["page_all_rows_s"] = time.perf_counter() - t
            r["thumbs_loaded_at_start"] = page.evaluate(
                "[...document.querySelectorAll('.row img')].filter(i => i.complete && i.naturalWidth).length")
            page.wait_for_timeout(3000)  # the first screen's thumbnails settle: a click is timed on its own
            t = time.perf_counter()
            page.click(".row:nth-child(3) button[data-action=keep]")
            page.wait_for_selector(".row.keep")
            r["page_keep_click_s"] = time.perf_counter() - t
            t = time.perf_counter()
            page.evaluate("document.getElementById('rows').scrollTop = 1e9")
            _until(page, "(() => { const rows = document.querySelectorAll('.row'); const img = rows[rows.length - 1]"
                   ".querySelector('img'); return img && img.complete && img.naturalWidth > 0; })()")
            r["page_scroll_to_end_thumbs_s"] = time.perf_counter() - t
            browser.close()
        return r
    finally:
        proc.terminate()
        proc.wait()


def _preview_fps(url: str, n: int) -> float:
    """Redacted preview frames a second, asked one after another as the playing page asks for them."""
    import http.client
    import re

    host, token = re.match(r"http://([^/]+)/\?token=(.+)", url).groups()
    conn = http.client.HTTPConnection(host, timeout=60)
    t = time.perf_counter()
    for i in range(30_000 - 1, 30_000 + n):
        if i == 30_000:  # the first one plans every track (the cold preview above): timed apart
            t = time.perf_counter()
        conn.request("GET", f"/api/frame/{i}?view=redacted", headers={"X-Studio-Token": token})
        response = conn.getresponse()
        assert response.status == 200 and response.read()
    return n / (time.perf_counter() - t)


def _until(page, expression: str, timeout: float = 120.0) -> None:
    """Poll from here: the page's Content-Security-Policy forbids the eval that wait_for_function polls with."""
    end = time.perf_counter() + timeout
    while not page.evaluate(expression):
        if time.perf_counter() > end:
            raise TimeoutError(expression)
        time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, required=True)
    ap.add_argument("--tracks", type=int, default=2000)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    folder = args.work / "long.analysis"
    (args.work / "out").mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    if not (folder / "analysis.json").is_file():
        synthesise(args.video, folder, args.tracks)
    print(f"synthesised {args.tracks} tracks in {time.perf_counter() - t:.1f} s; "
          f"analysis.json {(folder / 'analysis.json').stat().st_size / 1e6:.1f} MB")
    out = args.work / "out" / "long.redacted.mp4"
    results = {**measure_session(folder, args.video, out), **measure_page(folder, args.video, out, args.chromium)}
    for k, v in results.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
