// Rendering the Space page from the state. Which controls show comes from the
// server's `you.can` (and each person's `can`); the page only chooses how to show them.
import { el } from "./api.js";
import { profileUrl } from "./cards.js";
import { STATE_LABELS, duration, fromNow, when } from "./format.js";
import { renderEnd } from "./space-end.js";
import { renderPlayer } from "./space-listen.js";
import { denialText } from "./space-notices.js";
import { renderPeopleLists, renderSpeakers } from "./space-people.js";
import { includesYou, isOver, may, state, you } from "./space-state.js";
import { apiBase, root, ui } from "./space-ui.js";

// Holding any of these shows the card they live on. A finished Space's page is its
// replay, so the stage and host cards stay hidden then whatever is still offered.
const AUDIENCE_ACTIONS = ["raise_hand", "lower_hand", "accept_invitation"];
const STAGE_ACTIONS = ["go_live", "publish", "step_down", "mute_self", "unmute_self"];
const HOST_ACTIONS = ["invite", "manage_listeners", "pin_link", "mute_all", "add_cohost", "block", "end", "cancel"];
const mayAny = (actions) => actions.some(may);
const signinUrl = () => `/signin?next=${encodeURIComponent(location.pathname)}`;

export function renderListeners() {
  const { space } = state;
  const show = space.state === "live" || space.state === "scheduled";
  ui.listeners.hidden = !show || Boolean(state.denied);
  ui.listeners.textContent =
    space.state === "live" ? `${space.listeners} listening` : `${space.listeners} waiting`;
}

function whenText(space) {
  if (space.state === "ended") return `Ended ${when(space.ended_at)} · ${duration(space.started_at, space.ended_at)}`;
  if (space.state === "live") return `Live since ${when(space.started_at)}`;
  if (space.state === "cancelled") return "Cancelled";
  return space.scheduled_start ? `Starts ${when(space.scheduled_start)}` : "Starts when the host goes live";
}

