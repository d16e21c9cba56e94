// Home: your reminders, your own Spaces, "Following" (live and upcoming Spaces of hosts
// you follow) and "Discover" (everyone else's, each card with the server's reasons:
// GET /api/home), recent replays, and the "Create a Space" form when signed in.
import { api, get, post, showError } from "./api.js";
import { clearProblems, showFieldError, showNear, showProblem } from "./form-errors.js";
import { fillList, remindButton, spaceItem, spaceUrl } from "./cards.js";
import { dateToLocalInput, localInputToIso } from "./format.js";
import { currentUser } from "./nav.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10000;
let user = null;

const upcomingItem = (s) => spaceItem(s, { extra: [remindButton(s, user, refresh)] });
const anyItem = (s) => (s.state === "scheduled" ? upcomingItem(s) : spaceItem(s));

function renderFollowing(following) {
  $("following-signed-out").hidden = Boolean(following);
  $("following-about").hidden = !following;
  if (!following) {
    $("following-lists").hidden = true;
    $("following-empty").hidden = true;
    fillList($("following-live"), [], "");
    fillList($("following-upcoming"), [], "");
    return;
  }
  const none = !following.live.length && !following.upcoming.length;
  $("following-lists").hidden = none;
  $("following-empty").hidden = !none;
  fillList($("following-live"), following.live.map((s) => spaceItem(s)), "Nobody you follow is live right now.");
  fillList($("following-upcoming"), following.upcoming.map(upcomingItem), "Nothing scheduled by people you follow.");
}

function renderDiscover(home) {
  const on = home.discover_enabled;
  $("discover-list").hidden = !on;
  $("discover-off").hidden = on;
  $("discover-about").hidden = !on;
  $("discover-how").hidden = !on;
  $("discover-off-button").hidden = !home.can.includes("turn_off_discover");
  $("discover-on-button").hidden = !home.can.includes("turn_on_discover");
  $("discover-formula").textContent = home.formula;
  fillList(
    $("discover-list"),
    on ? home.discover.map((card) => {
      const extra = card.space.state === "scheduled" ? [remindButton(card.space, user, refresh)] : [];
      return spaceItem(card.space, { reasons: card.reasons, extra });
    }) : [],
    "Nothing else is live or coming up right now.",
  );
}

async function refresh() {
  try {
    const [home, { recent }, reminders] = await Promise.all([
      get("/api/home"),
      get("/api/spaces"),
      user ? get("/api/me/reminders") : Promise.resolve([]),
    ]);
    const yours = home.yours ? [...home.yours.live, ...home.yours.upcoming] : [];
    $("yours-card").hidden = !yours.length;
    fillList($("yours-list"), yours.map(anyItem), "");
    renderFollowing(home.following);
    renderDiscover(home);
    fillList($("recent-list"), recent.map((s) => spaceItem(s)), "No replays yet.");
    $("reminders-card").hidden = !reminders.length;
    // A reminded Space that went live comes first, marked so it stands out.
    const ordered = [...reminders].sort((a, b) => (b.state === "live") - (a.state === "live"));
    fillList(
      $("reminders-list"),
      ordered.map((s) =>
        s.state === "live"
          ? spaceItem(s, { highlight: "Live now — join" })
          : spaceItem(s, { extra: [remindButton(s, user, refresh)] }),
      ),
      "",
    );
  } catch (err) {
    showError(err);
  }
}

/** Discover on or off: your setting (PATCH /api/me/settings), then the home again. */
async function setDiscover(on, button) {
  button.disabled = true;
  clearProblems({}, button);
  try {
    await api("PATCH", "/api/me/settings", { discover: on });
    await refresh();
    // The control pressed is gone: the focus goes to the one that undoes it.
    (on ? $("discover-off-button") : $("discover-on-button")).focus();
  } catch (err) {
    showNear(button, err);
  } finally {
    button.disabled = false;
  }
}
$("discover-off-button").addEventListener("click", (e) => setDiscover(false, e.currentTarget));
$("discover-on-button").addEventListener("click", (e) => setDiscover(true, e.currentTarget));

const startInput = $("create-start");
// The picker offers the window the server allows (its limit, rendered into the page).
const maxAheadDays = Number(startInput.dataset.maxAheadDays);
function boundStart() {
  const now = new Date();
  startInput.min = dateToLocalInput(now);
  if (maxAheadDays) startInput.max = dateToLocalInput(new Date(now.getTime() + maxAheadDays * 86400000));
}
boundStart();
startInput.addEventListener("focus", boundStart);
startInput.addEventListener("input", () => {
  $("create-button").textContent = startInput.value ? "Schedule Space" : "Create a Space";
});

currentUser.then((u) => {
  user = u;
  $("create").hidden = !user;
  $("signed-out-links").hidden = Boolean(user);
  refresh();
  setInterval(refresh, REFRESH_MS);
});

// The server's errors name the form's inputs (by name): each message goes under its
// input, anything else next to the button.
const form = $("create-form");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblems(form);
  const button = $("create-button");
  const topics = $("create-topics")
    .value.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const body = {
    title: $("create-title").value.trim(),
    description: $("create-description").value.trim(),
    topics,
    private: $("create-private").checked,
  };
  if (startInput.value) {
    body.scheduled_start = localInputToIso(startInput.value);
    if (!body.scheduled_start) {
      showFieldError(startInput, "That start time is not a valid date and time.");
      return;
    }
  }
  button.disabled = true;
  try {
    const space = await post("/api/spaces", body);
    location.href = spaceUrl(space.id);
  } catch (err) {
    showProblem(err, form);
    button.disabled = false;
  }
});
