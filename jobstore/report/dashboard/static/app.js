// jobman dashboard: polls the JSON endpoints (one request per view per interval) and redraws in
// place. Every value from the table reaches the DOM through textContent, never innerHTML.
"use strict";

const REFRESH_MS = 3000;
const SLOW_EVERY = 4;        // parameters and errors refresh every 4th interval
const STALE_HEARTBEAT_S = 120;
const COLORS = ["#4a7fd4", "#d4604a", "#3b9a5a", "#9a5ad4", "#d4a34a", "#4ab8d4", "#d44a98", "#7a8494"];
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const state = { offset: 0, sort: "id", desc: false, status: "", where: "", selected: new Set(),
                total: 0, config: null, tick: 0, bucket: 60, charts: {}, timeline: new Map(),
                searches: new Map(), searchAfter: 0 };

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
const $ = (id) => document.getElementById(id);

async function api(view, params) {
  const qs = new URLSearchParams(params || {}).toString();
  const r = await fetch("api/" + view + (qs ? "?" + qs : ""));
  const doc = await r.json();
  if (!r.ok) throw new Error(doc.error || r.statusText);
  return doc;
}

function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && !Number.isInteger(v)) return Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
  return String(v);
}
function duration(s) {
  if (s === null || s === undefined) return "";
  if (s < 120) return s.toFixed(0) + " s";
  if (s < 7200) return (s / 60).toFixed(0) + " min";
  return (s / 3600).toFixed(1) + " h";
}
// log axes where the values are positive and span two decades or more
const logTicks = (u, vals) => vals.map((v) => (v === null ? "" : v.toExponential(0)));
function spansDecades(values) {
  const v = values.filter((x) => typeof x === "number" && x > 0);
  return v.length > 1 && v.length === values.filter((x) => typeof x === "number").length
    && Math.max(...v) / Math.min(...v) >= 100;
}

// -- overview: counts and timeline ------------------------------------------------------------
async function refreshOverview() {
  // the timeline is fetched from its last bucket on: a refresh reads only the recently ended jobs
  const known = [...state.timeline.values()].map((r) => r[0]);
  const since = known.length ? Math.max(...known) : 0;
  const doc = await api("overview", { bucket_s: state.bucket, since });
  if (doc.bucket_s !== state.bucket) return;  // the bucket changed while this was in flight
  for (const key of [...state.timeline.keys()]) if (state.timeline.get(key)[0] >= since) state.timeline.delete(key);
  doc.timeline.forEach((r) => state.timeline.set(r[0] + "/" + r[1], r));
  const cards = $("counts");
  cards.replaceChildren();
  let total = 0;
  for (const [name, n] of Object.entries(doc.counts)) {
    const c = el("div", null, "card " + name);
    c.append(el("b", n), el("span", name));
    cards.append(c);
    total += n;
  }
  const all = el("div", null, "card"); all.append(el("b", total), el("span", "total")); cards.append(all);
  drawTimeline([...state.timeline.values()]);
}

function drawTimeline(timeline) {
  const times = [...new Set(timeline.map((r) => r[0]))].sort((a, b) => a - b);
  if (times.length > 300 && state.bucket < 86400) { state.bucket = Math.min(state.bucket * 5, 86400); state.timeline.clear(); }
  const statuses = [...new Set(timeline.map((r) => r[1]))].sort();
  const index = new Map(times.map((t, i) => [t, i]));
  const series = statuses.map((s) => { const ys = times.map(() => 0); timeline.filter((r) => r[1] === s).forEach((r) => { ys[index.get(r[0])] = r[2]; }); return ys; });
  const data = [times, ...series];
  const opts = { width: Math.min(1100, innerWidth - 80), height: 160, title: "jobs ended per " + duration(state.bucket),
    series: [{}, ...statuses.map((s, i) => ({ label: s, stroke: COLORS[i % COLORS.length], width: 1.5 }))] };
  redraw("timeline", opts, data, $("timeline"), statuses.join());
}

