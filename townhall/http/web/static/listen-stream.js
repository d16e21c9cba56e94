// The one-stream listener path (townhall/media/listen_stream.py): one fetch for the
// whole Space, its fMP4 fragments appended to one MSE SourceBuffer as they arrive (a
// chunk a second), after the Space's init segment. "sequence" mode: a new run after a
// failover or a restart (its media time starts at 0 again) plays on where the last one
// stopped. Played TARGET_AHEAD_S behind the newest audio it has, nudged back there by
// the playback rate, jumped when far off. Used by player.js (mode "stream").

const MIME = 'audio/mp4; codecs="mp4a.40.2"';
// A chunk arrives every 1.024 s: the playhead stays this far behind the newest audio
// just after one arrives, so ~0.25 s remain before the next is due.
export const TARGET_AHEAD_S = 1.3;
const RATE = 1.05; // catching up (or 1 / RATE to fall back): inaudible
const START_ABOVE_S = 0.2; // off the target by more than this starts a nudge
const STOP_WITHIN_S = 0.05;
// Further behind than this (after a stall: the gap was heard already), jump rather than
// nudge: at RATE, a second takes 20 s to make up.
const JUMP_ABOVE_S = 1;
// A joiner gets the chunks the edge keeps one read at a time: while the first audio
// comes in, it is placed again on each.
const SETTLE_MS = 3000;
const KEEP_BEHIND_S = 20; // audio kept behind the playhead (the rest is freed)
// An answered stream sends audio at once (the chunks an edge keeps, or the chunk being
// made): none for this long means nobody publishes to this edge (its origins do not
// name it in TOWNHALL_STREAM_EDGES), and the player falls back to another path.
const NO_AUDIO_MS = 6000;

/** Can this browser play the stream (MSE with AAC in MP4, streamed fetch bodies)? */
export function streamPlayable() {
  const MS = window.MediaSource;
  return Boolean(MS?.isTypeSupported?.(MIME) && window.ReadableStream && window.AbortController);
}

/** The stream and init segment beside a live HLS playlist (same path, token included). */
export function streamUrls(playlistUrl) {
  return {
    stream: playlistUrl.replace(/live\.m3u8(\?.*)?$/, "live.stream"),
    init: playlistUrl.replace(/live\.m3u8(\?.*)?$/, "init.mp4"),
  };
}

export class ListenStream {
  /**
   * `onEnd(error)`: the stream stopped: error null when it ended (the Space ended, or the
   * server let go), else what failed (a refused or broken request).
   */
  constructor(audio, playlistUrl, { onEnd, onStart } = {}) {
    this.audio = audio;
    this.urls = streamUrls(playlistUrl);
    this.onEnd = onEnd;
    this.onStart = onStart;
    this.received = 0; // bytes of the stream so far
    this.newestAt = null; // performance.now() of the newest data
    this._abort = new AbortController();
    this._queue = [];
    this._sb = null;
    this._ms = null;
    this._done = false;
    this._objectUrl = null;
  }

  start() {
    const ms = new MediaSource();
    this._ms = ms;
    this._objectUrl = URL.createObjectURL(ms);
    ms.addEventListener("sourceopen", () => this._open(), { once: true });
    this.audio.src = this._objectUrl;
  }

  async _open() {
    try {
      this._sb = this._ms.addSourceBuffer(MIME);
      this._sb.mode = "sequence";
      this._sb.addEventListener("updateend", () => this._pump());
      const signal = this._abort.signal;
      // The stream first: asking for it opens a scheduled Space's waiting room, and it
      // answers once the Space's first audio (and so its init segment) exists.
      const response = await fetch(this.urls.stream, { signal, credentials: "same-origin" });
      if (!response.ok) throw new Error(`stream: HTTP ${response.status}`);
      const init = await fetch(this.urls.init, { signal, credentials: "same-origin" });
      if (!init.ok) throw new Error(`init segment: HTTP ${init.status}`);
      this._append(new Uint8Array(await init.arrayBuffer()));
      const reader = response.body.getReader();
      const silent = setTimeout(() => {
        if (this.received === 0) {
          this._end(Object.assign(new Error("no audio from the stream"), { noAudio: true }));
          this._abort.abort();
        }
      }, NO_AUDIO_MS);
      this._abort.signal.addEventListener("abort", () => clearTimeout(silent));
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.received += value.byteLength;
        this.newestAt = performance.now();
        this._append(value);
      }
      this._end(null);
    } catch (err) {
      if (!this._abort.signal.aborted) this._end(err);
    }
  }

  _append(bytes) {
    this._queue.push(bytes);
    this._pump();
  }

  _pump() {
    const sb = this._sb;
    if (!sb || sb.updating || this._ms.readyState !== "open") return;
    if (this._queue.length) {
      try {
        sb.appendBuffer(this._queue.shift());
      } catch (err) {
        this._end(err);
      }
      return;
    }
    if (this._done) {
      this._ms.endOfStream(); // plays out what it has, then "ended"
      return;
    }
    this._trim();
    this._place();
  }

  /** Free audio long behind the playhead (a Space of hours must not fill memory). */
  _trim() {
    const { buffered, currentTime } = this.audio;
    if (buffered.length && currentTime - buffered.start(0) > 2 * KEEP_BEHIND_S) {
      this._sb.remove(buffered.start(0), currentTime - KEEP_BEHIND_S);
    }
  }

  /** Seconds of audio buffered ahead of the playhead (0 when stalled). */
  ahead() {
    const { buffered } = this.audio;
    return buffered.length ? Math.max(0, buffered.end(buffered.length - 1) - this.audio.currentTime) : 0;
  }

  /** Start at the target behind the newest audio; later, keep near it. */
  _place() {
    const { audio } = this;
    const { buffered } = audio;
    if (!buffered.length) return;
    const end = buffered.end(buffered.length - 1);
    const off = end - audio.currentTime - TARGET_AHEAD_S;
    const live = Math.max(buffered.start(buffered.length - 1), end - TARGET_AHEAD_S);
    if (this._startedAt === undefined) {
      this._startedAt = performance.now();
      audio.currentTime = live;
      this.onStart?.();
    } else if (performance.now() - this._startedAt < SETTLE_MS) {
      // A joiner's first chunks come in one by one: placed again on each.
      if (Math.abs(off) > START_ABOVE_S) audio.currentTime = live;
    } else if (off > JUMP_ABOVE_S || audio.currentTime < buffered.start(buffered.length - 1)) {
      audio.currentTime = live; // far behind, or in a hole: back to live
    } else {
      const nudging = audio.playbackRate !== 1;
      const limit = nudging ? STOP_WITHIN_S : START_ABOVE_S;
      const rate = off > limit ? RATE : off < -limit ? 1 / RATE : 1;
      if (rate !== audio.playbackRate) audio.playbackRate = rate;
    }
  }

  _end(error) {
    if (this._done) return;
    this._done = true;
    if (error) console.warn("listener stream", error);
    this._pump();
    this.onEnd?.(error || null);
  }

  /** Let go of the stream and the element's source. */
  stop() {
    this._done = true;
    this._abort.abort();
    this._queue = [];
    this.audio.playbackRate = 1;
    if (this._objectUrl) URL.revokeObjectURL(this._objectUrl);
    this._objectUrl = null;
  }
}
