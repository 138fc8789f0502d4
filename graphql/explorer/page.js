// The page: signing in, the account, the search, the address (links to every view), the
// graph around the chosen entity with its details, runs compared, and the bill.

import * as L from "./logic.js";
import { $, el, gql, failed, onUnauthenticated, state, table, none, Unauthenticated } from "./core.js";
import { render, legend, Viewport } from "./graph.js";
import { showDetails } from "./views.js";
import { showCompare, hideCompare } from "./runs.js";

const viewport = new Viewport($("graph"));

/* -- Signing in -- */
async function signIn(token) {
  state.token = token.trim();
  $("signin-error").textContent = "";
  if (!state.token) { $("signin-error").textContent = "Paste a token first."; return; }
  $("signin-button").disabled = true;
  try {
    await gql("{ head }");
    sessionStorage.setItem("lineage-token", state.token);
    $("signin").hidden = true; $("app").hidden = false; $("signout").hidden = false;
    await loadAccounts();
  } catch (error) {
    state.token = null;
    sessionStorage.removeItem("lineage-token");
    $("signin-error").textContent = error instanceof Unauthenticated ? error.message : `Could not reach Lineage: ${error.message}`;
  } finally {
    $("signin-button").disabled = false;
  }
}

function signOut(message = "") {
  sessionStorage.removeItem("lineage-token");
  state.token = null;
  $("app").hidden = true; $("signout").hidden = true; $("account-box").hidden = true; $("search-box").hidden = true;
  $("signin").hidden = false; $("who").textContent = "";
  $("signin-error").textContent = message;
}
onUnauthenticated(signOut);