// uPlot charts are kept and fed new data; rebuilt when their series change
function redraw(name, opts, data, target, shape) {
  const old = state.charts[name];
  if (old && old.shape === shape) { old.plot.setData(data); return; }
  if (old) old.plot.destroy();
  target.replaceChildren();
  state.charts[name] = { shape, plot: new uPlot(opts, data, target) };
}

// -- running jobs -------------------------------------------------------------------------------
async function refreshRunning() {
  const doc = await api("running");
  $("running-count").textContent = "(" + doc.jobs.length + ")";
  const body = $("running").tBodies[0];
  body.replaceChildren(...doc.jobs.map((j) => {
    const tr = el("tr");
    const bar = el("span", null, "bar"); const fill = el("span"); fill.style.width = ((j.progress || 0) * 100) + "%"; bar.append(fill);
    const progress = el("td"); progress.append(bar, el("span", j.progress === null ? "" : " " + Math.round(j.progress * 100) + "%"));
    tr.append(el("td", j.id), el("td", j.host), el("td", j.worker), el("td", j.attempt), el("td", j.epoch), progress,
      el("td", duration(j.running_s)), el("td", duration(j.heartbeat_age_s), j.heartbeat_age_s > STALE_HEARTBEAT_S ? "stale" : ""));
    return tr;
  }));
}

// -- results table ------------------------------------------------------------------------------
function tableParams() {
  const p = { offset: state.offset, sort: state.sort, desc: state.desc ? "1" : "0" };
  if (state.status) p.status = state.status;
  if (state.where) p.where = state.where;
  return p;
}

async function refreshResults() {
  const doc = await api("jobs", tableParams());
  // rebuilt only when something changed: a refresh leaves the rows (and a click on them) alone
  const signature = JSON.stringify([doc, state.sort, state.desc, [...state.selected]]);
  if (signature === state.resultsSignature) return;
  state.resultsSignature = signature;
  state.total = doc.total;
  const head = $("results").tHead;
  const cols = ["", "id", "status", "priority", "host", ...doc.columns];
  const hr = el("tr");
  cols.forEach((c, i) => {
    const th = el("th", c, i ? "sortable" : "");
    if (i && c === state.sort) th.classList.add(state.desc ? "sorted-desc" : "sorted-asc");
    if (i) th.addEventListener("click", () => { state.desc = state.sort === c ? !state.desc : false; state.sort = c; state.offset = 0; refreshResults().catch(showError); });
    hr.append(th);
  });
  head.replaceChildren(hr);
  $("results").tBodies[0].replaceChildren(...doc.rows.map((r) => {
    const tr = el("tr"); tr.dataset.id = r.id;
    const box = el("input"); box.type = "checkbox"; box.checked = state.selected.has(r.id);
    box.addEventListener("change", () => { box.checked ? state.selected.add(r.id) : state.selected.delete(r.id); state.resultsSignature = null; refreshCurves().catch(showError); });
    const tdBox = el("td"); tdBox.append(box);
    tr.append(tdBox, el("td", r.id, "num"), el("td", r.status), el("td", fmt(r.priority), "num"), el("td", r.host));
    r.values.forEach((v) => tr.append(el("td", fmt(v), typeof v === "number" ? "num" : "")));
    return tr;
  }));
  const last = Math.min(state.offset + doc.rows.length, doc.total);
  $("page-info").textContent = doc.total ? `rows ${state.offset + 1}–${last} of ${doc.total}` : "no job matches";
  $("prev").disabled = state.offset === 0;
  $("next").disabled = last >= doc.total;
  const csv = new URLSearchParams(tableParams()); csv.delete("offset");
  $("csv").href = "api/jobs.csv?" + csv.toString();
}

