// The explorer's own logic, free of the page: turning API answers into graphs, laying them
// out (with dagre, vendored), comparing runs, formatting. The browser tests call these
// directly through `window.LineageExplorer`.

export const KINDS = {
  service:          { label: "Service",          color: "#1f6feb", shape: "hexagon", rank: 0 },
  environment:      { label: "Environment",      color: "#7a5af8", shape: "pill",    rank: 1 },
  image:            { label: "Image version",    color: "#0e9384", shape: "rect",    rank: 1 },
  manifest:         { label: "Manifest version", color: "#2e90fa", shape: "rect",    rank: 2 },
  model:            { label: "Model version",    color: "#f79009", shape: "diamond", rank: 3 },
  run:              { label: "Run",              color: "#16b364", shape: "round",   rank: 4 },
  dataset:          { label: "Dataset",          color: "#dd2590", shape: "cylinder", rank: 5 },
  experiment:       { label: "Experiment",       color: "#6172f3", shape: "rect",    rank: 5 },
  revision:         { label: "Code revision",    color: "#475467", shape: "pill",    rank: 5 },
  "compute-target": { label: "Compute target",   color: "#667085", shape: "pill",    rank: 5 },
};
const OTHER = { label: "Other", color: "#98a2b3", shape: "rect", rank: 6 };
const NODE_W = 168, NODE_H = 40, LABEL_H = 14, LABEL_FONT = "11px system-ui, sans-serif";

export const kindOf = (id) => id.includes("/") ? id.slice(0, id.indexOf("/")) : "other";
export const styleOf = (kind) => KINDS[kind] || OTHER;
/** The entity behind a node: `model/m-churn@2` → `model/m-churn`. */
export const entityOf = (id) => id.replace(/@\d+$/, "");
/** A node's label: its id without the kind, a revision shortened to 12 characters. */
export function labelOf(id) {
  const rest = id.slice(id.indexOf("/") + 1);
  return kindOf(id) === "revision" && rest.length > 12 ? rest.slice(0, 12) : rest;
}

function graph() {
  const nodes = new Map(), edges = [];
  return {
    nodes, edges,
    node(id, extra) { if (id && !nodes.has(id)) nodes.set(id, { id, kind: kindOf(id), ...extra }); return id; },
    edge(from, to, kind) {
      if (from && to && !edges.some((e) => e.from === from && e.to === to && e.kind === kind)) edges.push({ from, to, kind });
    },
  };
}

/** The nodes and edges of a `trace` answer: service → environment and image version →
 *  manifest version → model versions (→ what they were retrained from) → runs →
 *  experiment, code revision, compute target, datasets, parent run. */
export function traceGraph(trace) {
  const g = graph();
  const service = g.node(trace.service);
  if (trace.environment) g.edge(service, g.node(trace.environment), "RUNS_IN");
  const image = trace.image;
  if (!image) return g;
  g.edge(service, g.node(image.imageVersion), "RUNS");
  const manifest = image.manifest;
  if (!manifest) return g;
  g.edge(image.imageVersion, g.node(manifest.manifestVersion), "BUILT_FROM");
  const model = (link, from, kind) => {
    g.edge(from, g.node(link.modelVersion), kind);
    const run = link.run;
    if (run) {
      g.edge(link.modelVersion, g.node(run.run), "PRODUCED_BY");
      if (run.experiment) g.edge(run.run, g.node(run.experiment), "EXECUTED");
      if (run.revision) g.edge(run.run, g.node("revision/" + run.revision), "AT_REVISION");
      if (run.computeTarget) g.edge(run.run, g.node(run.computeTarget), "RAN_ON");
      for (const dataset of run.datasets || []) g.edge(run.run, g.node(dataset), "READ");
      if (run.parent) g.edge(run.run, g.node(run.parent), "CHILD_OF");
    }
    if (link.derivedFrom) model(link.derivedFrom, link.modelVersion, "RETRAINED_FROM");
  };
  for (const link of manifest.models || []) model(link, manifest.manifestVersion, "INCLUDES");
  return g;
}