/* -- Accounts, services and what the search finds -- */
async function loadAccounts() {
  setStatus("loading", "Loading accounts…");
  const data = await gql(`{
    exp: entities(kind: EXPERIMENTATION_ACCOUNT, first: 500) { nodes { id name parent } }
    mm: entities(kind: MODEL_MANAGEMENT_ACCOUNT, first: 500) { nodes { id name parent } } }`);
  state.accounts = [
    ...data.exp.nodes.map((a) => ({ ...a, type: "experimentation" })),
    ...data.mm.nodes.map((a) => ({ ...a, type: "model management" })),
  ].sort((a, b) => (a.parent || "").localeCompare(b.parent || "") || a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
  $("account").replaceChildren(...state.accounts.map((a) =>
    el("option", { value: a.id }, `${a.name} (${a.type}, ${a.id.slice(a.id.indexOf("/") + 1)})`)));
  $("account-box").hidden = state.accounts.length === 0;
  if (state.accounts.length === 0) {
    setStatus("empty", "This token sees no accounts. Ask an account's owner for a role or a seat.");
    return;
  }
  const route = L.parseRoute(location.hash);
  await chooseAccount(state.accounts[0].id, !route);
  if (route) await applyRoute(route);
}

const accountId = () => { const id = $("account").value; return id.slice(id.indexOf("/") + 1); };

async function chooseAccount(id, centreFirst = true) {
  $("account").value = id;
  const account = state.accounts.find((a) => a.id === id);
  const serving = state.accounts.filter((a) => a.type === "model management" && a.parent === account.parent);
  setStatus("loading", "Loading services…");
  const services = [];
  for (const mm of serving) {
    const data = await gql(`query($account: String!) { services(account: $account, first: 500) {
      nodes { id name state image environment } } }`, { account: mm.id.slice(mm.id.indexOf("/") + 1) });
    services.push(...data.services.nodes);
  }
  state.services = services.sort((a, b) => a.name.localeCompare(b.name));
  await loadFindable(account, serving);
  $("search-box").hidden = false;
  $("search").value = "";
  $("suggestions").replaceChildren();
  loadBill();
  if (!centreFirst) return;
  if (state.services.length === 0) {
    clearGraph();
    setStatus("empty", "No services in this account's subscription yet.");
    return;
  }
  await choose(state.services[0].id);
}

/** What the search finds in the chosen account's subscription: every kind people look
    for, by name and by id. */
const FINDABLE = ["SERVICE", "MODEL", "DATASET", "RUN", "EXPERIMENT", "IMAGE", "MANIFEST"];
const GROUPS = { service: "Services", model: "Models", dataset: "Datasets", run: "Runs", experiment: "Experiments", image: "Images", manifest: "Manifests" };
async function loadFindable(account, serving) {
  const accounts = new Set([account, ...serving].map((a) => a.id.slice(a.id.indexOf("/") + 1)));
  const kinds = FINDABLE.filter((kind) => kind !== "SERVICE");
  const data = await gql(`{ ${kinds.map((kind) => `${kind}: entities(kind: ${kind}, first: 500) { nodes { id name account } }`).join(" ")} }`);
  state.findable = [
    ...state.services.map((s) => ({ id: s.id, name: s.name, kind: "service", note: s.state.toLowerCase() })),
    ...kinds.flatMap((kind) => data[kind].nodes.filter((n) => accounts.has(n.account)).map((n) => ({ id: n.id, name: n.name, kind: L.kindOf(n.id), note: "" }))),
  ];
}

function suggest(text) {
  const needle = text.trim().toLowerCase();
  const list = $("suggestions");
  if (!needle && document.activeElement !== $("search")) { list.replaceChildren(); return; }
  const matches = state.findable.filter((f) => !needle || f.name.toLowerCase().includes(needle) || f.id.toLowerCase().includes(needle));
  const items = [];
  for (const kind of FINDABLE.map((k) => k.toLowerCase())) {
    const found = matches.filter((f) => f.kind === kind).slice(0, 5);
    if (!found.length) continue;
    items.push(el("li", { class: "group" }, GROUPS[kind]));
    for (const f of found) items.push(el("li", { "data-entity": f.id }, f.name, el("small", {}, [f.id.slice(f.id.indexOf("/") + 1), f.note].filter(Boolean).join(" · "))));
  }
  if (!items.length) items.push(el("li", { class: "muted" }, `Nothing matches “${text.trim()}”.`));
  list.replaceChildren(...items);
  const first = list.querySelector("li[data-entity]");
  if (first) first.classList.add("active");
}

/** Arrow keys move through the suggestions; the active one is what Enter picks. */
function moveSuggestion(step) {
  const items = [...$("suggestions").querySelectorAll("li[data-entity]")];
  if (!items.length) return;
  const at = items.findIndex((li) => li.classList.contains("active"));
  items.forEach((li) => li.classList.remove("active"));
  const next = items[(at + step + items.length) % items.length];
  next.classList.add("active");
  next.scrollIntoView({ block: "nearest" });
}

/** A picked entity becomes the centre, walked the way its kind is read by default. */
async function choose(id) {
  $("suggestions").replaceChildren();
  const found = state.findable.find((f) => f.id === id);
  $("search").value = found ? found.name : id;
  await openView(id);
}

/** The view of `id` as its kind opens by default: its walk and where its details go. */
async function openView(id) {
  $("direction").value = L.defaultDirection(L.kindOf(id));
  setPanel(null, id);
  await centreOn(id);
}

/* -- The view -- */
async function centreOn(id, asofSeq = null) {
  comparing(false);
  state.centre = id;
  state.selected = null;
  if (L.kindOf(id) !== "service" && $("direction").value === "TRACE") $("direction").value = "UPSTREAM";
  await loadSteps(asofSeq);
  await draw();
  showDetails(id, asOf());
}

/** The details beside the graph, or under it at full width (`panel=wide`; an experiment's
 *  runs table starts there). */
function setPanel(panel, centre) {
  const wide = panel ? panel === "wide" : L.kindOf(centre) === "experiment";
  $("app").classList.toggle("wide", wide);
  $("panel").textContent = wide ? "Details beside the graph" : "Details below, full width";
}
const panelOf = () => ($("app").classList.contains("wide") ? "wide" : "side");

function comparing(on) {
  $("app").classList.toggle("comparing", on);
  if (!on) hideCompare();
}

/* -- Links: the address names the view (`#/run/r-churn-1?direction=UPSTREAM&depth=4&asof=42`,
   `#/compare?runs=r-1,r-2`), so back and forward work, a reload keeps it and it can be
   shared. The token is never part of it. -- */
function routeOfView() {
  if (state.compare) return `#/compare?runs=${state.compare.map(L.labelOf).join(",")}`;
  const params = new URLSearchParams({ direction: $("direction").value, depth: $("depth").value });
  const at = asOf();
  if (at) params.set("asof", String(at.seq));
  if ((panelOf() === "wide") !== (L.kindOf(state.centre) === "experiment")) params.set("panel", panelOf());
  return `#/${state.centre}?${params}`;
}

async function applyRoute(route) {
  if (route.compare) {
    state.compare = route.compare;
    $("app").classList.add("comparing");
    $("search").value = "";
    await showCompare(route.compare);
    return;
  }
  const direction = route.direction || L.defaultDirection(L.kindOf(route.centre));
  if ([...$("direction").options].some((option) => option.value === direction)) $("direction").value = direction;
  if (route.depth && Number(route.depth) >= 1 && Number(route.depth) <= 8) {
    $("depth").value = route.depth; $("depth-value").textContent = route.depth;
  }
  const found = state.findable.find((f) => f.id === L.entityOf(route.centre));
  $("search").value = found ? found.name : "";
  setPanel(route.panel, route.centre);
  state.routing = true;
  try { await centreOn(route.centre, route.asof); } finally { state.routing = false; }
}

/** After a view is drawn, the address names it: a new entry, unless the address led here. */
function rememberView() {
  const route = routeOfView();
  if (location.hash === route) return;
  if (state.routing || !location.hash.startsWith("#/")) history.replaceState(null, "", route);
  else history.pushState(null, "", route);
}

/** The as-of control moves over the centre entity's own history, then "now"; a link may
 *  name any other event, which becomes a step of its own. */
async function loadSteps(asofSeq) {
  state.steps = [];
  if (L.kindOf(state.centre) !== "revision") {
    try {
      const data = await gql(`query($id: ID!) { history(id: $id, first: 500) { nodes { seq type occurredAt recordedAt } } }`, { id: L.entityOf(state.centre) });
      state.steps = data.history.nodes;
    } catch (error) { if (failed(error)) return; }
  }
  let index = state.steps.length;
  if (asofSeq !== null) {
    index = state.steps.findIndex((step) => step.seq >= asofSeq);
    if (index < 0) index = state.steps.length;
    if (state.steps[index]?.seq !== asofSeq) state.steps.splice(index, 0, { seq: asofSeq, type: null });
  }
  $("asof").max = String(state.steps.length);
  $("asof").value = String(index);
  labelAsOf();
}

function asOf() {
  const index = Number($("asof").value);
  return index < state.steps.length ? { seq: state.steps[index].seq } : null;
}

function labelAsOf() {
  const step = state.steps[Number($("asof").value)];
  $("asof-label").textContent = !step ? "now"
    : step.type ? `${L.formatTime(step.occurredAt || step.recordedAt)} — after ${step.type} (event ${step.seq})`
    : `as of event ${step.seq}`;
}

function setStatus(kind, text) {
  $("canvas").dataset.state = kind;
  $("status").textContent = text;
  $("status").className = kind === "error" ? "error" : "";
}

function clearGraph() {
  $("graph").replaceChildren();
  $("legend").replaceChildren();
}

const TRACE = `query($service: ID!, $asOf: AsOfInput) { trace(service: $service, asOf: $asOf) {
  service environment image { imageVersion manifest { manifestVersion models { ...Link derivedFrom { ...Link derivedFrom { ...Link derivedFrom { ...Link } } } } } } names { id name } } }
  fragment Link on ModelLink { modelVersion run { run experiment revision computeTarget datasets parent } }`;
const WALK = `query($id: ID!, $direction: Direction!, $depth: Int!, $asOf: AsOfInput) {
  lineage(id: $id, direction: $direction, depth: $depth, asOf: $asOf) { nodes { id kind depth } edges { from to kind } truncated } }`;

async function draw() {
  const centre = state.centre, direction = $("direction").value, depth = Number($("depth").value), at = asOf();
  const ticket = ++state.drawn;
  $("depth").disabled = direction === "TRACE" && L.kindOf(centre) === "service";
  setStatus("loading", "Loading lineage…");
  let g, truncated = false;
  try {
    if (direction === "TRACE" && L.kindOf(centre) === "service") {
      const data = await gql(TRACE, { service: centre, asOf: at });
      g = L.traceGraph(data.trace);
      nameNodes(g, data.trace.names);
    } else {
      const walk = (dir) => gql(WALK, { id: centre, direction: dir, depth, asOf: at }).then((d) => d.lineage);
      const up = direction === "DOWNSTREAM" ? null : await walk("UPSTREAM");
      const down = direction === "UPSTREAM" ? null : await walk("DOWNSTREAM");
      truncated = Boolean((up && up.truncated) || (down && down.truncated));
      g = L.walkGraph(centre, up, down);
      nameNodes(g, await namesOf([...g.nodes.keys()]));
    }
  } catch (error) {
    if (ticket !== state.drawn || failed(error)) return;
    clearGraph();
    const absent = error.code === "NOT_FOUND" && at;
    setStatus("error", absent ? `It did not exist yet as of event ${at.seq}.`
      : error.code === "NOT_FOUND" ? `Nothing found: ${error.message}` : `Could not load the lineage: ${error.message}`);
    $("canvas").dataset.centre = centre;
    rememberView();
    return;
  }
  if (ticket !== state.drawn) return;
  render(g, $("graph"), viewport, { centre, selected: state.selected, onSelect: select, onOpen: open });
  $("legend").replaceChildren(...legend(g));
  Object.assign($("canvas").dataset, { centre, asof: $("asof").value, direction, nodes: String(g.nodes.size) });
  rememberView();
  if (g.nodes.size <= 1) setStatus("empty", "Nothing else is connected to it at this time.");
  else setStatus("ready", "");
  $("truncated").hidden = !truncated;
}

/** Names for graph nodes: what people call them (a version: its model's name and number). */
async function namesOf(ids) {
  const entities = [...new Set(ids.filter((id) => L.kindOf(id) !== "revision").map(L.entityOf))];
  if (!entities.length) return [];
  const data = await gql(`{ ${entities.map((id, i) => `n${i}: node(id: ${JSON.stringify(id)}) { id name }`).join(" ")} }`);
  const byEntity = new Map(entities.map((id, i) => [id, data[`n${i}`] && data[`n${i}`].name]));
  return ids.filter((id) => byEntity.get(L.entityOf(id))).map((id) => {
    const version = id.includes("@") ? ` v${id.slice(id.lastIndexOf("@") + 1)}` : "";
    return { id, name: byEntity.get(L.entityOf(id)) + version };
  });
}

function nameNodes(g, names) {
  for (const { id, name } of names || []) if (g.nodes.has(id)) g.nodes.get(id).name = name;
}

function select(id) {
  state.selected = id;
  for (const node of document.querySelectorAll("#graph .node")) node.classList.toggle("selected", node.dataset.node === id);
  showDetails(id, asOf());
}

/** Double-clicking a dataset shows what depends on it; anything else, both ways. */
function open(id) {
  openView(id).catch(failed);
}

/* -- The bill -- */
async function loadBill() {
  const box = $("bill"), month = $("bill-month").value;
  $("bill-total").textContent = "";
  if (!month) { box.replaceChildren(none("Choose a month.")); return; }
  box.replaceChildren(none("Loading the bill…"));
  try {
    const { bill } = await gql(`query($account: String!, $month: String!) { bill(account: $account, month: $month) {
      currency total lines { description quantity unit unitPrice pricePer daysInMonth amount events } seats { principal days } } }`, { account: accountId(), month });
    $("bill-total").textContent = `Total ${L.formatMoney(bill.total, bill.currency)}`;
    const parts = [];
    parts.push(bill.lines.length
      ? table(["line", "quantity", "unit price", "amount", "events"], bill.lines.map((l) => [l.description, `${l.quantity} ${l.unit}` + (l.daysInMonth ? ` (${l.quantity}/${l.daysInMonth} month)` : ""), `${L.formatMoney(l.unitPrice, bill.currency)} per ${l.pricePer}`, L.formatMoney(l.amount, bill.currency), l.events.length]), [1, 2, 3, 4])
      : none("Nothing billed this month."));
    if (bill.seats.length) parts.push(el("h3", {}, "Seats"), table(["principal", "days held", "days"], bill.seats.map((s) => [s.principal, s.days.length, L.dayRanges(s.days)]), [1]));
    box.replaceChildren(...parts);
  } catch (error) {
    if (failed(error)) return;
    box.replaceChildren(el("p", { class: "muted", "data-bill": "denied" }, error.code === "FORBIDDEN" || error.code === "NOT_FOUND"
      ? "Your roles in this account do not include seeing its bill." : `Could not load the bill: ${error.message}`));
  }
}

/* -- Wiring -- */
$("signin-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("token").value); });
$("signout").addEventListener("click", () => signOut());
$("account").addEventListener("change", (event) => chooseAccount(event.target.value).catch(failed));
$("search").addEventListener("input", (event) => suggest(event.target.value));
$("search").addEventListener("focus", (event) => suggest(event.target.value));
$("search").addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") { event.preventDefault(); moveSuggestion(event.key === "ArrowDown" ? 1 : -1); }
  if (event.key === "Enter") { const active = $("suggestions").querySelector("li.active[data-entity]"); if (active) choose(active.dataset.entity).catch(failed); }
  if (event.key === "Escape") $("suggestions").replaceChildren();
});
$("suggestions").addEventListener("mousedown", (event) => {
  const item = event.target.closest("li[data-entity]");
  if (item) { event.preventDefault(); choose(item.dataset.entity).catch(failed); }
});
$("search").addEventListener("blur", () => setTimeout(() => $("suggestions").replaceChildren(), 150));
$("direction").addEventListener("change", () => state.centre && draw());
$("depth").addEventListener("input", () => { $("depth-value").textContent = $("depth").value; });
$("depth").addEventListener("change", () => state.centre && draw());
$("asof").addEventListener("input", labelAsOf);
// Moving through time redraws the graph and the details beside it.
const redrawThen = () => { if (!state.centre) return; draw(); showDetails(state.selected || state.centre, asOf()); };
$("asof").addEventListener("change", redrawThen);
$("asof-now").addEventListener("click", () => { $("asof").value = $("asof").max; labelAsOf(); redrawThen(); });
$("panel").addEventListener("click", () => { setPanel(panelOf() === "wide" ? "side" : "wide", state.centre); if (state.centre) rememberView(); });
$("zoom-in").addEventListener("click", () => viewport.zoomBy(1.25));
$("zoom-out").addEventListener("click", () => viewport.zoomBy(0.8));
$("zoom-fit").addEventListener("click", () => viewport.fit());
$("graph").addEventListener("keydown", (event) => {
  const moves = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
  if (event.target !== $("graph")) return;
  if (moves[event.key]) { event.preventDefault(); viewport.set(viewport.k, viewport.x + moves[event.key][0], viewport.y + moves[event.key][1]); }
  if (event.key === "+" || event.key === "=") viewport.zoomBy(1.25);
  if (event.key === "-") viewport.zoomBy(0.8);
  if (event.key === "0") viewport.fit();
});
$("bill-month").value = new Date().toISOString().slice(0, 7);
$("bill-month").addEventListener("change", loadBill);

// A token in the address's fragment (`/#token=…`, never sent to the server) signs in
// at once and is taken out of the address bar.
function tokenFromAddress() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) history.replaceState(null, "", location.pathname + location.search);
  return token;
}
// Back, forward, a link followed, an edited or pasted address: show the view it names
// (once per change).
const followAddress = () => {
  const token = tokenFromAddress();
  if (token) { signIn(token); return; }
  const route = L.parseRoute(location.hash);
  if (!route || !state.token || state.routed === location.hash || ((state.centre || state.compare) && routeOfView() === location.hash)) return;
  state.routed = location.hash;
  if (!route.compare) state.compare = null;
  applyRoute(route).catch(failed).finally(() => { state.routed = null; });
};
window.addEventListener("hashchange", followAddress);
window.addEventListener("popstate", followAddress);
const token = tokenFromAddress() || sessionStorage.getItem("lineage-token");
if (token) signIn(token);
