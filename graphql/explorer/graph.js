// Drawing a lineage graph: nodes shaped by kind, edges along dagre's routes with their
// labels, a legend, and pan and zoom (drag, wheel, keys, buttons).

import * as L from "./logic.js";
import { el, svg } from "./core.js";

export function shape(kind, w, h, color) {
  const style = L.styleOf(kind);
  const common = { fill: color + "22", stroke: color, "stroke-width": 1.6 };
  const make = (tag, attributes) => svg(tag, { ...attributes, ...common });
  switch (style.shape) {
    case "hexagon": return make("polygon", { points: `10,0 ${w - 10},0 ${w},${h / 2} ${w - 10},${h} 10,${h} 0,${h / 2}` });
    case "diamond": return make("polygon", { points: `0,${h / 2} 14,0 ${w - 14},0 ${w},${h / 2} ${w - 14},${h} 14,${h}` });
    case "pill": return make("rect", { width: w, height: h, rx: h / 2 });
    case "round": return make("rect", { width: w, height: h, rx: 10 });
    case "cylinder": return make("path", { d: `M0,6 a${w / 2},6 0 0,1 ${w},0 v${h - 12} a${w / 2},6 0 0,1 -${w},0 z M0,6 a${w / 2},6 0 0,0 ${w},0` });
    default: return make("rect", { width: w, height: h, rx: 3 });
  }
}

const MIN_ZOOM = 0.05, MAX_ZOOM = 3;

/** Pan and zoom of one `<svg>`: its first `<g>` is moved and scaled; the zoom stays 1 (labels
 *  at their size) until the reader changes it. */
export class Viewport {
  constructor(root) {
    this.root = root; this.k = 1; this.x = 0; this.y = 0; this.box = { width: 0, height: 0 };
    let drag = null;
    root.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || event.target.closest(".node")) return;
      drag = { x: event.clientX - this.x, y: event.clientY - this.y };
      // A pointer that is not active (a synthetic one) cannot be captured; the drag
      // still follows it while it stays over the graph.
      try { root.setPointerCapture(event.pointerId); } catch { /* see above */ }
      root.classList.add("dragging");
    });
    root.addEventListener("pointermove", (event) => { if (drag) this.set(this.k, event.clientX - drag.x, event.clientY - drag.y); });
    const stop = () => { drag = null; root.classList.remove("dragging"); };
    root.addEventListener("pointerup", stop); root.addEventListener("pointercancel", stop);
    root.addEventListener("wheel", (event) => {
      event.preventDefault();
      const at = root.getBoundingClientRect();
      this.zoomAt(this.k * Math.exp(-event.deltaY * 0.0015), event.clientX - at.left, event.clientY - at.top);
    }, { passive: false });
  }

  get layer() { return this.root.querySelector("g.viewport"); }

  set(k, x, y) {
    this.k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, k)); this.x = x; this.y = y;
    const layer = this.layer;
    if (layer) layer.setAttribute("transform", `translate(${this.x},${this.y}) scale(${this.k})`);
    this.root.dataset.zoom = this.k.toFixed(3);
  }

  /** Zooms to `k` keeping the point under (`px`, `py`) where it is. */
  zoomAt(k, px, py) {
    const next = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, k));
    this.set(next, px - (px - this.x) * next / this.k, py - (py - this.y) * next / this.k);
  }

  zoomBy(factor) { const r = this.root.getBoundingClientRect(); this.zoomAt(this.k * factor, r.width / 2, r.height / 2); }

  /** The whole graph in view (never larger than its size). */
  fit() {
    const r = this.root.getBoundingClientRect();
    const k = Math.min(1, (r.width - 16) / this.box.width, (r.height - 16) / this.box.height);
    this.set(k, (r.width - this.box.width * k) / 2, Math.max(8, (r.height - this.box.height * k) / 2));
  }

  /** Zoom 1 with `point` (a node's centre) in view: a graph that fits is centred, a larger
   *  one is placed so the point is in the middle. */
  show(point) {
    const r = this.root.getBoundingClientRect();
    // A larger graph is kept against the window's edges as far as the point allows, so
    // no more of the window is left empty than must be.
    const place = (size, room, at, top) => size <= room - top ? Math.max(top, (room - size) / 2)
      : Math.min(top, Math.max(room - size, room / 2 - at));
    const x = place(this.box.width, r.width, point.x, 0), y = place(this.box.height, r.height, point.y, 36);
    this.set(1, x, y);
  }
}

/** Draws `g` into `root` (an `<svg>` with a `Viewport`); `centre` and `selected` are marked,
 *  a click calls `onSelect(id)`, a double-click or Enter `onOpen(id)`. Returns the layout. */
export function render(g, root, viewport, { centre, selected, onSelect, onOpen }) {
  const box = L.layout(g);
  viewport.box = box;
  root.replaceChildren();
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa4b2" }));
  defs.append(marker);
  const layer = svg("g", { class: "viewport" });
  root.append(defs, layer);
  const w = box.nodeWidth, h = box.nodeHeight;
  // An edge names consumer → producer (a model PRODUCED_BY its run); it is drawn the way
  // data flows, from the producer to the consumer, labelled so.
  for (const edge of box.edges) {
    const path = svg("path", { class: "edge", d: L.curve(edge.points), "marker-end": "url(#arrow)", "data-edge": `${edge.from} ${edge.kind} ${edge.to}` });
    path.append(svg("title", {}, `${edge.from} ${edge.kind.toLowerCase().replace(/_/g, " ")} ${edge.to}`));
    layer.append(path);
  }
  for (const edge of box.edges) {
    layer.append(svg("text", { class: "edge-label", x: edge.labelAt.x, y: edge.labelAt.y + 4, "text-anchor": "middle" }, edge.label));
  }
  for (const node of g.nodes.values()) {
    const at = box.positions[node.id], style = L.styleOf(node.kind);
    const group = svg("g", { class: "node", transform: `translate(${at.x},${at.y})`, "data-node": node.id, "data-kind": node.kind, tabindex: 0 });
    if (node.id === centre) group.classList.add("centre");
    if (node.id === selected) group.classList.add("selected");
    group.append(shape(node.kind, w, h, style.color));
    group.append(svg("text", { x: 14, y: 16, fill: style.color, "font-weight": 600 }, L.kindLabel(node.id)));
    const label = node.name || L.labelOf(node.id);
    group.append(svg("text", { x: 14, y: 31 }, label.length > 24 ? label.slice(0, 23) + "…" : label));
    group.append(svg("title", {}, node.id));
    group.addEventListener("click", () => onSelect(node.id));
    group.addEventListener("dblclick", () => onOpen(node.id));
    group.addEventListener("keydown", (event) => { if (event.key === "Enter") onOpen(node.id); else if (event.key === " ") onSelect(node.id); });
    layer.append(group);
  }
  const focus = box.positions[centre];
  viewport.show(focus ? { x: focus.x + w / 2, y: focus.y + h / 2 } : { x: box.width / 2, y: box.height / 2 });
  return box;
}

/** One entry per kind drawn, versions apart from their entities (`Model version`, `Model`). */
export function legend(g) {
  const entries = new Map();
  for (const n of g.nodes.values()) entries.set(L.kindLabel(n.id), n.kind);
  return [...entries].sort(([, a], [, b]) => L.styleOf(a).rank - L.styleOf(b).rank).map(([label, kind]) => {
    const style = L.styleOf(kind), swatch = svg("svg", { width: 26, height: 14 });
    swatch.append(shape(kind, 26, 14, style.color));
    return el("span", { "data-legend": kind }, swatch, label);
  });
}
