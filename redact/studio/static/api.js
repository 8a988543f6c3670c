// Talks to the studio server: same origin, the token travels in its SameSite=Strict cookie.
// Every change is a JSON request that answers with the whole new state, so the page never drifts.

export async function getState() {
  const r = await fetch("/api/state", { credentials: "same-origin" });
  if (!r.ok) throw new Error(await r.text());
  return r.json();
}

export async function change(method, path, body = {}) {
  const r = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: method === "DELETE" ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

export async function getWaveform() {
  const r = await fetch("/api/waveform", { credentials: "same-origin" });
  return r.ok ? r.json() : { rate: 50, peaks: [] };
}
