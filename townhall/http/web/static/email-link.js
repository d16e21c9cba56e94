// An emailed link's page (unsubscribe, confirm an address): the button POSTs the link,
// then the page says what happened in the server's words.
import { post, showError } from "./api.js";

const box = document.getElementById("email-link");
const button = document.getElementById("email-link-button");
const done = document.getElementById("email-link-done");

function say(text) {
  document.getElementById("email-link-ask").hidden = true;
  done.textContent = text;
  done.hidden = false;
}

button.addEventListener("click", async () => {
  button.disabled = true;
  try {
    const answer = await post(box.dataset.action);
    say(answer.detail);
  } catch (err) {
    // Done before (another click, the mail client's own button): say so, not an error.
    if (err.code === "already_unsubscribed" || err.code === "already_confirmed") say(err.message);
    else {
      showError(err);
      button.disabled = false;
    }
  }
});
