// Reactions: a row of emoji buttons, emoji floating up over the player as they arrive,
// and a short "slow down" message when the server rate-limits us (code rate_limited,
// Retry-After).
import { post } from "./api.js";

const FLOAT_MS = 2600;
const MAX_FLOATING = 24; // a flood of reactions must not flood the DOM
const NOTICE_MS = 3000;

export class Reactions {
  constructor({ bar, overlay, status, url }) {
    this.bar = bar;
    this.overlay = overlay;
    this.status = status;
    this.url = url;
    this._noticeTimer = null;
    this._blockedUntil = 0;
    bar.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-emoji]");
      if (button) this.send(button.dataset.emoji);
    });
  }

  set enabled(on) {
    this.bar.hidden = !on;
  }

  async send(emoji) {
    if (Date.now() < this._blockedUntil) {
      this._notice(this._slowDownText());
      return;
    }
    try {
      await post(this.url, { emoji });
    } catch (err) {
      if (err.code === "rate_limited") {
        const seconds = err.retryAfter || 1;
        this._blockedUntil = Date.now() + seconds * 1000;
        this._notice(this._slowDownText());
      } else {
        this._notice(err.message);
      }
    }
  }

  _slowDownText() {
    const seconds = Math.max(1, Math.ceil((this._blockedUntil - Date.now()) / 1000));
    return `Slow down — you can react again in ${seconds} s.`;
  }

  _notice(text) {
    this.status.textContent = text;
    this.status.hidden = false;
    this.status.dataset.kind = "warning";
    clearTimeout(this._noticeTimer);
    this._noticeTimer = setTimeout(() => {
      this.status.hidden = true;
    }, NOTICE_MS);
  }

  /** Float one emoji up over the player (a `reaction` message from anyone). */
  show(emoji, user) {
    while (this.overlay.childElementCount >= MAX_FLOATING) this.overlay.firstElementChild.remove();
    const node = document.createElement("span");
    node.className = "floating-reaction";
    node.textContent = emoji;
    if (user) node.title = `@${user}`;
    node.style.left = `${10 + Math.random() * 50}%`;
    node.style.setProperty("--drift", `${Math.round((Math.random() - 0.5) * 60)}px`);
    this.overlay.append(node);
    setTimeout(() => node.remove(), FLOAT_MS);
  }
}
