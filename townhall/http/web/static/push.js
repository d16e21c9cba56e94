// "Notifications in this browser" on the settings page: registers the service worker
// (/sw.js, scope: the whole site), subscribes with this server's key (GET
// /api/push/key) and hands the subscription to the server (POST
// /api/me/push-subscriptions); turned off, the server forgets it (DELETE) and the
// browser unsubscribes. Every way it can fail says so in words: a browser without push,
// notifications blocked, no answer from the browser's push service (it is on the
// internet, run by the browser's maker), or the server refusing.
import { api, el, get } from "./api.js";
import { currentUser } from "./nav.js";

const $ = (id) => document.getElementById(id);
// How long the browser's push service may take to answer a subscribe: it is on the
// internet; with none (or blocked), some browsers never answer at all.
const SUBSCRIBE_TIMEOUT_MS = 20_000;
const NO_PUSH_SERVICE = "This browser could not subscribe with its push service (run by the "
  + "browser's maker, on the internet; private windows have none), so notifications can't "
  + "be turned on here. Try a normal window, check the connection, or try another browser.";
const BLOCKED = "Notifications are blocked for this site in your browser. Allow them in the "
  + "browser's site settings, then turn this on.";

let box;
let status;
let problem;

function say(text) {
  status.textContent = text;
}

function fail(text) {
  problem.textContent = text;
  problem.hidden = false;
}

function clear() {
  problem.textContent = "";
  problem.hidden = true;
  say("");
}

/** base64url -> bytes, for applicationServerKey. */
function bytesOf(base64url) {
  const text = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

async function registration() {
  await navigator.serviceWorker.register("/sw.js", { scope: "/", type: "classic" });
  return navigator.serviceWorker.ready;
}

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(
    () => reject(Object.assign(new Error("timeout"), { name: "TimeoutError" })), ms))]);
}

async function turnOn() {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    fail(permission === "denied" ? BLOCKED
      : "Notifications need your permission: answer the browser's question with Allow.");
    return false;
  }
  const reg = await registration();
  const { key } = await get("/api/push/key");
  let subscription;
  try {
    subscription = await withTimeout(reg.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: bytesOf(key),
    }), SUBSCRIBE_TIMEOUT_MS);
  } catch (err) {
    if (err && err.name === "NotAllowedError" && Notification.permission === "denied") fail(BLOCKED);
    else fail(`${NO_PUSH_SERVICE} (The browser said: ${err && err.message ? err.message : err}.)`);
    return false;
  }
  try {
    await api("POST", "/api/me/push-subscriptions", subscription.toJSON());
  } catch (err) {
    await subscription.unsubscribe().catch(() => {});
    fail(err.message);
    return false;
  }
  say("On: notifications you chose for this browser will show here.");
  return true;
}

async function turnOff() {
  const reg = await registration();
  const subscription = await reg.pushManager.getSubscription();
  if (subscription) {
    try {
      await api("DELETE", "/api/me/push-subscriptions", { endpoint: subscription.endpoint });
    } catch (err) {
      if (err.status !== 404) {
        fail(err.message);
        return false;
      }
    }
    await subscription.unsubscribe().catch(() => {});
  }
  say("Off: this browser gets no notifications.");
  return true;
}

async function toggle() {
  clear();
  const wanted = box.checked;
  box.disabled = true;
  say(wanted ? "Turning on…" : "Turning off…");
  let done = false;
  try {
    done = wanted ? await turnOn() : await turnOff();
  } catch (err) {
    fail(err.message || String(err));
  } finally {
    if (!done) {
      box.checked = !wanted;
      say("");
    }
    box.disabled = false;
  }
}

function draw(card) {
  box = el("input", { type: "checkbox", id: "push-on", "aria-describedby": "push-hint push-status" });
  status = el("span", { id: "push-status", class: "muted save-status", role: "status" });
  problem = el("p", { id: "push-problem", class: "form-error", role: "alert" });
  problem.hidden = true;
  card.replaceChildren(
    el("h2", {}, "Notifications in this browser"),
    el("label", { class: "switch-row" }, box, el("span", {}, "Get notifications in this browser")),
    el("p", { id: "push-hint", class: "hint" },
      "Shown by this browser even when Townhall isn't open. Which kinds come here is "
      + "set in the table above."),
    problem,
    el("p", {}, status),
  );
  card.hidden = false;
}

async function start(settings) {
  const card = $("push-card");
  if (!card || !settings.push_available) return;
  draw(card);
  if (!supported()) {
    box.disabled = true;
    fail("This browser cannot show push notifications (no service workers or Push API).");
    return;
  }
  box.addEventListener("change", toggle);
  if (Notification.permission === "denied") {
    box.disabled = true;
    fail(BLOCKED);
  }
  try {
    const reg = await registration();
    const subscription = await reg.pushManager.getSubscription();
    box.checked = Boolean(subscription) && Notification.permission === "granted";
    if (box.checked) {
      // Tell the server again: it may have forgotten this browser (a 410 once, a reset).
      await api("POST", "/api/me/push-subscriptions", subscription.toJSON());
      say("On: notifications you chose for this browser will show here.");
    }
  } catch (err) {
    fail(err.message || String(err));
  }
  card.dataset.ready = "true"; // for tests: the control is drawn and its state known
}

// Whether this deployment sends push comes with the settings (settings.js announces them
// once loaded; this module may load after that, so it asks itself if it missed them).
let started = false;
function startOnce(settings) {
  if (started) return;
  started = true;
  start(settings);
}
document.addEventListener("townhall:settings", (event) => startOnce(event.detail));
currentUser.then(async (user) => {
  if (!user || started) return;
  try {
    startOnce(await get("/api/me/settings"));
  } catch (_) {
    /* settings.js shows why the settings could not be read */
  }
});
