// The status page: polls /api/overview and renders it. No framework; every
// value goes into the DOM as text, never as markup.
"use strict";

const CORE = new Set(["name", "uuid", "version", "started", "devices", "sessions", "journal", "store", "osp", "udp",
  "things", "links", "board", "pairing"]);
const NS = "http://www.w3.org/2000/svg";
const csrf = document.querySelector('meta[name="csrf-token"]').content;
let last = null;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function ago(t) {
  if (!t || t.startsWith("0001-")) return "never";
  const s = Math.round((Date.now() - Date.parse(t)) / 1000);
  if (s < 0) return "in " + dur(-s);
  return dur(s) + " ago";
}

function dur(s) {
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

const isTime = (v) => typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(v);

function fmtValue(k, v) {
  if (isTime(v)) return ago(v);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number" && /(age|duration|took|heldBack|step)$/i.test(k) && v > 1e6) return dur(Math.round(v / 1e9));
  if (v === null || v === undefined) return "–";
  return String(v);
}

function kv(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) dl.append(el("dt", {}, k), el("dd", {}, v));
}

function fill(tbody, rows, empty) {
  tbody.replaceChildren(...rows);
  if (empty) empty.hidden = rows.length > 0;
}

function propText(p) {
  if (!p.value || p.value.type === "invalid") return null;
  let v = p.value.value;
  if (typeof v === "number" && !Number.isInteger(v)) v = Math.round(v * 100) / 100;
  return p.name + " " + v + (p.unit ? " " + p.unit : "");
}

function bars(counts, cls, w, h) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  if (cls) svg.setAttribute("class", cls);
  const max = Math.max(1, ...counts);
  const bw = w / counts.length;
  counts.forEach((n, i) => {
    if (!n) return;
    const r = document.createElementNS(NS, "rect");
    const bh = Math.max(1, (n / max) * h);
    r.setAttribute("x", (i * bw).toFixed(2));
    r.setAttribute("y", (h - bh).toFixed(2));
    r.setAttribute("width", Math.max(0.5, bw - 0.6).toFixed(2));
    r.setAttribute("height", bh.toFixed(2));
    svg.append(r);
  });
  return svg;
}

// flatten turns nested objects into dotted keys for a generic section.
function flatten(prefix, v, out) {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? prefix + "." + k : k, x, out);
  } else if (Array.isArray(v)) {
    out.push([prefix, v.length + (v.length === 1 ? " item" : " items")]);
  } else {
    out.push([prefix, fmtValue(prefix, v)]);
  }
  return out;
}

