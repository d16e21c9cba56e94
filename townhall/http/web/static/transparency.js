// The public transparency log: the chain's head, the monthly counts and the entries,
// newest first, a page at a time (GET /api/transparency). Each entry has an anchor
// (#entry-N) that appeals and refusals link to.
import { el, get, showError } from "./api.js";

const rows = document.getElementById("log-rows");
const more = document.getElementById("log-more");
let next = null;

const short = (hash) => el("code", { title: hash }, `${hash.slice(0, 12)}…`);
const link = (seq) => (seq ? el("a", { href: `#entry-${seq}` }, `#${seq}`) : "—");

function row(entry) {
  const target = entry.target_type === "user"
    ? el("a", { href: `/u/${encodeURIComponent(entry.target)}` }, `@${entry.target}`)
    : el("span", {}, `${entry.target_type === "replay" ? "Replay" : "Space"} ${entry.target}`);
  const action = [entry.action_label];
  if (entry.answers) action.push(" (answers ", link(entry.answers), ")");
  if (entry.until) action.push(` until ${entry.until.replace("T", " ").replace("Z", "")}`);
  return el("tr", { id: `entry-${entry.seq}` },
    el("td", {}, String(entry.seq)), el("td", {}, entry.at.replace("T", " ").replace("Z", "")),
    el("td", {}, ...action), el("td", {}, target), el("td", {}, entry.reason_label),
    el("td", {}, entry.role), el("td", {}, link(entry.outcome)), el("td", {}, short(entry.hash)));
}

async function load() {
  const page = await get(`/api/transparency${next ? `?before=${next}` : ""}`);
  if (!next) {
    const head = page.head;
    document.getElementById("chain-head").replaceChildren(
      `Head: entry ${head.seq}, hash `, el("code", { id: "head-hash" }, head.hash));
    const monthly = document.getElementById("monthly-rows");
    monthly.replaceChildren(...page.monthly.map((m) => el("tr", {},
      el("td", {}, m.month), el("td", {}, m.action_label), el("td", {}, m.reason_label),
      el("td", {}, String(m.count)))));
    document.getElementById("monthly-empty").hidden = page.monthly.length > 0;
    document.getElementById("log-empty").hidden = page.entries.length > 0;
  }
  rows.append(...page.entries.map(row));
  next = page.next;
  more.hidden = !next;
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

more.addEventListener("click", () => load().catch(showError));
load().catch(showError);
