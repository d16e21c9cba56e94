// The Space page, for every role. It follows the Space live over Server-Sent Events
// (livefeed.js; polling only if the stream keeps failing), plays it (waiting room,
// live, then the replay), and shows each person their controls: listeners request to
// speak, speakers publish over WHIP, the host and co-hosts moderate.
//
// Live `change` messages carry a viewer-neutral Space, so our own role is computed
// here from our user id against `space.host` and `space.speakers`.
import { del, el, get, localUrl, post, put, showError } from "./api.js";
import { hostLink, profileUrl } from "./cards.js";
import { STATE_LABELS, duration, fromNow, plural, when } from "./format.js";
import { LiveFeed } from "./livefeed.js";
import { currentUser } from "./nav.js";
import { Player } from "./player.js";
import { Publisher } from "./publisher.js";
import { Reactions } from "./reactions.js";

const root = document.getElementById("space");
const spaceId = root.dataset.spaceId;
const apiBase = `/api/spaces/${encodeURIComponent(spaceId)}`;
const $ = (id) => document.getElementById(id);

const FINAL = new Set(["ended", "cancelled"]);
const ON_STAGE_ROLES = new Set(["host", "cohost", "speaker"]);
// Mixer RMS above this counts as speaking (the fake 0.3-amplitude tone is ~0.2, quiet
// speech ~0.02, a silent microphone < 0.001).
const SPEAKING_RMS = 0.01;
// A `levels` message whose speakers differ from the last one means someone joined or
// left the stage (which is not a room event): refresh the Space at most this often.
const STAGE_REFRESH_MS = 2000;
// Our own "Cancel request" shows up as HandLowered too: not a decline.
const SELF_LOWER_GRACE_MS = 5000;
const ROLE_LABELS = { host: "Host", cohost: "Co-host", speaker: "Speaker" };

const ui = {
  title: $("space-title"),
  state: $("space-state"),
  host: $("space-host"),
  listeners: $("listener-count"),
  analyticsLine: $("analytics-line"),
  replayAnalytics: $("replay-analytics"),
  topics: $("space-topics"),
  description: $("space-description"),
  when: $("space-when"),
  pinned: $("pinned"),
  pinnedLink: $("pinned-link"),
  removedCard: $("removed-card"),
  removedMessage: $("removed-message"),
  cancelledCard: $("cancelled-card"),
  cancelledHostLink: $("cancelled-host-link"),
  soonCard: $("soon-card"),
  soonTime: $("soon-time"),
  soonRelative: $("soon-relative"),
  remind: $("remind-button"),
  remindSignin: $("remind-signin"),
  calendar: $("calendar-link"),
  playerCard: $("player-card"),
  playerHeading: $("player-heading"),
  playerStatus: $("player-status"),
  audienceCard: $("audience-card"),
  raiseHand: $("raise-hand-button"),
  lowerHand: $("lower-hand-button"),
  acceptInvitation: $("accept-invitation-button"),
  speakSignin: $("speak-signin"),
  audienceStatus: $("audience-status"),
  stageCard: $("stage-card"),
  stageStatus: $("stage-status"),
  originalSound: $("original-sound"),
  goLive: $("go-live-button"),
  joinStage: $("join-stage-button"),
  mute: $("mute-button"),
  leaveStage: $("leave-stage-button"),
  stepDown: $("step-down-button"),
  hostCard: $("host-card"),
  hostHeading: $("host-heading"),
  handCount: $("hand-count"),
  handQueue: $("hand-queue"),
  invitedBlock: $("invited-block"),
  invitedList: $("invited-list"),
  guestsBlock: $("guests-block"),
  guestsList: $("guests-list"),
  listenUser: $("listen-user-button"),
  privateBadge: $("private-badge"),
  personForm: $("person-form"),
  personUsername: $("person-username"),
  cohostUser: $("cohost-user-button"),
  blockUser: $("block-user-button"),
  invite: $("invite-button"),
  inviteBox: $("invite-box"),
  inviteUrl: $("invite-url"),
  copyInvite: $("copy-invite-button"),
  pinForm: $("pin-form"),
  pinUrl: $("pin-url"),
  unpin: $("unpin-button"),
  muteAll: $("mute-all-button"),
  end: $("end-button"),
  cancel: $("cancel-button"),
  hostStatus: $("host-status"),
  speakersCard: $("speakers-card"),
  speakers: $("speakers"),
};