/** The nodes and edges of `lineage` walks (upstream, downstream or both) around `centre`. */
export function walkGraph(centre, upstream, downstream) {
  const g = graph();
  g.node(centre);
  for (const walk of [upstream, downstream]) {
    if (!walk) continue;
    for (const node of walk.nodes) g.node(node.id);
    for (const edge of walk.edges) { g.node(edge.from); g.node(edge.to); g.edge(edge.from, edge.to, edge.kind); }
  }
  return g;
}

/** An edge's relation read the way data flows (producer → consumer): a run `produced`
 *  a model version, a dataset was `read by` a run. */
const FLOW = {
  RUNS: "runs in", RUNS_IN: "hosts", BUILT_FROM: "built into", INCLUDES: "included in",
  PRODUCED_BY: "produced", GENERATED_BY: "produced", EXECUTED: "ran as", AT_REVISION: "checked out for",
  RAN_ON: "ran", READ: "read by", USED: "read by", CHILD_OF: "parent of", RETRAINED_FROM: "retrained into",
  DERIVED_FROM: "retrained into", DEPLOYED_TO: "hosts", VERSION_OF: "has version",
};
export function flowLabel(kind) { return FLOW[kind] || kind.toLowerCase().replace(/_/g, " "); }

let measuring = null;
/** How wide a label is drawn, measured with the page's font (estimated outside a page). */
export function textWidth(text) {
  if (typeof document === "undefined") return text.length * 6.5;
  if (!measuring) { measuring = document.createElement("canvas").getContext("2d"); measuring.font = LABEL_FONT; }
  return Math.ceil(measuring.measureText(text).width);
}

/** Positions for every node and edge, by dagre: ranks from left to right in the direction
 *  data flows (an edge names consumer → producer, so it is laid out producer → consumer),
 *  nodes within a rank ordered to cross as few edges as it finds, and each edge's label
 *  given room of its own so no two labels overlap. Positions are top-left corners. */
export function layout(g) {
  const d = new dagre.graphlib.Graph({ multigraph: true });
  d.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 36, edgesep: 12, marginx: 20, marginy: 20 });
  for (const node of g.nodes.values()) d.setNode(node.id, { width: NODE_W, height: NODE_H });
  g.edges.forEach((edge, index) => {
    const label = flowLabel(edge.kind);
    d.setEdge(edge.to, edge.from, { label, width: textWidth(label) + 8, height: LABEL_H, labelpos: "c" }, String(index));
  });
  dagre.layout(d);
  const positions = {};
  for (const id of d.nodes()) {
    const n = d.node(id);
    positions[id] = { x: n.x - NODE_W / 2, y: n.y - NODE_H / 2, rank: n.rank };
  }
  const edges = g.edges.map((edge, index) => {
    const e = d.edge(edge.to, edge.from, String(index));
    return { ...edge, label: e.label, points: e.points, labelAt: { x: e.x, y: e.y, width: e.width, height: e.height } };
  });
  const box = d.graph();
  return { positions, edges, width: Math.ceil(box.width), height: Math.ceil(box.height), nodeWidth: NODE_W, nodeHeight: NODE_H };
}

/** An SVG path through `points` as a B-spline (each segment a cubic Bézier): smooth
 *  bends that still start and end where dagre says. */
export function curve(points) {
  let x0, y0, x1, y1, state = 0, d = "";
  const bend = (x, y) => {
    d += ` C${(2 * x0 + x1) / 3},${(2 * y0 + y1) / 3} ${(x0 + 2 * x1) / 3},${(y0 + 2 * y1) / 3} ${(x0 + 4 * x1 + x) / 6},${(y0 + 4 * y1 + y) / 6}`;
  };
  for (const { x, y } of points) {
    if (state === 0) { state = 1; d = `M${x},${y}`; }
    else if (state === 1) state = 2;
    else { if (state === 2) { state = 3; d += ` L${(5 * x0 + x1) / 6},${(5 * y0 + y1) / 6}`; } bend(x, y); }
    [x0, y0, x1, y1] = [x1, y1, x, y];
  }
  if (state === 3) bend(x1, y1);
  if (state >= 2) d += ` L${x1},${y1}`;
  return d;
}

