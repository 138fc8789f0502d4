// Runs in numbers: metric charts (one run or several overlaid), an experiment's runs as a
// sortable, filterable table to pick runs from, and the side-by-side comparison of runs.

import * as L from "./logic.js";
import { $, el, svg, gql, failed, link, none, state } from "./core.js";

/** Colours told apart by most readers, one per compared run. */
export const PALETTE = ["#1f6feb", "#f79009", "#16b364", "#dd2590", "#6172f3", "#0e9384", "#b42318", "#7a5af8"];

/** A line chart of one metric: `series` is `[{ label, color, points: [{step, value}] }]`,
 *  all on the same axes (a comparison overlays runs). */
export function metricChart(name, series, { width = 330, height = 90 } = {}) {
  const pad = 22, all = series.flatMap((s) => s.points);
  const steps = all.map((p) => p.step), values = all.map((p) => p.value);
  const [s0, s1, v0, v1] = [Math.min(...steps), Math.max(...steps), Math.min(...values), Math.max(...values)];
  const x = (s) => pad + (s1 === s0 ? (width - 2 * pad) / 2 : (s - s0) / (s1 - s0) * (width - 2 * pad));
  const y = (v) => height - pad + (v1 === v0 ? -(height - 2 * pad) / 2 : -(v - v0) / (v1 - v0) * (height - 2 * pad));
  const chart = svg("svg", { class: "chart", width, height, "data-metric": name, "data-series": series.length });
  chart.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#d5dbe3" }));
  for (const s of series) {
    const points = [...s.points].sort((a, b) => a.step - b.step);
    const line = svg("polyline", { points: points.map((p) => `${x(p.step)},${y(p.value)}`).join(" "), stroke: s.color, "data-run": s.label });
    line.append(svg("title", {}, s.label));
    chart.append(line);
    for (const p of points) chart.append(svg("circle", { cx: x(p.step), cy: y(p.value), r: 2.2, fill: s.color }));
  }
  chart.append(svg("text", { x: pad, y: 11 }, `${name}: ${v0.toPrecision(4)} … ${v1.toPrecision(4)}`));
  chart.append(svg("text", { x: pad, y: height - 6 }, `step ${s0}`));
  chart.append(svg("text", { x: width - pad, y: height - 6, "text-anchor": "end" }, `step ${s1}`));
  return chart;
}

/** Metric points grouped by name: `{ name → [points] }` in the order first logged. */
export function byMetric(points) {
  const grouped = new Map();
  for (const point of points) { if (!grouped.has(point.name)) grouped.set(point.name, []); grouped.get(point.name).push(point); }
  return grouped;
}

const seconds = (r) => r.startedAt && r.finishedAt ? Math.round((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000) : null;

/** An experiment's runs: a column per param and latest metric, sorted by the column
 *  clicked (again: the other way), filtered by the text typed; ticked runs are compared. */
export function runsTable(runs) {
  const params = [...new Set(runs.flatMap((r) => r.params.map((p) => p.key)))].sort();
  const metrics = [...new Set(runs.flatMap((r) => r.metrics.map((m) => m.name)))].sort();
  const columns = [
    { title: "run", value: (r) => L.labelOf(r.id), show: (v, r) => link(r.id, v) },
    { title: "status", value: (r) => r.status.toLowerCase() },
    { title: "started", value: (r) => r.startedAt || "", show: (v) => L.formatTime(v) },
    { title: "duration s", value: seconds, numeric: true },
    ...params.map((key) => ({ title: key, value: (r) => (r.params.find((p) => p.key === key) || {}).value ?? "" })),
    ...metrics.map((name) => ({ title: name, value: (r) => (r.metrics.find((m) => m.name === name) || {}).value ?? null, numeric: true,
      show: (v) => v === null ? "" : Number(v).toPrecision(4) })),
  ];
  const box = el("div", { class: "runs", "data-runs": String(runs.length) });
  const filter = el("input", { type: "search", placeholder: "Filter runs…", "aria-label": "filter runs" });
  const compare = el("button", { type: "button", class: "primary", disabled: true, "data-compare": "" }, "Compare");
  const holder = el("div", { class: "scroll-x" });
  const picked = new Set();
  let sortBy = 0, descending = false;
  const label = () => { compare.disabled = picked.size < 2; compare.textContent = picked.size < 2 ? "Tick two or more runs to compare" : `Compare ${picked.size} runs`; };
  compare.addEventListener("click", () => { location.hash = `#/compare?runs=${[...picked].map(L.labelOf).join(",")}`; });
  const draw = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = runs.filter((r) => !needle || columns.some((c) => String(c.value(r) ?? "").toLowerCase().includes(needle)));
    const column = columns[sortBy];
    shown.sort((a, b) => {
      const x = column.value(a), y = column.value(b);
      if (x === y) return 0;
      if (x === null || x === "") return 1;
      if (y === null || y === "") return -1;
      const order = column.numeric ? x - y : String(x).localeCompare(String(y));
      return descending ? -order : order;
    });
    const head = el("tr", {}, el("th", {}, ""), ...columns.map((c, i) => {
      const th = el("th", { class: c.numeric ? "num sortable" : "sortable", "data-column": c.title }, c.title + (i === sortBy ? (descending ? " ▼" : " ▲") : ""));
      th.addEventListener("click", () => { descending = i === sortBy ? !descending : false; sortBy = i; draw(); });
      return th;
    }));
    const body = shown.map((r) => {
      const tick = el("input", { type: "checkbox", checked: picked.has(r.id), "aria-label": `compare ${r.id}` });
      tick.addEventListener("change", () => { if (tick.checked) picked.add(r.id); else picked.delete(r.id); label(); });
      return el("tr", { "data-run": r.id }, el("td", {}, tick), ...columns.map((c) => {
        const value = c.value(r);
        return el("td", { class: c.numeric ? "num" : "" }, c.show ? c.show(value, r) : String(value ?? ""));
      }));
    });
    holder.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
  };
  filter.addEventListener("input", draw);
  draw(); label();
  box.append(el("div", { class: "bar" }, filter, compare), holder);
  return box;
}

