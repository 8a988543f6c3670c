// The player: one <video> for the clock and the sound, and, in the redacted preview, the server's
// painting of the current frame (the render's own planner and painter) in an <img> on top.
// Frames are numbered as the analysis numbers them: frame i is shown from i/fps to (i+1)/fps, so a
// seek lands in the middle of the frame, which no rounding of the browser's clock can move off it.

export class Player {
  constructor(els, onFrame) {
    Object.assign(this, els);
    this.onFrame = onFrame;
    this.fps = 25;
    this.frames = 1;
    this.view = "original";
    this.audio = [];
    this.fetching = false;
    this.wanted = -1;
    this.drawing = false;
    this.onBox = null;
    this.video.addEventListener("timeupdate", () => this.tick());
    this.video.addEventListener("seeked", () => this.tick());
    this.video.addEventListener("play", () => { this.playBtn.textContent = "❚❚"; this.loop(); });
    this.video.addEventListener("pause", () => { this.playBtn.textContent = "▶"; this.tick(); });
    this.video.addEventListener("loadedmetadata", () => this.resize());
    window.addEventListener("resize", () => this.resize());
    this.still.addEventListener("load", () => { this.fetching = false; this.showStill(); });
    this.still.addEventListener("error", () => { this.fetching = false; });
    this.setupDrawing();
  }

  setVideo(meta) {
    this.fps = meta.fps[0] / meta.fps[1];
    this.frames = meta.frames;
    this.width = meta.width;
    this.height = meta.height;
    this.source("/media/original");
  }

  source(url) {
    const t = this.video.currentTime || 0;
    this.video.src = url;
    this.video.addEventListener("loadedmetadata", () => { this.video.currentTime = t; }, { once: true });
  }

  get frame() {
    return Math.min(this.frames - 1, Math.max(0, Math.floor(this.video.currentTime * this.fps + 1e-6)));
  }

  seek(frame) {
    frame = Math.min(this.frames - 1, Math.max(0, Math.round(frame)));
    this.video.currentTime = (frame + 0.5) / this.fps;
    this.tick(frame);
  }

  step(n) { this.video.pause(); this.seek(this.frame + n); }

  toggle() { if (this.video.paused) this.video.play(); else this.video.pause(); }

  setView(view) {
    const was = this.view;
    this.view = view;
    if (view === "output") this.source("/media/output");
    else if (was === "output") this.source("/media/original");
    this.still.hidden = view !== "redacted";
    this.wanted = -1;
    this.tick();
  }

  setAudio(ranges) { this.audio = ranges; }

  loop() {
    const step = () => {
      this.tick();
      if (!this.video.paused) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  tick(frame = this.frame) {
    this.onFrame(frame);
    this.listen();
    if (this.view === "redacted" && frame !== this.wanted && !this.fetching) {
      // One frame in flight at a time: while playing, the preview shows as many as the server paints.
      this.wanted = frame;
      this.fetching = true;
      this.still.src = `/api/frame/${frame}?view=redacted`;
    }
    this.drawOverlay();
  }

  showStill() { this.still.hidden = this.view !== "redacted"; }

  // In the redacted preview the sound is heard as the render will have it: muted, or bleeped.
  listen() {
    const t = this.video.currentTime;
    const hit = this.view === "redacted" ? this.audio.find((r) => r.start <= t && t < r.end) : null;
    this.video.muted = Boolean(hit);
    if (hit && hit.action === "bleep" && !this.video.paused) this.bleep(true);
    else this.bleep(false);
  }

  bleep(on) {
    if (on && !this.osc) {
      this.ctx = this.ctx || new AudioContext();
      this.osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      gain.gain.value = 0.1;
      this.osc.frequency.value = 1000;
      this.osc.connect(gain).connect(this.ctx.destination);
      this.osc.start();
    } else if (!on && this.osc) {
      this.osc.stop();
      this.osc = null;
    }
  }

  resize() {
    const r = this.video.getBoundingClientRect();
    this.overlay.width = r.width;
    this.overlay.height = r.height;
    this.drawOverlay();
  }

  // Video pixels <-> overlay pixels (the video is letterboxed inside its element).
  fit() {
    const w = this.overlay.width, h = this.overlay.height;
    const s = Math.min(w / this.width, h / this.height);
    return { s, x0: (w - this.width * s) / 2, y0: (h - this.height * s) / 2 };
  }

  setupDrawing() {
    let start = null;
    const at = (e) => {
      const r = this.overlay.getBoundingClientRect(), f = this.fit();
      const x = (e.clientX - r.left - f.x0) / f.s, y = (e.clientY - r.top - f.y0) / f.s;
      return [Math.min(this.width, Math.max(0, x)), Math.min(this.height, Math.max(0, y))];
    };
    this.overlay.addEventListener("pointerdown", (e) => {
      if (!this.drawing) return;
      this.video.pause();
      start = at(e);
      this.box = [...start, ...start];
      this.overlay.setPointerCapture(e.pointerId);
    });
    this.overlay.addEventListener("pointermove", (e) => {
      if (!start) return;
      const p = at(e);
      this.box = [Math.min(start[0], p[0]), Math.min(start[1], p[1]), Math.max(start[0], p[0]), Math.max(start[1], p[1])];
      this.drawOverlay();
    });
    this.overlay.addEventListener("pointerup", () => {
      if (!start) return;
      start = null;
      const b = this.box;
      this.box = null;
      this.drawOverlay();
      if (b[2] - b[0] >= 4 && b[3] - b[1] >= 4 && this.onBox) this.onBox(this.frame, b);
    });
  }

  drawOverlay() {
    const c = this.overlay.getContext("2d");
    c.clearRect(0, 0, this.overlay.width, this.overlay.height);
    this.overlay.classList.toggle("drawing", this.drawing);
    if (!this.box) return;
    const f = this.fit(), [x1, y1, x2, y2] = this.box;
    c.strokeStyle = "#ffcc00";
    c.lineWidth = 2;
    c.strokeRect(f.x0 + x1 * f.s, f.y0 + y1 * f.s, (x2 - x1) * f.s, (y2 - y1) * f.s);
  }
}

export function timecode(frame, fps) {
  const t = frame / fps;
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${s.toFixed(3).padStart(6, "0")}`;
}

export function parseTimecode(text, fps) {
  // 12.5, 01:12.5 or 1:01:12.5 -> a frame number; a bare integer with "f" (250f) is a frame.
  const s = text.trim();
  if (/^\d+f$/.test(s)) return parseInt(s, 10);
  const parts = s.split(":").map(Number);
  if (!parts.length || parts.some((p) => Number.isNaN(p))) return null;
  const secs = parts.reduce((acc, p) => acc * 60 + p, 0);
  return Math.floor(secs * fps + 1e-6);
}
