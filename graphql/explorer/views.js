// An entity's view beside its graph: a run (params, metrics, tags, inputs and outputs,
// artifacts with digests), an experiment (its runs), a model (its versions and where they
// serve), a dataset (who read and wrote it), a service (what it serves), each with its
// audit trail — now, or as it was at an earlier event.

import * as L from "./logic.js";
import { $, el, gql, failed, table, link, none, state } from "./core.js";
import { metricChart, byMetric, runsTable } from "./runs.js";

/** The name the search knows an entity by (a version: its model's name and number). */
export function nameOf(id) {
  const found = state.findable.find((f) => f.id === L.entityOf(id));
  if (!found) return L.labelOf(id);
  return found.name + (id.includes("@") ? ` v${id.slice(id.lastIndexOf("@") + 1)}` : "");
}

const byNumber = new Intl.Collator(undefined, { numeric: true });
const links = (ids) => ids.length
  ? el("span", { class: "links" }, ...[...ids].sort(byNumber.compare).map((id) => link(id, nameOf(id))))
  : el("span", { class: "muted" }, "—");
const kv = (pairs) => pairs.length ? table(["key", "value"], pairs.map((p) => [p.key, p.value])) : null;
const section = (title, content, empty) => [el("h3", {}, title), content || none(empty)];

function heading(id, name) {
  return [el("h2", {}, name || L.labelOf(id)), el("p", { class: "muted" }, `${L.kindLabel(id)} · `, el("code", {}, id))];
}

async function runView(id) {
  const { run, around } = await gql(`query($id: ID!) { run(id: $id) { status experimentId revision computeTarget parent startedAt finishedAt failureReason
      params { key value } tags { key value } metricHistory { name value step } artifacts { path size digest }
      loggedModels { id name modelType status } inputs outputs }
    around: lineage(id: $id, direction: DOWNSTREAM, depth: 1) { nodes { id depth } } }`, { id });
  if (!run) return [none("Not found, or not visible to you.")];
  const produced = around.nodes.filter((n) => n.depth === 1 && L.kindOf(n.id) === "model").map((n) => n.id);
  const children = around.nodes.filter((n) => n.depth === 1 && L.kindOf(n.id) === "run").map((n) => n.id);
  const parts = [table(["", ""], [["status", run.status.toLowerCase()], ["experiment", link(run.experimentId, nameOf(run.experimentId))],
    ["revision", run.revision || "—"], ["compute target", link(run.computeTarget)], ["parent", run.parent ? link(run.parent) : "—"],
    ["started", L.formatTime(run.startedAt)], ["finished", L.formatTime(run.finishedAt)],
    ...(run.failureReason ? [["failure", run.failureReason]] : [])])];
  parts.push(el("h3", {}, "Inputs and outputs"), table(["", ""], [["read", links(run.inputs)], ["wrote", links(run.outputs)],
    ["produced", links(produced)], ["child runs", links(children)]]));
  parts.push(...section("Params", kv(run.params), "No params."));
  parts.push(el("h3", {}, "Metrics"));
  const metrics = byMetric(run.metricHistory);
  if (!metrics.size) parts.push(none("No metrics."));
  for (const [name, points] of metrics) parts.push(metricChart(name, [{ label: id, color: "#1f6feb", points }]));
  parts.push(...section("Tags", kv(run.tags), "No tags."));
  parts.push(...section("Artifacts", run.artifacts.length ? table(["path", "size", "digest"], run.artifacts.map((a) => ({
    cells: [a.path, L.formatBytes(a.size), el("code", { title: a.digest }, a.digest.slice(0, 19) + "…")], attributes: { "data-artifact": a.path } })), [1]) : null, "No artifacts."));
  if (run.loggedModels.length) parts.push(...section("Logged models", table(["id", "name", "type", "status"], run.loggedModels.map((m) => [m.id, m.name, m.modelType, (m.status || "pending").toLowerCase()]))));
  return parts;
}

async function experimentView(id) {
  const { experiment } = await gql(`query($id: ID!) { experiment(id: $id) { name entryPoint tags { key value } runs { id status startedAt finishedAt
    params { key value } metrics { name value } } } }`, { id });
  if (!experiment) return [none("Not found, or not visible to you.")];
  return [table(["", ""], [["name", experiment.name], ["entry point", experiment.entryPoint || ""]]),
    ...(experiment.tags.length ? section("Tags", kv(experiment.tags)) : []),
    el("h3", {}, `Runs (${experiment.runs.length})`), runsTable(experiment.runs)];
}