function renderHeader({ reactions }) {
  const { space } = state;
  document.title = `${space.title} · Townhall`;
  ui.title.textContent = space.title;
  ui.state.textContent = STATE_LABELS[space.state] || space.state;
  ui.state.dataset.state = space.state;
  root.dataset.state = space.state;
  ui.privateBadge.hidden = !space.private;
  ui.host.textContent = `@${space.host.username}`;
  ui.host.href = profileUrl(space.host.username);
  ui.topics.replaceChildren(...space.topics.map((t) => el("span", { class: "topic" }, t)));
  ui.topics.hidden = !space.topics.length;
  ui.description.textContent = space.description;
  ui.description.hidden = !space.description;
  ui.when.textContent = whenText(space);
  ui.pinned.hidden = !space.pinned_url || Boolean(state.denied);
  if (space.pinned_url) {
    ui.pinnedLink.href = space.pinned_url;
    ui.pinnedLink.textContent = space.pinned_url.replace(/^https?:\/\//, "");
  }
  // Audience figures are public: linked for everyone once there is something to count.
  ui.analyticsLine.hidden = !(space.state === "live" || space.state === "ended");
  reactions.enabled = may("react");
  if (state.denied) ui.reactionStatus.hidden = true;
  renderListeners();
}

export function renderSoon() {
  const { space, reminded } = state;
  ui.soonCard.hidden = space.state !== "scheduled" || Boolean(state.denied);
  if (space.scheduled_start) {
    ui.soonTime.textContent = when(space.scheduled_start);
    ui.soonTime.dateTime = space.scheduled_start;
    ui.soonRelative.textContent = `(${fromNow(space.scheduled_start)})`;
  } else {
    ui.soonTime.textContent = "When the host is ready";
    ui.soonRelative.textContent = "";
  }
  // Whoever is to start the Space needs no reminder of it.
  ui.remind.hidden = !may("remind") || may("go_live");
  ui.remind.textContent = reminded ? "Reminded ✓" : "Remind me";
  ui.remind.classList.toggle("secondary", reminded);
  ui.remind.setAttribute("aria-pressed", String(reminded));
  ui.remindSignin.hidden = you().role !== "anonymous";
  ui.remindSignin.href = signinUrl();
  ui.calendar.href = `${apiBase}/calendar.ics`;
}

function renderAudience() {
  const { space, notices } = state;
  const anonymous = you().role === "anonymous";
  // Signed out, a live Space's card asks them to sign in to request to speak.
  const show = mayAny(AUDIENCE_ACTIONS) || (anonymous && space.state === "live");
  ui.audienceCard.hidden = Boolean(state.denied) || !show;
  const invited = may("accept_invitation");
  // An invitation beats a request: offer the one thing that gets them on stage.
  ui.raiseHand.hidden = !may("raise_hand") || invited;
  ui.lowerHand.hidden = !may("lower_hand");
  ui.acceptInvitation.hidden = !invited;
  ui.speakSignin.hidden = !anonymous;
  ui.speakSignin.href = signinUrl();
  for (const button of [ui.raiseHand, ui.lowerHand, ui.acceptInvitation]) button.disabled = state.busy;
  let status = notices.audience;
  if (invited) status = "The host invited you to speak. Accept to join the speakers.";
  else if (includesYou(space.hands)) status = "✋ Your request is waiting for the host.";
  ui.audienceStatus.textContent = status;
}

function renderStage({ publisher }) {
  const { space, notices } = state;
  const muted = publisher.muted;
  ui.stageCard.hidden = Boolean(state.denied) || isOver() || !(publisher.onStage || mayAny(STAGE_ACTIONS));
  ui.goLive.hidden = !may("go_live");
  ui.joinStage.hidden = !may("publish") || publisher.onStage;
  ui.mute.hidden = !publisher.onStage;
  ui.leaveStage.hidden = !publisher.onStage;
  ui.stepDown.hidden = !may("step_down");
  ui.mute.textContent = muted ? "Unmute" : "Mute";
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.originalSound.disabled = publisher.onStage;
  for (const button of [ui.goLive, ui.joinStage, ui.mute, ui.leaveStage, ui.stepDown]) button.disabled = state.busy;

  let status = "";
  if (publisher.error) status = publisher.error;
  else if (publisher.state === "connecting") status = "Connecting your microphone…";
  else if (publisher.state === "reconnecting") status = "Connection interrupted, reconnecting…";
  else if (publisher.state === "connected") {
    status = muted
      ? notices.stage || "You are muted."
      : "● You are live on stage. You hear the other speakers directly, without delay.";
  } else if (space.state === "scheduled") {
    status = may("go_live") ? "Go live when you are ready." : "Waiting for the host to go live.";
  } else if (notices.stage) status = notices.stage;
  ui.stageStatus.textContent = status;
  ui.stageStatus.dataset.state = publisher.state === "connected" && muted ? "muted" : publisher.state;
}

function renderHostPanel() {
  const { space } = state;
  renderHostToolbar();
  ui.hostCard.hidden = Boolean(state.denied) || isOver() || !mayAny(HOST_ACTIONS);
  if (ui.hostCard.hidden) return;
  ui.hostHeading.textContent = you().role === "host" ? "Host controls" : "Co-host controls";
  renderPeopleLists();
  // Someone not in the room, by username: only what the server offers on the Space.
  ui.inviteUser.hidden = !may("invite");
  // Listening by invitation is what a private Space is about; a public one is open.
  ui.listenUser.hidden = !space.private || !may("manage_listeners");
  ui.cohostUser.hidden = !may("add_cohost");
  ui.personBlock.hidden = ui.inviteUser.hidden && ui.listenUser.hidden && ui.cohostUser.hidden;
  ui.inviteBlock.hidden = !may("invite");
  ui.pinBlock.hidden = !may("pin_link");
  ui.unpin.hidden = !space.pinned_url;
  for (const button of ui.hostCard.querySelectorAll("button")) {
    if (button !== ui.copyInvite) button.disabled = state.busy;
  }
  ui.hostStatus.textContent = state.notices.host;
}

/** End, Cancel, Mute all at the top of the page, where the host looks first. */
function renderHostToolbar() {
  const { space } = state;
  const open = !state.denied && !isOver();
  // Before the start the server offers both: cancelling is what the person means.
  ui.end.hidden = !open || !may("end") || may("cancel");
  ui.cancel.hidden = !open || !may("cancel");
  ui.muteAll.hidden = !open || !may("mute_all");
  ui.handsLink.hidden = !open || space.state !== "live" || !mayAny(HOST_ACTIONS);
  ui.hostToolbar.hidden = ui.end.hidden && ui.cancel.hidden && ui.muteAll.hidden && ui.handsLink.hidden;
  for (const button of [ui.end, ui.cancel, ui.muteAll]) button.disabled = state.busy;
}

function renderDenied() {
  ui.removedCard.hidden = !state.denied;
  if (!state.denied) return;
  const [heading, hint] = denialText(state.denied);
  ui.removedMessage.textContent = heading;
  ui.removedHint.textContent = hint;
}

/** Everything, from the state. `page`: {player, publisher, reactions, render}. */
export function render(page) {
  renderDenied();
  if (!state.space) {
    // Refused before we ever saw the Space (removed, blocked, private).
    if (state.denied) {
      for (const card of [ui.playerCard, ui.soonCard, ui.speakersCard]) card.hidden = true;
    }
    return;
  }
  renderHeader(page);
  ui.cancelledCard.hidden = state.space.state !== "cancelled" || Boolean(state.denied);
  renderEnd();
  ui.cancelledHostLink.href = profileUrl(state.space.host.username);
  // Who cancelled it: the host, or nobody started it in time (the server says which).
  ui.cancelledReason.textContent = state.space.end_reason === "never_started"
    ? "Nobody started it: it was cancelled hours after its start time."
    : "The host cancelled it before it started.";
  renderSoon();
  renderAudience();
  renderStage(page);
  renderHostPanel();
  renderSpeakers();
  renderPlayer(page);
}
