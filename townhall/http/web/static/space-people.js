// People on the page, as faces: the speakers' grid (speaking rings from the mixer's
// levels, muted badges, an "off stage" look), the listener roster (GET …/listeners),
// the host panel's lists (requests to speak, invited, the guest list), and the sheet a
// face opens. Every button on a person is exactly the server's `can` for that person:
// the page never decides what may be done to whom.
import { el, get } from "./api.js";
import { profileUrl } from "./cards.js";
import { plural } from "./format.js";
import { isOver, isYou, mayTo, state } from "./space-state.js";
import { apiBase, ui } from "./space-ui.js";

// Mixer RMS above this counts as speaking (the fake 0.3-amplitude tone is ~0.2, quiet
// speech ~0.02, a silent microphone < 0.001).
const SPEAKING_RMS = 0.01;
const ROLE_LABELS = { host: "Host", cohost: "Co-host", speaker: "Speaker" };
// Faces shown in the roster; everyone else is "and N others".
const ROSTER_FACES = 12;
// The roster is asked for at most this often (the players' beacon interval: nobody
// appears in it sooner), unless something we did changed it.
const ROSTER_EVERY_MS = 10_000;

// A `can` entry -> its button: label, data-act (what space-actions.js runs), style.
// Also the order in the sheet: the common, gentle actions first, the final ones last.
const BUTTONS = {
  invite: ["Invite to speak", "invite", ""],
  approve_hand: ["Approve", "approve", ""],
  decline_hand: ["Decline", "decline", "secondary"],
  mute: ["Mute", "mute", "secondary"],
  add_cohost: ["Make co-host", "cohost", "secondary"],
  remove_cohost: ["Remove co-host", "uncohost", "secondary"],
  remove_guest: ["Uninvite", "unlisten", "secondary"],
  remove: ["Remove", "remove", "secondary"],
  block: ["Block", "block", "danger"],
};

/** The buttons for what we may do to `person`, in the order of `actions`. */
function buttonsFor(person, actions) {
  if (isOver()) return []; // a finished Space's page is its replay, not a control room
  return actions
    .filter((action) => mayTo(person, action))
    .map((action) => {
      const [label, act, style] = BUTTONS[action];
      return el(
        "button",
        { type: "button", class: `small ${style}`.trim(), "data-act": act, "data-user-id": String(person.id), disabled: state.busy },
        label,
      );
    });
}

const face = (src, cls) => el("img", { class: cls, src, alt: "", width: 64, height: 64, decoding: "async" });
const nameOf = (person) => person.display_name || person.username;

/** A face that opens the person's sheet (what we may do to them, their profile). */
function faceButton(person, cls, ...inside) {
  return el("button", { type: "button", class: cls, "data-sheet": String(person.id), "aria-haspopup": "dialog" }, ...inside);
}

// -- the host panel's lists ------------------------------------------------------------
function personLine(ref, ...extra) {
  return el(
    "li",
    { class: "person", "data-user-id": String(ref.id) },
    faceButton(ref, "person-face", face(ref.avatar_small_url, "mini-face"), el("span", { class: "person-name" }, nameOf(ref))),
    el("span", { class: "person-actions" }, ...extra),
  );
}

const emptyLine = (text) => el("li", { class: "muted empty" }, text);

export function renderPeopleLists() {
  const { space } = state;
  for (const count of [ui.handCount, ui.toolbarHandCount]) {
    count.textContent = String(space.hands.length);
    count.dataset.count = String(space.hands.length);
  }
  ui.handQueue.replaceChildren(
    ...(space.hands.length
      ? space.hands.map((u) => personLine(u, ...buttonsFor(u, ["approve_hand", "decline_hand"])))
      : [emptyLine(space.state === "live" ? "No requests yet." : "Listeners can ask to speak once you are live.")]),
  );

  ui.invitedBlock.hidden = !space.invited.length;
  ui.invitedCount.textContent = String(space.invited.length);
  ui.invitedList.replaceChildren(
    ...space.invited.map((u) =>
      personLine(u, el("span", { class: "muted small" }, "invited"), ...buttonsFor(u, ["remove"])),
    ),
  );

  // The guest list only means something in a private Space (or once someone is on it).
  ui.guestsBlock.hidden = !space.private && !space.guests.length;
  ui.guestsList.replaceChildren(
    ...(space.guests.length
      ? space.guests.map((u) => personLine(u, ...buttonsFor(u, ["remove_guest"])))
      : [emptyLine("Nobody yet: invite people to listen by username below.")]),
  );
}

// -- the speakers' grid ----------------------------------------------------------------
export function renderSpeakers() {
  const { space } = state;
  ui.speakersCard.hidden = Boolean(state.denied) || space.state === "cancelled";
  ui.speakers.replaceChildren(...space.speakers.map(speakerItem));
  renderLevels();
  renderRoster();
  renderSheet();
}