async function modelView(id) {
  const { model } = await gql(`query($id: ID!) { model(id: $id) { name tags { key value } versions { id version runId uploadedFrom derivedFrom aliases registeredAt tags { key value } } } }`, { id: L.entityOf(id) });
  if (!model) return [none("Not found, or not visible to you.")];
  let serving = {};
  if (model.versions.length) {
    const data = await gql(`{ ${model.versions.map((v, i) => `v${i}: impact(id: ${JSON.stringify(v.id)}) { services }`).join(" ")} }`);
    serving = Object.fromEntries(model.versions.map((v, i) => [v.id, data[`v${i}`].services]));
  }
  return [el("h3", {}, `Versions of ${model.name}`), el("div", { class: "scroll-x" }, table(["version", "from", "aliases", "tags", "serves in", "registered"], model.versions.map((v) => ({
      current: v.id === id, attributes: { "data-version": v.id },
      cells: [link(v.id, `v${v.version}`), v.runId ? link(v.runId) : (v.uploadedFrom || ""), v.aliases.join(", "),
        v.tags.map((t) => `${t.key}=${t.value}`).join(", "), links(serving[v.id] || []), L.formatTime(v.registeredAt)] })))),
    ...section("Tags", kv(model.tags), "No tags on the model itself.")];
}

async function datasetView(id) {
  const { node, readers, writers } = await gql(`query($id: ID!) { node(id: $id) { name createdAt createdBy deleted detail }
    readers: lineage(id: $id, direction: DOWNSTREAM, depth: 1) { nodes { id depth } }
    writers: lineage(id: $id, direction: UPSTREAM, depth: 1) { nodes { id depth } } }`, { id });
  if (!node) return [none("Not found, or not visible to you.")];
  const runs = (walk) => walk.nodes.filter((n) => n.depth === 1 && L.kindOf(n.id) === "run").map((n) => n.id);
  return [entityTable(node), ...section("Read by", links(runs(readers)), "No run has read it."),
    ...section("Written by", links(runs(writers)), "No run wrote it.")];
}

async function serviceView(id) {
  const { service, trace } = await gql(`query($id: ID!) { service(id: $id) { name state url replicas image environment signals { name value } driftAlerts { feature score threshold observedAt } }
    trace(service: $id) { image { manifest { models { modelVersion run { run } } } } } }`, { id });
  const models = (trace.image && trace.image.manifest ? trace.image.manifest.models : []);
  return [table(["", ""], [["name", service.name], ["state", service.state.toLowerCase()], ["url", service.url], ["replicas", service.replicas],
    ["image", link(service.image)], ["environment", link(service.environment)],
    ["serves", links(models.map((m) => m.modelVersion))], ["trained by", links(models.flatMap((m) => m.run ? [m.run.run] : []))]]),
    ...section("Signals", service.signals.length ? table(["signal", "latest"], service.signals.map((s) => [s.name, s.value]), [1]) : null, "No signals."),
    ...section("Drift alerts", service.driftAlerts.length
      ? table(["feature", "score", "threshold", "observed"], service.driftAlerts.map((a) => [a.feature, a.score, a.threshold, L.formatTime(a.observedAt)]), [1, 2])
      : null, "No drift alerts.")];
}

function entityTable(node) {
  const detail = Object.values(node.detail || {})[0] || {};
  const rows = [["name", node.name], ["created", `${L.formatTime(node.createdAt)} by ${node.createdBy}`], ...(node.deleted ? [["deleted", "yes"]] : [])];
  for (const [key, value] of Object.entries(detail)) {
    const empty = value === null || value === "" || (Array.isArray(value) && !value.length);
    rows.push([key.replace(/_/g, " "), empty ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value)]);
  }
  return table(["", ""], rows);
}

async function otherView(id) {
  const { node } = await gql(`query($id: ID!) { node(id: $id) { name createdAt createdBy deleted detail } }`, { id: L.entityOf(id) });
  return node ? [entityTable(node)] : [none("Not found, or not visible to you.")];
}

const VIEWS = { run: runView, experiment: experimentView, model: modelView, dataset: datasetView, service: serviceView };

