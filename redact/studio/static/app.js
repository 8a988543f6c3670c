// The studio page: wires the player, the timeline, the people rows and the lists to the server.
// Every change is saved by the server as soon as it answers; the page only shows what it was told.

import { change, getState, getWaveform } from "./api.js";
import { Player, parseTimecode, timecode } from "./player.js";
import { Rows } from "./rows.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
let state = null;
let selection = null;

const player = new Player(
  { video: $("video"), still: $("still"), overlay: $("overlay"), playBtn: $("play") },
  (frame) => {
    if (document.activeElement !== $("frame")) $("frame").value = frame;
    if (document.activeElement !== $("timecode")) $("timecode").value = timecode(frame, player.fps);
    timeline.setFrame(frame);
  },
);
const timeline = new Timeline($("timeline"), (f) => player.seek(f), (sel) => select(sel));
const rows = new Rows($("rows"), {
  onDecide: (id, action) => act("POST", `/api/rows/${id}/decision`, { action }),
  onSplit: (track) => act("POST", `/api/rows/${track}/split`, {}),
  onSeek: (f) => player.seek(f),
  onSelect: (ids) => { $("merge").disabled = ids.size < 2; },
});

function toast(text, bad = false) {
  const t = $("toast");
  t.textContent = text;
  t.classList.toggle("bad", bad);
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 8000 : 2500);
}

async function act(method, path, body, done) {
  $("saved").textContent = "saving…";
  try {
    const answer = await change(method, path, body);
    show(answer.state);
    $("saved").textContent = "all changes saved";
    if (done) done(answer.result);
    return answer.result;
  } catch (e) {
    $("saved").textContent = "not saved";
    toast(e.message, true);
    return undefined;
  }
}

function select(sel) {
  selection = sel;
  const fps = player.fps;
  $("selection").textContent = sel
    ? `frames ${sel[0]}-${sel[1]} (${timecode(sel[0], fps)} - ${timecode(sel[1] + 1, fps)})` : "none (drag on the timeline)";
  for (const id of ["mute", "bleep", "blackout", "clear-sel"]) $(id).disabled = !sel;
  for (const b of document.querySelectorAll("#marks button.span-set")) b.disabled = !sel;
}

function show(next) {
  const first = state === null;
  state = next;
  if (first) {
    $("title").textContent = `Review: ${state.video.file}`;
    document.title = `UNREDACTED review: ${state.video.file}`;
    player.setVideo(state.video);
  }
  timeline.setState(state);
  rows.render(state);
  $("row-count").textContent = `(${state.rows.length})`;
  player.setAudio(state.audio);
  if (!first && player.view === "redacted") { player.wanted = -1; player.tick(); }
  $("media").textContent = state.media.proxy && !state.media.proxy_ready
    ? "· the browser cannot play this video: making a playable copy once (it may take minutes)…" : "";
  if (state.media.proxy && !state.media.proxy_ready && !show.polling) {
    show.polling = true;
    setTimeout(() => { show.polling = false; getState().then(show); }, 3000);
  }
  showMarks();
  showAudio();
  showLook();
  showJob();
}

function item(text, buttons) {
  const li = document.createElement("li");
  const span = document.createElement("span");
  span.textContent = text;
  li.append(span);
  for (const [label, fn, cls] of buttons) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (cls) b.className = cls;
    b.addEventListener("click", fn);
    li.append(b);
  }
  return li;
}

function showMarks() {
  const ul = $("marks");
  ul.replaceChildren(...state.marks.map((m) => {
    const what = m.whole_frame ? "black out" : `${m.label} (box drawn at frame ${m.t})`;
    const li = item(`${what}: frames ${m.first}-${m.last}`, [
      ["Go", () => player.seek(m.first)],
      ["Set to selection", () => act("PATCH", `/api/marks/${m.index}`, { first: selection[0], last: selection[1] }), "span-set"],
      ["Delete", () => act("DELETE", `/api/marks/${m.index}`)],
    ]);
    li.querySelector(".span-set").disabled = !selection;
    return li;
  }));
  if (!state.marks.length) ul.replaceChildren(item("none: pause, press Draw box and drag over what was missed", []));
}

function showAudio() {
  const ul = $("audio");
  const fps = player.fps;
  ul.replaceChildren(...state.audio.map((a) => item(
    `${a.action} ${timecode(a.start * fps, fps)} - ${timecode(a.end * fps, fps)}`,
    [["Listen", () => { setView("redacted"); player.seek(Math.max(0, a.start - 1) * fps); player.video.play(); }],
      ["Delete", () => act("DELETE", `/api/audio/${a.index}`)]],
  )));
  if (!state.audio.length) ul.replaceChildren(item("none: select a span on the timeline, then Mute or Bleep", []));
}

function showLook() {
  const open = state.look.filter((i) => !i.checked).length;
  $("look-count").textContent = state.look.length ? `(${open} of ${state.look.length} unchecked)` : "(nothing)";
  $("look").replaceChildren(...state.look.map((i) => {
    const li = document.createElement("li");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = i.checked;
    box.addEventListener("change", () => act("POST", "/api/checks", { id: i.id, checked: box.checked }));
    const go = document.createElement("button");
    go.type = "button";
    go.textContent = "Go";
    go.addEventListener("click", () => player.seek(i.frame));
    const text = document.createElement("span");
    text.textContent = i.what;
    li.append(box, go, text);
    return li;
  }));
  $("next-look").disabled = open === 0;
  $("approve-btn").disabled = open > 0;
  $("approve-btn").title = open > 0 ? "tick every item of the needs-a-look list first" : "";
}

