// The Space page: follows the Space's state by polling the API, plays it (live, then
// the replay once it has ended), and gives the host and speakers their controls.
import { el, get, localUrl, post, showError } from "./api.js";
import { STATE_LABELS, duration, when } from "./format.js";
import { Player } from "./player.js";
import { Publisher } from "./publisher.js";

const POLL_MS = 2000;
const root = document.getElementById("space");
const spaceId = root.dataset.spaceId;
const apiBase = `/api/spaces/${encodeURIComponent(spaceId)}`;
const $ = (id) => document.getElementById(id);

const ui = {
  title: $("space-title"),
  state: $("space-state"),
  host: $("space-host"),
  when: $("space-when"),
  speakers: $("speakers"),
  playerCard: $("player-card"),
  playerHeading: $("player-heading"),
  playerStatus: $("player-status"),
  stageCard: $("stage-card"),
  stageStatus: $("stage-status"),
  originalSound: $("original-sound"),
  goLive: $("go-live-button"),
  joinStage: $("join-stage-button"),
  mute: $("mute-button"),
  leaveStage: $("leave-stage-button"),
  hostCard: $("host-card"),
  invite: $("invite-button"),
  end: $("end-button"),
  inviteBox: $("invite-box"),
  inviteUrl: $("invite-url"),
  copyInvite: $("copy-invite-button"),
};

const params = new URLSearchParams(location.search);
ui.originalSound.checked = params.get("original_sound") === "1";

const player = new Player($("player-audio"), {
  status: ui.playerStatus,
  listenButton: $("listen-button"),
  meter: $("player-meter"),
});
const publisher = new Publisher(spaceId, { mixMinusAudio: $("mixminus-audio"), onChange: render });
window.townhallPlayer = player;
window.townhallPublisher = publisher;

let space = null;
let busy = false; // a button's request is in flight

function renderSpeakers() {
  ui.speakers.replaceChildren(
    ...space.speakers.map((s) =>
      el(
        "li",
        { class: s.on_stage ? "speaker on-stage" : "speaker" },
        el("span", { class: "avatar", "aria-hidden": "true" }, s.username.slice(0, 1).toUpperCase()),
        el("span", { class: "speaker-name" }, `@${s.username}`),
        el("span", { class: "muted speaker-role" }, s.role === "host" ? "Host" : "Speaker"),
        el("span", { class: "speaker-live" }, s.on_stage ? "On stage" : ""),
      ),
    ),
  );
}

function renderPlayer() {
  // On stage, a speaker hears the others live (mix-minus), not the delayed program.
  ui.playerCard.hidden = publisher.onStage;
  if (publisher.onStage) {
    player.stop();
    return;
  }
  if (space.state === "live") {
    ui.playerHeading.textContent = "Listen live";
    player.play(localUrl(space.hls_url, space), "live");
  } else if (space.state === "ended" && space.replay_url) {
    ui.playerHeading.textContent = "Replay";
    // Someone listening when the Space ends goes straight on into the replay; a page
    // opened on an ended Space waits for its play button.
    const audio = player.audio;
    const wasListening =
      player.kind === "live" && !player.blocked && audio.currentTime > 0 && (!audio.paused || audio.ended);
    player.play(localUrl(space.replay_url, space), "replay", { autoplay: wasListening });
  } else {
    player.stop();
    ui.playerHeading.textContent = "Listen";
    ui.playerStatus.textContent =
      space.state === "ended" ? "This Space has ended; no replay is available." : "This Space has not started yet.";
  }
}

function renderStage() {
  const role = space.your_role;
  const isHost = role === "host";
  const canSpeak = role === "host" || role === "speaker";
  const live = space.state === "live";
  ui.stageCard.hidden = !canSpeak || space.state === "ended";
  ui.goLive.hidden = !(isHost && space.state === "scheduled");
  ui.joinStage.hidden = !(live && !publisher.onStage);
  ui.mute.hidden = !publisher.onStage;
  ui.leaveStage.hidden = !publisher.onStage;
  ui.mute.textContent = publisher.muted ? "Unmute" : "Mute";
  ui.mute.setAttribute("aria-pressed", String(publisher.muted));
  ui.originalSound.disabled = publisher.onStage;
  for (const button of [ui.goLive, ui.joinStage, ui.mute, ui.leaveStage, ui.invite, ui.end]) {
    button.disabled = busy;
  }

  let status = "";
  if (publisher.error) status = publisher.error;
  else if (publisher.state === "connecting") status = "Connecting your microphone…";
  else if (publisher.state === "reconnecting") status = "Connection interrupted, reconnecting…";
  else if (publisher.state === "connected") {
    status = publisher.muted
      ? "You are muted."
      : "● You are live on stage. You hear the other speakers directly, without delay.";
  }
  else if (space.state === "scheduled") status = isHost ? "Go live when you are ready." : "Waiting for the host to go live.";
  ui.stageStatus.textContent = status;
  ui.stageStatus.dataset.state = publisher.state;

  ui.hostCard.hidden = !isHost || space.state === "ended";
  ui.end.hidden = !live;
}

function render() {
  if (!space) return;
  document.title = `${space.title} · Townhall`;
  ui.title.textContent = space.title;
  ui.state.textContent = STATE_LABELS[space.state] || space.state;
  ui.state.dataset.state = space.state;
  ui.host.textContent = `Hosted by @${space.host.username}`;
  ui.when.textContent =
    space.state === "ended"
      ? `Ended ${when(space.ended_at)} · ${duration(space.started_at, space.ended_at)}`
      : space.state === "live"
        ? `Live since ${when(space.started_at)}`
        : `Created ${when(space.created_at)}`;
  root.dataset.state = space.state;
  renderSpeakers();
  renderStage();
  renderPlayer();
}

async function refresh() {
  try {
    const fresh = await get(apiBase);
    const wasEnded = space?.state === "ended";
    space = fresh;
    if (space.state === "ended" && !wasEnded && publisher.onStage) await publisher.leave();
    render();
  } catch (err) {
    showError(err);
  }
}

async function poll() {
  await refresh();
  setTimeout(poll, POLL_MS);
}

/** Run a button's action: one at a time, errors shown to the user. */
function action(button, fn) {
  button.addEventListener("click", async () => {
    if (busy) return;
    busy = true;
    showError(null);
    render();
    try {
      await fn();
    } catch (err) {
      showError(err);
    } finally {
      busy = false;
      render();
    }
  });
}

const joinStage = async () => {
  render();
  await publisher.join({ originalSound: ui.originalSound.checked, space });
  refresh();
};

action(ui.goLive, async () => {
  space = await post(`${apiBase}/live`);
  await joinStage();
});
action(ui.joinStage, joinStage);
action(ui.mute, async () => publisher.setMuted(!publisher.muted));
action(ui.leaveStage, async () => {
  await publisher.leave();
  refresh();
});
action(ui.end, async () => {
  if (!window.confirm("End this Space for everyone? Listeners will get the replay.")) return;
  await publisher.leave();
  space = await post(`${apiBase}/end`);
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

poll();