const params = new URLSearchParams(location.search);
ui.originalSound.checked = params.get("original_sound") === "1";

const player = new Player($("player-audio"), {
  status: ui.playerStatus,
  listenButton: $("listen-button"),
  meter: $("player-meter"),
});
const publisher = new Publisher(spaceId, { mixMinusAudio: $("mixminus-audio"), onChange: render });
const reactions = new Reactions({
  bar: $("reaction-bar"),
  overlay: $("reaction-overlay"),
  status: $("reaction-status"),
  url: `${apiBase}/reactions`,
});

let space = null; // the latest Space JSON
let me = null; // the signed-in user ({id, username}) or null
let reminded = false;
let removed = null; // why we may not be here any more, once removed or blocked
let levels = {}; // user id -> mixer RMS, from `levels` messages
let levelKeys = "";
let busy = false; // a button's request is in flight
let muteInFlight = false;
let selfLoweredAt = 0;
let audienceNotice = ""; // news for a listener: approved, declined, invited
let stageNotice = ""; // news for a speaker: muted by a host, made co-host
let hostNotice = "";
let playback = null; // a private Space's signed URLs (GET …/playback), while fresh
let playbackAsked = null; // for which kind ("live" | "replay") it was last asked

window.townhallPlayer = player;
window.townhallPublisher = publisher;
window.townhallSpace = () => ({ space, me, role: myRole(), removed, feed: feed.mode });

// -- who am I here -------------------------------------------------------------------
function roleOf(userId) {
  if (!space || userId == null) return "listener";
  if (space.host.id === userId) return "host";
  return space.speakers.find((s) => s.id === userId)?.role || "listener";
}
const myRole = () => (me ? roleOf(me.id) : "anonymous");
const isModerator = () => ["host", "cohost"].includes(myRole());
const mySpeaker = () => (me && space ? space.speakers.find((s) => s.id === me.id) : undefined);
const includesMe = (refs) => Boolean(me && refs.some((u) => u.id === me.id));

// -- state from the server --------------------------------------------------------------
// Space states applied so far: a GET answered after a live event (or an action's answer)
// brought a newer state must not put the older one back.
let statesApplied = 0;

function applySpace(fresh) {
  statesApplied += 1;
  space = fresh;
  // Only answers made for us know whether we asked for a reminder.
  if (fresh.your_id != null) reminded = fresh.reminded;
  if (publisher.onStage && (FINAL.has(space.state) || !ON_STAGE_ROLES.has(myRole()))) {
    publisher.leave(); // the Space ended, or we are back in the audience
  }
  if (FINAL.has(space.state)) feed.close();
  syncMute();
  render();
}

/** The server decides whether we are muted (a host may mute us): follow it. */
function syncMute() {
  const speaker = mySpeaker();
  if (!publisher.onStage || !speaker || muteInFlight) return;
  if (speaker.muted !== publisher.muted) publisher.setMuted(speaker.muted);
}

function handleEvents(events) {
  for (const event of events) {
    if (!me || event.user_id !== me.id) continue;
    switch (event.type) {
      case "Removed":
        beRemoved(event.blocked ? "The host has blocked you" : "You were removed from this Space");
        return;
      case "RoleChanged":
        if (event.role === "speaker") {
          audienceNotice = "";
          stageNotice = roleOf(me.id) === "cohost" ? "" : "You're a speaker now — join the stage when you're ready.";
        } else if (event.role === "cohost") stageNotice = "You're a co-host now: you can help moderate.";
        else if (event.role === "listener") audienceNotice = "You're back in the audience.";
        break;
      case "SpeakerInvited":
        audienceNotice = "The host invited you to speak.";
        break;
      case "HandLowered":
        if (event.approved) audienceNotice = "";
        else if (Date.now() - selfLoweredAt > SELF_LOWER_GRACE_MS) {
          audienceNotice = "The host declined your request to speak.";
        }
        break;
      case "MuteChanged":
        if (event.by !== me.id) stageNotice = event.muted ? "A host muted you. You can unmute yourself." : "";
        break;
      default:
        break;
    }
  }
}

/** Removed or blocked: stop listening and speaking at once, and say so. */
function beRemoved(message) {
  removed = message;
  feed.close();
  player.stop();
  if (publisher.onStage || publisher.pc) publisher.leave();
  render();
}

