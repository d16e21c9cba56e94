// Listener player. A live Space plays over the one-stream path where MSE plays AAC in
// MP4 (listen-stream.js: one request for the whole Space, a chunk a second, fanned out
// by the edge: the path below Icecast's cost, BENCHMARKS.md §13); `?player=dash` plays
// LL-DASH with dash.js instead (one request per 8 s segment). Otherwise, and for
// replays, hls.js in low-latency mode where MSE exists (Chromium's own HLS is not
// low-latency), the browser's native HLS elsewhere (iOS Safari). `?player=hls` forces
// hls.js, `?player=native` native HLS. Exposed as window.townhallPlayer for tests and
// curious humans.

import { ListenStream, streamPlayable } from "./listen-stream.js";

const RETRY_MS = 2000;
const STATUS_MS = 500;
const METER_GAIN = 3;
const LIVE_EDGE_SLACK = 1.0; // seconds behind the live sync point before jumping to it
// Live playlist reloads that fail or come back without a whole segment are retried soon
// and often. When the cluster origin mixing a Space dies, another continues the playlist
// (one discontinuity later) ~2.5 s on, and its first ~2 s list parts but no whole segment
// yet, which hls.js treats as an error; its defaults (2 retries after 1 s, then 2 s) add
// up to ~2 s of silence and can end the player (fatal). Here: 0.25 s doubling to 1 s, 8
// times. 4xx answers (not live yet, forbidden) are not retried by hls.js either way.
const LIVE_PLAYLIST_RETRY = { maxNumRetry: 8, retryDelayMs: 250, maxRetryDelayMs: 1000 };
// Audience beacons (method: townhall/backends/memory/audience.py, README "Audience figures"): one when
// playback starts, then every BEACON_INTERVAL while the audio plays.
const BEACON_MS = 10_000;
// A live DASH stream that does not move (see Player._keepMoving): audio this far ahead,
// at most this far on, is stepped to (this far into it); with none, it loads afresh
// after this long.
const STUCK_AHEAD_S = 0.9;
const MAX_HOLE_S = 10;
const START_STEP_S = 0.05;
const STUCK_RELOAD_MS = 6000;
// A DASH segment that does not come after a quick retry is one of a run that ended (a
// failover, a restart): the new run's manifest is fetched at once rather than RETRY_MS
// on, at most once in this long (a loop of failures falls back to RETRY_MS).
const SEGMENT_RETRY = { attempts: 1, intervalMs: 500 };
const PROMPT_RELOAD_MS = 10_000;
// hls.js plays faster only with more than 1 s buffered ahead, which an LL-HLS player near
// its target never has: it stayed wherever it landed on joining, 0.9-1.4 s behind the
// speaker (benchmarks/join_distance.py). Here: this much faster while more than
// startAboveS behind its target with minAheadS buffered, back to 1 within stopWithinS.
const CATCH_UP = { rate: 1.05, startAboveS: 0.15, stopWithinS: 0.05, minAheadS: 0.4 };
// The one-stream path: a stream that broke after playing is asked for again this soon
// (the origin serving it died: the edge sends the next to another); one refused (not
// live yet, an expired URL) after RETRY_MS. The newest audio a listener has left the
// mixer about this long before it arrived (encoding, publishing): for "s behind".
const STREAM_RECONNECT_MS = 500;
const STREAM_PIPELINE_S = 0.1;

/** Seconds of audio buffered ahead of the playhead, in the range it plays from. */
function bufferedAhead(audio) {
  const { buffered, currentTime } = audio;
  for (let i = 0; i < buffered.length; i++) {
    if (buffered.start(i) <= currentTime && currentTime < buffered.end(i)) {
      return buffered.end(i) - currentTime;
    }
  }
  return 0;
}

/**
 * The stream a URL names, whatever its token: a private Space's signed URLs
 * (/hls/{id}/t/{token}/live.m3u8) change every few minutes for the same stream.
 */
