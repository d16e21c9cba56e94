// The operators' console: open reports (act on one: suspend its person, end its live
// Space, take its replay down; or dismiss it), open appeals (grant or deny, with a
// reply the person reads), and acting directly. The server decides who may use it
// (403 for anyone else: its sentence is shown) and checks every input; its refusals
// are shown under the input or next to the button used.
import { el, get, post, showProblem, clearProblems } from "./api.js";
import { currentUser } from "./nav.js";
import { plural } from "./format.js";
import { when } from "./moderation-format.js";

const status = document.getElementById("console-status");
const reasonOptions = document.getElementById("reason-options");
let serial = 0;

function field(label, control) {
  return el("label", {}, el("span", { class: "label" }, label), control);
}

// What can be done to each kind of target (the server checks it again).
const ACTIONS = {
  user: [["suspend", "Suspend the account"]],
  space: [["end_space", "End the live Space"]],
  replay: [["take_down", "Take the replay down"]],
};

function reportItem(report) {
  const n = ++serial;
  const action = el("select", { id: `act-${n}`, name: "action" },
    ...ACTIONS[report.target.type].map(([value, label]) => el("option", { value }, label)));
  const reason = el("select", { id: `reason-${n}`, name: "reason" });
  reason.innerHTML = reasonOptions.innerHTML;
  reason.value = report.reason;
  const days = el("input", { id: `days-${n}`, name: "days", type: "number", min: 1, max: 365, inputmode: "numeric" });
  const note = el("textarea", { id: `note-${n}`, name: "note", maxLength: 1000 });
  const act = el("button", { type: "submit", class: "danger", id: `act-submit-${report.id}` }, "Act");
  const dismiss = el("button", { type: "button", class: "secondary", id: `dismiss-${report.id}` }, "Dismiss");
  const form = el("form", { class: "stack-form compact", novalidate: true },
    el("div", { class: "console-grid" }, field("Action", action), field("Reason", reason),
      ...(report.target.type === "user" ? [field("Days (empty: until lifted)", days)] : [])),
    field("Private note", note), el("p", { class: "buttons" }, act, dismiss));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const inputs = { action, reason, days, note, target: action };
    clearProblems(inputs, act);
    try {
      await post("/api/operator/actions", { action: action.value, target: report.target.id, reason: reason.value,
        note: note.value, days: days.value ? Number(days.value) : null, report_id: report.id });
      await refresh(`Done: ${action.selectedOptions[0].textContent.toLowerCase()} (${report.target.label}). It is on the log.`);
    } catch (err) {
      showProblem(err, inputs, act);
    }
  });
  dismiss.addEventListener("click", async () => {
    try {
      await post(`/api/operator/reports/${report.id}/dismiss`);
      await refresh("Report dismissed.");
    } catch (err) {
      showProblem(err, {}, dismiss);
    }
  });
  const about = report.target.type === "user" ? "Account" : report.target.type === "replay" ? "Replay" : "Space";
  return el("li", { class: "console-item", id: `report-${report.id}` },
    el("h3", {}, `${about}: `, el("a", { href: report.target.url }, report.target.label)),
    el("p", {}, `${report.reason_label}, reported by @${report.reporter} `, el("span", { class: "muted" }, when(report.created_at))),
    ...(report.note ? [el("p", { class: "muted" }, `“${report.note}”`)] : []),
    form);
}

function appealItem(appeal) {
  const n = ++serial;
  const reply = el("textarea", { id: `reply-${n}`, name: "reply", maxLength: 1000 });
  const grant = el("button", { type: "button", id: `grant-${appeal.id}` }, "Grant (undo it)");
  const deny = el("button", { type: "button", class: "secondary", id: `deny-${appeal.id}` }, "Deny");
  const answer = (yes, button) => async () => {
    clearProblems({ reply }, button);
    try {
      await post(`/api/operator/appeals/${appeal.id}/answer`, { grant: yes, reply: reply.value });
      await refresh(`Appeal ${yes ? "granted" : "denied"}. It is on the log.`);
    } catch (err) {
      showProblem(err, { reply }, button);
    }
  };
  grant.addEventListener("click", answer(true, grant));
  deny.addEventListener("click", answer(false, deny));
  const entry = appeal.entry;
  return el("li", { class: "console-item", id: `appeal-${appeal.id}` },
    el("h3", {}, `@${appeal.by.username} appeals: ${entry.action_label} `,
      el("a", { href: `/transparency#entry-${entry.seq}` }, `(entry ${entry.seq})`)),
    el("p", {}, `Reason given: ${entry.reason_label}. They wrote: “${appeal.text}”`),
    el("div", { class: "stack-form compact" }, field("Reply (they read it)", reply), el("p", { class: "buttons" }, grant, deny)));
}

async function refresh(message) {
  let queue;
  try {
    queue = await get("/api/operator/queue");
  } catch (err) {
    status.textContent = err.message;
    return;
  }
  status.textContent = message || `${plural(queue.reports.length, "open report")}, ${plural(queue.appeals.length, "open appeal")}.`;
  for (const id of ["reports-card", "appeals-card", "direct-card"]) document.getElementById(id).hidden = false;
  document.getElementById("reports").replaceChildren(...queue.reports.map(reportItem));
  document.getElementById("reports-empty").hidden = queue.reports.length > 0;
  document.getElementById("appeals").replaceChildren(...queue.appeals.map(appealItem));
  document.getElementById("appeals-empty").hidden = queue.appeals.length > 0;
}

const direct = document.getElementById("direct-form");
direct.addEventListener("submit", async (event) => {
  event.preventDefault();
  const inputs = Object.fromEntries(["action", "target", "reason", "days", "note"].map((n) => [n, direct.elements.namedItem(n)]));
  const submit = document.getElementById("direct-submit");
  clearProblems(inputs, submit);
  try {
    const entry = await post("/api/operator/actions", { action: inputs.action.value, target: inputs.target.value.trim(),
      reason: inputs.reason.value, note: inputs.note.value, days: inputs.days.value ? Number(inputs.days.value) : null });
    direct.reset();
    await refresh(`Done: log entry ${entry.seq}.`);
  } catch (err) {
    showProblem(err, inputs, submit);
  }
});

currentUser.then((user) => {
  if (!user) status.textContent = "Sign in with an operator account to use the console.";
  else refresh();
});
