// Your standing, on every page: operators get a link to the console in the header; a
// suspended person gets a notice saying why and until when, with the appeal form. The
// server says what you may do (`can: ["appeal"]`); /standing lists every action about
// you or your Spaces. Refusals are shown next to the form that caused them.
import { el, get, post, showProblem, clearProblems } from "./api.js";
import { currentUser } from "./nav.js";
import { when } from "./moderation-format.js";

function appealForm(action, onDone) {
  const id = `appeal-text-${action.seq}`;
  const text = el("textarea", { id, name: "text", maxLength: 1000, required: true });
  const form = el("form", { class: "appeal-form stack-form compact", novalidate: true },
    el("label", { for: id }, el("span", { class: "label" }, "Why should this be undone?")), text,
    el("p", { class: "buttons" }, el("button", { type: "submit", id: `appeal-submit-${action.seq}` }, "Send appeal")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblems({ text }, form);
    try {
      await post("/api/appeals", { entry: action.seq, text: text.value });
      onDone();
    } catch (err) {
      showProblem(err, { text, entry: text }, form.querySelector("button"));
    }
  });
  return form;
}

function appealState(action) {
  if (!action.appeal) return null;
  const states = { open: "Your appeal is waiting for an operator.",
    granted: "Your appeal was granted.", denied: "Your appeal was denied." };
  const parts = [el("p", { class: "appeal-state" }, states[action.appeal.status] || "")];
  if (action.appeal.reply) parts.push(el("p", { class: "muted" }, `The operator said: “${action.appeal.reply}”`));
  return parts;
}

/** One action about you, with its appeal (or the form to appeal it). */
export function actionCard(action, { heading, refresh }) {
  const card = el("section", { class: "card notice standing-card", id: `action-${action.seq}`,
    "aria-labelledby": `action-${action.seq}-heading` });
  card.append(el("h2", { id: `action-${action.seq}-heading` }, heading || action.action_label));
  const target = action.target_type === "user" ? "your account" : `your Space ${action.target}`;
  const until = action.action === "suspend"
    ? (action.until ? ` until ${when(action.until)}` : " until an operator lifts it") : "";
  card.append(el("p", {}, `${action.action_label} (${target})${until}. Reason: ${action.reason_label}. `,
    el("a", { href: `/transparency#entry-${action.seq}` }, `Log entry ${action.seq}`)));
  if (action.action === "suspend") {
    card.append(el("p", { class: "muted" }, "You can still sign in, read and listen. You can't host, speak, react, raise your hand, follow or report until then."));
  }
  const state = appealState(action);
  if (state) card.append(...state);
  if (action.can.includes("appeal")) card.append(appealForm(action, refresh));
  return card;
}

async function show() {
  const user = await currentUser;
  if (!user) return;
  let standing;
  try {
    standing = await get("/api/me/standing");
  } catch (_) {
    return; // the rest of the page works without it
  }
  if (standing.operator && !document.getElementById("operator-link")) {
    document.getElementById("account")?.prepend(el("a", { id: "operator-link", href: "/operator" }, "Operator"));
  }
  const page = document.getElementById("standing");
  const main = document.querySelector("main");
  document.getElementById("suspension-banner")?.remove();
  if (page) {
    page.replaceChildren(...(standing.actions.length
      ? standing.actions.map((a) => actionCard(a, { refresh: show }))
      : [el("p", { id: "standing-empty" }, "Your account is in good standing: no operator has acted on it or your Spaces.")]));
    return;
  }
  if (!standing.suspension) return;
  const action = standing.actions.find((a) => a.seq === standing.suspension.entry);
  if (!action) return;
  const banner = actionCard(action, { heading: "Your account is suspended", refresh: show });
  banner.id = "suspension-banner";
  main.prepend(banner);
}

show();