function speakerItem(s) {
  const classes = ["face", "speaker", s.on_stage ? "on-stage" : "off-stage"];
  if (s.muted) classes.push("muted");
  const role = `${ROLE_LABELS[s.role] || s.role}${isYou(s) ? " · you" : ""}`;
  const ring = el("span", { class: "face-ring" }, face(s.avatar_url, "face-img"));
  if (s.muted) ring.append(el("span", { class: "face-badge muted-tag", role: "img", "aria-label": "muted", title: "Muted" }, "🔇"));
  const state_ = [];
  if (!s.on_stage && state.space.state === "live") state_.push(el("span", { class: "face-away" }, "off stage"));
  return el(
    "li",
    { class: classes.join(" "), "data-user-id": String(s.id), "data-role": s.role },
    faceButton(
      s,
      "face-button",
      ring,
      el("span", { class: "face-name" }, nameOf(s)),
      el("span", { class: "face-role" }, role, ...state_),
    ),
  );
}

/** Speaking rings from the mixer's levels: classes only, no re-render. */
export function renderLevels() {
  for (const item of ui.speakers.children) {
    const level = state.levels[item.dataset.userId] || 0;
    item.classList.toggle("speaking", level > SPEAKING_RMS && !item.classList.contains("muted"));
  }
}

// -- who is listening --------------------------------------------------------------------
let roster = { people: [], anonymous: 0, total: 0 };
let rosterAsked = 0;
let rosterInFlight = false;
let rosterTimer = null;

/**
 * Ask the server who is listening (at most every ROSTER_EVERY_MS; `now` after
 * something we did changed it). Quiet on failure: the roster is a nicety.
 */
export async function refreshRoster({ now = false } = {}) {
  const { space } = state;
  if (!space || space.state !== "live" || state.denied) return;
  const wait = rosterAsked + ROSTER_EVERY_MS - Date.now();
  if (!now && wait > 0) {
    rosterTimer ??= setTimeout(() => {
      rosterTimer = null;
      refreshRoster();
    }, wait);
    return;
  }
  if (rosterInFlight) return;
  rosterInFlight = true;
  rosterAsked = Date.now();
  try {
    roster = await get(`${apiBase}/listeners`);
    renderRoster();
    renderSheet();
  } catch (_) {
    /* the next audience event asks again */
  } finally {
    rosterInFlight = false;
  }
}

export function renderRoster() {
  const { space } = state;
  ui.roster.hidden = !space || space.state !== "live" || Boolean(state.denied);
  if (ui.roster.hidden) return;
  const shown = roster.people.slice(0, ROSTER_FACES);
  ui.rosterFaces.replaceChildren(
    ...shown.map((p) =>
      el(
        "li",
        { class: "roster-face", "data-user-id": String(p.id) },
        faceButton(p, "face-button small-face", face(p.avatar_small_url, "roster-img"), el("span", { class: "roster-name" }, nameOf(p))),
      ),
    ),
  );
  const others = Math.max(0, roster.total - shown.length);
  let text = "";
  if (!roster.total) text = "Nobody is listening yet.";
  else if (!shown.length) text = `${plural(roster.total, "listener")}`;
  else if (others) text = `and ${plural(others, "other")}`;
  if (roster.anonymous) text += ` (${roster.anonymous} not signed in)`;
  ui.rosterMore.textContent = text.trim();
}

// -- the sheet a face opens --------------------------------------------------------------
let sheetFor = null; // the id of the person whose sheet is open

/** Anyone the page knows: the Space's lists first (freshest), then the roster. */
export function findPerson(id) {
  const { speakers = [], hands = [], invited = [], guests = [] } = state.space || {};
  return [...speakers, ...hands, ...invited, ...guests, ...roster.people].find((p) => p.id === id) || null;
}

export function openSheet(id) {
  sheetFor = id;
  ui.sheetStatus.replaceChildren();
  renderSheet();
  if (sheetFor !== null && !ui.sheet.open) ui.sheet.showModal();
}

export function closeSheet() {
  sheetFor = null;
  if (ui.sheet.open) ui.sheet.close();
}

export function renderSheet() {
  if (sheetFor === null) return;
  const person = findPerson(sheetFor);
  if (!person || state.denied) {
    closeSheet();
    return;
  }
  ui.sheetFace.src = person.avatar_url;
  ui.sheetName.textContent = nameOf(person);
  ui.sheetProfile.href = profileUrl(person.username);
  ui.sheetProfile.textContent = `@${person.username}`;
  const speaker = state.space.speakers.find((s) => s.id === person.id);
  const bits = [];
  if (speaker) bits.push(ROLE_LABELS[speaker.role] || speaker.role);
  else bits.push("Listening");
  if (speaker?.muted) bits.push("muted");
  if (isYou(person)) bits.push("you");
  ui.sheetRole.textContent = `· ${bits.join(" · ")}`;
  const buttons = buttonsFor(person, Object.keys(BUTTONS));
  ui.sheetActions.replaceChildren(...buttons);
  ui.sheetActions.hidden = !buttons.length;
}

ui.sheet.addEventListener("close", () => (sheetFor = null));
// A tap on the backdrop (outside the sheet's box) closes it, as on a phone.
ui.sheet.addEventListener("click", (event) => {
  if (event.target === ui.sheet) closeSheet();
});
// Any face, anywhere on the page, opens its sheet.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-sheet]");
  if (button) openSheet(Number(button.dataset.sheet));
});
