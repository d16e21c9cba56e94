// People on the page: the speakers (with speaking rings), and the host panel's lists
// (requests to speak, invited, the guest list). Each person's buttons are exactly
// the server's `can` for that person.
import { el } from "./api.js";
import { profileUrl } from "./cards.js";
import { isOver, isYou, mayTo, state } from "./space-state.js";
import { ui } from "./space-ui.js";

// Mixer RMS above this counts as speaking (the fake 0.3-amplitude tone is ~0.2, quiet
// speech ~0.02, a silent microphone < 0.001).
const SPEAKING_RMS = 0.01;
const ROLE_LABELS = { host: "Host", cohost: "Co-host", speaker: "Speaker" };

// A `can` entry -> its button: label, data-act (what space-actions.js runs), style.
const BUTTONS = {
  approve_hand: ["Approve", "approve", ""],
  decline_hand: ["Decline", "decline", "secondary"],
  mute: ["Mute", "mute", "secondary"],
  remove: ["Remove", "remove", "secondary"],
  remove_cohost: ["Remove co-host", "uncohost", "secondary"],
  add_cohost: ["Make co-host", "cohost", "secondary"],
  remove_guest: ["Uninvite", "unlisten", "secondary"],
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

function personLine(ref, ...extra) {
  return el(
    "li",
    { class: "person", "data-user-id": String(ref.id) },
    el("a", { href: profileUrl(ref.username), class: "person-name" }, `@${ref.username}`),
    el("span", { class: "person-actions" }, ...extra),
  );
}

const emptyLine = (text) => el("li", { class: "muted empty" }, text);

export function renderPeopleLists() {
  const { space } = state;
  ui.handCount.textContent = String(space.hands.length);
  ui.handCount.dataset.count = String(space.hands.length);
  ui.handQueue.replaceChildren(
    ...(space.hands.length
      ? space.hands.map((u) => personLine(u, ...buttonsFor(u, ["approve_hand", "decline_hand", "remove", "block"])))
      : [emptyLine(space.state === "live" ? "No requests yet." : "Listeners can ask to speak once you are live.")]),
  );

  ui.invitedBlock.hidden = !space.invited.length;
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

export function renderSpeakers() {
  const { space } = state;
  ui.speakersCard.hidden = Boolean(state.denied) || space.state === "cancelled";
  ui.speakers.replaceChildren(...space.speakers.map(speakerItem));
  renderLevels();
}

function speakerItem(s) {
  const classes = ["speaker"];
  if (s.on_stage) classes.push("on-stage");
  if (s.muted) classes.push("muted");
  const badges = el("span", { class: "speaker-badges" });
  if (s.muted) badges.append(el("span", { class: "tag muted-tag", title: "Muted" }, "🔇 Muted"));
  if (s.on_stage) badges.append(el("span", { class: "tag stage-tag" }, "On stage"));
  const item = el(
    "li",
    { class: classes.join(" "), "data-user-id": String(s.id), "data-role": s.role },
    el("span", { class: "avatar", "aria-hidden": "true" }, s.username.slice(0, 1).toUpperCase()),
    el("a", { class: "speaker-name", href: profileUrl(s.username) }, `@${s.username}`),
    el(
      "span",
      { class: "speaker-sub" },
      el("span", { class: "muted speaker-role" }, `${ROLE_LABELS[s.role] || s.role}${isYou(s) ? " · you" : ""}`),
      badges,
    ),
  );
  const actions = buttonsFor(s, ["mute", "remove", "remove_cohost", "add_cohost", "block"]);
  if (actions.length) item.append(el("span", { class: "speaker-actions" }, ...actions));
  return item;
}

/** Speaking rings from the mixer's levels: classes only, no re-render. */
export function renderLevels() {
  for (const item of ui.speakers.children) {
    const level = state.levels[item.dataset.userId] || 0;
    item.classList.toggle("speaking", level > SPEAKING_RMS);
  }
}
