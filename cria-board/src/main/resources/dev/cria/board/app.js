// cria board: runs, charts (uPlot), the per-rank table and log tails; every request carries the
// Basic credentials the browser was given. Data is polled every two seconds.
"use strict";
const COLORS = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#4e342e"];
const state = { runs: [], selected: new Set(), charts: new Map(), data: new Map(), first: true };
const $ = (id) => document.getElementById(id);

async function json(url) {
  // from the origin: a page opened as http://user:password@host/ has credentials in its own URL,
  // which fetch refuses in relative URLs; the browser sends the cached Basic credentials anyway
  const r = await fetch(new URL(url, location.origin), { cache: "no-store", credentials: "same-origin" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

function color(run) {
  return COLORS[state.runs.findIndex((r) => r.name === run) % COLORS.length];
}

async function refresh() {
  state.runs = await json("/api/runs");
  if (state.first) {
    state.runs.slice(0, COLORS.length).forEach((r) => state.selected.add(r.name));
    state.first = false;
  }
  renderRuns();
  if (state.runs.length === 0) {
    $("charts").textContent = "No runs yet: no TensorBoard event files under the log directory. This page"
      + " updates by itself when a run starts writing them.";
  } else if ($("charts").firstChild && $("charts").firstChild.nodeType === Node.TEXT_NODE) {
    $("charts").replaceChildren();
  }
  const smoothing = $("smoothing").value;
  for (const run of state.selected) {
    state.data.set(run, await json("/api/scalars?run=" + encodeURIComponent(run) + "&smoothing=" + smoothing));
  }
  renderCharts();
  const lead = [...state.selected][0];
  if (lead) renderRanks(lead, await json("/api/ranks?run=" + encodeURIComponent(lead) + "&lines=15"));
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function renderRuns() {
  const ul = $("runs");
  ul.replaceChildren();
  for (const r of state.runs) {
    const li = document.createElement("li");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = state.selected.has(r.name);
    box.onchange = () => { box.checked ? state.selected.add(r.name) : state.selected.delete(r.name); refresh(); };
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = color(r.name);
    const st = document.createElement("span");
    st.className = "state " + r.state;
    st.textContent = " " + r.state + (r.step != null ? " " + r.step + "/" + r.max_steps : "");
    li.append(box, swatch, document.createTextNode(r.name), st);
    ul.append(li);
  }
}

function xs(tag, mode) {
  if (mode === "step") return tag.steps;
  if (mode === "wall") return tag.wall_times;
  return tag.wall_times.map((t) => t - tag.wall_times[0]);
}

function renderCharts() {
  const mode = $("xaxis").value;
  const filter = $("filter").value.trim();
  const tags = new Set();
  for (const run of state.selected) {
    const d = state.data.get(run);
    if (d) Object.keys(d.tags).forEach((t) => tags.add(t));
  }
  const first = ["reduced_train_loss", "val_loss", "lr", "gradient_norm", "throughput", "tokens_per_sec", "mfu"];
  const rank = (t) => (first.includes(t) ? first.indexOf(t) : first.length);
  const shown = [...tags].filter((t) => !filter || t.includes(filter))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const [tag, c] of state.charts) {
    if (!shown.includes(tag)) { c.plot.destroy(); c.el.remove(); state.charts.delete(tag); }
  }
  for (const tag of shown) {
    const runs = [...state.selected].filter((r) => state.data.get(r) && state.data.get(r).tags[tag]);
    const tables = runs.map((r) => { const t = state.data.get(r).tags[tag]; return [xs(t, mode), t.smoothed, t.values]; });
    const data = uPlot.join(tables.map((t) => [t[0], t[1], t[2]]));
    const key = runs.join("|") + "|" + mode + "|" + $("logscale").checked;
    let c = state.charts.get(tag);
    const first = state.data.get(runs[0]).tags[tag];
    if (!c || c.key !== key) {
      if (c) { c.plot.destroy(); c.el.remove(); }
      const el = document.createElement("div");
      el.className = "chart";
      const h = document.createElement("h3");
      h.textContent = tag;
      const csv = document.createElement("a");
      csv.textContent = "CSV";
      csv.href = "/api/scalars.csv?run=" + encodeURIComponent(runs[0]) + "&tag=" + encodeURIComponent(tag);
      h.append(csv);
      el.append(h);
      $("charts").append(el);
      const series = [{ label: mode === "step" ? "step" : "time" }];
      for (const r of runs) {
        series.push({ label: r + " (smoothed)", stroke: color(r), width: 2, spanGaps: true });
        series.push({ label: r, stroke: color(r) + "44", width: 1, spanGaps: true });
      }
      const plot = new uPlot({
        width: 440, height: 240, series,
        scales: { x: { time: mode === "wall" }, y: { distr: $("logscale").checked ? 3 : 1 } },
        axes: [{}, { size: 60, values: (u, vals) => vals.map(axisLabel) }],
        legend: { live: true },
      }, data, el);
      c = { el, plot, key };
      state.charts.set(tag, c);
    } else {
      c.plot.setData(data);
    }
    $("charts").append(c.el); // in the order shown
    c.el.dataset.tag = tag;
    c.el.dataset.run = runs[0];
    c.el.dataset.points = String(first.points);
    c.el.dataset.values = JSON.stringify(first.values);
  }
}

function axisLabel(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e5) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

function fmt(v, digits) { return v == null ? "-" : Number(v).toFixed(digits); }

function renderRanks(run, view) {
  $("ranks-run").textContent = run;
  const body = $("ranks").tBodies[0];
  body.replaceChildren();
  for (const r of view.ranks || []) {
    const tr = document.createElement("tr");
    tr.className = r.silent ? "silent" : r.straggler ? "straggler" : "";
    const cells = [r.rank, r.host, r.state, r.step, fmt(r.step_seconds, 2) + " s",
      r.tokens_per_sec == null ? "-" : Math.round(r.tokens_per_sec / Math.max(1, r.world_size)),
      fmt(r.mfu == null ? null : 100 * r.mfu, 1) + "%", fmt(r.communication_wait_seconds, 2) + " s",
      fmt(r.cpu_load == null ? null : 100 * r.cpu_load, 0) + "%", Math.round(r.rss_bytes / 1e6) + " MB",
      fmt(r.heartbeat_age_seconds, 1) + " s ago", r.silent ? "SILENT" : r.straggler ? "STRAGGLER" : (r.last_error || "")];
    for (const v of cells) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
    body.append(tr);
  }
  const logs = $("logs");
  logs.replaceChildren();
  for (const [rank, lines] of Object.entries(view.logs || {})) {
    const h = document.createElement("h3");
    h.textContent = "rank " + rank + " log";
    const pre = document.createElement("pre");
    pre.className = "log";
    pre.textContent = lines.join("\n");
    logs.append(h, pre);
  }
}

$("smoothing").oninput = () => { $("smoothing-value").value = Number($("smoothing").value).toFixed(2); };
$("smoothing").onchange = refresh;
$("xaxis").onchange = renderCharts;
$("logscale").onchange = renderCharts;
$("filter").oninput = renderCharts;
refresh().catch((e) => { $("updated").textContent = String(e); });
setInterval(() => refresh().catch((e) => { $("updated").textContent = String(e); }), 2000);