function removedMessage(err) {
  return /block/i.test(err.message) ? "The host has blocked you" : "You were removed from this Space";
}

async function refresh() {
  const before = statesApplied;
  try {
    const fresh = await get(apiBase);
    if (statesApplied === before) applySpace(fresh);
    return !FINAL.has(space.state);
  } catch (err) {
    if (err.status === 403) {
      beRemoved(removedMessage(err));
      return false;
    }
    showError(err);
    return true;
  }
}

let stageRefreshTimer = null;
let lastStageRefresh = 0;
function refreshStageSoon() {
  if (stageRefreshTimer) return;
  const wait = Math.max(0, lastStageRefresh + STAGE_REFRESH_MS - Date.now());
  stageRefreshTimer = setTimeout(() => {
    stageRefreshTimer = null;
    lastStageRefresh = Date.now();
    if (!removed) refresh();
  }, wait);
}

const feed = new LiveFeed(
  `${apiBase}/events`,
  {
    snapshot: (m) => applySpace(m.space),
    change: (m) => {
      handleEvents(m.events || []);
      if (!removed) applySpace(m.space);
    },
    levels: (m) => {
      levels = m.levels || {};
      const keys = Object.keys(levels).sort().join(",");
      if (keys !== levelKeys) {
        levelKeys = keys;
        refreshStageSoon();
      }
      renderLevels();
    },
    audience: (m) => {
      if (!space) return;
      space.listeners = m.listeners;
      renderListeners();
    },
    reaction: (m) => reactions.show(m.emoji, m.user),
    pinned: (m) => {
      if (!space) return;
      space.pinned_url = m.url;
      render();
    },
  },
  {
    poll: refresh,
    onClosed: async () => {
      // Refused: removed (403), or the stream is broken and the Space still viewable.
      if (await refresh()) feed.fallBackToPolling();
    },
  },
);

// -- rendering ----------------------------------------------------------------------------
function renderListeners() {
  const show = space.state === "live" || space.state === "scheduled";
  ui.listeners.hidden = !show || removed;
  ui.listeners.textContent =
    space.state === "live" ? `${space.listeners} listening` : `${space.listeners} waiting`;
}

