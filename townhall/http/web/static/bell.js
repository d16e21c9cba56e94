// The header's bell: how many notifications are unread, pushed by the server over an
// event stream (GET /api/me/events: the count at once, and again whenever it changes),
// and a panel listing them (each a sentence from the server with a link to its Space).
// Opening the panel marks what it shows read.
import { el, get, post, showError } from "./api.js";

// Only while the event stream is down (EventSource retries it by itself): how often the
// tab asks for its count instead (GET /api/me/notifications?limit=0, one indexed count).
// Hidden tabs do not ask; a tab asks at once when it is shown again.
export const BELL_POLL_MS = 20_000;

export function bell() {
  const count = el("span", { class: "bell-count", id: "bell-count", hidden: true });
  const button = el("button", {
    type: "button", class: "bell", id: "bell-button", "aria-expanded": "false",
    "aria-controls": "bell-panel", "aria-label": "Notifications",
  }, el("span", { "aria-hidden": "true", class: "bell-icon" }, "🔔"), count);
  const list = el("ul", { class: "bell-list", id: "bell-list" });
  const panel = el("section", { class: "bell-panel", id: "bell-panel", hidden: true,
    "aria-label": "Notifications" }, el("h2", {}, "Notifications"), list);
  const wrap = el("div", { class: "bell-wrap" }, button, panel);

  function show(unread) {
    count.textContent = unread > 99 ? "99+" : String(unread);
    count.hidden = unread === 0;
    button.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      show((await get("/api/me/notifications?limit=0")).unread);
    } catch (_) {
      /* the next poll tries again; the bell is not worth a banner */
    }
  }

  // On a phone the panel spans the screen under the header, however many rows the
  // header wrapped to (and again when the window changes size).
  function place() {
    const header = wrap.closest("header");
    const fixed = getComputedStyle(panel).position === "fixed";
    panel.style.top = fixed && header ? `${header.getBoundingClientRect().bottom + 6}px` : "";
  }

  async function open() {
    panel.hidden = false;
    place();
    button.setAttribute("aria-expanded", "true");
    list.replaceChildren(el("li", { class: "muted" }, "Loading…"));
    try {
      const page = await get("/api/me/notifications");
      list.replaceChildren(...(page.notifications.length ? page.notifications.map((n) =>
        el("li", { class: n.read ? "bell-item" : "bell-item unread" },
          n.url ? el("a", { href: n.url }, n.text) : n.text)) :
        [el("li", { class: "muted" }, "Nothing yet. Follow people to hear when they go live.")]));
      if (page.unread && page.notifications.length) {
        show((await post("/api/me/notifications/read", { up_to: page.notifications[0].id })).unread);
      }
    } catch (err) {
      list.replaceChildren();
      showError(err);
    }
  }

  function close() {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }

  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      close();
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !wrap.contains(event.target)) close();
  });
  window.addEventListener("resize", () => panel.hidden || place());
  document.addEventListener("visibilitychange", refresh);
  const stream = new EventSource("/api/me/events");
  stream.addEventListener("unread", (event) => show(JSON.parse(event.data).unread));
  setInterval(() => stream.readyState === EventSource.OPEN || refresh(), BELL_POLL_MS);
  return wrap;
}