function streamOf(url) {
  return url ? url.replace(/\/t\/[^/]+\//, "/") : url;
}

/** A random id per player start: no cookie, no account. */
function newSession() {
  if (crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

let hlsModule; // loaded once, lazily: the page must work when hls.js is missing
async function loadHls() {
  if (hlsModule === undefined) {
    try {
      hlsModule = (await import("/vendor/hls.mjs")).default;
    } catch (err) {
      console.warn("hls.js unavailable, using native HLS", err);
      hlsModule = null;
    }
  }
  return hlsModule;
}

let dashModule; // window.dashjs once loaded (a UMD build: a script, not a module)
function loadDash() {
  if (dashModule !== undefined) return Promise.resolve(dashModule);
  return new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = "/vendor/dash.mediaplayer.min.js";
    script.onload = () => resolve((dashModule = window.dashjs || null));
    script.onerror = () => {
      console.warn("dash.js unavailable, using HLS");
      resolve((dashModule = null));
    };
    document.head.append(script);
  });
}

/** Can this browser play the LL-DASH stream (AAC-LC in fragmented MP4 through MSE)? */
function dashPlayable() {
  const MS = window.ManagedMediaSource || window.MediaSource;
  return Boolean(MS?.isTypeSupported?.('audio/mp4; codecs="mp4a.40.2"'));
}

/** The LL-DASH manifest beside a live HLS playlist (same path, signed token included). */
function manifestOf(url) {
  return url.replace(/live\.m3u8(\?.*)?$/, "live.mpd");
}

export class Player {
  constructor(audio, { status, latency, listenButton, meter } = {}) {
    this.audio = audio;
    this.statusEl = status;
    this.latencyEl = latency; // "2.1 s behind", apart from the status: not a live region
    this.listenButton = listenButton;
    this.meterEl = meter;
    this.hls = null;
    this.dash = null; // the dash.js MediaPlayer while mode is "dash.js"
    this.stream = null; // the ListenStream while mode is "stream"
    this.autoplay = true;
    this.mode = null; // "stream" | "dash.js" | "hls.js" | "native"
    this.url = null; // playlist URL being played
    this.refresh = null; // async () => a fresh URL for this stream (signed URLs expire)
    this.kind = null; // "live" | "replay"
    this.blocked = false; // autoplay refused: waiting for a tap on "Listen"
    this.error = null;
    this.note = null; // replaces "● Live" while playing, e.g. in a waiting room
    this.userPaused = false; // the person pressed Pause: going on means back to live
    this._finishing = false; // the Space ended: the live stream plays out its last seconds
    this.onRender = null; // called after each status update (the controls follow)
    this.onFinished = null; // called when a Space's last live seconds have played out
    this._ctx = null;
    this._analyser = null;
    this._samples = null;
    this._retry = null;
    this._generation = 0;
    this._stuckAt = null; // where a live DASH stream stands still, and since when
    this._stuckSince = null;
    this._promptReloadAt = -Infinity; // when a segment error last reloaded at once
    this.beaconUrl = null; // POST target while playing live (null: no beacons)
    this.session = null; // random id for this player start, sent in beacons
    // A signed-in listener who would rather not be named: counted, not listed (the
    // beacon says so; the server leaves them out of who is listening).
    this.incognito = false;
    this._beaconTimer = null;
    this._playAsked = null; // performance.now() when play was asked (first beacon only)
    this._firstAudioMs = null;
    const params = new URLSearchParams(location.search);
    this._forceNative = params.get("player") === "native";
    this._forceHls = params.get("player") === "hls";
    this._forceDash = params.get("player") === "dash";
    this._meterInNative = params.get("meter") === "1";

    listenButton?.addEventListener("click", () => this.resume());
    // Started from the element's own controls (replay): the meter starts with it.
    audio.addEventListener("play", () => this._ensureMeter());
    for (const name of ["playing", "pause", "waiting", "ended", "error", "volumechange", "emptied"]) {
      audio.addEventListener(name, () => this._render());
    }
    audio.addEventListener("playing", () => this._startBeacons());
    // The live stream of a Space that ended has played out: nothing more will come.
    audio.addEventListener("ended", () => this._finish());
    // A live DASH stream never says "ended" (the manifest stays dynamic): once the
    // Space is over, running out of audio is its end.
    audio.addEventListener("waiting", () => ["dash.js", "stream"].includes(this.mode) && this._finish());
    for (const name of ["pause", "ended", "emptied", "error"]) {
      audio.addEventListener(name, () => this._stopBeacons());
    }
    window.addEventListener("pagehide", () => this._stopBeacons());
    setInterval(() => {
      this._keepMoving();
      this._catchUp();
      this._render();
    }, STATUS_MS);
  }

  get finishing() {
    return this._finishing;
  }

  /**
   * The Space ended (the page heard it): the live stream plays out its last seconds.
   * dash.js learns where it ends from a fresh manifest, then ends the element there.
   */
  set finishing(value) {
    const now = Boolean(value);
    if (now && !this._finishing && this.dash?.isReady()) {
      try {
        this.dash.refreshManifest(() => {});
      } catch (err) {
        console.warn("could not refresh the DASH manifest", err);
      }
    }
    this._finishing = now;
    // The stream ended and played out before the page heard the Space end.
    if (now && this.mode === "stream" && this.audio.ended) queueMicrotask(() => this._finish());
  }

  /** The live stream of a Space that ended has played out: nothing more will come. */
  _finish() {
    if (this.kind !== "live" || !this.finishing) return;
    this.stop();
    this.onFinished?.();
  }

  _startBeacons() {
    if (this._beaconTimer !== null || !this.beaconUrl || !this.session) return;
    // Time from play to first audio, sent once in this player's first beacon (the
    // incident timeline's figure: README "Incident timeline").
    if (this._playAsked !== null) {
      this._firstAudioMs = Math.min(600000, Math.round(performance.now() - this._playAsked));
      this._playAsked = null;
    }
    this._beacon();
    this._beaconTimer = setInterval(() => this._beacon(), BEACON_MS);
  }

  _stopBeacons() {
    clearInterval(this._beaconTimer);
    this._beaconTimer = null;
  }

  _beacon() {
    if (!this.beaconUrl || !this.session || this.audio.paused) return;
    fetch(this.beaconUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        session: this.session, incognito: this.incognito,
        ...(this._firstAudioMs !== null ? { first_audio_ms: this._firstAudioMs } : {}),
      }),
      keepalive: true,
      // The session id is the player; a signed-in listener's cookie also says who is
      // listening (the roster: GET …/listeners). Anonymous players are only counted.
      credentials: "same-origin",
    }).catch(() => {});
    this._firstAudioMs = null;
  }

  /**
   * Load a playlist: kind "live" follows the live edge, "replay" starts at the beginning.
   * Without autoplay the element just shows its controls and waits for the user.
   * `beaconUrl`: where to send audience beacons while this playlist plays. `refresh`:
   * how to get a new URL for the stream (a private Space's expire), asked after a
   * network failure (such as the 403 of an expired URL) before loading again.
   */
  async play(url, kind, { autoplay = true, beaconUrl = null, refresh = null } = {}) {
    this.refresh = refresh;
    // The same stream under a newer token keeps playing: no reload, no gap.
    if (streamOf(this.url) === streamOf(url) && this.kind === kind) {
      this.beaconUrl = beaconUrl;
      if (!beaconUrl) this._stopBeacons();
      return;
    }
    this.stop();
    const generation = ++this._generation;
    this.url = url;
    this.kind = kind;
    this.beaconUrl = beaconUrl;
    this.session = beaconUrl ? newSession() : null;
    this._playAsked = performance.now();
    this._firstAudioMs = null;
    this.autoplay = autoplay;
    this.error = null;
    this.audio.controls = kind === "replay";
    if (this._wantsStream()) {
      this.mode = "stream";
      this._attachStream(generation);
      this._render();
      return;
    }
    const Dash = this._wantsDash() ? await loadDash() : null;
    if (generation !== this._generation) return; // superseded while loading
    if (Dash) {
      this.mode = "dash.js";
      this._attachDash(Dash, generation);
      this._render();
      return;
    }
    const Hls = this._forceNative ? null : await loadHls();
    if (generation !== this._generation) return; // superseded while loading
    if (Hls && Hls.isSupported()) {
      this.mode = "hls.js";
      this._attachHls(Hls, generation);
    } else if (this.audio.canPlayType("application/vnd.apple.mpegurl")) {
      this.mode = "native";
      this.audio.src = url;
      if (autoplay) this._start();
    } else {
      this.mode = null;
      this.error = `This browser cannot play HLS. Open ${url} in VLC or another HLS player.`;
    }
    this._render();
  }

  _wantsStream() {
    return this.kind === "live" && !this._forceNative && !this._forceHls && !this._forceDash &&
      streamPlayable();
  }

  _wantsDash() {
    return this.kind === "live" && !this._forceNative && !this._forceHls && dashPlayable();
  }

  _attachStream(generation) {
    const stream = new ListenStream(this.audio, this.url, {
      onStart: () => {
        if (generation === this._generation && this.autoplay && !this.userPaused) this._start();
      },
      onEnd: (error) => {
        if (generation !== this._generation || this.stream !== stream || this.finishing) return;
        if (error?.noAudio) {
          // An edge nobody publishes to: this page plays LL-DASH instead.
          console.warn("the listener stream sent no audio: playing LL-DASH");
          this._forceDash = true;
          const { url, kind, autoplay, beaconUrl, refresh } = this;
          this.url = null; // play() starts afresh
          void this.play(url, kind, { autoplay, beaconUrl, refresh });
          return;
        }
        // Broken or refused: ask again. Ended cleanly: most likely the Space ended (its
        // page hears it within a moment, and the element plays out its last seconds);
        // if it did not, the server let go (a long outage): ask again after RETRY_MS.
        if (error) this.error = "Reconnecting…";
        clearTimeout(this._retry);
        const wait = error && stream.received > 0 ? STREAM_RECONNECT_MS : RETRY_MS;
        this._retry = setTimeout(async () => {
          if (this.stream !== stream || this.finishing) return;
          if (!(await this._refreshUrl(generation))) return;
          stream.stop();
          this._attachStream(generation);
        }, wait);
        this._render();
      },
    });
    this.stream = stream;
    stream.start();
  }

  _attachDash(dashjs, generation) {
    const player = dashjs.MediaPlayer().create();
    player.updateSettings({
      debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
      streaming: {
        // The manifest's ServiceDescription sets the target latency and catch-up rates.
        liveCatchup: { enabled: true },
        // The server's clock, never a third party's (dash.js defaults to Akamai's).
        utcSynchronization: {
          useManifestDateHeaderTimeSource: false,
          defaultTimingSource: { scheme: "urn:mpeg:dash:utc:http-iso:2014", value: "/hls/clock" },
        },
        buffer: { bufferTimeAtTopQuality: 4, bufferToKeep: 20 },
        retryAttempts: { MediaSegment: SEGMENT_RETRY.attempts },
        retryIntervals: { MediaSegment: SEGMENT_RETRY.intervalMs },
      },
    });
    this.dash = player;
    const events = dashjs.MediaPlayer.events;
    player.on(events.ERROR, (event) => {
      if (generation !== this._generation) return;
      if (this.finishing) {
        this._finish();
        return;
      }
      // Not live yet, a failover, an expired signed URL: start over in a moment (at
      // once for a segment that will not come: the run it belongs to ended).
      this.error = "Reconnecting…";
      console.warn("dash.js error", event.error);
      player.reset();
      this.dash = null;
      clearTimeout(this._retry);
      const now = performance.now();
      const prompt = event.error?.code === dashjs.MediaPlayer.errors.DOWNLOAD_ERROR_ID_CONTENT_CODE &&
        now - this._promptReloadAt >= PROMPT_RELOAD_MS;
      if (prompt) this._promptReloadAt = now;
      this._retry = setTimeout(() => this._retryDash(dashjs, generation), prompt ? 0 : RETRY_MS);
      this._render();
    });
    // Asked to play as soon as the stream is set up, not once data can play: joined as
    // a run starts, the element may not reach "can play" before it is playing (see
    // _keepMoving).
    player.on(events.STREAM_INITIALIZED, () => {
      if (generation === this._generation && this.autoplay && !this.userPaused) this._start();
    });
    player.initialize(this.audio, manifestOf(this.url), false);
  }

  /**
   * Keep a live DASH stream moving. Joined as a run starts, the element may sit at the
   * first audio's very start with audio buffered after it and never play (Chromium:
   * readyState stays HAVE_METADATA); after a failover, the old run's audio ends an
   * outage before the new run's begins, a hole dash.js does not always cross. Step over
   * either to the audio ahead. Stuck with no audio ahead for long: load afresh (a new
   * manifest: the newest run, at its live edge), as after an error.
   */
  _keepMoving() {
    const { buffered, currentTime, paused, readyState } = this.audio;
    if (this.mode !== "dash.js" || !this.dash || paused || this.finishing || readyState >= 3) {
      this._stuckSince = null;
      return;
    }
    for (let i = 0; i < buffered.length; i++) {
      const from = Math.max(buffered.start(i), currentTime);
      if (buffered.end(i) - from > STUCK_AHEAD_S && from - currentTime < MAX_HOLE_S) {
        this.audio.currentTime = from + START_STEP_S;
        return;
      }
    }
    const now = performance.now();
    if (this._stuckAt !== currentTime) {
      this._stuckAt = currentTime;
      this._stuckSince = now;
    } else if (now - this._stuckSince > STUCK_RELOAD_MS && dashModule) {
      console.warn("live DASH stream stuck: loading it afresh");
      this._stuckSince = now;
      const generation = this._generation;
      this.dash.reset();
      this.dash = null;
      void this._retryDash(dashModule, generation);
    }
  }

  /** A live hls.js stream further behind than its target plays a little faster (CATCH_UP). */
  _catchUp() {
    const { hls, audio } = this;
    if (this.mode !== "hls.js" || this.kind !== "live" || !hls || audio.paused) return;
    const behind = hls.latency - hls.targetLatency;
    const catchingUp = audio.playbackRate > 1;
    const want =
      behind > (catchingUp ? CATCH_UP.stopWithinS : CATCH_UP.startAboveS) &&
      bufferedAhead(audio) > CATCH_UP.minAheadS
        ? CATCH_UP.rate
        : 1;
    if (Number.isFinite(behind) && want !== audio.playbackRate) audio.playbackRate = want;
  }

  /** Ask for a fresh URL (signed URLs expire); false if this start was superseded. */
  async _refreshUrl(generation) {
    if (generation !== this._generation) return false;
    if (this.refresh) {
      try {
        this.url = (await this.refresh()) || this.url;
      } catch (_) {
        /* keep the old URL: the next failure asks again */
      }
    }
    return generation === this._generation;
  }

  async _retryDash(dashjs, generation) {
    if (await this._refreshUrl(generation)) this._attachDash(dashjs, generation);
  }

  _attachHls(Hls, generation) {
    const live = this.kind === "live";
    const defaults = Hls.DefaultConfig.playlistLoadPolicy.default;
    const hls = new Hls({
      lowLatencyMode: live,
      // hls.js's own catch-up never starts near the target (see CATCH_UP): ours does it.
      maxLiveSyncPlaybackRate: 1,
      backBufferLength: 30,
      ...(live && defaults && {
        playlistLoadPolicy: { default: { ...defaults, errorRetry: LIVE_PLAYLIST_RETRY } },
      }),
    });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => this.autoplay && this._start());
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || generation !== this._generation) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      if (this.finishing) {
        // The Space is over: its live stream will not come back.
        this.stop();
        return;
      }
      // Network or other fatal errors: start over in a moment (e.g. "Space is starting").
      this.error = data.type === Hls.ErrorTypes.NETWORK_ERROR ? "Reconnecting…" : data.details;
      hls.destroy();
      this.hls = null;
      clearTimeout(this._retry);
      this._retry = setTimeout(async () => {
        if (await this._refreshUrl(generation)) this._attachHls(Hls, generation);
      }, RETRY_MS);
      this._render();
    });
    hls.attachMedia(this.audio);
    hls.loadSource(this.url);
  }

  async _start() {
    this.error = null;
    // Playback that waited (for a tap, or a stall) resumes at the live edge, not behind it.
    const edge = this.hls?.liveSyncPosition;
    if (this.kind === "live" && Number.isFinite(edge) && this.audio.currentTime < edge - LIVE_EDGE_SLACK) {
      this.audio.currentTime = edge;
    }
    const behind = this.dash?.isReady() ? this.dash.getCurrentLiveLatency() : NaN;
    if (this.kind === "live" && behind > this.dash?.getTargetLiveDelay() + LIVE_EDGE_SLACK) {
      this.dash.seekToOriginalLive?.();
    }
    try {
      await this.audio.play();
      this.blocked = false;
      this._ensureMeter();
    } catch (err) {
      if (err.name === "NotAllowedError") this.blocked = true;
      else if (err.name !== "AbortError") this.error = err.message;
    }
    this._render();
  }

  /** The user tapped "Listen": play, and start the level meter (needs a gesture too). */
  async resume() {
    this._ensureMeter();
    this._ctx?.resume();
    await this._start();
  }

  /**
   * The person pauses. A live stream also stops loading (no playlist requests while
   * nobody listens); its last seconds after the Space ended just stop.
   */
  pause() {
    if (!this.url) return;
    if (this.kind === "live" && this.finishing) {
      this.stop();
      return;
    }
    this.userPaused = true;
    this.autoplay = false; // a manifest still loading must not start it again
    this.audio.pause();
    if (this.kind === "live") {
      this.hls?.stopLoad();
      this.stream?.stop();
      this.stream = null;
      // dash.js has no "stop loading": let go of the stream; Resume starts it afresh.
      this.dash?.reset();
      this.dash = null;
    }
    this._render();
  }

  /** Play again after a pause: a live stream at its live edge (not where it paused). */
  unpause() {
    if (!this.url) return;
    const wasPaused = this.userPaused;
    this.userPaused = false;
    if (this.kind === "live" && wasPaused) this._reloadLive();
    else void this.resume(); // paused from elsewhere: _start jumps to the live edge
  }

  /** Paused as the person sees it: by them, or by the system after playing (not connecting). */
  get showsPaused() {
    if (!this.url || this.audio.ended) return false;
    return this.userPaused || this.blocked || (this.audio.paused && this.audio.currentTime > 0 && !this.error);
  }

  toggle() {
    if (this.showsPaused) this.unpause();
    else this.pause();
  }

  /** Load the live stream afresh: playback starts at its live edge. */
  _reloadLive() {
    const generation = ++this._generation;
    clearTimeout(this._retry);
    this.autoplay = true;
    this.error = null;
    this._ensureMeter();
    this._ctx?.resume();
    if (this.mode === "stream") {
      this.stream?.stop();
      this.stream = null;
      this._attachStream(generation);
    } else if (this.mode === "dash.js" && dashModule) {
      this.dash?.reset();
      this.dash = null;
      this._attachDash(dashModule, generation);
    } else if (this.mode === "hls.js" && hlsModule) {
      this.hls?.destroy();
      this.hls = null;
      this._attachHls(hlsModule, generation);
    } else if (this.mode === "native") {
      // Within the tap's turn: iOS plays only from a gesture.
      this.audio.src = this.url;
      void this._start();
    }
    this._render();
  }

  stop() {
    if (!this.url && !this.hls && !this.dash && !this.stream) return;
    this._generation++;
    clearTimeout(this._retry);
    this._stopBeacons();
    this.beaconUrl = null;
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.dash) {
      this.dash.reset();
      this.dash = null;
    }
    if (this.stream) {
      this.stream.stop();
      this.stream = null;
    }
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
    this.url = null;
    this.kind = null;
    this.mode = null;
    this.blocked = false;
    this.userPaused = false;
    this.finishing = false;
    this._render();
  }

  /**
   * Web Audio level meter: element -> analyser -> speakers. Connected only once the
   * AudioContext runs, because a suspended context would silence the element.
   * Native HLS (iOS) skips it unless ?meter=1: WebKit has routed HLS through
   * MediaElementSource as silence.
   */
  _ensureMeter() {
    if (this._ctx || (this.mode === "native" && !this._meterInNative)) return;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    const ctx = new Ctx();
    this._ctx = ctx;
    const connect = () => {
      if (ctx.state !== "running" || this._analyser) return;
      const source = ctx.createMediaElementSource(this.audio);
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      source.connect(analyser);
      analyser.connect(ctx.destination);
      this._samples = new Float32Array(analyser.fftSize);
      this._analyser = analyser;
    };
    ctx.addEventListener("statechange", connect);
    ctx.resume().then(connect, () => {});
    connect();
  }

  /** Current output level: RMS of the last ~43 ms, 0..1 (0 without a meter). */
  level() {
    if (!this._analyser) return 0;
    this._analyser.getFloatTimeDomainData(this._samples);
    let sum = 0;
    for (const v of this._samples) sum += v * v;
    return Math.sqrt(sum / this._samples.length);
  }

  /** Seconds behind real time, from EXT-X-PROGRAM-DATE-TIME when known. */
  latency() {
    if (this.kind !== "live") return null;
    if (this.stream) {
      if (this.stream.newestAt === null) return null;
      return this.stream.ahead() + (performance.now() - this.stream.newestAt) / 1000 + STREAM_PIPELINE_S;
    }
    if (this.dash) {
      const behind = this.dash.isReady() ? this.dash.getCurrentLiveLatency() : NaN;
      return Number.isFinite(behind) && behind > 0 ? behind : null;
    }
    const playing = this.hls?.playingDate || this.audio.getStartDate?.();
    if (playing instanceof Date && !Number.isNaN(playing.getTime()) && playing.getTime() > 0) {
      const at =
        this.mode === "native" ? playing.getTime() + this.audio.currentTime * 1000 : playing.getTime();
      return (Date.now() - at) / 1000;
    }
    return this.hls && Number.isFinite(this.hls.latency) ? this.hls.latency : null;
  }

  _render() {
    if (this.listenButton) this.listenButton.hidden = !this.blocked || !this.url;
    if (this.meterEl) {
      this.meterEl.parentElement.hidden = !this.url;
      const level = this.audio.paused ? 0 : this.level();
      this.meterEl.style.width = `${Math.min(1, level * METER_GAIN) * 100}%`;
    }
    if (this.statusEl) this.statusEl.dataset.kind = this.kind || "";
    if (this.statusEl && this.url) {
      let text;
      let behind = "";
      if (this.error) text = this.error;
      else if (this.blocked) text = "Tap Listen to start audio.";
      else if (this.audio.ended) text = this.kind === "live" ? "The Space has ended." : "Replay finished.";
      else if (this.kind === "replay") text = "Replay of the whole Space.";
      else if (this.audio.paused && this.userPaused) text = "Paused · Resume goes back to live";
      else if (this.audio.paused) text = this.audio.currentTime > 0 ? "Paused" : "Connecting…";
      else if (this.audio.readyState < 3) text = "Buffering…";
      else if (this.finishing) text = "Ended · its last seconds";
      else if (this.note) text = this.note;
      else {
        text = "● Live";
        const latency = this.latency();
        if (latency !== null) behind = `${latency.toFixed(1)} s behind`;
      }
      // Set only when it changes: the status is a live region, read out on each change.
      if (this.statusEl.textContent !== text) this.statusEl.textContent = text;
      if (this.latencyEl) this.latencyEl.textContent = behind;
    } else if (this.latencyEl) this.latencyEl.textContent = "";
    this.onRender?.();
  }
}