function renderHeader() {
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
  ui.when.textContent =
    space.state === "ended"
      ? `Ended ${when(space.ended_at)} · ${duration(space.started_at, space.ended_at)}`
      : space.state === "live"
        ? `Live since ${when(space.started_at)}`
        : space.state === "cancelled"
          ? "Cancelled"
          : space.scheduled_start
            ? `Starts ${when(space.scheduled_start)}`
            : "Starts when the host goes live";
  ui.pinned.hidden = !space.pinned_url || Boolean(removed);
  // Audience figures are public: linked for everyone once there is something to count.
  ui.analyticsLine.hidden = !(space.state === "live" || space.state === "ended");
  reactions.enabled = space.state === "live" && !removed;
  if (removed) $("reaction-status").hidden = true;
  if (space.pinned_url) {
    ui.pinnedLink.href = space.pinned_url;
    ui.pinnedLink.textContent = space.pinned_url.replace(/^https?:\/\//, "");
  }
  renderListeners();
}

function renderSoon() {
  const role = myRole();
  ui.soonCard.hidden = space.state !== "scheduled" || Boolean(removed);
  if (space.scheduled_start) {
    ui.soonTime.textContent = when(space.scheduled_start);
    ui.soonTime.dateTime = space.scheduled_start;
    ui.soonRelative.textContent = `(${fromNow(space.scheduled_start)})`;
  } else {
    ui.soonTime.textContent = "When the host is ready";
    ui.soonRelative.textContent = "";
  }
  ui.remind.hidden = !me || role === "host";
  ui.remind.textContent = reminded ? "Reminded ✓" : "Remind me";
  ui.remind.classList.toggle("secondary", reminded);
  ui.remind.setAttribute("aria-pressed", String(reminded));
  ui.remindSignin.hidden = Boolean(me);
  ui.remindSignin.href = `/signin?next=${encodeURIComponent(location.pathname)}`;
  ui.calendar.href = `${apiBase}/calendar.ics`;
}

function renderPlayer() {
  // On stage, a speaker hears the others live (mix-minus), not the delayed program.
  const hostWaiting = space.state === "scheduled" && myRole() === "host";
  const show = !removed && space.state !== "cancelled" && !publisher.onStage && !hostWaiting;
  ui.playerCard.hidden = !show;
  ui.replayAnalytics.hidden = !show || space.state !== "ended";
  if (!show) {
    player.stop();
    return;
  }
  const urls = streamUrls();
  if (!urls) {
    player.stop();
    ui.playerStatus.textContent = "Getting your listening link…";
    return;
  }
  if (space.state === "live" || space.state === "scheduled") {
    // The waiting room and the live Space are one stream: going live must not reload
    // the player (same URL and kind: Player.play keeps playing).
    ui.playerHeading.textContent = space.state === "live" ? "Listen live" : "Waiting room";
    player.note = space.state === "scheduled" ? "● Waiting room · the Space starts here" : null;
    player.play(localUrl(urls.live, space), "live", {
      beaconUrl: `${apiBase}/beacon`,
      refresh: space.private ? () => freshUrl("live") : null,
    });
  } else if (space.state === "ended" && urls.replay) {
    ui.playerHeading.textContent = "Replay";
    player.note = null;
    // Someone listening when the Space ends goes straight on into the replay; a page
    // opened on an ended Space waits for its play button.
    const audio = player.audio;
    const wasListening =
      player.kind === "live" && !player.blocked && audio.currentTime > 0 && (!audio.paused || audio.ended);
    player.play(localUrl(urls.replay, space), "replay", {
      autoplay: wasListening,
      refresh: space.private ? () => freshUrl("replay") : null,
    });
  } else {
    player.stop();
    ui.playerHeading.textContent = "Listen";
    ui.playerStatus.textContent = "This Space has ended; no replay is available.";
  }
}

/**
 * The stream's URLs: a public Space's plain ones, a private Space's signed ones from
 * GET …/playback (asked once, again when the Space ends for the replay's, and again
 * by the player when a URL stops working); null while being asked.
 */
function streamUrls() {
  if (!space.private) return { live: space.hls_url, replay: space.replay_url };
  if (playback && (space.state !== "ended" || playback.replay)) return playback;
  const want = space.state === "ended" ? "replay" : "live";
  if (playbackAsked !== want) {
    playbackAsked = want;
    get(`${apiBase}/playback`)
      .then((fresh) => {
        playback = fresh;
        render();
      })
      .catch(showError);
  }
  return null;
}

async function freshUrl(kind) {
  playback = await get(`${apiBase}/playback`);
  return localUrl(kind === "live" ? playback.live : playback.replay, space);
}

function renderAudience() {
  const role = myRole();
  const listening = role === "listener" || role === "anonymous";
  const handUp = includesMe(space.hands);
  const invited = includesMe(space.invited);
  ui.audienceCard.hidden = Boolean(removed) || space.state !== "live" || !listening;
  ui.raiseHand.hidden = !me || handUp || invited;
  ui.lowerHand.hidden = !me || !handUp;
  ui.acceptInvitation.hidden = !me || !invited;
  ui.speakSignin.hidden = Boolean(me);
  ui.speakSignin.href = `/signin?next=${encodeURIComponent(location.pathname)}`;
  for (const button of [ui.raiseHand, ui.lowerHand, ui.acceptInvitation]) button.disabled = busy;
  let status = audienceNotice;
  if (invited) status = "The host invited you to speak. Accept to join the speakers.";
  else if (handUp) status = "✋ Your request is waiting for the host.";
  ui.audienceStatus.textContent = status;
}

function renderStage() {
  const role = myRole();
  const live = space.state === "live";
  const muted = publisher.muted;
  ui.stageCard.hidden = Boolean(removed) || !ON_STAGE_ROLES.has(role) || FINAL.has(space.state);
  ui.goLive.hidden = !(role === "host" && space.state === "scheduled");
  ui.joinStage.hidden = !(live && !publisher.onStage);
  ui.mute.hidden = !publisher.onStage;
  ui.leaveStage.hidden = !publisher.onStage;
  ui.stepDown.hidden = !(live && (role === "speaker" || role === "cohost"));
  ui.mute.textContent = muted ? "Unmute" : "Mute";
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.originalSound.disabled = publisher.onStage;
  for (const button of [ui.goLive, ui.joinStage, ui.mute, ui.leaveStage, ui.stepDown]) button.disabled = busy;

  let status = "";
  if (publisher.error) status = publisher.error;
  else if (publisher.state === "connecting") status = "Connecting your microphone…";
  else if (publisher.state === "reconnecting") status = "Connection interrupted, reconnecting…";
  else if (publisher.state === "connected") {
    status = muted
      ? stageNotice || "You are muted."
      : "● You are live on stage. You hear the other speakers directly, without delay.";
  } else if (space.state === "scheduled") {
    status = role === "host" ? "Go live when you are ready." : "Waiting for the host to go live.";
  } else if (stageNotice) status = stageNotice;
  ui.stageStatus.textContent = status;
  ui.stageStatus.dataset.state = publisher.state === "connected" && muted ? "muted" : publisher.state;
}

function smallButton(label, act, userId, extra = {}) {
  return el(
    "button",
    { type: "button", class: `small ${extra.class ?? "secondary"}`, "data-act": act, "data-user-id": String(userId), disabled: busy },
    label,
  );
}

function personLine(ref, ...actions) {
  return el(
    "li",
    { class: "person", "data-user-id": String(ref.id) },
    el("a", { href: profileUrl(ref.username), class: "person-name" }, `@${ref.username}`),
    el("span", { class: "person-actions" }, ...actions),
  );
}

function renderHostPanel() {
  const role = myRole();
  const host = role === "host";
  const live = space.state === "live";
  ui.hostCard.hidden = Boolean(removed) || !isModerator() || FINAL.has(space.state);
  if (ui.hostCard.hidden) return;
  ui.hostHeading.textContent = host ? "Host controls" : "Co-host controls";

  ui.handCount.textContent = String(space.hands.length);
  ui.handCount.dataset.count = String(space.hands.length);
  const hands = space.hands.map((u) =>
    personLine(
      u,
      smallButton("Approve", "approve", u.id, { class: "" }),
      smallButton("Decline", "decline", u.id),
      smallButton("Remove", "remove", u.id),
      ...(host ? [smallButton("Block", "block", u.id, { class: "danger" })] : []),
    ),
  );
  ui.handQueue.replaceChildren(
    ...(hands.length ? hands : [el("li", { class: "muted empty" }, live ? "No requests yet." : "Listeners can ask to speak once you are live.")]),
  );

  ui.invitedBlock.hidden = !space.invited.length;
  ui.invitedList.replaceChildren(
    ...space.invited.map((u) =>
      personLine(u, el("span", { class: "muted small" }, "invited"), smallButton("Remove", "remove", u.id)),
    ),
  );

  ui.guestsBlock.hidden = !space.private && !space.guests.length;
  ui.guestsList.replaceChildren(
    ...(space.guests.length
      ? space.guests.map((u) => personLine(u, smallButton("Uninvite", "unlisten", u.id)))
      : [el("li", { class: "muted empty" }, "Nobody yet: invite people to listen by username below.")]),
  );
  ui.listenUser.hidden = !space.private;
  ui.cohostUser.hidden = !host;
  ui.blockUser.hidden = !host;
  ui.unpin.hidden = !space.pinned_url;
  const others = space.speakers.filter((s) => s.role !== "host" && s.id !== me.id && !s.muted);
  ui.muteAll.hidden = !live;
  ui.muteAll.disabled = busy || !others.length;
  ui.end.hidden = !(host && live);
  ui.cancel.hidden = !(host && space.state === "scheduled");
  for (const button of ui.hostCard.querySelectorAll("button")) {
    if (button !== ui.muteAll && button !== ui.copyInvite) button.disabled = busy;
  }
  ui.hostStatus.textContent = hostNotice;
}

function renderSpeakers() {
  ui.speakersCard.hidden = Boolean(removed) || space.state === "cancelled";
  const moderator = isModerator() && !FINAL.has(space.state);
  const host = myRole() === "host";
  ui.speakers.replaceChildren(
    ...space.speakers.map((s) => {
      const mine = me && s.id === me.id;
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
          el("span", { class: "muted speaker-role" }, `${ROLE_LABELS[s.role] || s.role}${mine ? " · you" : ""}`),
          badges,
        ),
      );
      if (moderator && !mine && s.role !== "host") {
        const actions = [];
        if (!s.muted && space.state === "live") actions.push(smallButton("Mute", "mute", s.id));
        if (host || s.role !== "cohost") actions.push(smallButton("Remove", "remove", s.id));
        if (host) {
          actions.push(
            s.role === "cohost"
              ? smallButton("Remove co-host", "uncohost", s.id)
              : smallButton("Make co-host", "cohost", s.id),
          );
          actions.push(smallButton("Block", "block", s.id, { class: "danger" }));
        }
        item.append(el("span", { class: "speaker-actions" }, ...actions));
      }
      return item;
    }),
  );
  renderLevels();
}

