// Home: live Spaces, recent replays, and the "Create a Space" form when signed in.
import { el, get, post, showError } from "./api.js";
import { STATE_LABELS, duration, when } from "./format.js";
import { currentUser } from "./nav.js";

const liveList = document.getElementById("live-list");
const recentList = document.getElementById("recent-list");
const REFRESH_MS = 10000;

function spaceItem(space) {
  const meta =
    space.state === "ended"
      ? `@${space.host.username} · ${when(space.ended_at)} · ${duration(space.started_at, space.ended_at)}`
      : `@${space.host.username} · ${space.speakers.length} speaker${space.speakers.length === 1 ? "" : "s"}`;
  return el(
    "li",
    {},
    el(
      "a",
      { href: `/s/${encodeURIComponent(space.id)}`, class: "space-link" },
      el("span", { class: "badge", "data-state": space.state }, STATE_LABELS[space.state] || space.state),
      el("span", { class: "space-title" }, space.title),
      el("span", { class: "muted space-meta" }, meta),
    ),
  );
}

function fill(list, spaces, emptyText) {
  list.replaceChildren(
    ...(spaces.length ? spaces.map(spaceItem) : [el("li", { class: "muted" }, emptyText)]),
  );
}

async function refresh() {
  try {
    const { live, recent } = await get("/api/spaces");
    fill(liveList, live, "Nobody is live right now.");
    fill(recentList, recent, "No replays yet.");
  } catch (err) {
    showError(err);
  }
}

refresh();
setInterval(refresh, REFRESH_MS);

currentUser.then((user) => {
  document.getElementById("create").hidden = !user;
  document.getElementById("signed-out-links").hidden = Boolean(user);
});

const form = document.getElementById("create-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const button = document.getElementById("create-button");
  button.disabled = true;
  try {
    const title = document.getElementById("create-title").value.trim();
    const space = await post("/api/spaces", { title });
    location.href = `/s/${encodeURIComponent(space.id)}`;
  } catch (err) {
    showError(err);
    button.disabled = false;
  }
});
