// Clips, the replay's download, and the host's trim and deletion, on the Space page.
// What to offer comes from the server (GET /api/spaces/{id}/recording: `can`, `status`);
// this module keeps no copy of a rule. Times are seconds on the recording's timeline:
// the player's position plus the recording's `playlist_start` (the trimmed replay
// playlist starts there).
import { del, get, localUrl, post, showProblem, clearProblems, api } from "./api.js";

const $ = (id) => document.getElementById(id);
const spaceId = $("space").dataset.spaceId;
const card = $("recording-card");
const path = `/api/spaces/${encodeURIComponent(spaceId)}`;
let recording = null;

const seconds = (value) => (Number.isFinite(value) ? Math.round(value * 10) / 10 : "");
function clock(total) {
  const whole = Math.max(0, Math.floor(total));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function render() {
  const r = recording;
  const can = new Set(r?.can || []);
  const deleted = r?.status === "deleted";
  card.hidden = !r || (r.status === "none" && !deleted);
  if (!r) return;
  $("recording-deleted").hidden = !deleted;
  $("recording-deleted").textContent = deleted
    ? (r.deleted_by === "retention"
      ? "This recording was deleted: replays are kept for a set time after the Space."
      : "The host deleted this recording.")
    : "";
  const expires = r.expires_at ? new Date(r.expires_at) : null;
  $("recording-expiry").hidden = !expires;
  $("recording-expiry").textContent = expires
    ? `This replay will be deleted on ${expires.toLocaleDateString([], { year: "numeric", month: "long", day: "numeric" })}.`
    : "";
  const download = $("download-link");
  download.hidden = !can.has("download") || !r.download_url;
  if (r.download_url) download.href = localUrl(r.download_url, { page_url: location.href });
  $("clip-live-button").hidden = !(can.has("clip") && r.status === "recording");
  $("clip-form").hidden = !(can.has("clip") && r.status === "available");
  $("trim-block").hidden = !can.has("trim");
  if (can.has("trim") && document.activeElement?.form !== $("trim-form")) {
    $("trim-start").value = seconds(r.trim_start);
    $("trim-end").value = r.trim_end === null ? "" : seconds(r.trim_end);
    $("trim-start").max = $("trim-end").max = String(r.duration);
  }
}

async function refresh() {
  try {
    recording = await get(`${path}/recording`);
  } catch (err) {
    recording = null; // a private Space's outsider, or no such Space: nothing to show
  }
  render();
  await listClips();
}

async function listClips() {
  if (!recording || recording.status === "deleted") {
    $("clips-block").hidden = true;
    return;
  }
  let clips = [];
  try {
    clips = (await get(`${path}/clips`)).clips;
  } catch (_) {
    /* not for this viewer */
  }
  $("clips-block").hidden = clips.length === 0;
  $("clip-list").replaceChildren(...clips.map((clip) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/c/${encodeURIComponent(clip.id)}`;
    link.textContent = clip.title || `Clip ${clock(clip.start)}–${clock(clip.end)}`;
    const who = document.createElement("span");
    who.className = "muted small";
    who.textContent = ` ${clock(clip.start)}–${clock(clip.end)} · by @${clip.maker.username}`;
    item.append(link, who);
    return item;
  }));
}

function position() {
  const audio = $("player-audio");
  const at = audio && Number.isFinite(audio.currentTime) ? audio.currentTime : 0;
  return (recording?.playlist_start || 0) + at;
}

$("clip-here-button").addEventListener("click", () => {
  const start = position();
  $("clip-start").value = seconds(start);
  $("clip-end").value = seconds(Math.min(start + 30, recording?.duration ?? start + 30));
});

async function makeClip(body, near) {
  $("clip-made").textContent = "Making the clip…";
  try {
    const clip = await post(`${path}/clips`, body);
    const link = document.createElement("a");
    link.href = `/c/${encodeURIComponent(clip.id)}`;
    link.id = "clip-made-link";
    link.textContent = "Open the clip";
    $("clip-made").replaceChildren(`Clip made (${Math.round(clip.duration)} s). `, link);
    await listClips();
  } catch (err) {
    $("clip-made").textContent = "";
    showProblem(err, near);
  }
}

$("clip-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("clip-form");
  clearProblems(form);
  const start = Number.parseFloat($("clip-start").value);
  const end = Number.parseFloat($("clip-end").value);
  makeClip({ start: Number.isFinite(start) ? start : null, end: Number.isFinite(end) ? end : null,
    title: $("clip-title").value }, form);
});

$("clip-live-button").addEventListener("click", () => makeClip({ last: 30 }, $("clip-live-button")));

$("trim-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("trim-form");
  clearProblems(form);
  const end = $("trim-end").value.trim();
  try {
    recording = await api("PATCH", `${path}/recording`, {
      trim_start: Number.parseFloat($("trim-start").value || "0"),
      trim_end: end === "" ? null : Number.parseFloat(end),
    });
    $("trim-status").textContent = `Saved: the replay is now ${clock(recording.replay_seconds)} long. Reload to hear it trimmed.`;
    render();
  } catch (err) {
    showProblem(err, form);
  }
});

$("delete-recording-button").addEventListener("click", async () => {
  if (!window.confirm("Delete this recording for good? The replay, its download and its clips go, and this cannot be undone.")) return;
  try {
    await del(`${path}/recording`);
    await refresh();
  } catch (err) {
    showProblem(err, $("delete-recording-button"));
  }
});

// The Space going live or ending changes what may be done: look again then.
new MutationObserver((changes) => {
  if (changes.some((c) => c.oldValue !== $("space-state").dataset.state)) refresh();
}).observe($("space-state"), { attributes: true, attributeOldValue: true, attributeFilter: ["data-state"] });
refresh();