function showJob() {
  const job = state.job;
  const bar = $("progress");
  bar.hidden = !job.running;
  if (job.running) { bar.max = job.total || 1; bar.value = job.done || 0; }
  $("render").disabled = Boolean(job.running);
  $("verify").disabled = Boolean(job.running) || !job.output || !job.current;
  $("view-output").disabled = !state.media.output;
  let text = "";
  if (job.running) text = `rendering ${job.done || 0}/${job.total || "?"}`;
  else if (job.error) text = `render failed: ${job.error}`;
  else if (job.output) text = `${job.current ? "rendered" : "render is out of date"}: ${job.output}`;
  if (job.approved) text += ` · approved by ${job.approved.reviewer}`;
  $("job").textContent = text;
  if (job.running) setTimeout(poll, 500);
  else if (awaitingRender) renderEnded(job);
}

// Set when Render is pressed, so that its end is noticed even when the render finishes before
// the first poll sees it running (a short clip renders in under a second).
let awaitingRender = false;

function renderEnded(job) {
  awaitingRender = false;
  if (job.output && job.current && !job.error) {
    toast("render done: playing the result");
    setView("output");
  }
}

async function poll() {
  show(await getState());
}

function setView(view) {
  document.querySelector(`input[name=view][value=${view}]`).checked = true;
  player.setView(view);
}

function wire() {
  $("play").addEventListener("click", () => player.toggle());
  $("back").addEventListener("click", () => player.step(-1));
  $("fwd").addEventListener("click", () => player.step(1));
  $("frame").addEventListener("change", () => player.seek(Number($("frame").value)));
  $("timecode").addEventListener("change", () => {
    const f = parseTimecode($("timecode").value, player.fps);
    if (f !== null) player.seek(f);
  });
  for (const r of document.querySelectorAll("input[name=view]")) r.addEventListener("change", () => player.setView(r.value));
  $("draw").addEventListener("click", () => {
    player.drawing = !player.drawing;
    $("draw").setAttribute("aria-pressed", String(player.drawing));
    if (player.drawing) player.video.pause();
    player.drawOverlay();
  });
  player.onBox = (frame, box) => {
    toast("following the box both ways…");
    act("POST", "/api/marks", { frame, box, label: "mark" }, () => toast("mark followed"));
  };
  const range = (action) => act("POST", "/api/audio", {
    start: selection[0] / player.fps, end: (selection[1] + 1) / player.fps, action,
  });
  $("mute").addEventListener("click", () => range("mute"));
  $("bleep").addEventListener("click", () => range("bleep"));
  $("blackout").addEventListener("click", () => act("POST", "/api/blackouts", { first: selection[0], last: selection[1] }));
  $("clear-sel").addEventListener("click", () => { timeline.clearSelection(); select(null); });
  $("merge").addEventListener("click", () => {
    const tracks = state.rows.filter((r) => rows.selected.has(r.id)).map((r) => r.tracks[0]);
    rows.selected.clear();
    act("POST", "/api/rows/merge", { tracks });
  });
  $("group").addEventListener("click", () => {
    toast("grouping by faces…");
    act("POST", "/api/rows/group", {}, () => toast("grouped by faces"));
  });
  $("render").addEventListener("click", () => {
    awaitingRender = true;
    act("POST", "/api/render", {});
  });
  $("verify").addEventListener("click", () => {
    toast("verifying the render…");
    $("verify").disabled = true;
    act("POST", "/api/verify", {}, (n) => toast(n ? `${n} suspect(s): see Needs a look` : "verify found no face left visible"));
  });
  $("approve").addEventListener("submit", (e) => {
    e.preventDefault();
    act("POST", "/api/approve", { reviewer: $("reviewer").value, note: $("note").value },
      (r) => { $("approve-status").textContent = `approved; audit log SHA-256 ${r.log_sha256.slice(0, 16)}…`; });
  });
  $("next-look").addEventListener("click", () => {
    // The next unchecked item after the playhead, from the start again after the last.
    const open = state.look.filter((i) => !i.checked).sort((a, b) => a.frame - b.frame);
    const next = open.find((i) => i.frame > player.frame) || open[0];
    if (next) player.seek(next.frame);
  });
  document.addEventListener("keydown", keys);
}

function keys(e) {
  if (e.target.closest("input, select, textarea")) return;
  const v = player.video;
  const key = e.key.toLowerCase();
  if (key === " ") player.toggle();
  else if (key === "arrowleft") player.step(-1);
  else if (key === "arrowright") player.step(1);
  else if (key === "k") v.pause();
  else if (key === "j") { v.pause(); player.seek(player.frame - Math.round(player.fps)); }
  else if (key === "l") { v.playbackRate = v.paused ? 1 : Math.min(4, v.playbackRate * 2); v.play(); }
  else return;
  e.preventDefault();
}

wire();
getState().then(show).then(() => { $("saved").textContent = "all changes saved"; }).then(() => getWaveform().then((w) => timeline.setWave(w)))
  .catch((e) => toast(`cannot load the review: ${e.message}`, true));
