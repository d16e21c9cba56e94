// Sign in / sign up forms: POST JSON, then go to ?next= or home. The server's refusal
// goes under the input it is about (a taken username), or above the button.
import { nextPath, post } from "./api.js";
import { clearProblems, showProblem } from "./form-errors.js";

const form = document.getElementById("auth-form");
const mode = form.dataset.mode; // "signin" | "signup"
const submit = document.getElementById("auth-submit");

// Keep ?next= when switching between the two forms.
const switchLink = document.getElementById("switch-link");
if (switchLink && location.search) switchLink.href += location.search;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblems(form);
  submit.disabled = true;
  try {
    await post(`/api/auth/${mode}`, {
      username: form.username.value.trim(),
      password: form.password.value,
    });
    location.href = nextPath("/");
  } catch (err) {
    showProblem(err, form);
    submit.disabled = false;
  }
});
