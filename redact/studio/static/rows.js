// People rows: one per person (tracks grouped by the server), each with thumbnails, its stretches on a
// lane of the shared time axis, its decision and reasons.  Thumbnails load only when scrolled into
// view (loading="lazy"), and a row's DOM is rebuilt only when its data changed, so thousands of rows
// stay responsive.

export class Rows {
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    this.built = new Map();
    this.frames = 1;
    this.selected = new Set();
  }

  render(state) {
    this.frames = state.video.frames;
    const seen = new Set();
    let before = null;
    for (const row of [...state.rows].reverse()) {
      const key = JSON.stringify(row);
      seen.add(row.id);
      let entry = this.built.get(row.id);
      if (!entry || entry.key !== key) {
        const el = this.build(row);
        if (entry) entry.el.replaceWith(el);
        entry = { key, el };
        this.built.set(row.id, entry);
      }
      if (entry.el.nextSibling !== before || entry.el.parentNode !== this.root) this.root.insertBefore(entry.el, before);
      before = entry.el;
    }
    for (const [id, entry] of this.built) {
      if (!seen.has(id)) { entry.el.remove(); this.built.delete(id); this.selected.delete(id); }
    }
  }

  build(row) {
    const el = document.createElement("div");
    el.className = `row ${row.action}`;
    el.dataset.row = row.id;
    el.dataset.tracks = row.tracks.join(" ");
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.title = "select to merge";
    pick.checked = this.selected.has(row.id);
    pick.addEventListener("change", () => {
      if (pick.checked) this.selected.add(row.id); else this.selected.delete(row.id);
      this.handlers.onSelect(this.selected);
    });
    const thumbs = document.createElement("div");
    thumbs.className = "thumbs";
    for (const [track, k, frame] of row.thumbs) {
      const img = document.createElement("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.height = 64;
      img.alt = `track ${track}, frame ${frame}`;
      img.title = `frame ${frame}: click to go there`;
      img.src = `/api/thumb/${track}/${k}`;
      img.addEventListener("click", () => this.handlers.onSeek(frame));
      thumbs.append(img);
    }
    el.append(pick, thumbs, this.info(row), this.actions(row));
    return el;
  }

  info(row) {
    const info = document.createElement("div");
    info.className = "info";
    const lane = document.createElement("div");
    lane.className = "lane";
    for (const s of row.spans) {
      const span = document.createElement("div");
      span.className = "span";
      span.style.left = `${(100 * s.first) / this.frames}%`;
      span.style.width = `${Math.max(0.3, (100 * (s.last - s.first + 1)) / this.frames)}%`;
      span.title = `track ${s.track}: frames ${s.first}-${s.last}`;
      span.addEventListener("click", () => this.handlers.onSeek(s.first));
      lane.append(span);
      for (const [a, b] of s.shown) {
        const shown = document.createElement("div");
        shown.className = "shown";
        shown.style.left = `${(100 * a) / this.frames}%`;
        shown.style.width = `${Math.max(0.3, (100 * (b - a + 1)) / this.frames)}%`;
        lane.append(shown);
      }
    }
    const text = document.createElement("small");
    const labels = row.labels.length ? ` · ${row.labels.join(", ")}` : "";
    text.textContent = `${row.tracks.length > 1 ? "tracks" : "track"} ${row.tracks.join(", ")} · ` +
      `${row.detections} detections · ${row.action} (${row.reasons.join(", ")})${labels}`;
    info.append(lane, text);
    return info;
  }

  actions(row) {
    const box = document.createElement("div");
    box.className = "actions";
    for (const action of ["keep", "redact"]) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = `decide ${action}`;
      b.dataset.action = action;
      b.textContent = action === "keep" ? "Keep" : "Redact";
      b.setAttribute("aria-pressed", String(row.action === action));
      b.addEventListener("click", () => this.handlers.onDecide(row.id, action));
      box.append(b);
    }
    if (row.tracks.length > 1) {
      const sel = document.createElement("select");
      sel.title = "track to take out of this row";
      for (const t of row.tracks) sel.append(new Option(`track ${t}`, t));
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Split off";
      b.addEventListener("click", () => this.handlers.onSplit(Number(sel.value)));
      box.append(sel, b);
    }
    return box;
  }
}
