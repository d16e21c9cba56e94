// The end of a Space, as the page tells it: the card saying it has ended (how long it
// lasted, why if it ended itself, a Play replay button: the replay never starts by
// itself), the notice while it is about to end itself (`space.ending`, decided by the
// server), and captions of state changes in a live region for screen readers.
import { duration, toDate, when } from "./format.js";
import { state } from "./space-state.js";
import { ui } from "./space-ui.js";

const COUNTDOWN_TICK_MS = 1000;
// A live region changes after it is in the page, or screen readers may miss it.
const ANNOUNCE_DELAY_MS = 100;

const HOST_ABSENT_ENDED =
  "It ended by itself because the host left the stage and did not come back. " +
  "The replay stops where everyone was warned.";

let seen = null; // the state and warning last drawn: only changes are captioned
let countdown = null;
let shownEnding = null; // ends_at of the warning on screen

/** Say something to screen reader users (the page's polite live region). */
export function announce(text) {
  ui.announcer.textContent = "";
  setTimeout(() => (ui.announcer.textContent = text), ANNOUNCE_DELAY_MS);
}

// HH:MM, 24-hour, in the person's time zone.
const clock = (date) => date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function left(endsAt) {
  const seconds = Math.max(0, Math.ceil((endsAt.getTime() - Date.now()) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function endingText(ending) {
  return `The host left the stage. This Space ends at ${clock(toDate(ending.ends_at))} unless the host comes back.`;
}

/** The warning that the Space ends itself, with a countdown (a timer: not read out). */
function renderEnding(ending) {
  if (!ending) {
    ui.endingCard.hidden = true;
    ui.endingMessage.textContent = "";
    clearInterval(countdown);
    countdown = null;
    shownEnding = null;
    return;
  }
  const endsAt = toDate(ending.ends_at);
  const tick = () => (ui.endingCountdown.textContent = left(endsAt));
  tick();
  if (shownEnding === ending.ends_at) return;
  shownEnding = ending.ends_at;
  ui.endingCard.hidden = false;
  // Shown first, filled a moment later: the live region reads the sentence out once.
  ui.endingMessage.textContent = "";
  const text = endingText(ending);
  setTimeout(() => shownEnding === ending.ends_at && (ui.endingMessage.textContent = text), ANNOUNCE_DELAY_MS);
  clearInterval(countdown);
  countdown = setInterval(tick, COUNTDOWN_TICK_MS);
}

// Why the system or an operator ended it (the host ending it needs no sentence).
const END_REASONS = {
  host_absent: HOST_ABSENT_ENDED,
  operator: "An operator ended this Space. Why is on the public transparency log (/transparency).",
};

function renderEnded(space) {
  const ended = space.state === "ended" && !state.denied;
  ui.endedCard.hidden = !ended;
  if (!ended) return;
  const lasted = duration(space.started_at, space.ended_at);
  const at = when(space.ended_at);
  ui.endedSummary.textContent = lasted ? `It lasted ${lasted}${at ? ` and ended ${at}` : ""}.` : "";
  ui.endedSummary.hidden = !lasted;
  ui.endedReason.hidden = !END_REASONS[space.end_reason];
  ui.endedReason.textContent = END_REASONS[space.end_reason] || "";
}

/** Captions of what changed since the last drawing (none for the page's first look). */
function caption(space, ending) {
  const now = { state: space.state, ending: ending?.ends_at ?? null };
  const before = seen;
  seen = now;
  if (!before || state.denied) return;
  if (before.state !== "live" && now.state === "live") announce("The Space is live.");
  else if (before.state !== "ended" && now.state === "ended") {
    const lasted = duration(space.started_at, space.ended_at);
    const why = { host_absent: " It ended by itself because the host left.",
      operator: " An operator ended it." }[space.end_reason] || "";
    announce(`This Space has ended${lasted ? ` after ${lasted}` : ""}.${why}`);
  } else if (before.ending && !now.ending && now.state === "live") {
    announce("The host is back. The Space goes on.");
  }
}

export function renderEnd() {
  const { space } = state;
  const ending = space.state === "live" && !state.denied ? space.ending ?? null : null;
  renderEnding(ending);
  renderEnded(space);
  caption(space, ending);
}
