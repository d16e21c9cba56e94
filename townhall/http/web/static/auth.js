// Sign in / sign up forms: POST JSON, then go to ?next= or home.
import { nextPath, post, showError } from "./api.js";

const form = document.getElementById("auth-form");
const mode = form.dataset.mode; // "signin" | "signup"
const submit = document.getElementById("auth-submit");

// Keep ?next= when switching between the two forms.
const switchLink = document.getElementById("switch-link");
if (switchLink && location.search) switchLink.href += location.search;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  submit.disabled = true;
  try {
    await post(`/api/auth/${mode}`, {
      username: form.username.value.trim(),
      password: form.password.value,
    });
    location.href = nextPath("/");
  } catch (err) {
    showError(err);
    submit.disabled = false;
  }
});