function table(list) {
  const keys = [...new Set(list.flatMap((o) => (o && typeof o === "object" ? Object.keys(o) : [])))].slice(0, 8);
  const head = el("tr", {}, ...keys.map((k) => el("th", {}, k)));
  const rows = list.map((o) => el("tr", {}, ...keys.map((k) => {
    const v = o[k];
    return el("td", {}, v && typeof v === "object" ? JSON.stringify(v) : fmtValue(k, v));
  })));
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

// optionalSection renders a service's part of the status (JOSP, steward,
// upstream, OCO): a queue depth and the age of the oldest record first,
// then every scalar, then its lists as tables.
function optionalSection(key, v) {
  const card = el("section", { class: "card", id: "section-" + key, "data-section": key });
  card.append(el("h2", {}, key.toUpperCase().length <= 4 ? key.toUpperCase() : key[0].toUpperCase() + key.slice(1)));
  if (!v || typeof v !== "object") {
    card.append(el("p", {}, fmtValue(key, v)));
    return card;
  }
  const depth = v.queueDepth ?? v.queued ?? v.queue;
  const oldest = v.oldest ?? v.oldestRecord ?? v.oldestQueued;
  if (depth !== undefined || oldest !== undefined) {
    const p = el("p", { class: "highlight" });
    p.append(depth !== undefined ? depth + " queued" : "");
    if (oldest) p.append(el("span", { class: "muted" }, " · oldest " + ago(oldest)));
    card.append(p);
  }
  const pairs = [];
  const lists = [];
  for (const [k, x] of Object.entries(v)) {
    if (Array.isArray(x) && x.length && typeof x[0] === "object") lists.push([k, x]);
    else flatten(k, x, pairs);
  }
  const dl = el("dl", { class: "kv" });
  kv(dl, pairs);
  card.append(dl);
  for (const [k, list] of lists) card.append(el("h2", {}, k), table(list));
  return card;
}

function render(o) {
  const s = o.status;
  document.title = s.name + " · edgegate";
  $("name").textContent = s.name;
  $("ident").textContent = `${s.uuid} · ${s.version || "dev"} · ${s.board}`;
  const st = $("state");
  st.textContent = o.health.ok ? "healthy" : "unhealthy";
  st.className = "pill " + (o.health.ok ? "ok" : "bad");

  kv($("overview"), [
    ["Version", s.version || "dev"],
    ["Board", s.board],
    ["Up", dur(Math.round((Date.now() - Date.parse(s.started)) / 1000))],
    ["Clock", o.clock.sane ? new Date(o.clock.now).toLocaleString() : "not set yet (" + new Date(o.clock.now).toISOString() + "); upstream TLS waits"],
    ["Devices", `${s.devices} provisioned, ${s.sessions} in session`],
    ["Journal", `${s.journal.count} readings (seq ${s.journal.firstSeq}…${s.journal.lastSeq})`],
  ]);
  $("pairing").textContent = o.pairing.open ? "Pairing window open until " + new Date(o.pairing.until).toLocaleTimeString() : "Pairing window closed";

  const r = o.rates;
  $("rate-chart").replaceChildren(bars(r.total, "", 300, 60));
  const sum = r.total.reduce((a, b) => a + b, 0);
  const step = Math.round(r.step / 1e9);
  $("rate-caption").textContent = `${sum} readings in the last ${dur(step * r.total.length)} (bars of ${step} s)`;

  fill($("devices").tBodies[0], o.devices.map((d) => {
    const vals = (d.properties || []).map(propText).filter(Boolean).join(", ") || "–";
    const rate = (r.devices || {})[d.id];
    return el("tr", { "data-device": d.id },
      el("td", {}, d.id), el("td", {}, d.name || "–"),
      el("td", { class: d.connected ? "up" : "down" }, d.connected ? "connected" : "offline"),
      el("td", {}, ago(d.lastSeen)), el("td", { class: "values" }, vals),
      el("td", {}, rate ? bars(rate, "spark", 60, 14) : "–"));
  }), $("devices-empty"));

  $("links").replaceChildren(...o.links.map((l) => el("li", { "data-link": l.name },
    el("span", { class: l.up ? "up" : "down" }, (l.up ? "▲ " : "▼ ") + l.name),
    el("small", {}, (l.detail || "") + (l.counters ? " · " + Object.entries(l.counters).map(([k, v]) => k + " " + v).join(", ") : "")))));
  if (!o.links.length) $("links").append(el("li", {}, "No OSP link configured."));

  fill($("sessions").tBodies[0], o.sessions.map((x) => el("tr", {},
    el("td", {}, x.device), el("td", { class: "num" }, x.sid), el("td", {}, x.state), el("td", {}, x.secure ? "EAX" : "no"),
    el("td", {}, x.link || "–"), el("td", {}, ago(x.opened)), el("td", {}, ago(x.lastRecv)))), $("sessions-empty"));

  $("things-card").hidden = o.things.length === 0;
  fill($("things").tBodies[0], o.things.map((t) => el("tr", {},
    el("td", {}, t.id), el("td", {}, t.name || "–"), el("td", { class: t.present ? "up" : "down" }, t.present ? "yes" : "no"),
    el("td", {}, ago(t.lastSeen)), el("td", {}, (t.properties || []).map(propText).filter(Boolean).join(", ") || "–"))));

  const opt = $("optional");
  opt.replaceChildren(...Object.keys(s).filter((k) => !CORE.has(k)).sort().map((k) => optionalSection(k, s[k])));

  $("health").replaceChildren(...o.health.checks.map((c) => el("li", {},
    el("span", { class: c.ok ? "up" : c.advisory ? "" : "down" }, (c.ok ? "✓ " : "✗ ") + c.name),
    el("small", {}, c.detail || ""))));

  kv($("store"), [
    ["Appends", s.store.appends], ["Commits", `${s.store.commits} (${s.store.fsyncs} fsyncs)`],
    ["Queued writes", s.store.queued], ["Evicted", `${s.store.evictedByAge} by age, ${s.store.evictedBySize} by size`],
    ["Things", `${s.things.count}, projected to seq ${s.things.projected}, ${s.things.undecoded} undecoded`],
  ]);

  const errs = o.errors.slice().reverse();
  $("errors").replaceChildren(...errs.map((e) => el("li", {},
    el("span", { class: "level " + e.level }, e.level), el("span", { class: "muted" }, ago(e.time) + " "),
    e.message + (e.attrs || []).map((a) => ` ${a.key}=${a.value}`).join(""))));
  $("errors-empty").hidden = errs.length > 0;
  $("refreshed").textContent = new Date().toLocaleTimeString();
}

async function refresh() {
  try {
    const res = await fetch("/api/overview", { credentials: "same-origin", cache: "no-store" });
    if (res.status === 401) { location.href = "/login"; return; }
    if (!res.ok) throw new Error("HTTP " + res.status);
    last = await res.json();
    render(last);
  } catch (err) {
    const st = $("state");
    st.textContent = "gateway unreachable";
    st.className = "pill bad";
  }
}

async function openPairing() {
  const b = $("pair");
  b.disabled = true;
  try {
    const res = await fetch("/api/pairing", { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: "{}" });
    const p = await res.json();
    if (!res.ok) throw new Error(p.error || "HTTP " + res.status);
    $("pairing").textContent = "Pairing window open until " + new Date(p.until).toLocaleTimeString();
  } catch (err) {
    $("pairing").textContent = "Could not open the pairing window: " + err.message;
  } finally {
    b.disabled = false;
  }
}

$("pair").addEventListener("click", openPairing);
refresh();
setInterval(refresh, 3000);