const RUN_FIELDS = "id status experimentId startedAt finishedAt params { key value } metrics { name value } metricHistory { name value step }";

/** Runs side by side (`#/compare?runs=…`): their params in rows with the differences
 *  marked, latest metrics likewise, and each metric's history overlaid in one chart. */
export async function showCompare(ids) {
  const box = $("compare");
  box.dataset.runs = ids.join(",");
  box.replaceChildren(el("h2", {}, `Comparing ${ids.length} runs`), none("Loading…"));
  let runs;
  try {
    const data = await gql(`{ ${ids.map((id, i) => `r${i}: run(id: ${JSON.stringify(id)}) { ${RUN_FIELDS} }`).join(" ")} }`);
    runs = ids.map((id, i) => data[`r${i}`] || { id, missing: true });
  } catch (error) {
    if (failed(error)) return;
    box.replaceChildren(el("h2", {}, "Comparing runs"), el("p", { class: "error" }, error.message));
    return;
  }
  if (box.dataset.runs !== ids.join(",")) return;
  const missing = runs.filter((r) => r.missing), found = runs.filter((r) => !r.missing);
  const colour = new Map(found.map((r, i) => [r.id, PALETTE[i % PALETTE.length]]));
  const parts = [el("h2", {}, `Comparing ${found.length} runs`)];
  const experiments = [...new Set(found.map((r) => r.experimentId))];
  if (experiments.length) parts.push(el("p", { class: "muted" }, experiments.length === 1 ? "Runs of " : "Runs of the experiments ",
    ...experiments.map((e) => link(e, L.labelOf(e)))));
  if (missing.length) parts.push(el("p", { class: "error", "data-missing": missing.map((r) => r.id).join(",") }, `Not found, or not visible to you: ${missing.map((r) => r.id).join(", ")}.`));
  if (found.length === 0) { box.replaceChildren(...parts); return; }
  const only = el("input", { type: "checkbox", id: "only-differences" });
  parts.push(el("label", { class: "inline", for: "only-differences" }, only, " Only rows that differ"));
  const head = el("tr", {}, el("th", {}, ""), ...found.map((r) => el("th", {}, el("span", { class: "swatch", style: `background:${colour.get(r.id)}` }), link(r.id, L.labelOf(r.id)))));
  const row = (title, values, differs, attributes = {}) => el("tr", { class: differs ? "differs" : "same", ...attributes },
    el("th", {}, title, differs ? el("span", { class: "marker", title: "the runs differ here" }, " ≠") : ""), ...values.map((v) => el("td", {}, v ?? "—")));
  const section = (title) => el("tr", { class: "section" }, el("th", { colSpan: found.length + 1 }, title));
  const differ = (values) => new Set(values.map((v) => v ?? "\u0000")).size > 1;
  const rows = [section("Run")];
  for (const [title, value] of [["status", (r) => r.status.toLowerCase()], ["experiment", (r) => r.experimentId], ["started", (r) => L.formatTime(r.startedAt)], ["duration s", seconds]]) {
    const values = found.map(value);
    rows.push(row(title, values.map((v) => v === null ? null : String(v)), differ(values)));
  }
  rows.push(section("Params"));
  for (const p of L.compareParams(found)) rows.push(row(p.key, p.values, p.differs, { "data-param": p.key }));
  const metricNames = [...new Set(found.flatMap((r) => r.metrics.map((m) => m.name)))].sort();
  rows.push(section("Latest metrics"));
  for (const name of metricNames) {
    const values = found.map((r) => { const m = r.metrics.find((q) => q.name === name); return m ? String(Number(Number(m.value).toPrecision(6))) : null; });
    rows.push(row(name, values, differ(values), { "data-metric": name }));
  }
  const grid = el("table", { class: "compare" }, el("thead", {}, head), el("tbody", {}, ...rows));
  only.addEventListener("change", () => grid.classList.toggle("only-differences", only.checked));
  parts.push(el("div", { class: "scroll-x" }, grid), el("h3", {}, "Metrics"));
  if (!metricNames.length) parts.push(none("None of these runs logged metrics."));
  const charts = el("div", { class: "charts" });
  for (const name of metricNames) {
    const series = found.map((r) => ({ label: r.id, color: colour.get(r.id), points: r.metricHistory.filter((p) => p.name === name) })).filter((s) => s.points.length);
    charts.append(metricChart(name, series, { width: 460, height: 180 }));
  }
  parts.push(charts);
  box.replaceChildren(...parts);
}

/** Leaves the comparison (the graph's view comes back). */
export function hideCompare() { state.compare = null; $("compare").replaceChildren(); }
