// The shared timeline: ruler, waveform, marks, audio ranges, blacked-out frames and the playhead.
// A click seeks; a drag selects a span of frames, which the tool buttons then mute, bleep or black out.

const LANES = { ruler: [0, 18], wave: [20, 62], marks: [64, 86], audio: [88, 104], failed: [106, 114] };

export class Timeline {
  constructor(canvas, onSeek, onSelect) {
    this.canvas = canvas;
    this.onSeek = onSeek;
    this.onSelect = onSelect;
    this.frames = 1;
    this.fps = 25;
    this.frame = 0;
    this.selection = null;
    this.wave = { rate: 50, peaks: [] };
    this.state = { marks: [], audio: [], look: [] };
    let down = null;
    const at = (e) => {
      const r = canvas.getBoundingClientRect();
      return Math.max(0, Math.min(this.frames - 1, Math.floor(((e.clientX - r.left) / r.width) * this.frames)));
    };
    canvas.addEventListener("pointerdown", (e) => { down = at(e); canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointermove", (e) => {
      if (down === null) return;
      const f = at(e);
      if (Math.abs(f - down) >= 1) { this.selection = [Math.min(f, down), Math.max(f, down)]; this.draw(); }
    });
    canvas.addEventListener("pointerup", (e) => {
      const f = at(e);
      if (down !== null && Math.abs(f - down) < 1) onSeek(f);
      else if (down !== null) onSelect(this.selection);
      down = null;
    });
    window.addEventListener("resize", () => this.draw());
  }

  setState(state) {
    this.frames = state.video.frames;
    this.fps = state.video.fps[0] / state.video.fps[1];
    this.state = state;
    this.draw();
  }

  setWave(wave) { this.wave = wave; this.draw(); }
  setFrame(frame) { if (frame !== this.frame) { this.frame = frame; this.draw(); } }
  clearSelection() { this.selection = null; this.draw(); }

  x(frame, w) { return (frame / this.frames) * w; }

  draw() {
    const c = this.canvas, w = (c.width = c.clientWidth || 800), h = c.height;
    const g = c.getContext("2d");
    g.clearRect(0, 0, w, h);
    g.fillStyle = "#f4f5f7";
    g.fillRect(0, 0, w, h);
    this.drawRuler(g, w);
    this.drawWave(g, w);
    for (const m of this.state.marks) {
      if (m.first === null) continue;
      g.fillStyle = m.whole_frame ? "#111" : "#8250df";
      const [y0, y1] = LANES.marks;
      g.fillRect(this.x(m.first, w), y0, Math.max(2, this.x(m.last + 1, w) - this.x(m.first, w)), y1 - y0);
    }
    for (const a of this.state.audio) {
      g.fillStyle = a.action === "mute" ? "#cf222e" : "#bf8700";
      const [y0, y1] = LANES.audio;
      g.fillRect(this.x(a.start * this.fps, w), y0, Math.max(2, this.x((a.end - a.start) * this.fps, w)), y1 - y0);
    }
    for (const item of this.state.look) {
      g.fillStyle = item.checked ? "#8c959f" : "#111";
      g.fillRect(this.x(item.frame, w), LANES.failed[0], 2, LANES.failed[1] - LANES.failed[0]);
    }
    g.fillStyle = "#8c959f";
    g.font = "10px system-ui, sans-serif";
    g.textAlign = "right";
    for (const [name, [y0, y1]] of [["sound", LANES.wave], ["marks", LANES.marks], ["audio cuts", LANES.audio],
      ["to look at", LANES.failed]]) g.fillText(name, w - 3, Math.min(y1, y0 + 10));
    g.textAlign = "left";
    if (this.selection) {
      const [a, b] = this.selection;
      g.fillStyle = "rgba(9, 105, 218, 0.2)";
      g.fillRect(this.x(a, w), 0, Math.max(2, this.x(b + 1, w) - this.x(a, w)), h);
    }
    g.fillStyle = "#0969da";
    g.fillRect(this.x(this.frame, w) - 1, 0, 2, h);
  }

  drawRuler(g, w) {
    const secs = this.frames / this.fps;
    const step = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800].find((s) => secs / s <= w / 90) || 3600;
    g.fillStyle = "#57606a";
    g.font = "11px system-ui, sans-serif";
    for (let t = 0; t <= secs; t += step) {
      const x = (t / secs) * w;
      g.fillRect(x, 12, 1, 6);
      const m = Math.floor(t / 60), s = t % 60;
      g.fillText(`${m}:${s.toFixed(step < 1 ? 1 : 0).padStart(2, "0")}`, x + 2, 10);
    }
  }

  drawWave(g, w) {
    const { rate, peaks } = this.wave;
    if (!peaks.length) return;
    const [y0, y1] = LANES.wave, mid = (y0 + y1) / 2, half = (y1 - y0) / 2;
    const secs = this.frames / this.fps;
    g.fillStyle = "#6e7781";
    for (let x = 0; x < w; x++) {
      const a = Math.floor((x / w) * secs * rate), b = Math.max(a + 1, Math.floor(((x + 1) / w) * secs * rate));
      let p = 0;
      for (let i = a; i < b && i < peaks.length; i++) p = Math.max(p, peaks[i]);
      const v = (p / 255) * half;
      g.fillRect(x, mid - v, 1, Math.max(1, 2 * v));
    }
  }
}