async function auditTrail(id) {
  try {
    const { auditTrail } = await gql(`query($id: ID!) { auditTrail(entity: $id, first: 100) { nodes { seq type actor occurredAt recordedAt } } }`, { id: L.entityOf(id) });
    return section("Audit trail", auditTrail.nodes.length
      ? table(["#", "what", "who", "when"], auditTrail.nodes.map((e) => [e.seq, e.type, e.actor, L.formatTime(e.occurredAt || e.recordedAt)]), [0]) : null, "No events.");
  } catch (error) {
    if (failed(error)) throw error;
    return [el("h3", {}, "Audit trail"), el("p", { class: "muted", "data-audit": "denied" }, error.code === "FORBIDDEN" ? "Your roles here do not include the audit trail." : error.message)];
  }
}

/** The view of `id` beside the graph: as it is, or as it was after event `at.seq`. */
export async function showDetails(id, at) {
  if (at && L.kindOf(id) !== "revision") return showDetailsThen(id, at);
  const panel = $("details");
  panel.dataset.node = id;
  delete panel.dataset.shown;
  panel.replaceChildren(...heading(id, nameOf(id)), none("Loading…"));
  const parts = heading(id, nameOf(id));
  try {
    if (L.kindOf(id) === "revision") parts.push(el("p", {}, "A code revision runs executed at. It is not an entity of its own, so it has no audit trail."));
    else parts.push(...await (VIEWS[L.kindOf(id)] || otherView)(id), ...await auditTrail(id));
  } catch (error) {
    if (failed(error)) return;
    parts.push(el("p", { class: "error" }, error.message));
  }
  if (panel.dataset.node === id) { panel.replaceChildren(...parts); panel.dataset.shown = id; }
}

/** The view as it was after event `at.seq`, from the entity's own events up to it: what
 *  had happened, and for a run its status, params and metrics then. */
async function showDetailsThen(id, at) {
  const panel = $("details");
  panel.dataset.node = id;
  delete panel.dataset.shown;
  const parts = heading(id, nameOf(id));
  try {
    const { history } = await gql(`query($id: ID!) { history(id: $id, first: 500) { nodes { seq type actor occurredAt recordedAt payload } } }`, { id: L.entityOf(id) });
    const then = history.nodes.filter((event) => event.seq <= at.seq);
    if (!then.length) {
      parts.push(el("p", { "data-then": "absent" }, `It did not exist yet as of event ${at.seq}: its first event is ${history.nodes.length ? history.nodes[0].seq : "still to come"}.`));
    } else {
      parts.push(el("p", { class: "muted", "data-then": String(at.seq) }, `As it was after event ${at.seq}: ${then.length} of its ${history.nodes.length} events had happened.`));
      if (L.kindOf(id) === "run") parts.push(...runThen(id, then));
      parts.push(el("h3", {}, "Audit trail then"),
        table(["#", "what", "who", "when"], then.map((e) => [e.seq, e.type, e.actor, L.formatTime(e.occurredAt || e.recordedAt)]), [0]));
    }
  } catch (error) {
    if (failed(error)) return;
    parts.push(el("p", { class: "error" }, error.message));
  }
  if (panel.dataset.node === id) { panel.replaceChildren(...parts); panel.dataset.shown = id; }
}

const RUN_STATUS = { RunQueued: "queued", RunStarted: "running", RunCompleted: "completed", RunFailed: "failed", RunCanceled: "canceled" };
function runThen(id, events) {
  let status = "";
  const params = new Map(), points = [];
  for (const event of events) {
    if (RUN_STATUS[event.type]) status = RUN_STATUS[event.type];
    if (event.type === "ParamsLogged") for (const p of event.payload.params) params.set(p.key, p.value);
    if (event.type === "MetricsLogged") points.push(...event.payload.points);
  }
  const parts = [table(["", ""], [["status", status]])];
  parts.push(el("h3", {}, "Params"), params.size ? table(["key", "value"], [...params]) : none("No params yet."));
  parts.push(el("h3", {}, "Metrics"));
  const metrics = byMetric(points);
  if (!metrics.size) parts.push(none("No metrics yet."));
  for (const [name, series] of metrics) parts.push(metricChart(name, [{ label: id, color: "#1f6feb", points: series }]));
  return parts;
}