/** Boxes (`{left, top, right, bottom}`) that overlap by more than `slack` pixels each way:
 *  the pairs, as indexes. */
export function overlapping(boxes, slack = 0.5) {
  const pairs = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > slack && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > slack) pairs.push([i, j]);
    }
  }
  return pairs;
}

/** Runs side by side: one row per param (every key any of them has), each cell a run's
 *  value, `differs` when not all runs hold the same value (a missing one counts). */
export function compareParams(runs) {
  const keys = [...new Set(runs.flatMap((r) => r.params.map((p) => p.key)))].sort();
  return keys.map((key) => {
    const values = runs.map((r) => { const p = r.params.find((q) => q.key === key); return p ? p.value : null; });
    return { key, values, differs: new Set(values.map((v) => v === null ? "\u0000missing" : v)).size > 1 };
  });
}

/** Minor units as money: 123456, "USD" → "$1,234.56". */
export function formatMoney(cents, currency) {
  const sign = cents < 0 ? "-" : "";
  const whole = Math.floor(Math.abs(cents) / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const symbol = currency === "USD" ? "$" : (currency ? currency + " " : "");
  return `${sign}${symbol}${whole}.${String(Math.abs(cents) % 100).padStart(2, "0")}`;
}

/** An RFC 3339 time as `2026-03-07 03:35 UTC` (the store keeps UTC). */
export function formatTime(text) {
  if (!text) return "";
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) return text;
  return at.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** A byte count for people: 1536 → "1.5 KiB". */
export function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Days of a month as ranges: [1,2,3,7] → "1–3, 7". */
export function dayRanges(days) {
  const sorted = [...days].sort((a, b) => a - b), parts = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}–${sorted[j]}`);
    i = j;
  }
  return parts.join(", ");
}

/** What a node is, in words: `Model version` for `model/m@2`, `Model` for `model/m`. */
export function kindLabel(id) {
  const label = styleOf(kindOf(id)).label;
  return id.includes("@") ? label : label.replace(/ version$/, "");
}

/** The walk a view of `kind` starts with when its link does not say: a service's trace,
 *  what depends on a dataset, both ways for the rest. */
export function defaultDirection(kind) {
  return kind === "service" ? "TRACE" : kind === "dataset" ? "DOWNSTREAM" : "BOTH";
}

/** A view's address, parsed: `#/run/r-1?direction=UPSTREAM&depth=4&asof=42&panel=wide`
 *  (an entity) or `#/compare?runs=run/a,run/b` (runs side by side); null for others. */
export function parseRoute(hash) {
  if (!hash.startsWith("#/")) return null;
  const [path, query] = hash.slice(2).split("?");
  const params = new URLSearchParams(query || "");
  if (path === "compare") {
    const runs = (params.get("runs") || "").split(",").filter(Boolean).map((id) => id.includes("/") ? id : `run/${id}`);
    return { compare: runs };
  }
  const centre = decodeURIComponent(path);
  if (!centre.includes("/")) return null;
  const asof = params.get("asof");
  return { centre, direction: params.get("direction"), depth: params.get("depth"), panel: params.get("panel"),
           asof: asof === null || !/^\d+$/.test(asof) ? null : Number(asof) };
}

window.LineageExplorer = {
  KINDS, kindOf, styleOf, kindLabel, entityOf, labelOf, traceGraph, walkGraph, layout, curve, overlapping, textWidth,
  compareParams, flowLabel, formatMoney, formatTime, formatBytes, dayRanges, defaultDirection, parseRoute,
};
