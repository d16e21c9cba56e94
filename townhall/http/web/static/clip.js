// A clip's page: its captions listed beside the player (the active one marked), copy
// its link, and delete it when the server says this viewer may (`data-can`).
import { del } from "./api.js";

/** Put text on the clipboard (false where the browser does not allow it: no HTTPS). */
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const box = document.getElementById("clip-url");
    box.select();
    return document.execCommand("copy");
  }
}

const article = document.getElementById("clip");
const audio = document.getElementById("clip-audio");
const track = document.getElementById("clip-track");
const list = document.getElementById("clip-cues");
const none = document.getElementById("clip-no-cues");
const status = document.getElementById("clip-status");
const can = (article.dataset.can || "").split(" ").filter(Boolean);

/** Cues of a WebVTT file: [{start, end, text}] (times in seconds). */
export function parseVtt(text) {
  const seconds = (stamp) => {
    const parts = stamp.trim().split(":").map(Number);
    return parts.reduce((total, part) => total * 60 + part, 0);
  };
  const cues = [];
  for (const block of text.replace(/\r/g, "").split(/\n\n+/)) {
    const lines = block.split("\n");
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0) continue;
    const [start, end] = lines[timing].split("-->").map((s) => seconds(s.split(" ").filter(Boolean)[0] || "0"));
    const body = lines.slice(timing + 1).join(" ");
    const speaker = /^<v ([^>]*)>/.exec(body);
    cues.push({ start, end, speaker: speaker ? speaker[1] : "", text: body.replace(/<[^>]*>/g, "") });
  }
  return cues;
}

async function showCaptions() {
  let cues = [];
  try {
    const response = await fetch(track.src, { headers: { Accept: "text/vtt" } });
    if (response.ok) cues = parseVtt(await response.text());
  } catch (_) {
    /* no captions shown: the player still plays */
  }
  none.hidden = cues.length > 0;
  list.replaceChildren(...cues.map((cue) => {
    const item = document.createElement("li");
    item.dataset.start = String(cue.start);
    item.dataset.end = String(cue.end);
    if (cue.speaker) {
      const who = document.createElement("strong");
      who.textContent = `${cue.speaker}: `;
      item.append(who);
    }
    item.append(cue.text);
    return item;
  }));
}

audio.addEventListener("timeupdate", () => {
  for (const item of list.children) {
    const on = audio.currentTime >= Number(item.dataset.start) && audio.currentTime < Number(item.dataset.end);
    item.classList.toggle("active", on);
    if (on) item.setAttribute("aria-current", "true");
    else item.removeAttribute("aria-current");
  }
});

document.getElementById("clip-copy").addEventListener("click", async () => {
  const url = document.getElementById("clip-url").value;
  status.textContent = (await copyText(url)) ? "Link copied." : "Copy the link from the box above.";
});

const deleteButton = document.getElementById("clip-delete");
deleteButton.hidden = !can.includes("delete");
deleteButton.addEventListener("click", async () => {
  if (!window.confirm("Delete this clip? Its link will stop working.")) return;
  deleteButton.disabled = true;
  try {
    await del(`/api/clips/${encodeURIComponent(article.dataset.clipId)}`);
    status.textContent = "Clip deleted.";
    window.location.assign(document.getElementById("clip-space-link").href);
  } catch (err) {
    status.textContent = err.message;
    deleteButton.disabled = false;
  }
});

showCaptions();