/** Speaking rings from the mixer's levels: classes only, no re-render. */
function renderLevels() {
  for (const item of ui.speakers.children) {
    const level = levels[item.dataset.userId] || 0;
    item.classList.toggle("speaking", level > SPEAKING_RMS);
  }
}

function render() {
  if (!space) {
    // Refused before we ever saw the Space (removed, or blocked by its host).
    ui.removedCard.hidden = !removed;
    if (removed) {
      ui.removedMessage.textContent = removed;
      ui.playerCard.hidden = true;
      ui.soonCard.hidden = true;
      ui.speakersCard.hidden = true;
    }
    return;
  }
  renderHeader();
  ui.removedCard.hidden = !removed;
  if (removed) ui.removedMessage.textContent = removed;
  ui.cancelledCard.hidden = space.state !== "cancelled" || Boolean(removed);
  ui.cancelledHostLink.href = profileUrl(space.host.username);
  renderSoon();
  renderAudience();
  renderStage();
  renderHostPanel();
  renderSpeakers();
  renderPlayer();
}

// -- actions -------------------------------------------------------------------------------
/** Run an action: one at a time, errors shown to the user. */
async function run(fn) {
  if (busy) return;
  busy = true;
  showError(null);
  render();
  try {
    await fn();
  } catch (err) {
    if (err.status === 403 && /removed|block/i.test(err.message)) beRemoved(removedMessage(err));
    else showError(err);
  } finally {
    busy = false;
    render();
  }
}
const action = (button, fn) => button.addEventListener("click", () => run(fn));
const usernameOf = (id) =>
  [...space.speakers, ...space.hands, ...space.invited, ...space.guests].find((u) => u.id === id)?.username || `user ${id}`;

