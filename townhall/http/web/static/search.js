// Search: Spaces or people for what was typed, a page at a time. The server decides what
// this viewer may find and marks the matched words (its HTML escapes everything else);
// this page only shows it.
import { clearProblems, el, get, showProblem } from "./api.js";
import { hostLink, profileUrl, spaceUrl } from "./cards.js";
import { STATE_LABELS } from "./format.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const q = params.get("q") || "";
const kind = params.get("kind") === "users" ? "users" : "spaces";
const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);

/** HTML the server made: marked words, the rest escaped there. */
function marked(tag, className, html) {
  const node = el(tag, { class: className });
  node.innerHTML = html;
  return node;
}

const face = (person, size) =>
  el("img", { class: "search-face", src: person.avatar_small_url, alt: "", width: size, height: size });

function spaceCard(hit) {
  const space = hit.space;
  const item = el(
    "li",
    { class: "space-item search-hit", "data-space-id": space.id, "data-state": space.state },
    el("span", { class: "badge", "data-state": space.state }, STATE_LABELS[space.state] || space.state),
    el("a", { href: spaceUrl(space.id), class: "space-link" }, marked("span", "space-title", hit.highlight.title)),
  );
  const host = el("span", { class: "muted space-meta search-host" }, face(space.host, 24));
  if (space.host.display_name !== space.host.username) host.append(el("span", {}, space.host.display_name));
  host.append(hostLink(space.host.username));
  item.append(host);
  if (hit.highlight.snippet) item.append(marked("p", "search-snippet", hit.highlight.snippet));
  if (hit.highlight.transcript) {
    const said = marked("p", "search-snippet search-transcript", hit.highlight.transcript);
    said.prepend(el("span", { class: "muted" }, "Said: "));
    item.append(said);
  }
  return item;
}

function userCard(hit) {
  const user = hit.user;
  return el(
    "li",
    { class: "space-item search-hit search-person", "data-username": user.username },
    face(user, 40),
    el("a", { href: profileUrl(user.username), class: "space-link" }, marked("span", "space-title", hit.highlight.title)),
    marked("span", "muted space-meta", hit.highlight.snippet),
  );
}

function pageLink(node, number) {
  const to = new URLSearchParams({ q, kind, page: String(number) });
  node.href = `/search?${to}`;
  node.hidden = false;
}

function tabs() {
  for (const name of ["spaces", "users"]) {
    const tab = $(`tab-${name}`);
    tab.href = `/search?${new URLSearchParams({ q, kind: name })}`;
  }
}

async function load() {
  tabs();
  if (!q.trim()) {
    $("search-q").focus(); // came from the header's button: ready to type
    return;
  }
  const status = $("search-status");
  const form = $("search-form");
  clearProblems(form);
  try {
    const found = await get(`/api/search?${new URLSearchParams({ q, kind, page: String(page) })}`);
    const hits = kind === "users" ? found.users : found.spaces;
    $("search-results").replaceChildren(...hits.map(kind === "users" ? userCard : spaceCard));
    const what = kind === "users" ? "people" : "Spaces";
    if (!hits.length) {
      status.textContent = page > 1 ? `No more ${what} for “${q}”.` : `No ${what} found for “${q}”.`;
    } else {
      status.textContent = `${what[0].toUpperCase()}${what.slice(1)} for “${q}”${page > 1 ? `, page ${page}` : ""}`;
    }
    const pages = $("search-pages");
    pages.hidden = page === 1 && !found.next_page;
    if (page > 1) pageLink($("search-prev"), page - 1);
    if (found.next_page) pageLink($("search-next"), found.next_page);
    $("search-page").textContent = pages.hidden ? "" : `Page ${page}`;
  } catch (err) {
    $("search-results-card").hidden = true; // the reason is under the box
    // About the words typed (too long, too many): under the box; anything else beside it.
    showProblem(err, form);
  }
}

load();
