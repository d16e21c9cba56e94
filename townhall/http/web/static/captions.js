// Live captions and the replay's transcript on the Space page.
// Live: `caption` messages from the Space's feed (each labelled by the server with who
// said it); a partial line is redrawn in place until its final text comes. Screen
// readers hear finished lines only (a polite live region gets each final line once).
// CC hides or shows them for this listener (remembered in this browser); the host and
// co-hosts get a switch for everyone (PUT /api/spaces/{id}/captions: the server says
// whether captions run, and if not, why). Once the Space is over: the transcript,
// the line being played highlighted, a click on a line seeks there, and downloads.
import { get, put, el, showError } from "./api.js";

const SHOWN_LINES = 6;
const HIDDEN_KEY = "townhall.captions.hidden";
const $ = (id) => document.getElementById(id);

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export class Captions {
  /** @param {string} apiBase the Space's API URL; @param {HTMLAudioElement} audio */
  constructor(apiBase, audio) {
    this.apiBase = apiBase;
    this.audio = audio;
    this.card = $("captions-card");
    this.lines = $("captions-lines");
    this.announce = $("captions-announce");
    this.toggle = $("captions-toggle");
    this.switchRow = $("captions-switch-row");
    this.switch = $("captions-switch");
    this.status = $("captions-status");
    this.transcriptCard = $("transcript-card");
    this.transcriptLines = $("transcript-lines");
    this.byUtterance = new Map();
    this.segments = [];
    this.current = -1;
    this.state = null;
    this.over = false;
    this.transcriptAsked = false;
    this.hidden = localStorage.getItem(HIDDEN_KEY) === "1";
    this.toggle.addEventListener("click", () => this.setHidden(!this.hidden));
    this.switch.addEventListener("change", () => this.switchForEveryone(this.switch.checked));
    this.audio.addEventListener("timeupdate", () => this.follow());
    this.setHidden(this.hidden);
  }

  setHidden(hidden) {
    this.hidden = hidden;
    localStorage.setItem(HIDDEN_KEY, hidden ? "1" : "0");
    this.lines.hidden = hidden;
    this.toggle.setAttribute("aria-pressed", hidden ? "false" : "true");
    this.toggle.textContent = hidden ? "Show captions" : "Hide captions";
  }

  /** After every new Space: what to show for it and for this viewer. */
  async update(space, mayswitch, over) {
    this.over = over;
    this.switchRow.hidden = !mayswitch || over;
    if (over) {
      this.card.hidden = true;
      if (!this.transcriptAsked) {
        this.transcriptAsked = true;
        this.loadTranscript(space.id);
      }
      return;
    }
    if (space.state !== "live") {
      this.card.hidden = true;
      return;
    }
    this.card.hidden = false;
    if (this.state === null) {
      try {
        this.showState(await get(`${this.apiBase}/captions`));
      } catch (err) {
        this.status.textContent = "";
      }
    }
  }

  /** A `captions` message or the GET's answer: on or off, running, and why not. */
  showState(state) {
    if (state.on === undefined) {
      // The recogniser's own status: behind (captions late or dropped) or failed.
      if (state.error) this.status.textContent = state.error;
      else if (state.behind) this.status.textContent = "Captions are running behind: some lines were dropped.";
      else if (this.state) this.showState(this.state);
      return;
    }
    this.state = state;
    this.switch.checked = state.on;
    if (!state.on) this.status.textContent = "The host turned captions off.";
    else if (!state.running) this.status.textContent = state.reason || "Captions are not available.";
    else this.status.textContent = "";
  }

  async switchForEveryone(on) {
    this.switch.disabled = true;
    try {
      this.showState(await put(`${this.apiBase}/captions`, { on }));
    } catch (err) {
      this.switch.checked = !on;
      showError(err);
    } finally {
      this.switch.disabled = false;
    }
  }

  /** A `caption` message: a partial (redrawn in place) or a final line. */
  show(caption) {
    let line = this.byUtterance.get(caption.utterance);
    if (!line) {
      line = el("p", { className: "caption-line" },
        el("span", { className: "caption-speaker" }, `${caption.speaker}: `),
        el("span", { className: "caption-text" }));
      this.byUtterance.set(caption.utterance, line);
      this.lines.append(line);
      while (this.lines.children.length > SHOWN_LINES) {
        const old = this.lines.firstElementChild;
        for (const [key, value] of this.byUtterance) if (value === old) this.byUtterance.delete(key);
        old.remove();
      }
    }
    line.querySelector(".caption-text").textContent = caption.text;
    line.classList.toggle("partial", !caption.final);
    if (caption.final) {
      line.dataset.final = "1";
      this.announce.textContent = `${caption.speaker}: ${caption.text}`;
    }
  }

  async loadTranscript(id) {
    let transcript;
    try {
      transcript = await get(`${this.apiBase}/transcript.json`);
    } catch (err) {
      return; // none (404 says so): the card stays hidden
    }
    this.segments = transcript.segments;
    this.transcriptLines.replaceChildren(...this.segments.map((s, i) => el("li", {},
      el("button", { type: "button", className: "transcript-line", onclick: () => this.seek(i) },
        el("span", { className: "transcript-time" }, clock(s.start)),
        el("span", { className: "caption-speaker" }, `${s.speaker}: `),
        el("span", { className: "transcript-text" }, s.text)))));
    for (const fmt of ["vtt", "srt", "txt"]) $(`transcript-${fmt}`).href = `${this.apiBase}/transcript.${fmt}`;
    $("transcript-kind").textContent = transcript.final ? "" : " (from the live captions)";
    this.transcriptCard.hidden = false;
  }

  seek(i) {
    const start = this.segments[i].start;
    if (this.audio.paused && !this.audio.src && !this.audio.currentSrc) {
      // Not playing yet: start the replay, then seek there.
      $("play-replay-button")?.click();
      const go = () => { this.audio.currentTime = start; this.audio.removeEventListener("loadedmetadata", go); };
      this.audio.addEventListener("loadedmetadata", go);
      return;
    }
    this.audio.currentTime = start;
    this.audio.play?.().catch(() => {});
  }

  /** Highlight the line being played. */
  follow() {
    if (!this.segments.length) return;
    const t = this.audio.currentTime;
    let found = -1;
    for (let i = 0; i < this.segments.length; i++) {
      if (this.segments[i].start <= t + 0.05) found = i;
      else break;
    }
    if (found === this.current) return;
    const buttons = this.transcriptLines.querySelectorAll(".transcript-line");
    if (this.current >= 0) buttons[this.current]?.removeAttribute("aria-current");
    this.current = found;
    if (found >= 0) {
      buttons[found].setAttribute("aria-current", "true");
      buttons[found].scrollIntoView?.({ block: "nearest" });
    }
  }
}