const joinStage = async () => {
  stageNotice = "";
  await publisher.join({ originalSound: ui.originalSound.checked, space });
  syncMute(); // a host may have muted us before we joined
  await refresh();
};

action(ui.goLive, async () => {
  applySpace(await post(`${apiBase}/live`));
  await joinStage();
});
action(ui.joinStage, joinStage);
action(ui.mute, async () => {
  const muted = !publisher.muted;
  publisher.setMuted(muted); // at once, locally; the server mutes us in the mixer too
  muteInFlight = true;
  try {
    stageNotice = "";
    applySpace(await post(`${apiBase}/${muted ? "mute" : "unmute"}`, { user_id: me.id }));
  } catch (err) {
    publisher.setMuted(!muted);
    throw err;
  } finally {
    muteInFlight = false;
    syncMute();
  }
});
action(ui.leaveStage, async () => {
  await publisher.leave();
  await refresh();
});
action(ui.stepDown, async () => {
  if (publisher.onStage) await publisher.leave();
  applySpace(await post(`${apiBase}/step-down`));
});
action(ui.raiseHand, async () => {
  audienceNotice = "";
  applySpace(await post(`${apiBase}/hand`));
});
action(ui.lowerHand, async () => {
  selfLoweredAt = Date.now();
  audienceNotice = "";
  applySpace(await del(`${apiBase}/hand`));
});
action(ui.acceptInvitation, async () => {
  audienceNotice = "";
  applySpace(await post(`${apiBase}/invitation/accept`));
});
action(ui.remind, async () => {
  await (reminded ? del(`${apiBase}/reminder`) : post(`${apiBase}/reminder`));
  reminded = !reminded;
});
action(ui.end, async () => {
  if (!window.confirm("End this Space for everyone? Listeners will get the replay.")) return;
  await publisher.leave();
  applySpace(await post(`${apiBase}/end`));
});
action(ui.cancel, async () => {
  if (!window.confirm("Cancel this Space? Everyone waiting will see it was cancelled.")) return;
  applySpace(await post(`${apiBase}/cancel`));
});
action(ui.muteAll, async () => {
  applySpace(await post(`${apiBase}/mute-all`));
  hostNotice = "Muted every speaker.";
});
action(ui.invite, async () => {
  const invite = await post(`${apiBase}/invites`);
  ui.inviteUrl.value = localUrl(invite.invite_url, space);
  ui.inviteBox.hidden = false;
  ui.inviteUrl.select();
});
ui.copyInvite.addEventListener("click", async () => {
  ui.inviteUrl.select();
  try {
    await navigator.clipboard.writeText(ui.inviteUrl.value);
  } catch (_) {
    document.execCommand("copy"); // clipboard API needs a secure context
  }
  ui.copyInvite.textContent = "Copied";
  setTimeout(() => (ui.copyInvite.textContent = "Copy"), 2000);
});

