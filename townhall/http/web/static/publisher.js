// Speaker publishing over WHIP (RFC 9725), non-trickle: gather all ICE candidates, POST
// the offer, apply the answer. The answer's audio track is this speaker's mix-minus
// (everyone else), played in an <audio> element. Exposed as window.townhallPublisher.

import { ApiError, localUrl, post } from "./api.js";

const ICE_GATHERING_TIMEOUT_MS = 4000;
// A lost connection (the server restarted, or the cluster node mixing the Space died and
// another took over) is published again with the same token: first after 0.5 s,
// doubling to 5 s, for at most 2 minutes; "disconnected" for 2 s counts as lost.
const RECONNECT_FIRST_DELAY_MS = 500;
const RECONNECT_MAX_DELAY_MS = 5000;
const RECONNECT_FOR_MS = 120000;
const DISCONNECTED_GRACE_MS = 2000;
// The server sends the mix-minus (silence included) every 20 ms. None for this long
// means the server is gone: a killed node sends no ICE failure, and Chromium takes ~6 s
// to call the connection "disconnected" (then the grace above): publish again at once
// (a cluster hands the Space to another node). As townhall/tools/clients/whip.py does.
const MEDIA_TIMEOUT_MS = 1500;
const MEDIA_CHECK_MS = 250;

function waitForIceGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    // Candidates gathered so far are in localDescription: send those after the timeout.
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class Publisher {
  /**
   * @param {string} spaceId
   * @param {{mixMinusAudio: HTMLAudioElement, onChange: (p: Publisher) => void}} options
   */
  constructor(spaceId, { mixMinusAudio, onChange }) {
    this.spaceId = spaceId;
    this.mixMinusAudio = mixMinusAudio;
    this.onChange = onChange || (() => {});
    this.pc = null;
    this.stream = null;
    this.state = "idle"; // idle | connecting | connected | reconnecting | failed | closed
    this.muted = false;
    this.resource = null; // WHIP resource URL (Location)
    this.token = null;
    this.error = null;
  }

  get onStage() {
    return ["connecting", "connected", "reconnecting"].includes(this.state);
  }

  _set(state, error = null) {
    this.state = state;
    this.error = error;
    this.onChange(this);
  }

  /** Join the stage: WHIP credentials from the API, then publish the microphone. */
  async join({ originalSound = false, space = null } = {}) {
    if (this.onStage) return;
    this.muted = false;
    this._set("connecting");
    try {
      const base = `/api/spaces/${encodeURIComponent(this.spaceId)}`;
      const { whip_url: whipUrl, token } = await post(`${base}/stage`);
      this.token = token;
      const processing = !originalSound;
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          echoCancellation: processing,
          noiseSuppression: processing,
          autoGainControl: processing,
          channelCount: 1,
        },
        video: false,
      });
      await this._publish(localUrl(whipUrl, space));
    } catch (err) {
      this._teardown();
      let message = err.message || String(err);
      if (err.name === "NotAllowedError") message = "Microphone access was refused. Allow it in your browser and try again.";
      else if (err.name === "NotFoundError") message = "No microphone found.";
      else if (!(err instanceof ApiError)) message = `Could not join the stage: ${message}`;
      this._set("failed", message);
      // The API's refusal goes on as it is: the page acts on its code (e.g. removed).
      throw err instanceof ApiError ? err : new Error(message);
    }
  }

  async _publish(whipUrl) {
    const pc = new RTCPeerConnection(); // no ICE servers: host candidates only
    this.pc = pc;
    const [track] = this.stream.getAudioTracks();
    pc.addTransceiver(track, { direction: "sendrecv", streams: [this.stream] });
    pc.addEventListener("track", (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      this.mixMinusAudio.srcObject = stream;
      this.mixMinusAudio.play().catch(() => {});
    });
    pc.addEventListener("connectionstatechange", () => {
      if (this.pc !== pc) return;
      const s = pc.connectionState;
      clearTimeout(this._graceTimer);
      if (s === "connected") this._set("connected");
      else if (s === "disconnected") {
        this._set("reconnecting");
        this._graceTimer = setTimeout(() => this.pc === pc && this._reconnect(), DISCONNECTED_GRACE_MS);
      } else if (s === "failed") this._reconnect();
    });
    this._watchMedia(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc, ICE_GATHERING_TIMEOUT_MS);

    let response;
    try {
      response = await fetch(whipUrl, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${this.token}` },
        body: pc.localDescription.sdp,
      });
    } catch (err) {
      throw new ApiError(0, "Cannot reach the server's WHIP endpoint.");
    }
    const text = await response.text();
    if (response.status !== 201) {
      let body = {};
      try {
        body = JSON.parse(text) || {};
      } catch (_) {
        /* plain text */
      }
      const detail = typeof body.detail === "string" ? body.detail : text;
      throw new ApiError(response.status, `The server refused the audio: ${detail || response.status}`, {
        code: typeof body.code === "string" ? body.code : null,
      });
    }
    this.whipUrl = whipUrl;
    const location = response.headers.get("Location");
    this.resource = location ? new URL(location, whipUrl).href : null;
    await pc.setRemoteDescription({ type: "answer", sdp: text });
  }

  /**
   * Reconnect when the mix-minus stops arriving on this connection (MEDIA_TIMEOUT_MS),
   * once it has started to arrive. Stops when `pc` is no longer the current connection.
   */
  _watchMedia(pc) {
    let packets = 0;
    let changedAt = Date.now();
    const timer = setInterval(async () => {
      if (this.pc !== pc) {
        clearInterval(timer);
        return;
      }
      let received = 0;
      try {
        (await pc.getStats()).forEach((r) => {
          if (r.type === "inbound-rtp" && r.kind === "audio") received += r.packetsReceived || 0;
        });
      } catch (_) {
        return; // closed meanwhile
      }
      const now = Date.now();
      if (this.pc !== pc || this._reconnecting) return;
      if (received !== packets || pc.connectionState !== "connected") {
        packets = received;
        changedAt = now;
      } else if (packets > 0 && now - changedAt > MEDIA_TIMEOUT_MS) {
        clearInterval(timer);
        console.warn(`no audio from the server for ${now - changedAt} ms: publishing again`);
        this._reconnect();
      }
    }, MEDIA_CHECK_MS);
  }

  /** Publish again after a lost connection, keeping the microphone stream. */
  async _reconnect() {
    if (this._reconnecting || !this.stream) return;
    this._reconnecting = true;
    this._set("reconnecting");
    const deadline = Date.now() + RECONNECT_FOR_MS;
    let delay = RECONNECT_FIRST_DELAY_MS;
    try {
      while (this.stream && Date.now() < deadline) {
        if (this.pc) this.pc.close();
        this.pc = null;
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (!this.stream) return; // left the stage meanwhile
        try {
          await this._publish(this.whipUrl);
          return;
        } catch (err) {
          // 401/403: removed from the stage or the Space ended; no point trying again.
          if (err instanceof ApiError && [401, 403, 404].includes(err.status)) break;
          delay = Math.min(delay * 2, RECONNECT_MAX_DELAY_MS);
        }
      }
      this._teardown();
      this._set("failed", "The connection to the server was lost. Join the stage again.");
    } finally {
      this._reconnecting = false;
    }
  }

  setMuted(muted) {
    this.muted = muted;
    for (const track of this.stream?.getAudioTracks() || []) track.enabled = !muted;
    this.onChange(this);
  }

  /** Leave the stage: DELETE the WHIP resource, close the connection. */
  async leave() {
    const resource = this.resource;
    const token = this.token;
    this._teardown();
    this._set("closed");
    if (resource && token) {
      try {
        const response = await fetch(resource, {
          method: "DELETE",
          headers: { Authorization: `Bearer ${token}` },
        });
        // 404/401: the server already dropped it (e.g. the Space ended). Nothing to undo.
        if (!response.ok && ![401, 404].includes(response.status)) {
          throw new Error(`leaving the stage failed (${response.status})`);
        }
      } catch (err) {
        console.warn(err);
      }
    }
  }

  _teardown() {
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
    for (const track of this.stream?.getTracks() || []) track.stop();
    this.stream = null;
    this.resource = null;
    if (this.mixMinusAudio) this.mixMinusAudio.srcObject = null;
  }
}
