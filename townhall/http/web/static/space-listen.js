// What the player plays: the waiting room, the live Space, then the replay. A private
// Space's stream is at signed URLs (GET …/playback) that expire; a public one's at the
// plain URLs in the Space.
import { get, localUrl, showError } from "./api.js";
import { may, state } from "./space-state.js";
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

export function renderPlayer({ player, publisher, render }) {
  const { space } = state;
  // On stage, a speaker hears the others live (mix-minus), not the delayed program;
  // whoever is about to start the Space needs no waiting room.
  const show = may("listen") && space.state !== "cancelled" && !publisher.onStage && !may("go_live");
  ui.playerCard.hidden = !show;
  ui.replayAnalytics.hidden = !show || space.state !== "ended";
  if (!show) {
    player.stop();
    return;
  }
  const urls = streamUrls(render);
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
