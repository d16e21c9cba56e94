// A Space in a list (home, profile): state, title, host, and what matters for its state.
import { del, el, post } from "./api.js";
import { clearProblems, showNear } from "./form-errors.js";
import { STATE_LABELS, duration, fromNow, plural, when } from "./format.js";

export const profileUrl = (username) => `/u/${encodeURIComponent(username)}`;
export const spaceUrl = (id) => `/s/${encodeURIComponent(id)}`;

export function hostLink(username, props = {}) {
  return el("a", { href: profileUrl(username), class: "host-link", ...props }, `@${username}`);
}

function metaText(space) {
  if (space.state === "live") {
    return `${plural(space.listeners, "listener")} · ${plural(space.speakers.length, "speaker")}`;
  }
  if (space.state === "scheduled") {
    return space.scheduled_start
      ? `${when(space.scheduled_start)} · ${fromNow(space.scheduled_start)}`
      : "Starting soon";
  }
  if (space.state === "ended") return `${when(space.ended_at)} · ${duration(space.started_at, space.ended_at)}`;
  return STATE_LABELS[space.state] || space.state;
}

/**
 * One list item. `extra` nodes (buttons) go at the end of the item; `highlight` marks
 * it (a reminded Space that went live); `reasons`: why it is shown (Discover: the
 * server's sentences, shown as they come).
 */
export function spaceItem(space, { extra = [], highlight = null, showHost = true, reasons = null } = {}) {
  const item = el(
    "li",
    { class: `space-item${highlight ? " highlight" : ""}`, "data-space-id": space.id, "data-state": space.state },
    el("span", { class: "badge", "data-state": space.state }, STATE_LABELS[space.state] || space.state),
    el("a", { href: spaceUrl(space.id), class: "space-link" }, el("span", { class: "space-title" }, space.title)),
  );
  const meta = el("span", { class: "muted space-meta" });
  if (showHost) meta.append(hostLink(space.host.username), " · ");
  meta.append(metaText(space));
  item.append(meta);
  if (space.topics?.length) {
    item.append(el("span", { class: "topics small" }, ...space.topics.map((t) => el("span", { class: "topic" }, t))));
  }
  if (reasons?.length) {
    item.append(
      el(
        "p",
        { class: "reasons small" },
        el("span", { class: "sr-only" }, "Why it is here: "),
        ...reasons.map((r) => el("span", { class: "reason" }, r)),
      ),
    );
  }
  if (highlight) item.append(el("a", { href: spaceUrl(space.id), class: "button small live-join" }, highlight));
  const actions = extra.filter(Boolean);
  if (actions.length) item.append(el("span", { class: "item-actions" }, ...actions));
  return item;
}

export function fillList(list, items, emptyText) {
  list.replaceChildren(...(items.length ? items : [el("li", { class: "muted empty" }, emptyText)]));
}

/**
 * "Remind me" / "Reminded ✓" for an upcoming Space, when the server offers it to this
 * viewer (`space.you.can`); anonymous users get a sign-in link, its host a label.
 */
export function remindButton(space, user, onChange) {
  if (!user) {
    const here = encodeURIComponent(spaceUrl(space.id));
    return el("a", { href: `/signin?next=${here}`, class: "button small secondary" }, "Remind me");
  }
  if (space.you?.role === "host") return el("span", { class: "muted small" }, "Your Space");
  if (!space.you?.can.includes("remind")) return null;
  const button = el(
    "button",
    { type: "button", class: `small ${space.reminded ? "secondary" : ""}`, "aria-pressed": String(space.reminded) },
    space.reminded ? "Reminded ✓" : "Remind me",
  );
  button.dataset.action = "remind";
  button.addEventListener("click", async () => {
    button.disabled = true;
    clearProblems({}, button);
    try {
      const path = `/api/spaces/${encodeURIComponent(space.id)}/reminder`;
      await (space.reminded ? del(path) : post(path));
      space.reminded = !space.reminded;
      onChange();
    } catch (err) {
      showNear(button, err); // under the button, not at the top of the page
      button.disabled = false;
    }
  });
  return button;
}
