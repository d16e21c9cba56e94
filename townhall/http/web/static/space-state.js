// What the Space page knows: one state object, and which Space answer wins.
//
// Every Space the server sends us (GET, an action's answer, a live `change`) is made
// for us: `space.you` says who we are here and what we may do now (`you.can`), and
// each person in it says what we may do to them (`person.can`). The page decides
// nothing itself; the server still enforces every action.

export const FINAL = new Set(["ended", "cancelled"]);

export const state = {
  space: null, // the latest Space JSON
  me: null, // the signed-in user ({id, username}) or null (nav.js)
  denied: null, // why we may no longer view the Space: an error code ("removed", ...)
  busy: false, // a button's request is in flight
  muteInFlight: false, // our own mute/unmute: the server's answer is not in yet
  reminded: false,
  levels: {}, // user id -> mixer RMS, from `levels` messages
  playback: null, // a private Space's signed URLs (GET …/playback), while fresh
  playbackAsked: null, // for which kind ("live" | "replay") they were last asked
  replayWanted: false, // the person pressed Play replay (it never starts by itself)
  notices: { audience: "", stage: "", host: "" }, // space-notices.js writes these
};

// Space answers accepted so far. A GET answered after a live event (or an action's
// answer) brought a newer Space must not put the older one back.
let accepted = 0;

/** A mark to pass to accept() for an answer asked for now (a GET). */
export const mark = () => accepted;

/**
 * Take `fresh` as the Space; with `since` (a mark), only if nothing newer came
 * meanwhile. `reminder: false` for a live `change`: it says what we may do, but not
 * whether we asked for a reminder (only answers to our own requests know that).
 */
export function accept(fresh, { since = accepted, reminder = true } = {}) {
  if (since !== accepted) return false;
  accepted += 1;
  state.space = fresh;
  if (reminder) state.reminded = Boolean(fresh.reminded);
  return true;
}

/** A live message changed part of the Space (it is newer than any GET in flight). */
export function patch(change) {
  if (!state.space) return false;
  accepted += 1;
  change(state.space);
  return true;
}

const NOBODY = Object.freeze({ id: null, role: "anonymous", can: Object.freeze([]) });

/**
 * The mixer's list of who is on stage (every `levels` message carries it): correct
 * any speaker a missed or late `stage` message left wrong (a feed reconnecting after
 * a node was lost). True if anything changed.
 */
export function syncStage(onStage) {
  const live = new Set(onStage);
  const wrong = (state.space?.speakers ?? []).filter((s) => s.on_stage !== live.has(s.id));
  if (!wrong.length) return false;
  return patch(() => wrong.forEach((s) => (s.on_stage = live.has(s.id))));
}

/** Who we are in this Space, as the server says (anonymous until it has said). */
export const you = () => state.space?.you ?? NOBODY;

/** May we do this Space-level action now? */
export const may = (action) => !state.denied && you().can.includes(action);

/** May we do this to that person (a speaker, hand, invitee or guest entry) now? */
export const mayTo = (person, action) => !state.denied && Boolean(person.can?.includes(action));

/** Is this one of us (by the id the server gave us)? */
export const isYou = (person) => you().id != null && person.id === you().id;

export const includesYou = (people) => people.some(isYou);

export const yourSpeakerEntry = () => state.space?.speakers.find(isYou);

export const isOver = () => FINAL.has(state.space?.state);
