// Profile: a user's Spaces — live now, upcoming (with "Remind me"), replays.
import { get, showError } from "./api.js";
import { fillList, remindButton, spaceItem } from "./cards.js";
import { plural } from "./format.js";
import { currentUser } from "./nav.js";

const $ = (id) => document.getElementById(id);
const username = $("profile").dataset.username;
let user = null;

function section(name, spaces, item) {
  $(`profile-${name}-card`).hidden = !spaces.length;
  fillList($(`profile-${name}`), spaces.map(item), "");
}

async function load() {
  try {
    const profile = await get(`/api/users/${encodeURIComponent(username)}`);
    const by = (state) => profile.spaces.filter((s) => s.state === state);
    const live = by("live");
    const upcoming = by("scheduled");
    const replays = by("ended");
    section("live", live, (s) => spaceItem(s, { showHost: false }));
    section("upcoming", upcoming, (s) =>
      spaceItem(s, { showHost: false, extra: [remindButton(s, user, load)] }),
    );
    section("replays", replays, (s) => spaceItem(s, { showHost: false }));
    $("profile-summary").textContent = profile.spaces.length
      ? `${plural(profile.spaces.length, "Space")} hosted${live.length ? " · live now" : ""}`
      : "No Spaces yet.";
  } catch (err) {
    $("profile-summary").textContent = err.status === 404 ? "There is no user with that name." : "";
    showError(err.status === 404 ? null : err);
  }
}

currentUser.then((u) => {
  user = u;
  load();
});
