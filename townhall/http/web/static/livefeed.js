// A Space's live events: Server-Sent Events (EventSource) with named messages
// (snapshot, change, levels, audience, reaction, pinned, stage, denied). If the stream keeps
// failing (a proxy that buffers, an old browser), fall back to polling the Space's JSON.
// `denied` is the server's last word (this viewer may no longer view the Space): the
// feed closes for good, so EventSource does not reconnect into the same refusal.

const MESSAGE_TYPES = ["snapshot", "change", "levels", "audience", "reaction", "pinned", "stage", "denied",
  "caption", "captions"];
// Consecutive errors without a message in between before giving up on the stream.
const MAX_STREAM_ERRORS = 3;
const POLL_MS = 2000;

export class LiveFeed {
  /**
   * @param {string} url the SSE endpoint
   * @param {Record<string, (message: object) => void>} handlers by message type
   * @param {{poll: () => Promise<boolean>, onClosed: () => void}} fallback
   *   poll(): fetch the Space once, false to stop polling; onClosed(): the server
   *   refused the stream (e.g. 403): find out why.
   */
  constructor(url, handlers, { poll, onClosed }) {
    this.url = url;
    this.handlers = handlers;
    this.poll = poll;
    this.onClosed = onClosed;
    this.source = null;
    this.errors = 0;
    this.mode = "idle"; // idle | stream | polling | closed
    this._timer = null;
  }

  start() {
    if (typeof EventSource === "undefined") {
      this._startPolling();
      return;
    }
    this.mode = "stream";
    const source = new EventSource(this.url);
    this.source = source;
    for (const type of MESSAGE_TYPES) {
      source.addEventListener(type, (event) => {
        if (this.source !== source) return;
        this.errors = 0;
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (err) {
          console.warn("bad event", type, err);
          return;
        }
        if (type === "denied") this.close();
        this.handlers[type]?.(message);
      });
    }
    source.addEventListener("error", () => {
      if (this.source !== source) return;
      this.errors += 1;
      if (source.readyState === EventSource.CLOSED) {
        // Refused outright (403, 404, not an event stream): no automatic retries.
        this._closeSource();
        this.onClosed?.();
      } else if (this.errors >= MAX_STREAM_ERRORS) {
        console.warn("live events keep failing; polling instead");
        this._startPolling();
      }
    });
  }

  /** Poll instead of streaming (also after onClosed found the Space still viewable). */
  fallBackToPolling() {
    if (this.mode !== "closed") this._startPolling();
  }

  _startPolling() {
    this._closeSource();
    if (this.mode === "polling") return;
    this.mode = "polling";
    const tick = async () => {
      if (this.mode !== "polling") return;
      const more = await this.poll();
      if (more !== false && this.mode === "polling") this._timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  _closeSource() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  /** Stop for good (the Space is over, or this person was removed). */
  close() {
    this.mode = "closed";
    clearTimeout(this._timer);
    this._closeSource();
  }
}
