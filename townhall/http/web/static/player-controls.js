// The player's controls: pause and resume (a live Space resumes at its live edge), mute
// and volume, a compact bar docked at the bottom of a phone's screen while the player is
// in use (CSS: body.player-docked), the stream's address for another app with a Copy
// button, and Share (the system's share sheet where there is one, else the page link
// copied). Real buttons and a labelled slider: all of it works from the keyboard.
import { localUrl } from "./api.js";
import { state } from "./space-state.js";
import { ui } from "./space-ui.js";

const VOLUME_KEY = "townhall.volume";
const STATUS_CLEAR_MS = 6000;

/** Can this browser set an element's volume? iOS keeps it at 1 (the hardware buttons rule). */
function volumeSettable() {
  const probe = document.createElement("audio");
  probe.volume = 0.5;
  return Math.abs(probe.volume - 0.5) < 0.01;
}

function savedVolume() {
  try {
    const value = Number.parseFloat(localStorage.getItem(VOLUME_KEY));
    return value >= 0 && value <= 1 ? value : null;
  } catch (_) {
    return null; // storage refused (private mode, settings)
  }
}

function saveVolume(value) {
  try {
    localStorage.setItem(VOLUME_KEY, String(value));
  } catch (_) {
    /* not remembered, still applied */
  }
}

/** Put text on the clipboard: the Clipboard API, or the old way where it is missing (no HTTPS). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const focused = document.activeElement;
    const area = document.createElement("textarea");
    area.value = text;
    area.readOnly = true;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (_) {
      copied = false;
    }
    area.remove();
    focused?.focus?.();
    return copied;
  }
}

/** A short status next to the button used, cleared after a while. */
function say(element, text) {
  clearTimeout(element.clearTimer);
  element.textContent = text;
  element.clearTimer = setTimeout(() => (element.textContent = ""), STATUS_CLEAR_MS);
}

const setText = (element, text) => element.textContent !== text && (element.textContent = text);

// Icons drawn in the text colour (emoji fonts differ per system, and some have none).
const ICONS = {
  pause: '<rect x="5" y="4" width="4.5" height="16" rx="1"/><rect x="14.5" y="4" width="4.5" height="16" rx="1"/>',
  play: '<path d="M7 4.5v15a1 1 0 0 0 1.5.86l12-7.5a1 1 0 0 0 0-1.72l-12-7.5A1 1 0 0 0 7 4.5z"/>',
  stop: '<rect x="5" y="5" width="14" height="14" rx="1.5"/>',
  sound:
    '<path d="M3 9h4l5-4v14l-5-4H3z"/><path d="M15.5 8.5a5 5 0 0 1 0 7M18 6a8.5 8.5 0 0 1 0 12"' +
    ' fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>',
  muted:
    '<path d="M3 9h4l5-4v14l-5-4H3z"/><path d="M16 9l6 6M22 9l-6 6"' +
    ' fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>',
};

function setIcon(holder, name) {
  if (holder.dataset.icon === name) return;
  holder.dataset.icon = name;
  holder.innerHTML = `<svg viewBox="0 0 24 24" width="18" height="18" fill="currentColor" focusable="false">${ICONS[name]}</svg>`;
}

export class PlayerControls {
  constructor(player) {
    this.player = player;
    const audio = player.audio;
    const saved = savedVolume();
    if (saved !== null) audio.volume = saved;
    ui.playerVolumeLabel.hidden = !volumeSettable();

    ui.playerToggle.addEventListener("click", () => player.toggle());
    ui.playerMute.addEventListener("click", () => {
      audio.muted = !audio.muted;
      if (!audio.muted && audio.volume === 0) audio.volume = 0.5; // unmuted, yet silent
      this.render();
    });
    ui.playerVolume.addEventListener("input", () => {
      audio.volume = Number(ui.playerVolume.value) / 100;
      if (audio.volume > 0 && audio.muted) audio.muted = false; // turning it up means "let me hear"
      saveVolume(audio.volume);
      this.render();
    });
    ui.otherApp.addEventListener("click", () => {
      const open = ui.otherApp.getAttribute("aria-expanded") !== "true";
      ui.otherApp.setAttribute("aria-expanded", String(open));
      ui.otherAppPanel.hidden = !open;
      if (open) ui.hlsUrl.select();
    });
    ui.copyHls.addEventListener("click", async () => {
      ui.hlsUrl.select();
      const copied = await copyText(ui.hlsUrl.value);
      say(ui.copyHlsStatus, copied ? "Address copied" : "Could not copy: select the address and copy it.");
    });
    ui.share.addEventListener("click", () => this.share(ui.shareStatus));
    ui.stageShareButton.addEventListener("click", () => this.share(ui.stageShareStatus));

    // The docked bar's height, so that the page can leave room for it at the bottom.
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        document.body.style.setProperty("--player-bar-height", `${ui.playerBar.offsetHeight}px`);
      }).observe(ui.playerBar);
    }
    player.onRender = () => this.render();
    this.render();
  }

  /** The system's share sheet where there is one; otherwise the page link, copied. */
  async share(status) {
    const { space } = state;
    if (!space) return;
    const url = localUrl(space.page_url, space);
    if (navigator.share) {
      try {
        await navigator.share({ title: space.title, text: `${space.title} · on Townhall`, url });
        return;
      } catch (err) {
        if (err.name === "AbortError") return; // the person closed the share sheet
        // Refused (no gesture left, not allowed here): copy the link instead.
      }
    }
    say(status, (await copyText(url)) ? "Link copied" : `Copy this link: ${url}`);
  }

  render() {
    const { player } = this;
    const audio = player.audio;
    const live = player.kind === "live";
    const inUse = Boolean(player.url) && !player.blocked && !audio.ended;
    // The replay has the element's own controls (seek, speed, volume): these are for live.
    ui.playerControls.hidden = !inUse || !live;
    const resume = player.showsPaused;
    setText(ui.playerToggle.querySelector(".text"), resume ? "Resume" : player.finishing ? "Stop" : "Pause");
    setIcon(ui.playerToggle.querySelector(".icon"), resume ? "play" : player.finishing ? "stop" : "pause");
    ui.playerToggle.title = resume && live ? "Resume at the live edge" : "";
    ui.playerMute.setAttribute("aria-pressed", String(audio.muted));
    setIcon(ui.playerMute.querySelector(".icon"), audio.muted ? "muted" : "sound");
    const percent = Math.round(audio.volume * 100);
    if (document.activeElement !== ui.playerVolume) ui.playerVolume.value = String(percent);
    const valueText = `${percent}%${audio.muted ? ", muted" : ""}`;
    if (ui.playerVolume.getAttribute("aria-valuetext") !== valueText) {
      ui.playerVolume.setAttribute("aria-valuetext", valueText);
    }
    // Docked at the bottom of a phone's screen (CSS) while playing or paused by the person.
    const docked = inUse && (live || !audio.paused || audio.currentTime > 0);
    ui.playerCard.toggleAttribute("data-docked", docked);
    document.body.classList.toggle("player-docked", docked);
  }
}