// -- learning curves ----------------------------------------------------------------------------
async function refreshCurves() {
  const ids = [...state.selected].slice(0, 20);
  if (!ids.length) { $("curves-info").textContent = "tick jobs in the results table"; return; }
  const names = (await api("metric_names", { ids: ids.join(",") })).names;
  const select = $("metric");
  if ([...select.options].map((o) => o.value).join() !== names.join()) {
    const keep = select.value;
    select.replaceChildren(...names.map((n) => { const o = el("option", n); o.value = n; return o; }));
    if (names.includes(keep)) select.value = keep;
  }
  if (!select.value) { $("curves-info").textContent = "no metric reported by jobs " + ids.join(", "); return; }
  const doc = await api("curves", { ids: ids.join(","), name: select.value });
  const jobs = Object.keys(doc.series);
  $("curves-info").textContent = "jobs " + jobs.join(", ");
  const xs = [...new Set(jobs.flatMap((j) => doc.series[j].step))].sort((a, b) => a - b);
  const data = [xs, ...jobs.map((j) => { const m = new Map(doc.series[j].step.map((s, i) => [s, doc.series[j].value[i]])); return xs.map((x) => (m.has(x) ? m.get(x) : null)); })];
  const values = data.slice(1).flat();
  const opts = { width: Math.min(1100, innerWidth - 80), height: 260, scales: { x: { time: false }, y: { distr: spansDecades(values) ? 3 : 1 } },
    axes: [{ label: "step" }, { label: doc.name, size: 60 }],
    series: [{ label: "step" }, ...jobs.map((j, i) => ({ label: "job " + j, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))] };
  redraw("curves", opts, data, $("curves"), doc.name + jobs.join() + opts.scales.y.distr);
}

// -- objective against parameters, parallel coordinates -----------------------------------------
async function refreshParams() {
  const chosen = $("objective").value;
  const doc = await api("params", chosen ? { objective: chosen } : {});
  const select = $("objective");
  if ([...select.options].map((o) => o.value).join() !== doc.numeric.join()) {
    select.replaceChildren(...doc.numeric.map((n) => { const o = el("option", n); o.value = n; return o; }));
  }
  select.value = doc.objective;
  const box = $("scatters");
  if (!doc.objective) { box.replaceChildren(el("p", "no DONE job with a numeric result yet", "muted")); return; }
  const y = doc.columns[doc.objective];
  doc.keys.forEach((k) => {
    const pts = doc.columns[k].map((x, i) => [x, y[i]]).filter((p) => p[0] !== null && p[1] !== null).sort((a, b) => a[0] - b[0]);
    const xs = pts.map((p) => p[0]);
    const log = spansDecades(xs);
    const opts = { width: 340, height: 220, title: k + (log ? " (log)" : ""), legend: { show: false },
      scales: { x: { time: false, distr: log ? 3 : 1 }, y: { distr: spansDecades(pts.map((p) => p[1])) ? 3 : 1 } },
      axes: [log ? { values: logTicks } : {}, {}],
      series: [{}, { stroke: COLORS[0], paths: () => null, points: { show: true, size: 5, fill: COLORS[0] } }] };
    let holder = document.getElementById("scatter-" + k);
    if (!holder) { holder = el("div"); holder.id = "scatter-" + k; box.append(holder); }
    redraw("scatter-" + k, opts, [xs, pts.map((p) => p[1])], holder, doc.objective + log + opts.scales.y.distr);
  });
  drawParallel(doc);
}

function drawParallel(doc) {
  const canvas = $("parallel"); const ctx = canvas.getContext("2d");
  const axes = [...doc.keys, doc.objective];
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (axes.length < 2) return;
  const pad = 70, h = canvas.height - 2 * pad, w = canvas.width - 2 * pad;
  const scale = axes.map((k) => {
    const v = doc.columns[k].filter((x) => x !== null); const log = spansDecades(v);
    const f = (x) => (log ? Math.log10(x) : x);
    const lo = Math.min(...v.map(f)), hi = Math.max(...v.map(f));
    return (x) => (x === null ? null : pad + h - (hi > lo ? (f(x) - lo) / (hi - lo) : 0.5) * h);
  });
  const obj = doc.columns[doc.objective]; const lo = Math.min(...obj.filter((x) => x !== null)), hi = Math.max(...obj.filter((x) => x !== null));
  ctx.lineWidth = 1;
  doc.ids.forEach((_, i) => {
    const t = obj[i] === null || hi === lo ? 0.5 : (obj[i] - lo) / (hi - lo);
    ctx.strokeStyle = `rgba(${Math.round(60 + 180 * t)}, ${Math.round(120 - 40 * t)}, ${Math.round(212 - 150 * t)}, 0.35)`;
    ctx.beginPath();
    axes.forEach((k, a) => { const y = scale[a](doc.columns[k][i]); const x = pad + (w * a) / (axes.length - 1); if (y !== null) (a ? ctx.lineTo(x, y) : ctx.moveTo(x, y)); });
    ctx.stroke();
  });
  ctx.fillStyle = "#1d2430"; ctx.strokeStyle = "#1d2430"; ctx.font = "12px system-ui";
  axes.forEach((k, a) => { const x = pad + (w * a) / (axes.length - 1); ctx.beginPath(); ctx.moveTo(x, pad); ctx.lineTo(x, pad + h); ctx.stroke(); ctx.fillText(k, x - ctx.measureText(k).width / 2, pad - 10); });
}

// -- searches: best so far against trials ----------------------------------------------------------
// Trials are asked for from the oldest unfinished one on (one light query per interval); every
// SLOW_EVERY-th interval reads them all again (a finished trial requeued by hand).
const FINAL = new Set(["DONE", "ERR_START", "ERR_SYNC", "ERR_RUN", "CANCELED"]);

async function refreshSearches(full) {
  const doc = await api("searches", { after: full ? 0 : state.searchAfter });
  if (full) state.searches.clear();
  let last = 0;
  doc.searches.forEach((s) => {
    const known = state.searches.get(s.id) || { trials: new Map() };
    Object.assign(known, { name: s.name, objective: s.objective, direction: s.direction, budget: s.budget });
    s.job.forEach((j, i) => { known.trials.set(j, [s.status[i], s.value[i]]); last = Math.max(last, j); });
    state.searches.set(s.id, known);
  });
  const open = [...state.searches.values()].flatMap((s) => [...s.trials].filter(([, t]) => !FINAL.has(t[0])).map(([j]) => j));
  const known = [...state.searches.values()].flatMap((s) => [...s.trials.keys()]);
  let after = open.length ? Math.min(...open) - 1 : (known.length ? Math.max(...known) : 0);
  if (doc.truncated) after = Math.min(after, last);
  state.searchAfter = after;
  drawSearches();
}

// the best objective after each completed trial (failed, running and waiting trials skipped)
function bestSoFar(search) {
  const sign = search.direction === "maximize" ? -1 : 1;
  const xs = [], best = [], own = [];
  let b = null;
  [...search.trials.keys()].sort((a, c) => a - c).forEach((job, i) => {
    const [status, value] = search.trials.get(job);
    if (status !== "DONE" || value === null) return;
    if (b === null || sign * value < sign * b) b = value;
    xs.push(i + 1); best.push(b); own.push(value);
  });
  return { xs, best, own };
}

function drawSearches() {
  const box = $("searches");
  $("searches-info").textContent = state.searches.size ? "" : "none registered (jobman sqlsearch)";
  [...state.searches.entries()].sort((a, b) => a[0] - b[0]).forEach(([id, s]) => {
    let holder = document.getElementById("search-" + id);
    if (!holder) { holder = el("div", null, "search"); holder.id = "search-" + id; holder.append(el("h3"), el("div")); box.append(holder); }
    const c = bestSoFar(s);
    const counts = { done: 0, failed: 0, running: 0 };
    s.trials.forEach(([status, value]) => { counts[status === "DONE" && value !== null ? "done" : FINAL.has(status) ? "failed" : "running"] += 1; });
    holder.firstChild.textContent = `${s.name} · ${s.direction} ${s.objective} · ${counts.done} done, ${counts.failed} failed, `
      + `${counts.running} running of ${s.budget} · best ${c.best.length ? fmt(c.best[c.best.length - 1]) : "none yet"}`;
    holder.dataset.best = JSON.stringify([c.xs, c.best]);
    const log = spansDecades(c.own);
    const opts = { width: 540, height: 240, legend: { show: true }, scales: { x: { time: false }, y: { distr: log ? 3 : 1 } },
      axes: [{ label: "trial" }, { label: s.objective, size: 60 }],
      series: [{ label: "trial" }, { label: "best so far", stroke: COLORS[0], width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
        { label: "trial value", stroke: COLORS[1], paths: () => null, points: { show: true, size: 4, fill: COLORS[1] } }] };
    redraw("search-" + id, opts, [c.xs, c.best, c.own], holder.lastChild, String(log));
  });
}

// -- errors ---------------------------------------------------------------------------------------
async function refreshErrors() {
  const doc = await api("errors");
  $("errors-count").textContent = "(" + doc.jobs.length + " latest)";
  $("errors").replaceChildren(...doc.jobs.map((j) => {
    const d = el("details"); d.dataset.id = j.id;
    const lastLine = (j.error || "").trim().split("\n").pop();
    d.append(el("summary", `job ${j.id} · ${j.status} · ${j.host || ""} · ${lastLine}`), el("pre", j.error || "(no traceback)"));
    if (j.stderr_tail) d.append(el("h3", "stderr (end)"), el("pre", j.stderr_tail));
    return d;
  }));
}

// -- actions ---------------------------------------------------------------------------------------
async function act(action, extra) {
  const ids = [...state.selected];
  if (!ids.length) { $("action-msg").textContent = "tick the jobs first"; return; }
  const r = await fetch("api/action", { method: "POST", headers: { "Content-Type": "application/json", "X-Jobman-Token": token },
    body: JSON.stringify({ action, ids, ...extra }) });
  const doc = await r.json();
  $("action-msg").textContent = r.ok ? `${action}: ${doc.changed} job(s) changed` : doc.error;
  await refreshAll(false);
}

function showError(e) { $("updated").textContent = "error: " + e.message; }

async function refreshAll(slow) {
  const tasks = [refreshOverview(), refreshRunning(), refreshResults(), refreshCurves(), refreshSearches(slow)];
  if (slow) tasks.push(refreshParams(), refreshErrors());
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) showError(failed.reason); else $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  document.body.dataset.refreshed = String(++state.tick);
}

async function start() {
  state.config = await api("config");
  $("table-name").textContent = state.config.table;
  $("db-name").textContent = state.config.db;
  const ro = state.config.read_only || !token;
  $("mode").textContent = state.config.read_only ? "read-only" : token ? "actions enabled" : "no token: read-only";
  if (ro) { $("mode").classList.add("ro"); $("actions").hidden = true; }
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); state.status = $("f-status").value.trim(); state.where = $("f-where").value.trim(); state.offset = 0; refreshResults().catch(showError); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.config.page_rows); refreshResults().catch(showError); });
  $("next").addEventListener("click", () => { state.offset += state.config.page_rows; refreshResults().catch(showError); });
  $("metric").addEventListener("change", () => refreshCurves().catch(showError));
  $("objective").addEventListener("change", () => refreshParams().catch(showError));
  $("act-cancel").addEventListener("click", () => act("cancel").catch(showError));
  $("act-requeue").addEventListener("click", () => act("requeue").catch(showError));
  $("act-priority").addEventListener("click", () => act("priority", { priority: Number($("act-priority-value").value) }).catch(showError));
  await refreshAll(true);
  let n = 0;
  setInterval(() => { n += 1; refreshAll(n % SLOW_EVERY === 0); }, REFRESH_MS);
}

start().catch(showError);