/** Moderation on one person, by user id. Returns a message for the host panel. */
async function moderate(act, userId, name) {
  const target = { user_id: userId };
  switch (act) {
    case "approve":
      applySpace(await post(`${apiBase}/hands/${userId}/approve`));
      return `Approved @${name}: they can join the stage now.`;
    case "decline":
      applySpace(await post(`${apiBase}/hands/${userId}/decline`));
      return `Declined @${name}'s request.`;
    case "mute":
      applySpace(await post(`${apiBase}/mute`, target));
      return `Muted @${name}.`;
    case "cohost":
      applySpace(await post(`${apiBase}/cohosts`, target));
      return `@${name} is a co-host now.`;
    case "uncohost":
      applySpace(await del(`${apiBase}/cohosts/${userId}`));
      return `@${name} is no longer a co-host.`;
    case "remove":
      if (!window.confirm(`Remove @${name} from this Space? They cannot come back.`)) return "";
      applySpace(await post(`${apiBase}/remove`, target));
      return `Removed @${name}.`;
    case "unlisten":
      applySpace(await del(`${apiBase}/listeners/${encodeURIComponent(name)}`));
      return `@${name} is off the guest list.`;
    case "block":
      if (!window.confirm(`Block @${name}? They are removed and cannot join any of your Spaces.`)) return "";
      applySpace(await post(`${apiBase}/block`, target));
      return `Blocked @${name}.`;
    default:
      throw new Error(`unknown action ${act}`);
  }
}

for (const list of [ui.handQueue, ui.invitedList, ui.guestsList, ui.speakers]) {
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    const userId = Number(button.dataset.userId);
    run(async () => {
      hostNotice = await moderate(button.dataset.act, userId, usernameOf(userId));
    });
  });
}

async function personAction(act) {
  const username = ui.personUsername.value.trim().replace(/^@/, "");
  if (!username) {
    ui.personUsername.reportValidity();
    return;
  }
  await run(async () => {
    if (act === "invite") {
      applySpace(await post(`${apiBase}/speakers`, { username }));
      hostNotice = `Invited @${username} to speak.`;
    } else if (act === "listen") {
      applySpace(await post(`${apiBase}/listeners/${encodeURIComponent(username)}`));
      hostNotice = `@${username} may listen now.`;
    } else {
      const user = await get(`/api/users/${encodeURIComponent(username)}`);
      hostNotice = await moderate(act, user.id, user.username);
    }
    if (hostNotice) ui.personUsername.value = "";
  });
}
ui.personForm.addEventListener("submit", (event) => {
  event.preventDefault();
  personAction("invite");
});
for (const button of ui.personForm.querySelectorAll("button[type=button][data-person]")) {
  button.addEventListener("click", () => personAction(button.dataset.person));
}

ui.pinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  run(async () => {
    applySpace(await put(`${apiBase}/pinned`, { url: ui.pinUrl.value.trim() }));
    ui.pinUrl.value = "";
    hostNotice = "Pinned the link for everyone.";
  });
});
action(ui.unpin, async () => {
  applySpace(await del(`${apiBase}/pinned`));
  hostNotice = "Unpinned the link.";
});

window.addEventListener("pagehide", () => {
  // Best effort: free the speaker slot when the tab closes.
  if (publisher.resource && publisher.token) {
    fetch(publisher.resource, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${publisher.token}` },
      keepalive: true,
    });
  }
});

// -- start -----------------------------------------------------------------------------------
async function start() {
  me = await currentUser;
  try {
    applySpace(await get(apiBase));
  } catch (err) {
    if (err.status === 403) beRemoved(removedMessage(err));
    else {
      showError(err);
      ui.playerCard.hidden = true;
      ui.soonCard.hidden = true;
    }
    return;
  }
  if (!FINAL.has(space.state)) feed.start();
}

start();
// The "starting soon" countdown moves on without a server round trip.
setInterval(() => space && space.state === "scheduled" && renderSoon(), 30000);
