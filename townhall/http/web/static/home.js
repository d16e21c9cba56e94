// Home: your reminders, live Spaces (with listener counts), upcoming Spaces (with
// "Remind me"), recent replays, and the "Create a Space" form when signed in.
import { get, post, showError } from "./api.js";
import { clearProblems, showFieldError, showProblem } from "./form-errors.js";
import { fillList, remindButton, spaceItem, spaceUrl } from "./cards.js";
import { dateToLocalInput, localInputToIso } from "./format.js";
import { currentUser } from "./nav.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10000;
let user = null;

async function refresh() {
  try {
    const [{ live, upcoming, recent }, reminders] = await Promise.all([
      get("/api/spaces"),
      user ? get("/api/me/reminders") : Promise.resolve([]),
    ]);
    fillList($("live-list"), live.map((s) => spaceItem(s)), "Nobody is live right now.");
    fillList(
      $("upcoming-list"),
      upcoming.map((s) => spaceItem(s, { extra: [remindButton(s, user, refresh)] })),
      "Nothing scheduled.",
    );
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
