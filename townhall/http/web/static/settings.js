// Settings: which notifications reach you where, your email address, Discover on or
// off. The server names the kinds and channels and says which this deployment has
// (GET /api/me/settings): this page draws what it is given and saves each change.
import { api, el, get } from "./api.js";
import { clearProblems, showProblem } from "./form-errors.js";
import { currentUser } from "./nav.js";

const $ = (id) => document.getElementById(id);

function emailState(settings) {
  if (!settings.email) return "No address: no email is sent.";
  if (!settings.email_confirmed) return `Waiting for you to follow the link we sent to ${settings.email}.`;
  return `Confirmed: notifications you chose go to ${settings.email}.`;
}

/** The kinds × channels table: one checkbox per choice, saved when it changes. */
function drawChoices(settings) {
  const available = { app: true, email: settings.email_available, push: settings.push_available };
  const channels = settings.channels.filter((c) => available[c.id]);
  $("notify-head").replaceChildren(
    el("th", { scope: "col" }, "When"),
    ...channels.map((c) => el("th", { scope: "col" }, c.label)),
  );
  $("notify-rows").replaceChildren(...settings.kinds.map((kind) => {
    const cells = channels.map((channel) => {
      const box = el("input", {
        type: "checkbox",
        id: `notify-${kind.id}-${channel.id}`,
        "aria-label": `${kind.label}: ${channel.label}`,
      });
      box.checked = settings.notifications[kind.id][channel.id];
      box.addEventListener("change", () => saveChoice(kind, channel, box));
      return el("td", {}, box);
    });
    return el("tr", {}, el("th", { scope: "row" }, kind.label), ...cells);
  }));
}

async function saveChoice(kind, channel, box) {
  const saved = $("notify-saved");
  saved.textContent = "";
  clearProblems({}, $("notify-problem"));
  $("notify-problem").hidden = true;
  try {
    const settings = await api("PATCH", "/api/me/settings", {
      notifications: { [kind.id]: { [channel.id]: box.checked } },
    });
    box.checked = settings.notifications[kind.id][channel.id];
    saved.textContent = `${box.checked ? "On" : "Off"}: ${kind.label.toLowerCase()} (${channel.label.toLowerCase()}).`;
  } catch (err) {
    box.checked = !box.checked;
    $("notify-problem").textContent = err.message;
    $("notify-problem").hidden = false;
  }
}

async function saveEmail(event) {
  event.preventDefault();
  const form = $("email-form");
  const input = $("email-address");
  const button = $("email-save");
  clearProblems({ email: input }, form);
  $("email-saved").textContent = "";
  button.disabled = true;
  try {
    const settings = await api("PATCH", "/api/me/settings", { email: input.value });
    input.value = settings.email || "";
    $("email-state").textContent = emailState(settings);
    $("email-saved").textContent = settings.email && !settings.email_confirmed
      ? "Saved. Check your inbox for the link." : "Saved.";
    drawChoices(settings);
  } catch (err) {
    showProblem(err, { email: input }, form);
  } finally {
    button.disabled = false;
  }
}

async function saveDiscover() {
  const box = $("discover-on");
  const saved = $("discover-saved");
  saved.textContent = "";
  try {
    const settings = await api("PATCH", "/api/me/settings", { discover: box.checked });
    box.checked = settings.discover;
    saved.textContent = settings.discover ? "Discover is on." : "Discover is off.";
  } catch (err) {
    box.checked = !box.checked;
    showProblem(err, {}, box);
  }
}

async function start() {
  const user = await currentUser;
  const status = $("settings-status");
  if (!user) {
    status.replaceChildren("Sign in to change your settings. ",
      el("a", { href: `/signin?next=${encodeURIComponent("/settings")}` }, "Sign in"));
    return;
  }
  let settings;
  try {
    settings = await get("/api/me/settings");
  } catch (err) {
    status.textContent = err.message;
    return;
  }
  status.textContent = `Signed in as @${user.username}.`;
  drawChoices(settings);
  $("notify-card").hidden = false;
  $("email-card").hidden = !settings.email_available;
  $("email-address").value = settings.email || "";
  $("email-state").textContent = emailState(settings);
  $("email-form").addEventListener("submit", saveEmail);
  $("discover-on").checked = settings.discover;
  $("discover-on").addEventListener("change", saveDiscover);
  $("discover-card").hidden = false;
  document.dispatchEvent(new CustomEvent("townhall:settings", { detail: settings }));
}

start();
