// What the player plays: the waiting room, the live Space, then the replay. A private
// Space's stream is at signed URLs (GET …/playback) that expire; a public one's at the
// plain URLs in the Space.
import { get, localUrl, showError } from "./api.js";
import { may, state, you } from "./space-state.js";
import { apiBase, ui } from "./space-ui.js";

/**
 * The stream's URLs: a public Space's plain ones, a private Space's signed ones (asked
 * once, again when the Space ends for the replay's, and again by the player when a URL
 * stops working); null while being asked. `rerender` runs when they arrive.
 */
function streamUrls(rerender) {
  const { space, playback } = state;
  if (!space.private) return { live: space.hls_url, replay: space.replay_url };
  if (playback && (space.state !== "ended" || playback.replay)) return playback;
  const want = space.state === "ended" ? "replay" : "live";
  if (state.playbackAsked !== want) {
    state.playbackAsked = want;
    get(`${apiBase}/playback`)
      .then((fresh) => {
        state.playback = fresh;
        rerender();
      })
      .catch(showError);
  }
  return null;
}

async function freshUrl(kind) {
  state.playback = await get(`${apiBase}/playback`);
  return localUrl(kind === "live" ? state.playback.live : state.playback.replay, state.space);
}

const clock = (unixSeconds) =>
  new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

/** The stream's address for another app (VLC, ffplay): what this player plays, or would. */
function renderOtherApp(player, kind, url) {
  const shown = player.kind === kind && player.url ? player.url : url;
  ui.otherApp.hidden = !shown;
  if (!shown) {
    ui.otherApp.setAttribute("aria-expanded", "false");
    ui.otherAppPanel.hidden = true;
  }
  if (ui.hlsUrl.value !== (shown || "")) ui.hlsUrl.value = shown || "";
  const expires = state.space.private ? state.playback?.expires : null;
  ui.hlsUrlNote.hidden = !expires;
  if (expires) {
    ui.hlsUrlNote.textContent = `This private address is yours and works until ${clock(expires)}; reload the page for a new one.`;
  }
}

/** Was the live stream playing when the Space ended? Then it plays out its last seconds. */
function playingOut(player) {
  const audio = player.audio;
  return player.kind === "live" && !player.blocked && !player.userPaused && (!audio.paused || audio.ended);
}

// "Listen incognito": a signed-in listener's choice, remembered in this browser. The
// beacon carries it (the server counts them but leaves them out of who is listening).
const INCOGNITO_KEY = "townhall.incognito";
const incognitoBox = document.getElementById("incognito");
const incognitoHint = document.getElementById("incognito-hint");

function remembered() {
  try {
    return localStorage.getItem(INCOGNITO_KEY) === "1";
  } catch {
    return false; // storage refused (private mode): not incognito unless chosen here
  }
}

function renderIncognito(player, listening) {
  const row = document.getElementById("incognito-row");
  // Only a signed-in listener is ever named in the room: nobody else needs the choice.
  row.hidden = !listening || you().role === "anonymous";
  player.incognito = !row.hidden && incognitoBox.checked;
  incognitoHint.textContent = incognitoBox.checked
    ? "You're counted but not shown in the room."
    : "People in the room can see you're listening.";
}

let incognitoReady = false;
function setUpIncognito(player) {
  if (incognitoReady) return;
  incognitoReady = true;
  incognitoBox.checked = remembered();
  incognitoBox.addEventListener("change", () => {
    try {
      localStorage.setItem(INCOGNITO_KEY, incognitoBox.checked ? "1" : "0");
    } catch {
      /* not remembered; it still applies to this page */
    }
    renderIncognito(player, true);
  });
}

export function renderPlayer({ player, publisher, render }) {
  const { space } = state;
  // On stage, a speaker hears the others live (mix-minus), not the delayed program;
  // whoever is about to start the Space needs no waiting room.
  const show = may("listen") && space.state !== "cancelled" && !publisher.onStage && !may("go_live");
  ui.playerCard.hidden = !show;
  ui.stageShare.hidden = show || space.state === "cancelled" || Boolean(state.denied);
  ui.replayAnalytics.hidden = !show || space.state !== "ended";
  ui.playReplay.hidden = true;
  ui.noReplay.hidden = true;
  ui.playerBar.hidden = false;
  setUpIncognito(player);
  renderIncognito(player, show && (space.state === "live" || space.state === "scheduled"));
  if (!show) {
    player.stop();
    return;
  }
  const urls = streamUrls(render);
  if (!urls) {
    player.stop();
    renderOtherApp(player, null, null);
    ui.playerStatus.textContent = "Getting your listening link…";
    return;
  }
  if (space.state === "live" || space.state === "scheduled") {
    // The waiting room and the live Space are one stream: going live must not reload
    // the player (same URL and kind: Player.play keeps playing).
    ui.playerHeading.textContent = space.state === "live" ? "Listen live" : "Waiting room";
    player.note = space.state === "scheduled" ? "● Waiting room · the Space starts here" : null;
    const url = localUrl(urls.live, space);
    renderOtherApp(player, "live", url);
    // Our own action in flight may be about to change what there is to hear (a host
    // leaving the stage to end the Space): start the player once its answer is in.
    if (state.busy && !player.url) return;
    player.play(url, "live", {
      beaconUrl: `${apiBase}/beacon`,
      refresh: space.private ? () => freshUrl("live") : null,
    });
  } else if (space.state === "ended" && urls.replay) {
    ui.playerHeading.textContent = "Replay";
    player.note = null;
    const url = localUrl(urls.replay, space);
    // The replay starts only when the person presses Play replay. Someone listening
    // when the Space ended hears the live stream's last seconds to their end (the
    // element stays where it finished: nothing jumps back to 0:00).
    if (state.replayWanted) {
      player.play(url, "replay", { refresh: space.private ? () => freshUrl("replay") : null });
    } else if (playingOut(player)) {
      player.finishing = true;
    } else {
      player.stop();
    }
    // Until then the ended card (Play replay) says it all: the card keeps Share and the address.
    ui.playReplay.hidden = player.kind === "replay";
    ui.playerBar.hidden = !player.url;
    renderOtherApp(player, "replay", url);
  } else {
    player.stop();
    ui.playerHeading.textContent = "Listen";
    ui.playerStatus.textContent = "This Space has ended; no replay is available.";
    ui.noReplay.hidden = space.state !== "ended";
    ui.playerBar.hidden = space.state === "ended"; // the ended card says so
    renderOtherApp(player, null, null);
  }
}

/** The person pressed Play replay: load it and play it, from the start. */
export function playReplay(render) {
  state.replayWanted = true;
  render();
  // The button goes away: the replay's own controls (seek, speed) take the focus.
  if (ui.playReplay.hidden && !ui.playerAudio.hidden) ui.playerAudio.focus();
}
