// Errors shown where the person is looking, in the server's words (it says which input
// and why: an error's `fields` maps input names to sentences). A message about an input
// goes right under that input (aria-invalid, aria-describedby, announced); anything
// else goes next to the control that was used (the form's submit button, the button);
// the banner at the top is only for errors that belong to no control.

/** Show a message in the page's banner (null clears it). */
export function showBanner(err) {
  const box = document.getElementById("error");
  if (!box) return;
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = messageOf(err);
  box.hidden = false;
}

const messageOf = (err) => (typeof err === "string" ? err : err?.message || String(err));

/**
 * The inputs a form's errors can name: `inputs` ({field: input}), or a form (its
 * controls by name and id), or both.
 */
function inputFor(field, inputs, form) {
  if (inputs[field]) return inputs[field];
  const named = form?.elements.namedItem(field);
  if (named instanceof Element) return named;
  return null;
}

/**
 * Where messages about no input go: the form's own `.form-error` live region (made at
 * its end if the template has none); for a control outside a form, one at the end of
 * the element around it (or of `near` itself when it is a block, e.g. a paragraph).
 */
const CONTROL = "button, a, input, select, textarea";
function problemBox(near, create) {
  if (!near) return null;
  const form = near.closest("form");
  const host = form || (near.matches(CONTROL) ? near.parentElement : near);
  let box = form ? form.querySelector(".form-error") : host.querySelector(":scope > .form-error");
  if (box || !create) return box || null;
  box = document.createElement(form ? "p" : "span"); // a span fits in a paragraph too
  box.className = "form-error";
  box.setAttribute("role", "alert");
  host.append(box);
  return box;
}

const idOf = (input) => input.id || input.name;

/** A message under `input`: it is marked invalid and described by the message. */
export function showFieldError(input, message, { focus = true } = {}) {
  clearFieldError(input);
  const note = document.createElement("span");
  note.className = "field-error";
  note.id = `${idOf(input)}-error`;
  note.setAttribute("role", "alert");
  note.textContent = message;
  // Inside a wrapping <label>, the message would become part of the input's name:
  // name the input by the label's own text instead.
  const label = input.closest("label");
  const text = label?.querySelector(".label");
  if (text && !input.hasAttribute("aria-labelledby")) {
    text.id ||= `${idOf(input)}-label`;
    input.setAttribute("aria-labelledby", text.id);
    input.dataset.labelledByUs = "true";
  }
  input.after(note);
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  input.setAttribute("aria-describedby", [note.id, ...described].join(" "));
  if (focus) input.focus();
  input.addEventListener("input", () => clearFieldError(input), { once: true });
}

export function clearFieldError(input) {
  if (!input) return;
  input.removeAttribute("aria-invalid");
  const id = `${idOf(input)}-error`;
  document.getElementById(id)?.remove();
  const described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter((d) => d && d !== id);
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  else input.removeAttribute("aria-describedby");
  if (input.dataset.labelledByUs) {
    input.removeAttribute("aria-labelledby");
    delete input.dataset.labelledByUs;
  }
}

/** A message next to `near` (a form, or the button used), or in the banner without one. */
export function showNear(near, err) {
  const box = problemBox(near, true);
  if (!box) {
    showBanner(err);
    return;
  }
  box.textContent = messageOf(err);
  box.hidden = false;
}

/**
 * Show an error where it belongs. `inputs` maps field names to inputs ({url: pinInput});
 * a form's own controls are found by name too. `near` is the form or button the person
 * used (default: the form of the inputs given); without one, the banner.
 */
export function showProblem(err, inputs = {}, near = null) {
  if (inputs instanceof HTMLFormElement) {
    near ||= inputs;
    inputs = {};
  }
  const first = Object.values(inputs).find(Boolean);
  near ||= first?.closest("form") || null;
  const form = near?.closest("form") || null;
  const fields = err && typeof err === "object" && err.fields && typeof err.fields === "object" ? err.fields : {};
  const leftOver = [];
  let focused = false;
  for (const [field, message] of Object.entries(fields)) {
    const input = inputFor(field, inputs, form);
    if (input) {
      showFieldError(input, message, { focus: !focused });
      focused = true;
    } else leftOver.push(message);
  }
  if (focused && !leftOver.length) return;
  // Not about an input we show (or about none): next to the control used.
  showNear(near, leftOver.length ? leftOver.join(" ") : err);
}

/** Before a new attempt: no messages left from the last one (fields, near, banner). */
export function clearProblems(inputs = {}, near = null) {
  if (inputs instanceof HTMLFormElement) {
    near ||= inputs;
    inputs = {};
  }
  showBanner(null);
  for (const input of Object.values(inputs)) clearFieldError(input);
  const first = Object.values(inputs).find(Boolean);
  near ||= first?.closest("form") || null;
  const form = near?.closest("form");
  if (form) for (const input of form.querySelectorAll("[aria-invalid=true]")) clearFieldError(input);
  const box = problemBox(near, false);
  if (box) {
    box.textContent = "";
    box.hidden = true;
  }
}
