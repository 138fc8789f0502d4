// What every part of the page shares: the session's state, the API call, and small
// builders for elements, SVG and tables.

export const state = {
  token: null, accounts: [], services: [], findable: [], centre: null, steps: [], selected: null,
  drawn: 0, routing: false, routed: null, compare: null,
};

export const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

/** A refused token: the page signs out (see `failed`). */
export class Unauthenticated extends Error {}

/** One GraphQL request with the session's token; the first error becomes an exception
 *  carrying its `code` (`NOT_FOUND`, `FORBIDDEN`, …). */
export async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + state.token },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw new Unauthenticated("That token was not accepted: it is unknown or revoked.");
  if (!response.ok) throw new Error(`The server answered ${response.status}.`);
  const answer = await response.json();
  if (answer.errors && answer.errors.length) {
    const error = new Error(answer.errors[0].message);
    error.code = answer.errors[0].extensions && answer.errors[0].extensions.code;
    throw error;
  }
  return answer.data;
}

let signOutHook = () => {};
/** What to do when the token stops being accepted (the page signs out). */
export function onUnauthenticated(hook) { signOutHook = hook; }

/** True when `error` was a refused token, which signs out; other errors are the caller's. */
export function failed(error) {
  if (error instanceof Unauthenticated) { signOutHook(error.message); return true; }
  if (error && !(error instanceof Error)) console.error(error);
  return false;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "style" || key === "for") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

export function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A table; a row is an array of cells or `{ cells, current, attributes }`. */
export function table(headers, rows, numeric = []) {
  // Two untitled columns are a list of facts (name, value): no heading row.
  const facts = headers.every((h) => !h);
  return el("table", { class: facts ? "facts" : "" },
    facts ? "" : el("thead", {}, el("tr", {}, ...headers.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : "" }, h)))),
    el("tbody", {}, ...rows.map((row) => {
      const cells = row.cells || row;
      return el("tr", { class: row.current ? "current" : "", ...(row.attributes || {}) },
        ...cells.map((c, i) => el("td", { class: numeric.includes(i) ? "num" : "" }, c)));
    })));
}

/** A link to an entity's view, showing `text` (its name) with the id as a tooltip. */
export function link(id, text) {
  return el("a", { href: `#/${id}`, title: id, "data-link": id }, text || id.slice(id.indexOf("/") + 1));
}

/** A paragraph saying there is nothing to show. */
export const none = (text) => el("p", { class: "muted" }, text);
