// Report buttons: any `[data-report-type]` on the page (a Space, its replay, a person)
// opens a dialog with the reasons the server lists (GET /api/reports/reasons) and an
// optional note; shown to signed-in people only. The server's refusals (a reason not on
// the list, too many reports, yourself) are shown under the input or the button.
import { el, get, post, showProblem, clearProblems } from "./api.js";
import { currentUser } from "./nav.js";

let reasons = null;

async function targetType(button) {
  const type = button.dataset.reportType;
  if (type !== "space") return type;
  try { // an ended Space is reported as its replay
    const space = await get(`/api/spaces/${encodeURIComponent(button.dataset.reportTarget)}`);
    return space.state === "ended" ? "replay" : "space";
  } catch (_) {
    return type;
  }
}

function dialogFor(button) {
  const dialog = el("dialog", { class: "report-dialog", id: "report-dialog", "aria-labelledby": "report-heading" });
  const reason = el("select", { id: "report-reason", name: "reason", required: true },
    el("option", { value: "" }, "Choose a reason"),
    ...Object.entries(reasons).map(([value, label]) => el("option", { value }, label)));
  const note = el("textarea", { id: "report-note", name: "note", maxLength: 500 });
  const submit = el("button", { type: "submit", id: "report-submit" }, "Send report");
  const cancel = el("button", { type: "button", class: "secondary", id: "report-cancel" }, "Cancel");
  const status = el("p", { id: "report-status", role: "status", class: "muted" });
  const form = el("form", { class: "stack-form compact", novalidate: true },
    el("h2", { id: "report-heading" }, button.dataset.reportHeading || "Report"),
    el("label", { for: "report-reason" }, el("span", { class: "label" }, "Reason")), reason,
    el("label", { for: "report-note" }, el("span", { class: "label" }, "Anything operators should know (optional)")), note,
    el("p", { class: "buttons" }, submit, cancel), status);
  dialog.append(form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblems({ reason, note }, submit);
    try {
      await post("/api/reports", { target_type: await targetType(button), target: button.dataset.reportTarget,
        reason: reason.value || "", note: note.value });
      form.replaceChildren(el("h2", { id: "report-heading" }, "Thanks: reported"),
        el("p", { id: "report-done" }, "Operators will look at it. What they do is published on the transparency log."),
        el("p", { class: "buttons" }, el("button", { type: "button", id: "report-close", onclick: () => dialog.close() }, "Close")));
      form.querySelector("button").focus();
    } catch (err) {
      showProblem(err, { reason, note, target: reason, target_type: reason }, submit);
    }
  });
  return dialog;
}

async function start() {
  const buttons = [...document.querySelectorAll("[data-report-type]")];
  if (!buttons.length || !(await currentUser)) return;
  try {
    reasons = (await get("/api/reports/reasons")).reasons;
  } catch (_) {
    return;
  }
  for (const button of buttons) {
    button.hidden = false;
    button.addEventListener("click", () => {
      const dialog = dialogFor(button);
      document.body.append(dialog);
      dialog.showModal();
      dialog.querySelector("select").focus();
    });
  }
}

start();
