// The Space page, for every role: wiring only. It follows the Space live over
// Server-Sent Events (livefeed.js; polling only if the stream keeps failing), keeps
// the newest Space (space-state.js), draws it (space-views.js), plays it
// (space-listen.js) and binds its buttons (space-actions.js). What this person may
// do comes with every Space from the server (`you.can`, each person's `can`).
import { get, showError } from "./api.js";
import { LiveFeed } from "./livefeed.js";
import { currentUser } from "./nav.js";
import { Player } from "./player.js";
import { PlayerControls } from "./player-controls.js";
import { Publisher } from "./publisher.js";
import { Reactions } from "./reactions.js";
import { bindActions } from "./space-actions.js";
import { Captions } from "./captions.js";
import { denialText, isDenial, noticeEvents } from "./space-notices.js";
import { accept, isOver, mark, may, patch, state, syncStage, you, yourSpeakerEntry } from "./space-state.js";
import { playReplay } from "./space-listen.js";
import { apiBase, spaceId, ui } from "./space-ui.js";
import { refreshRoster, renderLevels } from "./space-people.js";
import { render as renderPage, renderListeners, renderSoon } from "./space-views.js";

// The "starting soon" countdown moves on without a server round trip.
const SOON_TICK_MS = 30000;

ui.originalSound.checked = new URLSearchParams(location.search).get("original_sound") === "1";

const player = new Player(ui.playerAudio, {
  status: ui.playerStatus,
  latency: ui.playerLatency,
  listenButton: ui.listen,
  meter: ui.playerMeter,
});
new PlayerControls(player);
const publisher = new Publisher(spaceId, { mixMinusAudio: ui.mixMinus, onChange: () => render() });
const reactions = new Reactions({
  bar: ui.reactionBar,
  overlay: ui.reactionOverlay,
  status: ui.reactionStatus,
  url: `${apiBase}/reactions`,
});
const media = { player, publisher, reactions, render: () => render() };
const captions = new Captions(apiBase, ui.playerAudio);
const render = () => renderPage(media);
ui.playReplay.addEventListener("click", () => playReplay(render));
player.onFinished = render;

/** The server decides whether we are muted (a host may mute us): follow it. */
function syncMute() {
  const entry = yourSpeakerEntry();
  if (!publisher.onStage || !entry || state.muteInFlight) return;
  if (entry.muted !== publisher.muted) publisher.setMuted(entry.muted);
}

/** After a new Space: act on what it says, then draw it. */
function settle() {
  // No longer allowed to speak (the Space ended, we stepped down or were demoted).
  if (publisher.onStage && !may("publish")) publisher.leave();
  if (isOver()) feed.close();
  syncMute();
  render();
  if (state.space) captions.update(state.space, may("captions"), isOver());
}

function apply(fresh, options) {
  accept(fresh, options);
  settle();
}

/** We may no longer view the Space (removed, blocked, off a private Space's list). */
function deny(code) {
  state.denied = code;
  feed.close();
  player.stop();
  if (publisher.onStage || publisher.pc) publisher.leave();
  render();
}

/** GET the Space; false once there is nothing more to follow (over, or denied). */
async function refresh() {
  const since = mark();
  try {
    if (accept(await get(apiBase), { since })) settle();
    return !isOver();
  } catch (err) {
    if (isDenial(err)) {
      deny(err.code);
      return false;
    }
    showError(err);
    return true;
  }
}

const feed = new LiveFeed(
  `${apiBase}/events`,
  {
    snapshot: (m) => apply(m.space),
    change: (m) => {
      const denial = noticeEvents(m.events || []);
      if (denial) deny(denial);
      else if (!state.denied) apply(m.space, { reminder: false });
    },
    levels: (m) => {
      state.levels = m.levels || {};
      if (m.on_stage && syncStage(m.on_stage)) render();
      else renderLevels();
    },
    audience: (m) => {
      if (patch((space) => (space.listeners = m.listeners))) renderListeners();
      refreshRoster(); // who they are (at most every beacon interval)
    },
    reaction: (m) => reactions.show(m.emoji, m.user),
    pinned: (m) => patch((space) => (space.pinned_url = m.url)) && render(),
    // Someone's microphone joined or left the stage (not a room event: no `change`).
    stage: (m) => {
      const speaker = state.space?.speakers.find((s) => s.id === m.user_id);
      if (!speaker) return void refresh(); // not listed here yet: ask for the Space
      patch(() => (speaker.on_stage = m.on_stage));
      render();
    },
    caption: (m) => captions.show(m),
    captions: (m) => captions.showState(m),
    // The server's last message before it ends our stream (the feed has closed itself).
    denied: (m) => deny(m.code),
  },
  {
    poll: refresh,
    onClosed: async () => {
      // Refused (refresh shows why), or the stream is broken and the Space still viewable.
      if (await refresh()) feed.fallBackToPolling();
    },
  },
);

bindActions({ publisher, apply, refresh, deny, render, syncMute });

window.townhallPlayer = player;
window.townhallPublisher = publisher;
window.townhallSpace = () => ({
  space: state.space,
  me: state.me,
  role: you().role,
  can: state.denied ? [] : you().can,
  denied: state.denied,
  removed: state.denied ? denialText(state.denied)[0] : null,
  feed: feed.mode,
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

async function start() {
  state.me = await currentUser;
  try {
    apply(await get(apiBase));
  } catch (err) {
    if (isDenial(err)) deny(err.code);
    else {
      showError(err);
      ui.playerCard.hidden = true;
      ui.soonCard.hidden = true;
    }
    return;
  }
  if (!isOver()) feed.start();
  refreshRoster();
}

start();
setInterval(() => state.space?.state === "scheduled" && renderSoon(), SOON_TICK_MS);
